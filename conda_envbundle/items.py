"""What ``conda bundle`` ships, entry by entry, and where each entry's bytes come from."""

from __future__ import annotations

from dataclasses import dataclass

from .manifest import FileEntry, PrefixRule


@dataclass(slots=True)
class Item:
    """One entry to ship.

    Bytes come from ``content`` (generated or sanitised in memory) or the file at
    ``source``, whose stat ``signature`` was taken when it was hashed. With
    ``rewrite_from`` set (``--dest-prefix``), the bytes hold that rule's placeholder and
    are relocated to ``entry.prefix.placeholder`` as they are written. With ``verify``
    the sha256 came from conda's record and is checked as the bytes are written.
    """

    entry: FileEntry
    source: str | None = None
    content: bytes | None = None
    signature: tuple[int, ...] = ()
    rewrite_from: PrefixRule | None = None
    verify: bool = False

    @property
    def source_file(self) -> str:
        """``source``, for an item whose bytes are not held in ``content``."""
        if self.source is None:
            raise ValueError(f"{self.entry.path!r} has neither content nor a source file.")
        return self.source
