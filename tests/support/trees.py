"""A directory tree as data, to compare two environments entry by entry."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from conda_envbundle.relocation import rules


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root``: kind, permission bits, and content sha256 or link target;
    for a ``.py`` with a pyc also its mtime, which the pyc expects (other files have the
    time they were written)."""
    found: dict[str, tuple] = {}
    timed = _sources_with_pycs(root)
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            full = Path(parent, name)
            st = full.lstat()
            rel = str(full.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                digest = hashlib.sha256(full.read_bytes()).hexdigest()
                mtime = int(st.st_mtime) if rel in timed else None
                found[rel] = ("file", stat.S_IMODE(st.st_mode), digest, mtime)
    return found


def _sources_with_pycs(root: Path) -> set[str]:
    files = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    return {source for source, _ in rules.pairs(files)}
