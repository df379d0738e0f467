"""Read a file once: its size, sha256, whether it looks binary, where a prefix occurs."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

BLOCK_SIZE = 1 << 20
MAX_OFFSETS = 1000
C_STRING_WINDOW = 4096


@dataclass
class FileFacts:
    """What one pass over a file's bytes tells."""

    size: int = 0
    sha256: str = ""
    signature: int = 0
    has_nul: bool = False
    found: dict[bytes, list[int]] = field(default_factory=dict)

    @property
    def needle(self) -> bytes | None:
        """The first of the needles looked for that occurs (None: none does)."""
        return next(iter(self.found), None)

    @property
    def offsets(self) -> list[int]:
        """Where :attr:`needle` occurs (at most :data:`MAX_OFFSETS` places)."""
        needle = self.needle
        return self.found[needle] if needle is not None else []


Needles = bytes | tuple[bytes, ...] | None


def scan_bytes(blocks, needles: Needles) -> FileFacts:
    """Hash ``blocks`` and record where each needle occurs (across block boundaries too).

    ``needles`` is one byte string or several (an environment's path as given and as
    resolved through symlinks); ``found`` keeps those that occur, in the order given.
    """
    wanted = (needles,) if isinstance(needles, bytes) else tuple(n for n in needles or () if n)
    offsets: dict[bytes, list[int]] = {needle: [] for needle in wanted}
    keep = max(map(len, wanted), default=1) - 1
    facts = FileFacts()
    digest = hashlib.sha256()
    tail = b""
    for block in blocks:
        digest.update(block)
        facts.has_nul = facts.has_nul or b"\0" in block
        if wanted:
            window = tail + block
            base = facts.size - len(tail)
            for needle, places in offsets.items():
                _find(window, needle, base, len(tail), places)
            tail = window[-keep:] if keep else b""
        facts.size += len(block)
    facts.sha256 = digest.hexdigest()
    facts.found = {needle: places for needle, places in offsets.items() if places}
    return facts


def _find(window: bytes, needle: bytes, base: int, old: int, places: list[int]) -> None:
    """Add where ``needle`` occurs in ``window`` and ends past its first ``old`` bytes
    (the tail of the previous window, where earlier matches were found)."""
    start = window.find(needle, max(0, old - len(needle) + 1))
    while start >= 0 and len(places) < MAX_OFFSETS:
        places.append(base + start)
        start = window.find(needle, start + 1)


def signature(st: os.stat_result) -> int:
    """What changes whenever a file's content changes (size, mtime, ctime, inode), as one
    int: kept for every file of an environment, so it should be small."""
    return hash((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))


def scan_file(path: str, needles: Needles) -> FileFacts:
    """:func:`scan_bytes` over the file at ``path``, with its stat signature at open time."""
    with open(path, "rb", buffering=0) as fh:
        st = os.fstat(fh.fileno())
        facts = scan_bytes(iter(lambda: fh.read(BLOCK_SIZE), b""), needles)
    facts.signature = signature(st)
    return facts


def in_c_strings(path: str, needle: bytes, offsets: list[int]) -> bool:
    """True when every occurrence of ``needle`` is followed by a NUL within a short window.

    That is the shape conda's binary replacement can rewrite safely: a NUL-terminated
    C string, padded with NULs after the shorter prefix.
    """
    with open(path, "rb") as fh:
        for offset in offsets:
            fh.seek(offset + len(needle))
            if b"\0" not in fh.read(C_STRING_WINDOW):
                return False
    return True
