"""Check bytecode the way a user meets it: valid pycs, and a python that changes nothing.

A timestamp-based pyc records its source's mtime and size; python compiles the source
again when they differ, and writes the new pyc into the environment where it may.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
from pathlib import Path

# Standard-library modules (sysconfig reads the relocated _sysconfigdata) and packages.
IMPORTS = ("json", "decimal", "email.parser", "sysconfig", "asyncio", "foopy.cli", "bartool")
_MASK = 0xFFFFFFFF


def stale_pycs(prefix: Path) -> tuple[int, list[str]]:
    """(number of timestamp-based pycs with a source, those that do not match it)."""
    checked, stale = 0, []
    for pyc in sorted(prefix.rglob("__pycache__/*.pyc")):
        flags, mtime, size = struct.unpack("<III", pyc.read_bytes()[4:16])
        source = pyc.parent.parent / (pyc.name.split(".", 1)[0] + ".py")
        if flags != 0 or not source.is_file():
            continue
        checked += 1
        st = source.stat()
        if (int(st.st_mtime) & _MASK, st.st_size & _MASK) != (mtime, size):
            stale.append(str(pyc.relative_to(prefix)))
    return checked, stale


def snapshot(prefix: Path) -> dict[str, tuple]:
    """Every path under ``prefix`` with its size and mtime (and sha256 for pycs)."""
    state: dict[str, tuple] = {}
    for root, dirs, files in os.walk(prefix):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            digest = ""
            if name.endswith(".pyc"):
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            state[os.path.relpath(path, prefix)] = (st.st_size, st.st_mtime_ns, digest)
    return state


def run_python(prefix: Path, *args: str) -> subprocess.CompletedProcess:
    """The env's python under ``env -i``, bytecode writing allowed (as users run it)."""
    python = prefix / "bin" / "python3"
    return subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", python, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_bytecode_valid(prefix: Path, *, at_least: int = 100) -> None:
    """Every timestamp pyc matches its source, and running python writes nothing.

    ``at_least``: how many timestamp pycs the env must have (the check cannot pass on an
    environment without bytecode).
    """
    checked, stale = stale_pycs(prefix)
    assert checked >= at_least, f"only {checked} timestamp pycs under {prefix}"
    assert not stale, f"{len(stale)} stale pycs, e.g. {stale[:5]}"
    before = snapshot(prefix)
    code = f"import {', '.join(IMPORTS)}; print(sysconfig.get_config_var('prefix'))"
    proc = run_python(prefix, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(prefix)
    entry_point = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", prefix / "bin" / "foopy"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert entry_point.returncode == 0, entry_point.stderr
    after = snapshot(prefix)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, f"running python changed {len(changed)} paths, e.g. {changed[:5]}"
