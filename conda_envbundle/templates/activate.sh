# Activate this environment without conda. Source it: . /path/to/env/bin/activate
# Works in bash, zsh and, on Linux, dash. Undo with: . /path/to/env/bin/deactivate
# The environment is found where this script is, at each activation: it works before
# conda-unpack has run and wherever the environment has been moved. (CDPATH='': cd would
# print, or even pick another directory.)
_envbundle_source=
if [ -n "${BASH_VERSION:-}" ]; then
    eval '_envbundle_source=${BASH_SOURCE[0]}'
elif [ -n "${ZSH_VERSION:-}" ] && eval '[[ -o function_argzero ]]'; then
    _envbundle_source=$0
fi
if [ -z "$_envbundle_source" ] && [ -d "/proc/$$/fd" ]; then
    # dash (and zsh emulating sh) name no sourced file, but hold it open while reading it.
    for _envbundle_fd in "/proc/$$/fd/"*; do
        _envbundle_link=$(readlink "$_envbundle_fd" 2>/dev/null) || continue
        case $_envbundle_link in */bin/activate) _envbundle_source=$_envbundle_link ;; esac
    done
    unset _envbundle_fd _envbundle_link
fi
if [ -z "$_envbundle_source" ] ||
    ! _envbundle_prefix=$(CDPATH='' cd -- "$(dirname -- "$_envbundle_source")/.." && pwd); then
    echo "activate: cannot tell where this environment is; source bin/activate from" >&2
    echo "bash, zsh or dash, or put its bin directory on PATH yourself." >&2
    unset _envbundle_source
    return 1 2>/dev/null || exit 1
fi
unset _envbundle_source
if [ -n "${_ENVBUNDLE_ACTIVE:-}" ] && [ -f "$_ENVBUNDLE_ACTIVE/bin/deactivate" ]; then
    . "$_ENVBUNDLE_ACTIVE/bin/deactivate"
fi
_ENVBUNDLE_ACTIVE=$_envbundle_prefix
unset _envbundle_prefix
_ENVBUNDLE_OLD_PATH=$PATH
_ENVBUNDLE_OLD_PS1=${PS1:-}
_ENVBUNDLE_OLD_CONDA_PREFIX=${CONDA_PREFIX:-}
_ENVBUNDLE_OLD_CONDA_DEFAULT_ENV=${CONDA_DEFAULT_ENV:-}
PATH="$_ENVBUNDLE_ACTIVE/bin:$PATH"
CONDA_PREFIX=$_ENVBUNDLE_ACTIVE
CONDA_DEFAULT_ENV=$_ENVBUNDLE_ACTIVE
# Prompts expand $, `, \ and %: the name shown keeps only characters that mean nothing there.
PS1="($(basename "$_ENVBUNDLE_ACTIVE" | LC_ALL=C tr -c 'A-Za-z0-9._+@=,:\n\200-\377-' '_')) ${PS1:-}"
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
