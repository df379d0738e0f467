"""The contract every bundle format keeps: members, byte streams, size checks, readers, writers.

A bundle is a sequence of members (files, directories, symlinks), the manifest first.
Each format (tar with or without a codec, zip, a directory, the ``.sh`` installer)
writes them through a :class:`Writer` and gives them back through a :class:`Reader`;
nothing outside ``archive/`` needs to know which format it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

# Member kinds, spelled as tar's type flags, whatever the format.
REGULAR, DIRECTORY, SYMLINK = b"0", b"5", b"2"

# 1980-01-01: no member time is earlier (a zip entry cannot hold one before it).
EARLIEST_MTIME = 315532800
# 2107-12-31T23:59:58Z: no member time is later (the last a zip entry can hold).
LATEST_MTIME = 4354819198


@dataclass(slots=True)
class Member:
    """One member as a reader found it (or as the manifest says it must be)."""

    path: str
    kind: bytes
    mode: int
    size: int
    mtime: int
    link: str


class ByteSink(Protocol):
    """What a bundle stream is written to: a binary file, or a compressor in front of one."""

    def write(self, data: bytes | bytearray, /) -> int: ...


class ByteSource(Protocol):
    """What a bundle stream is read from: a binary file, or a decompressor over one."""

    def read(self, size: int, /) -> bytes: ...


class Writer(Protocol):
    """What every format's writer offers; members come in the order they are added."""

    def add_dir(self, path: str, mode: int) -> None: ...

    def add_symlink(self, path: str, target: str) -> None: ...

    def add_file(
        self, path: str, mode: int, size: int, chunks: Iterable[bytes], mtime: int | None = None
    ) -> int:
        """Write one file of exactly ``size`` bytes (:func:`exactly`); returns ``size``.

        ``mtime`` overrides the bundle's one timestamp (a ``.py`` whose ``.pyc`` expects it).
        """
        ...

    def close(self) -> None: ...


class Reader(Protocol):
    """What every format's reader offers: its members in order, and their bytes."""

    def __iter__(self) -> Iterator[Member]: ...

    def read_data(self, block_size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes of the member just yielded."""
        ...

    def expect(self, members: Iterable[Member]) -> None:
        """The members still to come, as the manifest declares them.

        A format read as one stream refuses to read more than they take, so a stream
        that holds more (a decompression bomb) stops early; other formats ignore it.
        """
        ...

    def finish(self) -> None:
        """After the last member: check what the format holds after it (a stream must
        end as the format says, with nothing but padding after it)."""
        ...


def exactly(path: str, size: int, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks``, checked to add up to ``size`` bytes: :class:`SizeChangedError` if not."""
    written = 0
    for chunk in chunks:
        written += len(chunk)
        if written > size:
            raise SizeChangedError(path)
        yield chunk
    if written != size:
        raise SizeChangedError(path)


class SizeChangedError(Exception):
    """Raised by a writer when a file's length differs from its announced size."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path
