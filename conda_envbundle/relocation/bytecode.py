"""Compiling pycs again in the environment's own python.

Which pyc checks which source, and the mtime it expects, are rules the no-conda unpacker
shares (relocation/rules.py); this module runs them in the environment's python.
"""

from __future__ import annotations

import json
import os
import subprocess

from ..exceptions import RelocationError
from . import rules_source

# Run by the environment's python after the rules' source: compile each source to the pyc
# path it ships (rules.compile_pyc). Each file on its own: one that fails is named and
# does not stop the others.
_DRIVER = """
import json as _json, sys as _sys
_failed = 0
for _src, _pyc, _shown in _json.load(_sys.stdin):
    try:
        compile_pyc(_src, _pyc, _shown)
    except Exception as _exc:
        _failed += 1
        print(f"{_shown}: {type(_exc).__name__}: {_exc}".splitlines()[0], file=_sys.stderr)
_sys.exit(1 if _failed else 0)
"""


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
            [python, "-B", "-s", "-E", "-c", rules_source() + _DRIVER],
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
