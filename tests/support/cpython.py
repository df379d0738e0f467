"""Repackage a pyenv CPython 3.12 as conda ``python`` packages, shaped like conda-forge's.

pyenv builds are ``--enable-shared`` with an absolute RUNPATH to the pyenv directory. The
default package gets ``$ORIGIN``-relative RUNPATHs (as conda-forge's python), stripped
binaries, and the pyenv prefix replaced by the placeholder in its 9 text files
(``_sysconfigdata_*.py``, ``bin/python3.12-config``, ``lib/pkgconfig/python-3.12*.pc``, ...).
Like conda-forge's, it ships the standard library's ``__pycache__``, compiled at package
build time (timestamp-based pycs, each recording its ``.py`` mtime and size); the archive
keeps the ``.py`` mtimes, so the pycs stay valid in an env ``conda create`` makes, except
those of the text prefix ``.py`` files, which conda rewrites at install (as for
conda-forge's python: see :func:`~.envs.pycs_of_prefix_files`).

A second build (:data:`ABS_RPATH_PYTHON_SPEC`) differs only in ``bin/python3.12``: it finds
libpython only through an absolute RUNPATH at the placeholder, a binary prefix file that
cannot start until conda (or a bundle's unpack step) rewrites it.

Python 3.12 on purpose: Debian 12 has no system libpython3.12 that a broken RUNPATH could
silently pick up.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .condapkg import PackageSpec, placeholder_prefix, write_package
from .proc import run

CPYTHON = Path(os.environ.get("ENVBUNDLE_TEST_CPYTHON", "/root/.pyenv/versions/3.12.1"))
"""The CPython 3.12 installation to repackage (override with ``$ENVBUNDLE_TEST_CPYTHON``)."""
STDLIB = "lib/python3.12"
ABS_RPATH_TAG = "abs_rpath"
ABS_RPATH_PYTHON_SPEC = f"python=3.12.*=*_{ABS_RPATH_TAG}"
"""Match spec of the python whose ``bin/python3.12`` has an absolute RUNPATH."""

# The solver picks the highest build number: a plain ``python`` gets the $ORIGIN build.
_DEFAULT_BUILD_NUMBER = 1
_ABS_RPATH_BUILD_NUMBER = 0
# Left out of the slim package: tests, GUI, bundled wheels, the static library.
_STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages"}
_SKIP_NAMES = {"__pycache__", "libpython3.12.a", "python.o"}
_SKIP_DYNLOAD_PREFIXES = ("_test", "_xx", "xx", "_ctypes_test")
# Python 2 sources that do not compile (CPython's own `make install` skips them too).
_UNCOMPILABLE = r"lib2to3/tests/data"


def _ignore(directory: str, names: list[str]) -> set[str]:
    """``shutil.copytree`` filter implementing the slim selection."""
    skipped = {n for n in names if n in _SKIP_NAMES or n.endswith(".pyc")}
    if directory.endswith(STDLIB):
        skipped |= _STDLIB_SKIP & set(names)
    if directory.endswith("lib-dynload"):
        skipped |= {n for n in names if n.startswith(_SKIP_DYNLOAD_PREFIXES)}
    return skipped


def _copy_tree(prefix: Path) -> None:
    """Copy the interpreter's own files (no pip, no gdb helper) into ``prefix``."""
    (prefix / "bin").mkdir()
    for exe in (CPYTHON / "bin").iterdir():
        if exe.name.startswith(("python", "pydoc", "idle", "2to3")) and "gdb" not in exe.name:
            shutil.copy2(exe, prefix / "bin" / exe.name, follow_symlinks=False)
    for top in ("lib", "include"):
        shutil.copytree(CPYTHON / top, prefix / top, symlinks=True, ignore=_ignore)
    site_packages = prefix / STDLIB / "site-packages"
    site_packages.mkdir()
    shutil.copy2(CPYTHON / STDLIB / "site-packages" / "README.txt", site_packages)


def replace_text_prefix(prefix: Path, source: Path = CPYTHON) -> None:
    """Replace the pyenv prefix ``source`` by ``prefix`` in every text file holding it."""
    old, new = os.fsencode(source), os.fsencode(prefix)
    for path in prefix.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data and b"\0" not in data:
            path.write_bytes(data.replace(old, new))


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def relocate_elf(prefix: Path) -> None:
    """Strip every ELF file and make its RUNPATH ``$ORIGIN``-relative to ``<prefix>/lib``."""
    for path in sorted(prefix.rglob("*")):
        if path.is_symlink() or not path.is_file() or not _is_elf(path):
            continue
        run(["strip", "--strip-unneeded", path])
        if run(["patchelf", "--print-rpath", path]).strip():
            rel = os.path.relpath(prefix / "lib", path.parent)
            run(["patchelf", "--set-rpath", "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}", path])


def _check_staged(prefix: Path) -> str:
    """Fail unless the staged interpreter starts from the placeholder prefix; its version."""
    code = "import sys, ssl, sqlite3, ctypes; print(sys.prefix, sys.version.split()[0])"
    cmd = ["env", "-i", "PYTHONDONTWRITEBYTECODE=1", prefix / "bin/python3.12", "-c", code]
    reported, _, version = run(cmd).strip().rpartition(" ")
    if reported != str(prefix):
        raise RuntimeError(f"staged python reports sys.prefix {reported!r}, expected {prefix}")
    return version


def _compile_stdlib(prefix: Path) -> None:
    """Write the standard library's ``__pycache__`` as conda-forge's python ships it.

    Timestamp pycs (explicit: ``SOURCE_DATE_EPOCH`` would switch to checked hashes), the
    default optimization level only, ``co_filename`` under the placeholder.
    """
    python = prefix / "bin/python3.12"
    args = ["-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "timestamp"]
    run(["env", "-i", python, *args, "-x", _UNCOMPILABLE, prefix / STDLIB])


def _use_absolute_runpath(prefix: Path) -> None:
    """Make ``bin/python3.12`` find libpython only at ``<placeholder>/lib``."""
    python = prefix / "bin/python3.12"
    run(["patchelf", "--set-rpath", prefix / "lib", python])
    if run(["patchelf", "--print-rpath", python]).strip() != str(prefix / "lib"):
        raise RuntimeError(f"{python}: RUNPATH not set to {prefix / 'lib'}")


def build_python(build_root: Path, channel: Path) -> list[Path]:
    """Both ``python`` 3.12.x builds (linux-64), repackaged from :data:`CPYTHON`."""
    prefix = placeholder_prefix(build_root, "python")
    _copy_tree(prefix)
    replace_text_prefix(prefix)
    relocate_elf(prefix)
    version = _check_staged(prefix)
    _compile_stdlib(prefix)
    default = PackageSpec("python", version, build_number=_DEFAULT_BUILD_NUMBER)
    packages = [write_package(prefix, default, channel)]
    shutil.rmtree(prefix / "info")
    _use_absolute_runpath(prefix)
    _check_staged(prefix)
    absolute = PackageSpec(
        "python", version, build_number=_ABS_RPATH_BUILD_NUMBER, build_tag=ABS_RPATH_TAG
    )
    packages.append(write_package(prefix, absolute, channel))
    return packages
