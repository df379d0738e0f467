"""Driving the real conda CLI: in-process (conda's own ``conda_cli`` fixture) or as a process."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .envs import CONDA


@dataclass
class CondaProcess:
    """Run the real ``conda`` executable of the development virtualenv, isolated."""

    env: dict[str, str]

    def __call__(self, *args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(CONDA), *map(str, args)],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )


@pytest.fixture
def conda_env(conda_isolation, monkeypatch):
    """Point this process's conda at the isolated directories, as subprocesses are."""
    from conda.base.context import reset_context

    for name, value in conda_isolation.env.items():
        if name.startswith(("CONDA_", "XDG_")) or name == "HOME":
            monkeypatch.setenv(name, value)
    for name in ("CONDA_PREFIX", "CONDA_DEFAULT_ENV"):
        monkeypatch.delenv(name, raising=False)
    reset_context()
    yield conda_isolation.env
    monkeypatch.undo()
    reset_context()


@pytest.fixture
def conda_process(conda_isolation) -> CondaProcess:
    """A runner for ``conda ...`` in a child process."""
    return CondaProcess(conda_isolation.env)


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """A user error: non-zero exit, the message present, no traceback."""
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output, output
    assert "unexpected error" not in output.lower(), output
    for needle in needles:
        assert needle in output, f"{needle!r} not in:\n{output}"
