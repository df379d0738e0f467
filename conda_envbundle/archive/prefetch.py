"""Readable streams over a bundle's bytes: read (and decompressed) in a thread, ahead, or
with the bytes already read to tell its format put back in front.

zstd and ISA-L release the GIL while they decompress, so the next blocks are being
decoded while the extractor parses, hashes and writes the current ones.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from ..feed import Feed
from .members import ByteSource

BLOCK_SIZE = 1 << 20
DEPTH = 2


class Prefetched:
    """``stream`` read :data:`BLOCK_SIZE` bytes at a time, up to :data:`DEPTH` blocks ahead."""

    def __init__(self, stream: ByteSource) -> None:
        self.feed = Feed(lambda: _blocks(stream), DEPTH, "envbundle-decompress")
        self._blocks: Iterator[bytes] | None = None
        self._view = memoryview(b"")

    def __enter__(self) -> Prefetched:
        self.feed.__enter__()
        self._blocks = iter(self.feed)
        return self

    def __exit__(self, *exc: object) -> None:
        self.feed.close()

    def read(self, size: int = -1) -> bytes:
        if not self._view:
            block = next(self._blocks, b"") if self._blocks is not None else b""
            self._view = memoryview(block)
        if size < 0 or size >= len(self._view):
            data, self._view = self._view, memoryview(b"")
        else:
            data, self._view = self._view[:size], self._view[size:]
        return bytes(data)


def _blocks(stream: ByteSource) -> Iterator[bytes]:
    while block := stream.read(BLOCK_SIZE):
        yield block


class Prefixed(io.RawIOBase):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, stream: ByteSource) -> None:
        super().__init__()
        self.head = head
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.stream.read(size)
        if size < 0:
            data, self.head = self.head + self.stream.read(-1), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data
