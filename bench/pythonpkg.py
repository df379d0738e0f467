"""Repackage the pyenv CPython 3.11 as a relocatable conda ``python`` package.

Like conda-forge's python: stripped binaries with ``$ORIGIN``-relative RUNPATHs (so no
system libpython can be picked up), no static library, the pyenv prefix replaced by the
placeholder in every text file (``_sysconfigdata``, ``python3.11-config``, ``.pc``,
``Makefile``, ...). The ``full`` flavour keeps the stdlib test suite and the bytecode pyenv
compiled (``__pycache__`` with all optimization levels); ``slim`` drops both; ``slim-pyc``
drops the test suite and keeps the plain (non-optimized) bytecode of the rest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.condapkg import PackageSpec, placeholder_prefix, write_package
from tests.support.cpython import relocate_elf, replace_text_prefix
from tests.support.proc import run

from .config import CPYTHON, GLIBC_FLOOR, PY_VERSION

STDLIB = f"lib/python{PY_VERSION}"
_SLIM_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip"}
FLAVOURS = ("full", "slim", "slim-pyc")


def _skipped_bytecode(flavour: str, names: list[str]) -> set[str]:
    """The ``.pyc`` files (and ``__pycache__`` directories) ``flavour`` leaves out."""
    if flavour == "full":
        return set()
    if flavour == "slim":
        return {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
    return {n for n in names if n.endswith(".pyc") and ".opt-" in n}


def _ignore(flavour: str):
    """``shutil.copytree`` filter: no site-packages content, no static library."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n.endswith(".a") or n == "python.o"}
        if directory.endswith("site-packages"):
            skipped |= {n for n in names if n != "README.txt"}
        if flavour != "full":
            skipped |= {n for n in names if n in _SLIM_SKIP} | _skipped_bytecode(flavour, names)
        return skipped

    return ignore


def _copy_tree(prefix: Path, flavour: str) -> None:
    """Copy the interpreter's own files (no pip, no gdb helper) into ``prefix``."""
    (prefix / "bin").mkdir()
    for exe in (CPYTHON / "bin").iterdir():
        if exe.name.startswith(("python", "pydoc", "idle", "2to3")) and "gdb" not in exe.name:
            shutil.copy2(exe, prefix / "bin" / exe.name, follow_symlinks=False)
    for top in ("lib", "include"):
        shutil.copytree(CPYTHON / top, prefix / top, symlinks=True, ignore=_ignore(flavour))


def _check_staged(prefix: Path) -> str:
    """Fail unless the staged interpreter starts from the placeholder prefix; its version."""
    code = "import sys, ssl, sqlite3, ctypes; print(sys.prefix, sys.version.split()[0])"
    python = prefix / "bin" / f"python{PY_VERSION}"
    cmd = ["env", "-i", "PYTHONDONTWRITEBYTECODE=1", python, "-c", code]
    reported, _, version = run(cmd).strip().rpartition(" ")
    if reported != str(prefix):
        raise RuntimeError(f"staged python reports sys.prefix {reported!r}, expected {prefix}")
    return version


def build_python(build_root: Path, channel: Path, *, flavour: str) -> Path:
    """Write the ``python`` 3.11.x package (linux-64) of ``flavour`` (:data:`FLAVOURS`) into
    ``channel``; return its path."""
    if flavour not in FLAVOURS:
        raise ValueError(f"python flavour {flavour!r} is not one of {FLAVOURS}")
    prefix = placeholder_prefix(build_root, "python")
    try:
        _copy_tree(prefix, flavour)
        replace_text_prefix(prefix, CPYTHON)
        relocate_elf(prefix)
        version = _check_staged(prefix)
        spec = PackageSpec("python", version, depends=[f"__glibc >={GLIBC_FLOOR}"])
        return write_package(prefix, spec, channel)
    finally:
        shutil.rmtree(prefix.parent)
