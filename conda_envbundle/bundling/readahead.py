"""The bytes of every entry, read, hashed and checked in a thread ahead of the writer.

The reader and the writer's compressor both release the GIL while they work, so reading
and hashing overlap with compression instead of taking turns with it. Entries travel in
batches (a queue operation per file would cost more than most files take to read), and
at most :data:`DEPTH` batches of about :data:`BATCH_BYTES` wait at a time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..exceptions import FileChangedError, source_read_error
from ..feed import Feed
from ..manifest import FILE
from ..scan import signature
from .items import Item
from .retarget import rewritten

BLOCK_SIZE = 1 << 20
BATCH_BYTES = 1 << 20
BATCH_ENTRIES = 512
DEPTH = 2

# (item, a block of its bytes, whether it is the item's last block)
_Piece = tuple[Item, bytes, bool]


class ReadAhead:
    """Iterate as ``(item, chunks)``: chunks are None for directories and symlinks, else
    an iterator over the file's bytes that must be consumed before the next item.

    When files' bytes differ from the sha256 conda recorded (``item.verify``), iteration
    ends by raising :class:`RecordMismatch` naming them.
    """

    def __init__(self, items: list[Item], prefix: str, subdir: str) -> None:
        self.items = items
        self.prefix = prefix
        self.subdir = subdir
        self.mismatched: list[str] = []
        self._feed = Feed(self._batches, DEPTH, "envbundle-read")

    def __enter__(self) -> ReadAhead:
        self._feed.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._feed.close()

    def __iter__(self) -> Iterator[tuple[Item, Iterator[bytes] | None]]:
        pieces = (piece for batch in self._feed for piece in batch)
        for item, block, last in pieces:
            if item.entry.kind != FILE:
                yield item, None
            else:
                yield item, _chunks(block, last, pieces)
        if self.mismatched:
            raise RecordMismatch(self.mismatched)

    # -- the reader thread -----------------------------------------------------------

    def _batches(self) -> Iterator[list[_Piece]]:
        batch: list[_Piece] = []
        size = 0
        for item in self.items:
            for piece in self._item_pieces(item):
                batch.append(piece)
                size += len(piece[1])
                if size >= BATCH_BYTES or len(batch) >= BATCH_ENTRIES:
                    yield batch
                    batch, size = [], 0
        yield batch

    def _item_pieces(self, item: Item) -> Iterator[_Piece]:
        if item.entry.kind != FILE:
            yield item, b"", True
            return
        content = item.content
        if content is not None:
            yield item, content, True
            return
        try:
            yield from self._file_pieces(item)
        except OSError as exc:
            if exc.filename is None:
                raise
            raise source_read_error(exc) from exc

    def _file_pieces(self, item: Item) -> Iterator[_Piece]:
        entry = item.entry
        with open(item.source_file(self.prefix), "rb", buffering=0) as fh:
            if signature(os.fstat(fh.fileno())) != item.signature:
                raise FileChangedError(changed(item))
            if item.rewrite_from is not None:
                pieces: Iterable[bytes] = [rewritten(item, fh.read(), self.subdir)]
            elif entry.size < BLOCK_SIZE:  # most files: one read
                pieces = [fh.read(entry.size + 1)]  # one byte more shows that the file grew
                self._check(item, pieces[0])
            else:
                pieces = self._blocks(item, fh)
            yield from ((item, block, False) for block in pieces)
            if signature(os.fstat(fh.fileno())) != item.signature:
                raise FileChangedError(changed(item))
        yield item, b"", True

    def _blocks(self, item: Item, fh: BinaryIO) -> Iterator[bytes]:
        """A large file's blocks, hashed on the way when conda's record is to be checked."""
        digest = hashlib.sha256() if item.verify else None
        remaining = item.entry.size + 1
        while remaining > 0:
            block = fh.read(min(BLOCK_SIZE, remaining))
            if not block:
                break
            remaining -= len(block)
            if digest is not None:
                digest.update(block)
            yield block
        if digest is not None and digest.hexdigest() != item.entry.sha256:
            self.mismatched.append(item.entry.path)

    def _check(self, item: Item, data: bytes) -> None:
        """Note a file whose bytes are not those conda recorded (``item.verify``)."""
        if item.verify and hashlib.sha256(data).hexdigest() != item.entry.sha256:
            self.mismatched.append(item.entry.path)


def _chunks(block: bytes, last: bool, pieces: Iterator[_Piece]) -> Iterator[bytes]:
    """One file's blocks, taken from the shared stream of pieces."""
    if block:
        yield block
    while not last:
        _, block, last = next(pieces)
        if block:
            yield block


def changed(item: Item) -> str:
    """The message for a file that changed while it was being bundled."""
    return (
        f"{item.source or item.entry.path} changed while it was being bundled. Stop "
        "whatever is writing to the environment and run conda bundle again."
    )


class RecordMismatch(Exception):
    """Files whose bytes differ from conda's record of them: the bundle must be made again,
    reading them in full."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths
