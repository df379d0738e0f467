"""A machine without conda or python, as far as a child process can tell."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

TOOLS = [
    "sh",
    "bash",
    "dash",
    "zsh",
    "fish",
    "tar",
    "gzip",
    "zstd",
    "unzip",
    "cat",
    "dirname",
    "basename",
    "mkdir",
    "mv",
    "rm",
    "rmdir",
    "df",
    "ls",
    "head",
    "tail",
    "grep",
    "sed",
    "awk",
    "env",
    "printf",
    "uname",
    "getconf",
    "cksum",
    "sha256sum",
    "od",
    "dd",
    "wc",
    "tr",
    "cut",
    "sort",
    "test",
    "expr",
    "id",
    "ln",
    "readlink",
    "flock",
    "true",
    "false",
    "chmod",
    "cp",
    "find",
    "tee",
    "sleep",
]


def bare_path(directory: Path) -> str:
    """A PATH holding only common Unix tools (no python, no conda), built in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        found = shutil.which(tool, path="/usr/bin:/bin")
        if found and not (directory / tool).exists():
            (directory / tool).symlink_to(found)
    assert shutil.which("python3", path=str(directory)) is None
    return str(directory)


def run_bare(argv: list, path: str, cwd: Path | None = None, **extra: str):
    """Run ``argv`` with nothing in the environment but PATH (and ``extra``)."""
    env = {"PATH": path, "HOME": "/nonexistent", **extra}
    return subprocess.run(
        ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd or os.getcwd(),
        check=False,
    )
