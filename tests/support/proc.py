"""Run subprocesses and fail with everything needed to diagnose the failure."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from os import PathLike

Command = Sequence[str | PathLike[str]]


class CommandError(RuntimeError):
    """A subprocess exited with a non-zero status."""


def run(
    cmd: Command, *, env: Mapping[str, str] | None = None, cwd: PathLike[str] | None = None
) -> str:
    """Run ``cmd``; return its stdout, or raise :class:`CommandError` with stdout and stderr."""
    proc = subprocess.run(
        [str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise CommandError(
            f"command failed (exit {proc.returncode}): {shlex.join(str(c) for c in cmd)}\n"
            f"--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}"
        )
    return proc.stdout
