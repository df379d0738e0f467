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
    offsets: list[int] = field(default_factory=list)


def scan_bytes(blocks, needle: bytes | None) -> FileFacts:
    """Hash ``blocks`` and record where ``needle`` occurs (across block boundaries too)."""
    facts = FileFacts()
    digest = hashlib.sha256()
    tail = b""
    for block in blocks:
        digest.update(block)
        facts.has_nul = facts.has_nul or b"\0" in block
        if needle:
            window = tail + block
            base = facts.size - len(tail)
            start = window.find(needle)
            while start >= 0 and len(facts.offsets) < MAX_OFFSETS:
                facts.offsets.append(base + start)
                start = window.find(needle, start + 1)
            tail = window[-(len(needle) - 1) :] if len(needle) > 1 else b""
        facts.size += len(block)
    facts.sha256 = digest.hexdigest()
    return facts


def signature(st: os.stat_result) -> int:
    """What changes whenever a file's content changes (size, mtime, ctime, inode), as one
    int: kept for every file of an environment, so it should be small."""
    return hash((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))


def scan_file(path: str, needle: bytes | None) -> FileFacts:
    """:func:`scan_bytes` over the file at ``path``, with its stat signature at open time."""
    with open(path, "rb", buffering=0) as fh:
        st = os.fstat(fh.fileno())
        facts = scan_bytes(iter(lambda: fh.read(BLOCK_SIZE), b""), needle)
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
