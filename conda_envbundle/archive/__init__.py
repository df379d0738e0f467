"""Bundle container formats behind one small writer/reader interface.

Every format keeps the contract of :mod:`.members` (a :class:`~.members.Writer` and a
:class:`~.members.Reader`); each lives in its own module (:mod:`.tar` with the codecs
of :mod:`.codecs`, :mod:`.zip`, :mod:`.directory`, :mod:`.sh`). The format of an input is
detected from its content, never its name; the formats' names are in :mod:`..formats`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import BinaryIO, cast

from .. import sources
from ..exceptions import BundleFormatError, EnvBundleError
from . import sh
from .codecs import CODECS, compressing, decompressing
from .directory import DirReader, DirWriter
from .members import Reader, Writer
from .prefetch import Prefetched, Prefixed
from .tar import BLOCK, TarWriter
from .tarread import TarReader
from .zip import ZipReader, ZipWriter

ZIP_MAGIC = b"PK\x03\x04"
_ZIP_LEVELS, _ZIP_DEFAULT = range(0, 10), 6


def level_format(fmt: str, sh_payload: str = "gzip") -> str | None:
    """The format whose compression levels ``fmt`` takes, None for a format without.

    An installer's levels are its payload's codec's (``--sh-payload zstd``: zstd's).
    """
    if fmt == "sh":
        return sh.payload_format(sh_payload)
    return fmt if fmt in CODECS or fmt == "zip" else None


def default_level(fmt: str) -> int | None:
    """The compression level used when none is given (None: the format has no levels)."""
    if fmt in CODECS:
        return CODECS[fmt].default_level
    return _ZIP_DEFAULT if fmt == "zip" else None


def check_level(fmt: str, level: int) -> None:
    """Refuse a compression level the format cannot use (see :func:`level_format`)."""
    codec = CODECS.get(fmt)
    levels = codec.levels if codec else _ZIP_LEVELS if fmt == "zip" else None
    if levels is None:
        raise EnvBundleError(f"The {fmt} format is not compressed: it takes no level.")
    if level not in levels:
        raise EnvBundleError(
            f"Compression level {level} is out of range for {fmt} "
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


@contextlib.contextmanager
def open_reader(source: BinaryIO | str, first_member: str) -> Iterator[Reader]:
    """A reader over a bundle file, stream, directory or URL, whatever its format.

    ``first_member`` names the member that a directory bundle yields first (the manifest).
    """
    if isinstance(source, str) and os.path.isdir(source):
        yield DirReader(source, first_member)
        return
    with contextlib.ExitStack() as stack:
        if isinstance(source, str) and sources.is_url(source):
            # a file of range requests: seekable, so a zip bundle can be read from it too
            source = cast(BinaryIO, stack.enter_context(sources.open_url(source)))
        stream = stack.enter_context(open_file(source)) if isinstance(source, str) else source
        yield _reader_for(source, stream, stack)


def open_file(path: str) -> BinaryIO:
    """``path`` opened for reading; a missing or unreadable file is a BundleFormatError."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise BundleFormatError(f"{path} does not exist.") from None
    except OSError as exc:
        raise BundleFormatError(f"Cannot read {path}: {exc.strerror}.") from None


def _reader_for(source: BinaryIO | str, stream: BinaryIO, stack: contextlib.ExitStack) -> Reader:
    head = stream.read(BLOCK)
    installer = sh.open_payload(head, stream, stack)
    if installer is not None:
        return installer
    if head.startswith(ZIP_MAGIC):
        if isinstance(source, str):
            return ZipReader(source)
        if not source.seekable():
            raise BundleFormatError("A zip bundle cannot be read from a pipe; give its path.")
        source.seek(0)  # zipfile reads any seekable file: a URL's ranges, an open file
        return ZipReader(source)  # type: ignore[arg-type]
    prefixed = Prefixed(head, stream)
    # the codecs read from any object with read(); their stubs want an IO[bytes]
    plain = decompressing(head, prefixed)  # type: ignore[arg-type]
    if plain is not None:
        return TarReader(stack.enter_context(Prefetched(plain)))
    if len(head) == BLOCK and head[257:262] == b"ustar":
        return TarReader(prefixed)
    raise BundleFormatError(
        "This file is not a bundle (not tar, tar.zst, tar.gz, tar.bz2, tar.xz or zip)."
    )
