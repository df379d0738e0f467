"""Timestamp-based ``.pyc`` files and the ``.py`` sources they check.

Such a pyc records its source's mtime and size; where they differ python compiles the
source again on import, and rewrites the pyc if it may write there. A bundle therefore
gives each ``.py`` the mtime its pyc expects, and a ``.py`` whose content relocation
changes gets its pyc compiled again, by the environment's own python.
"""

from __future__ import annotations

import json
import os
import posixpath
import struct
import subprocess
from collections.abc import Iterable

from ..exceptions import RelocationError

HEADER_SIZE = 16
_SIZE_MASK = 0xFFFFFFFF

# Run by the environment's python: compile each source to the pyc path it ships, when that
# path is this python's own (its cache tag and optimization level), as a timestamp pyc.
# Each file on its own: one that fails is named and does not stop the others.
COMPILE = """\
import importlib.util, json, py_compile, sys
failed = 0
for src, pyc, shown in json.load(sys.stdin):
    for opt in ("", 1, 2):
        if importlib.util.cache_from_source(src, optimization=opt) == pyc:
            try:
                py_compile.compile(src, pyc, shown, True, opt or 0,
                                   py_compile.PycInvalidationMode.TIMESTAMP)
            except Exception as exc:
                failed += 1
                print(f"{shown}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def python_unsafe(path: str) -> bool:
    """True when ``path`` cannot stand inside a python string literal as written: python
    sources that hold the environment's path would no longer compile."""
    return any(c in "'\"\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in path)


def source_of(pyc: str) -> str | None:
    """``pkg/mod.py`` for ``pkg/__pycache__/mod.<tag>[.opt-N].pyc``; None for other paths."""
    directory, _, name = pyc.rpartition("/")
    if not name.endswith(".pyc") or directory.rpartition("/")[2] != "__pycache__":
        return None
    parent = directory[: -len("__pycache__")]
    return f"{parent}{name.split('.', 1)[0]}.py"


def expected_source(header: bytes) -> tuple[int, int] | None:
    """The (mtime, size) a timestamp-based pyc expects of its source; None otherwise."""
    if len(header) < HEADER_SIZE:
        return None
    flags, mtime, size = struct.unpack("<III", header[4:HEADER_SIZE])
    return (mtime, size) if flags == 0 else None


def source_mtime(header: bytes, source_size: int) -> int | None:
    """The mtime to give a source of ``source_size`` bytes so the pyc stays valid."""
    expected = expected_source(header)
    if expected is None or expected[1] != source_size & _SIZE_MASK:
        return None
    return expected[0]


def resolve(path: str, links: dict[str, str]) -> str:
    """``path`` with the symlinks of ``links`` (path -> target) followed."""
    for _ in range(40):
        target = links.get(path)
        if target is None:
            break
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return path


def pairs(paths: Iterable[str], links: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``(source, pyc)`` for every pyc among ``paths`` whose source is among them too, or
    among ``links`` (a source can be a symlink: python checks what it points to)."""
    present = set(paths)
    sources = present | set(links or ())
    found = []
    for path in sorted(present):
        source = source_of(path)
        if source in sources:
            found.append((source, path))
    return found


def recompile(python: str, root: str, shown_root: str, jobs: list[tuple[str, str]]) -> None:
    """Compile each ``(source, pyc)`` (relative to ``root``) again with ``python``.

    Tracebacks will name the source under ``shown_root``. The environment's ``lib`` is
    put on the loader's path first: its python may find libpython only through the
    prefix its binaries are being moved to. Raises ``OSError`` or
    ``subprocess.CalledProcessError`` when the python cannot do it.
    """
    spec = [
        [os.path.join(root, src), os.path.join(root, pyc), os.path.join(shown_root, src)]
        for src, pyc in jobs
    ]
    library_path = os.pathsep.join(
        p for p in (os.path.join(root, "lib"), os.environ.get("LD_LIBRARY_PATH")) if p
    )
    try:
        subprocess.run(
            [python, "-B", "-s", "-E", "-c", COMPILE],
            input=json.dumps(spec).encode(),
            env={**os.environ, "LD_LIBRARY_PATH": library_path},
            capture_output=True,
            check=True,
        )
    except OSError as exc:
        raise RelocationError(
            f"Cannot run the environment's python to compile its relocated sources: {exc}."
        ) from exc
    except subprocess.CalledProcessError as exc:
        said = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RelocationError(
            "The environment's python could not compile its relocated sources: "
            + ("; ".join(said[:3]) or f"exit status {exc.returncode}")
        ) from exc


def environment_python(root: str) -> str | None:
    """The environment's python interpreter under ``root``, if it has one."""
    for name in ("bin/python3", "bin/python"):
        candidate = os.path.join(root, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None
