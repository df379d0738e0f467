# Activate this environment without conda, in fish: source /path/to/env/bin/activate.fish
# Undo with: deactivate
if set -q _ENVBUNDLE_ACTIVE
    deactivate
end
# Found where this script is, at each activation: works before conda-unpack and after moves.
set -gx _ENVBUNDLE_ACTIVE (builtin realpath (dirname (status --current-filename))/..)
set -g _ENVBUNDLE_OLD_PATH $PATH
set -q CONDA_PREFIX; and set -g _ENVBUNDLE_OLD_CONDA_PREFIX $CONDA_PREFIX
set -gx PATH "$_ENVBUNDLE_ACTIVE/bin" $PATH
set -gx CONDA_PREFIX $_ENVBUNDLE_ACTIVE
set -gx CONDA_DEFAULT_ENV $_ENVBUNDLE_ACTIVE
@SET_VARS@
for script in $_ENVBUNDLE_ACTIVE/etc/conda/activate.d/*.fish
    source $script
end

function deactivate --description "Undo activating this conda-envbundle environment"
    for script in $_ENVBUNDLE_ACTIVE/etc/conda/deactivate.d/*.fish
        source $script
    end
@UNSET_VARS@
    set -gx PATH $_ENVBUNDLE_OLD_PATH
    if set -q _ENVBUNDLE_OLD_CONDA_PREFIX
        set -gx CONDA_PREFIX $_ENVBUNDLE_OLD_CONDA_PREFIX
    else
        set -e CONDA_PREFIX
    end
    set -e CONDA_DEFAULT_ENV _ENVBUNDLE_ACTIVE _ENVBUNDLE_OLD_PATH _ENVBUNDLE_OLD_CONDA_PREFIX
    functions -e deactivate
end
