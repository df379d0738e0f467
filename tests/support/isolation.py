"""Environment variables that keep conda subprocesses away from the user's files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_CONDA_SETTINGS = {
    "CONDA_SOLVER": "classic",
    "CONDA_ADD_PIP_AS_PYTHON_DEPENDENCY": "false",
    "CONDA_REGISTER_ENVS": "false",
    "CONDA_NOTIFY_OUTDATED_CONDA": "false",
    "CONDA_AUTO_UPDATE_CONDA": "false",
    "CONDA_NUMBER_CHANNEL_NOTICES": "0",
    "CONDA_REPORT_ERRORS": "false",
}
_REMOVED = ("CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONPATH")
# This checkout's root: a git worktree puts it on PYTHONPATH so that conda subprocesses
# load its plugin code rather than the installed (editable) checkout's; kept for them.
_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Isolation:
    """A directory owning conda's home, caches and package cache, and the matching env vars."""

    base: Path
    env: dict[str, str]


def conda_env_vars(base: Path) -> dict[str, str]:
    """Return a copy of ``os.environ`` in which conda reads and writes only under ``base``."""
    env = {k: v for k, v in os.environ.items() if k not in _REMOVED}
    if os.environ.get("PYTHONPATH") == _ROOT:
        env["PYTHONPATH"] = _ROOT
    dirs = {
        "HOME": base / "home",
        "XDG_CACHE_HOME": base / "xdg-cache",
        "XDG_CONFIG_HOME": base / "xdg-config",
        "XDG_DATA_HOME": base / "xdg-data",
        "CONDA_PKGS_DIRS": base / "pkgs",
        "CONDA_ENVS_DIRS": base / "envs",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env.update({name: str(path) for name, path in dirs.items()})
    env.update(_CONDA_SETTINGS)
    return env
