"""Bundle container formats behind one small writer/reader interface."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import BinaryIO

import zstandard

from ..exceptions import BundleFormatError
from .tar import TarReader, TarWriter

FORMATS = ("tar.zst", "tar")
DEFAULT_FORMAT = "tar.zst"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def format_from_name(name: str) -> str | None:
    """The format an output file name asks for, or None when the name does not say."""
    for fmt in sorted(FORMATS, key=len, reverse=True):
        if name.endswith("." + fmt):
            return fmt
    if name.endswith(".tzst"):
        return "tar.zst"
    return None


@contextlib.contextmanager
def open_writer(
    out: BinaryIO, fmt: str, *, mtime: int, level: int = 3, threads: int = -1
) -> Iterator[TarWriter]:
    """A :class:`TarWriter` whose bytes go, compressed as ``fmt`` says, to ``out``."""
    if fmt == "tar":
        writer = TarWriter(out, mtime)
        yield writer
        writer.close()
        return
    params = zstandard.ZstdCompressionParameters.from_level(
        level, threads=threads, write_checksum=True, write_content_size=False
    )
    compressor = zstandard.ZstdCompressor(compression_params=params)
    with compressor.stream_writer(out, closefd=False, write_size=1 << 20) as stream:
        writer = TarWriter(stream, mtime)
        yield writer
        writer.close()


class _GuardedStream:
    """Turn decompression errors into a clear bundle error."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def read(self, size: int) -> bytes:
        try:
            return self.stream.read(size)
        except zstandard.ZstdError as exc:
            raise BundleFormatError(f"The bundle is damaged: {exc}.") from exc


class _Prefixed:
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream

    def read(self, size: int) -> bytes:
        if self.head:
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.stream.read(size)


def open_reader(raw: BinaryIO) -> TarReader:
    """A :class:`TarReader` over ``raw``, whose format is detected from its first bytes."""
    head = raw.read(512)
    stream = _Prefixed(head, raw)
    if head.startswith(ZSTD_MAGIC):
        decompressor = zstandard.ZstdDecompressor()
        reader = decompressor.stream_reader(stream, read_across_frames=True)
        return TarReader(_GuardedStream(reader))
    if len(head) == 512 and head[257:262] == b"ustar":
        return TarReader(stream)
    raise BundleFormatError("This file is not a bundle (neither tar.zst nor tar).")
