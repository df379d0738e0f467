"""Repackage the pyenv CPython 3.11 as a relocatable conda ``python`` package.

Like conda-forge's python: stripped binaries with ``$ORIGIN``-relative RUNPATHs (so no
system libpython can be picked up), no static library, the pyenv prefix replaced by the
placeholder in every text file (``_sysconfigdata``, ``python3.11-config``, ``.pc``,
``Makefile``, ...). The full flavour keeps the stdlib test suite and the bytecode pyenv
compiled (``__pycache__`` with all optimization levels); the slim one drops both.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.condapkg import PackageSpec, placeholder_prefix, write_package
from tests.support.cpython import relocate_elf, replace_text_prefix
from tests.support.proc import run

from .config import CPYTHON, GLIBC_FLOOR, PY_VERSION

STDLIB = f"lib/python{PY_VERSION}"
_SLIM_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "__pycache__"}


def _ignore(slim: bool):
    """``shutil.copytree`` filter: no site-packages content, no static library."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n.endswith(".a") or n == "python.o"}
        if directory.endswith("site-packages"):
            skipped |= {n for n in names if n != "README.txt"}
        if slim:
            skipped |= {n for n in names if n in _SLIM_SKIP or n.endswith(".pyc")}
        return skipped

    return ignore


def _copy_tree(prefix: Path, slim: bool) -> None:
    """Copy the interpreter's own files (no pip, no gdb helper) into ``prefix``."""
    (prefix / "bin").mkdir()
    for exe in (CPYTHON / "bin").iterdir():
        if exe.name.startswith(("python", "pydoc", "idle", "2to3")) and "gdb" not in exe.name:
            shutil.copy2(exe, prefix / "bin" / exe.name, follow_symlinks=False)
    for top in ("lib", "include"):
        shutil.copytree(CPYTHON / top, prefix / top, symlinks=True, ignore=_ignore(slim))


def _check_staged(prefix: Path) -> str:
    """Fail unless the staged interpreter starts from the placeholder prefix; its version."""
    code = "import sys, ssl, sqlite3, ctypes; print(sys.prefix, sys.version.split()[0])"
    python = prefix / "bin" / f"python{PY_VERSION}"
    cmd = ["env", "-i", "PYTHONDONTWRITEBYTECODE=1", python, "-c", code]
    reported, _, version = run(cmd).strip().rpartition(" ")
    if reported != str(prefix):
        raise RuntimeError(f"staged python reports sys.prefix {reported!r}, expected {prefix}")
    return version


def build_python(build_root: Path, channel: Path, *, slim: bool) -> Path:
    """Write the ``python`` 3.11.x package (linux-64) into ``channel``; return its path."""
    prefix = placeholder_prefix(build_root, "python")
    try:
        _copy_tree(prefix, slim)
        replace_text_prefix(prefix, CPYTHON)
        relocate_elf(prefix)
        version = _check_staged(prefix)
        spec = PackageSpec("python", version, depends=[f"__glibc >={GLIBC_FLOOR}"])
        return write_package(prefix, spec, channel)
    finally:
        shutil.rmtree(prefix.parent)
