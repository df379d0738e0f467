"""What ``conda bundle`` ships, entry by entry, and where each entry's bytes come from."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..exceptions import needs
from ..manifest import FileEntry, PrefixRule

# Generated and sanitised entries are held compressed (see Item) by zstd, at its fastest.
_LEVEL = 1


@dataclass(slots=True)
class Item:
    """One entry to ship.

    Bytes come from ``content`` (generated or sanitised in memory, kept compressed:
    conda's records of large packages run to megabytes each), the file at ``source``
    (a package-cache copy), or else the environment's own file at the entry's path; the
    file's stat ``signature`` was taken when it was hashed. With
    ``rewrite_from`` set (``--dest-prefix``), the bytes hold that rule's placeholder and
    are relocated to ``entry.prefix.placeholder`` as they are written. With ``verify``
    the sha256 came from conda's record and is checked as the bytes are written.
    ``mtime`` replaces the bundle's one timestamp for this entry (a ``.py`` whose
    timestamp-based ``.pyc`` expects that time).
    """

    entry: FileEntry
    source: str | None = None
    packed: bytes | None = None
    signature: int = 0
    rewrite_from: PrefixRule | None = None
    verify: bool = False
    mtime: int | None = None

    @classmethod
    def in_memory(cls, entry: FileEntry, content: bytes) -> Item:
        """An entry whose bytes are ``content``."""
        item = cls(entry)
        item.content = content
        return item

    @property
    def content(self) -> bytes | None:
        """The bytes of an in-memory entry; None for an entry read from a file."""
        if self.packed is None:
            return None
        with needs("zstandard", "conda bundle"):
            import zstandard
        return zstandard.decompress(self.packed)

    @content.setter
    def content(self, content: bytes) -> None:
        with needs("zstandard", "conda bundle"):
            import zstandard
        self.packed = zstandard.compress(content, _LEVEL)

    def head(self, prefix: str, size: int) -> bytes:
        """The first ``size`` bytes this entry ships."""
        content = self.content
        if content is not None:
            return content[:size]
        with open(self.source_file(prefix), "rb") as fh:
            return fh.read(size)

    def source_file(self, prefix: str) -> str:
        """Where the bytes are: ``source``, or the file at the entry's path in ``prefix``."""
        if self.packed is not None:
            raise ValueError(f"{self.entry.path!r} is held in memory, not in a file.")
        return self.source or os.path.join(prefix, self.entry.path)
