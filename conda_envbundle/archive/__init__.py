"""Bundle container formats behind one small writer/reader interface.

Writers have ``add_dir``, ``add_symlink``, ``add_file`` and ``close``; readers iterate
over :class:`~.tar.Member` objects and give the current member's bytes with
``read_data()``. The format of an input is detected from its content, never its name.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from ..exceptions import BundleFormatError, EnvBundleError
from . import installer
from .codecs import CODECS, compressing, decompressing
from .directory import DirReader, DirWriter
from .prefetch import Prefetched
from .tar import BLOCK, TarReader, TarWriter
from .zip import ZipReader, ZipWriter

DEFAULT_FORMAT = "tar.zst"
FORMATS = ("tar.zst", "tar.gz", "tar.bz2", "tar.xz", "zip", "tar", "dir", "sh")
_SUFFIXES = {".tzst": "tar.zst", ".tgz": "tar.gz", ".tbz2": "tar.bz2", ".txz": "tar.xz"}
ZIP_MAGIC = b"PK\x03\x04"


class Writer(Protocol):
    """What every container writer offers."""

    def add_dir(self, path: str, mode: int) -> None: ...
    def add_symlink(self, path: str, target: str) -> None: ...
    def add_file(
        self, path: str, mode: int, size: int, chunks, mtime: int | None = None
    ) -> int: ...
    def close(self) -> None: ...


def format_from_name(name: str) -> str | None:
    """The format an output name asks for (``x.tar.gz`` -> ``tar.gz``), or None."""
    for fmt in sorted(FORMATS, key=len, reverse=True):
        if fmt != "dir" and name.endswith("." + fmt):
            return fmt
    return _SUFFIXES.get(os.path.splitext(name)[1])


def default_level(fmt: str) -> int | None:
    """The compression level used when none is given (None: the format has no levels)."""
    if fmt == "sh":
        return CODECS["tar.gz"].default_level
    if fmt in CODECS:
        return CODECS[fmt].default_level
    return 6 if fmt == "zip" else None


def check_level(fmt: str, level: int) -> None:
    """Refuse a compression level the format cannot use."""
    codec = CODECS.get("tar.gz" if fmt == "sh" else fmt)
    levels = codec.levels if codec else range(0, 10) if fmt == "zip" else None
    if levels is None:
        raise EnvBundleError(f"The {fmt} format is not compressed; drop --compress-level.")
    if level not in levels:
        raise EnvBundleError(
            f"--compress-level {level} is out of range for {fmt} "
            f"({levels.start} to {levels.stop - 1})."
        )


@contextlib.contextmanager
def open_writer(
    out: BinaryIO | str, fmt: str, *, mtime: int, level: int | None, threads: int
) -> Iterator[Writer]:
    """A writer for ``fmt`` whose bytes go to the stream ``out`` (a directory for ``dir``).

    ``level`` may be None only for a format without levels (``dir``, ``tar``).
    """
    if fmt == "dir":
        if not isinstance(out, str):
            raise TypeError("A dir bundle is written to a directory path, not a stream.")
        writer: Writer = DirWriter(out, mtime)
    elif isinstance(out, str):
        raise TypeError(f"A {fmt} bundle is written to a stream, not a path.")
    elif fmt == "zip":
        writer = ZipWriter(out, mtime, level)
    elif fmt == "tar":
        writer = TarWriter(out, mtime)
    else:
        if level is None:
            raise ValueError(f"The {fmt} format needs a compression level.")
        with compressing(out, fmt, level, threads) as stream:
            writer = TarWriter(stream, mtime)
            yield writer
            writer.close()
        return
    try:
        yield writer
    except BaseException:
        if isinstance(writer, ZipWriter):
            writer.abandon()
        raise
    writer.close()


class _Prefixed(io.RawIOBase):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
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
            data, self.head = self.head + self.stream.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data


@contextlib.contextmanager
def open_reader(source: BinaryIO | str, first_member: str) -> Iterator:
    """A reader over a bundle file, stream or directory, whatever its format.

    ``first_member`` names the member that a directory bundle yields first (the manifest).
    """
    if isinstance(source, str) and os.path.isdir(source):
        yield DirReader(source, first_member)
        return
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(_open_file(source)) if isinstance(source, str) else source
        yield _reader_for(source, stream, stack)


def _open_file(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise BundleFormatError(f"{path} does not exist.") from None
    except OSError as exc:
        raise BundleFormatError(f"Cannot read {path}: {exc.strerror}.") from None


def _reader_for(source: BinaryIO | str, stream: BinaryIO, stack: contextlib.ExitStack):
    head = stream.read(BLOCK)
    found = installer.skip_header(head, stream)
    if found is not None:
        return _installer_reader(*found, stream, stack)
    if head.startswith(ZIP_MAGIC):
        if not isinstance(source, str):
            raise BundleFormatError("A zip bundle cannot be read from a pipe; give its path.")
        return ZipReader(source)
    prefixed = _Prefixed(head, stream)
    # the codecs read from any object with read(); their stubs want an IO[bytes]
    plain = decompressing(head, prefixed)  # type: ignore[arg-type]
    if plain is not None:
        return TarReader(stack.enter_context(Prefetched(plain)))
    if len(head) == BLOCK and head[257:262] == b"ustar":
        return TarReader(prefixed)
    raise BundleFormatError(
        "This file is not a bundle (not tar, tar.zst, tar.gz, tar.bz2, tar.xz or zip)."
    )


def _installer_reader(
    seal: installer.Seal, payload: bytes, stream: BinaryIO, stack: contextlib.ExitStack
) -> TarReader:
    """The payload of a ``.sh`` installer: compressed as its header says (the shell decodes
    it with that tool), and the whole file checked against the header's sha256 at its end."""
    sealed = installer.SealedStream(seal, payload, stream)
    head = payload + sealed.read(max(0, BLOCK - len(payload)))
    if not head.startswith(CODECS[installer.CODECS[seal.codec]].magic):
        raise BundleFormatError(
            f"This installer's payload is not the {seal.codec} stream its header names: "
            "it is damaged."
        )
    plain = decompressing(head, _Prefixed(head, sealed))  # type: ignore[arg-type]
    assert plain is not None  # the magic was just checked
    checked = installer.CheckedAtEnd(plain, sealed)
    return TarReader(stack.enter_context(Prefetched(checked)))
