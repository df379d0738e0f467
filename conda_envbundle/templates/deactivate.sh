# Undo ". bin/activate" of this environment.
if [ -n "${_ENVBUNDLE_ACTIVE:-}" ]; then
    _envbundle_scripts=$(find "$_ENVBUNDLE_ACTIVE/etc/conda/deactivate.d" -maxdepth 1 \
        -name '*.sh' 2>/dev/null | LC_ALL=C sort)
    while IFS= read -r _envbundle_script; do
        if [ -n "$_envbundle_script" ]; then . "$_envbundle_script"; fi
    done <<_ENVBUNDLE_EOF
$_envbundle_scripts
_ENVBUNDLE_EOF
    unset _envbundle_script _envbundle_scripts
@UNSET_VARS@
    PATH=$_ENVBUNDLE_OLD_PATH
    PS1=$_ENVBUNDLE_OLD_PS1
    if [ -n "$_ENVBUNDLE_OLD_CONDA_PREFIX" ]; then CONDA_PREFIX=$_ENVBUNDLE_OLD_CONDA_PREFIX
    else unset CONDA_PREFIX; fi
    if [ -n "$_ENVBUNDLE_OLD_CONDA_DEFAULT_ENV" ]; then
        CONDA_DEFAULT_ENV=$_ENVBUNDLE_OLD_CONDA_DEFAULT_ENV
    else unset CONDA_DEFAULT_ENV; fi
    export PATH
    unset _ENVBUNDLE_ACTIVE _ENVBUNDLE_OLD_PATH _ENVBUNDLE_OLD_PS1
    unset _ENVBUNDLE_OLD_CONDA_PREFIX _ENVBUNDLE_OLD_CONDA_DEFAULT_ENV
    hash -r 2>/dev/null || true
fi
