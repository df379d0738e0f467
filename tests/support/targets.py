"""Target paths round trips must work at: short, 200 characters, spaced, non-ASCII."""

from __future__ import annotations

import tempfile
from pathlib import Path

KINDS = ["short", "long", "spaces", "non-ascii"]


def target_path(kind: str, base: Path) -> Path:
    """A target of ``kind`` under ``base`` ("short" under /tmp: the caller removes its
    parent); "long" is exactly 200 characters."""
    if kind == "short":
        return Path(tempfile.mkdtemp(prefix="e", dir="/tmp")) / "t"
    if kind == "long":
        stem = base / "long"
        return stem / ("x" * (200 - len(str(stem)) - 1))
    if kind == "spaces":
        return base / "with spaces" / "my env"
    return base / "ünïcødé" / "环境-é"
