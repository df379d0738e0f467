# Activate this environment without conda. Source it: . /path/to/env/bin/activate
# Works in bash, zsh, dash and ksh. Undo with: . /path/to/env/bin/deactivate
if [ -n "${_ENVBUNDLE_ACTIVE:-}" ]; then
    . "$_ENVBUNDLE_ACTIVE/bin/deactivate"
fi
_ENVBUNDLE_ACTIVE='@PREFIX@'
_ENVBUNDLE_OLD_PATH=$PATH
_ENVBUNDLE_OLD_PS1=${PS1:-}
_ENVBUNDLE_OLD_CONDA_PREFIX=${CONDA_PREFIX:-}
_ENVBUNDLE_OLD_CONDA_DEFAULT_ENV=${CONDA_DEFAULT_ENV:-}
PATH="$_ENVBUNDLE_ACTIVE/bin:$PATH"
CONDA_PREFIX=$_ENVBUNDLE_ACTIVE
CONDA_DEFAULT_ENV=$_ENVBUNDLE_ACTIVE
PS1="(@NAME@) ${PS1:-}"
export PATH CONDA_PREFIX CONDA_DEFAULT_ENV _ENVBUNDLE_ACTIVE
@SET_VARS@
# find, not a glob: zsh aborts a sourced script on a glob that matches nothing.
_envbundle_scripts=$(find "$_ENVBUNDLE_ACTIVE/etc/conda/activate.d" -maxdepth 1 -name '*.sh' \
    2>/dev/null | LC_ALL=C sort)
while IFS= read -r _envbundle_script; do
    if [ -n "$_envbundle_script" ]; then . "$_envbundle_script"; fi
done <<_ENVBUNDLE_EOF
$_envbundle_scripts
_ENVBUNDLE_EOF
unset _envbundle_script _envbundle_scripts
hash -r 2>/dev/null || true
