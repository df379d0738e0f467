"""Compression of the tar stream: zstd (default), gzip (ISA-L, threaded), bzip2, xz.

Each codec turns a binary output stream into a compressing one, or a compressed input
stream into a plain one; none writes a timestamp, so the bytes are reproducible. The
libraries of zstd and ISA-L are imported where a bundle needs them
(:func:`~conda_envbundle.exceptions.needs`).
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..exceptions import BundleFormatError, EnvBundleError, needs
from .members import ByteSink, ByteSource


@dataclass(frozen=True)
class Codec:
    """A compression format: its tar-suffixed name, level range and default level."""

    name: str
    magic: bytes
    levels: range
    default_level: int
    threaded: bool


CODECS = {
    "tar.zst": Codec("tar.zst", b"\x28\xb5\x2f\xfd", range(1, 23), 3, True),
    "tar.gz": Codec("tar.gz", b"\x1f\x8b", range(0, 10), 6, True),
    "tar.bz2": Codec("tar.bz2", b"BZh", range(1, 10), 9, False),
    "tar.xz": Codec("tar.xz", b"\xfd7zXZ\x00", range(0, 10), 6, False),
}


# zstd's default job (4 windows, 8 MiB at level 3) keeps about 25 MB per worker in flight;
# 1 MiB jobs keep a fifth of that for about 2.5 % more output, as large as GNU tar | zstd -3
# (measured on the benchmark environment, docs/performance.md).
ZSTD_JOB_SIZE = 1 << 20


def _isal_level(level: int) -> int:
    """Map gzip's 0-9 onto ISA-L's 0-3 (ISA-L 2 compresses like zlib 6, several times faster)."""
    return 0 if level == 0 else min(3, (level + 2) // 3)


@contextlib.contextmanager
def compressing(out: BinaryIO, fmt: str, level: int, threads: int) -> Iterator[ByteSink]:
    """A writable stream that compresses into ``out`` (which is left open)."""
    stream: ByteSink
    if fmt == "tar.zst":
        with needs("zstandard", f"--format {fmt}"):
            import zstandard
        params = zstandard.ZstdCompressionParameters.from_level(
            level,
            threads=threads,
            job_size=ZSTD_JOB_SIZE,
            write_checksum=True,
            write_content_size=False,
        )
        compressor = zstandard.ZstdCompressor(compression_params=params)
        with compressor.stream_writer(out, closefd=False, write_size=1 << 20) as stream:
            yield stream
    elif fmt == "tar.gz":
        with needs("isal", f"--format {fmt}"):
            from isal import igzip_threaded
        with igzip_threaded.open(
            _Unclosable(out), "wb", compresslevel=_isal_level(level), threads=max(threads, 1)
        ) as stream:
            yield stream
    elif fmt == "tar.bz2":
        with bz2.BZ2File(_Unclosable(out), "wb", compresslevel=level) as stream:
            yield stream
    elif fmt == "tar.xz":
        unclosable = _Unclosable(out)
        # LZMAFile writes to any object with write(); typeshed wants an IO[bytes]
        with lzma.LZMAFile(unclosable, "wb", preset=level) as stream:  # type: ignore[arg-type]
            yield stream
    else:
        raise ValueError(fmt)


def decompressing(head: bytes, stream: BinaryIO) -> ByteSource | None:
    """A readable plain stream over ``stream`` if ``head`` shows a known codec, else None."""
    if head.startswith(CODECS["tar.zst"].magic):
        with needs("zstandard", "Reading a tar.zst bundle"):
            import zstandard
        reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
        return Guarded(reader)
    if head.startswith(CODECS["tar.gz"].magic):
        with needs("isal", "Reading a tar.gz bundle"):
            from isal import igzip
        return Guarded(igzip.IGzipFile(fileobj=stream, mode="rb"))
    if head.startswith(CODECS["tar.bz2"].magic):
        return Guarded(bz2.BZ2File(stream, "rb"))
    if head.startswith(CODECS["tar.xz"].magic):
        return Guarded(lzma.LZMAFile(stream, "rb"))
    return None


class Guarded:
    """A decoder whose every failure is a :class:`BundleFormatError`.

    Each codec reports damage in its own way (ISA-L's IsalError, ZstdError, LZMAError,
    OSError, EOFError, ValueError, ...), and a damaged stream can reach code paths that
    raise others: whatever a decoder raises while reading, the bundle is what is wrong.
    """

    def __init__(self, stream: ByteSource) -> None:
        self.stream = stream

    def read(self, size: int) -> bytes:
        try:
            return self.stream.read(size)
        except (EnvBundleError, MemoryError):
            raise
        except Exception as exc:
            raise BundleFormatError(f"The bundle is damaged: {describe(exc)}.") from exc


def describe(exc: BaseException) -> str:
    """An exception as a short phrase for a message (some codecs raise without text)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    text = str(exc).strip()
    return text if text else type(exc).__name__


class _Unclosable:
    """Let a codec close its wrapper without closing our output file."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def write(self, data) -> int:
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.flush()

    @property
    def closed(self) -> bool:
        return False

    def writable(self) -> bool:
        return True
