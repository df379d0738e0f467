"""Zip bundles: the same members as a tar, for targets where only ``unzip`` exists."""

from __future__ import annotations

import contextlib
import stat
import struct
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from ..exceptions import BundleFormatError
from ..paths import zip_name_problem
from .members import DIRECTORY, EARLIEST_MTIME, REGULAR, SYMLINK, Member, exactly

_EXTENDED_TIMESTAMP = 0x5455
# zipfile's ways of saying a member cannot be read: damage (BadZipFile, zlib.error, EOF),
# a method or version it does not know (NotImplementedError), encryption (RuntimeError)
_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _info(path: str, mtime: int, mode: int) -> zipfile.ZipInfo:
    stamp = time.gmtime(max(mtime, EARLIEST_MTIME))[:6]
    info = zipfile.ZipInfo(path, date_time=stamp)
    info.create_system = 3  # Unix, so unzip restores modes and symlinks
    info.external_attr = mode << 16
    return info


def _set_level(info: zipfile.ZipInfo, level: int | None) -> None:
    if hasattr(info, "compress_level"):  # Python >= 3.13
        info.compress_level = level
    else:
        info._compresslevel = level  # type: ignore[attr-defined]


class ZipWriter:
    """Write members into a deterministic zip archive."""

    def __init__(self, out: BinaryIO, mtime: int, level: int | None) -> None:
        self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level)
        self.mtime = mtime

    def add_dir(self, path: str, mode: int) -> None:
        info = _info(path + "/", self.mtime, stat.S_IFDIR | mode)
        info.external_attr |= 0x10
        self.zip.writestr(info, b"")

    def add_symlink(self, path: str, target: str) -> None:
        info = _info(path, self.mtime, stat.S_IFLNK | 0o777)
        self.zip.writestr(info, target.encode("utf-8", "surrogateescape"), zipfile.ZIP_STORED)

    def add_file(
        self, path: str, mode: int, size: int, chunks: Iterable[bytes], mtime: int | None = None
    ) -> int:
        info = _info(path, self.mtime if mtime is None else mtime, stat.S_IFREG | mode)
        if mtime is not None:
            # DOS times have a 2-second grain; unzip restores the exact second from the
            # Info-ZIP extended timestamp (a .pyc checks its source's mtime to the second).
            info.extra = struct.pack("<HHBl", _EXTENDED_TIMESTAMP, 5, 1, mtime)
        info.compress_type = zipfile.ZIP_DEFLATED
        # ZipFile.open applies the archive's level only to a ZipInfo it makes itself
        _set_level(info, self.zip.compresslevel)
        with self.zip.open(info, "w", force_zip64=size > 0x7FFFFFFF) as fh:
            for chunk in exactly(path, size, chunks):
                fh.write(chunk)
        return size

    def close(self) -> None:
        self.zip.close()

    def abandon(self) -> None:
        """Let go of a failed archive. zipfile would otherwise finish it when collected,
        writing to an output already closed (an "Exception ignored" traceback at exit)."""
        with contextlib.suppress(OSError, ValueError):
            self.zip.close()


# What the reader accepts is what unzip extracts the same way: Python's zipfile and unzip
# differ on Unicode-path extra fields, names with control characters or backslashes,
# non-Unix entries, duplicates and local headers that disagree with the central directory.
# Extra fields read alike (zip64 sizes) or that change only times and owners:
_SAFE_EXTRAS = {0x0001, _EXTENDED_TIMESTAMP, 0x7875}
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_UNIX = 3
_UTF8, _ENCRYPTED, _DESCRIPTOR = 0x800, 0x1, 0x8
_LOCAL = struct.Struct("<4sHHHHHIIIHH")


def _refused(name: str, what: str) -> BundleFormatError:
    return BundleFormatError(
        f"The zip bundle's member {name!r} {what}; unzip could extract it differently from "
        "what conda-envbundle verifies, so it is refused. Re-create the bundle with conda bundle."
    )


def _check_extras(name: str, extra: bytes) -> None:
    pos = 0
    while pos < len(extra):
        if pos + 4 > len(extra):
            raise BundleFormatError(f"The zip bundle is damaged: bad extra field of {name!r}.")
        kind, size = struct.unpack_from("<HH", extra, pos)
        if kind not in _SAFE_EXTRAS:
            raise _refused(name, f"has an extra field of type 0x{kind:04x}")
        pos += 4 + size
    if pos != len(extra):
        raise BundleFormatError(f"The zip bundle is damaged: bad extra field of {name!r}.")


def _check_central(info: zipfile.ZipInfo, names: set[str]) -> None:
    """What the central directory says of one member, before anything is read."""
    name = info.orig_filename
    problem = zip_name_problem(name)
    if problem:
        raise _refused(name, f"has a name that {problem.removeprefix('it ')}")
    if not name.isascii() and not info.flag_bits & _UTF8:
        raise _refused(name, "has a non-ASCII name not marked as UTF-8")
    if name in names:
        raise _refused(name, "is in it twice")
    names.add(name)
    if info.create_system != _UNIX:
        raise _refused(name, "was not made on Unix, so unzip ignores its type and mode")
    if info.flag_bits & _ENCRYPTED or info.compress_type not in _METHODS:
        raise _refused(name, "is encrypted or uses a compression other than deflate")
    if info.is_dir() and info.file_size:
        raise _refused(name, "is a directory that carries data")
    _check_extras(name, info.extra)


class ZipReader:
    """Read a zip bundle member by member, like :class:`~.tarread.TarReader`."""

    def __init__(self, path: str) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
            self.infos = self.zip.infolist()
        except _READ_ERRORS as exc:
            raise BundleFormatError(f"The zip bundle is damaged: {exc}.") from exc
        names: set[str] = set()
        for info in self.infos:
            _check_central(info, names)
        self._current: zipfile.ZipInfo | None = None

    def __iter__(self) -> Iterator[Member]:
        for info in self.infos:
            self._check_local(info)
            self._current = info
            yield self._member(info)
        self._current = None

    def _check_local(self, info: zipfile.ZipInfo) -> None:
        """The member's local header must say what the central directory says: unzip
        takes the compression method from it, zipfile from the central directory."""
        name = info.orig_filename
        try:
            fields, raw_name, extra = self._local_header(info)
        except (OSError, struct.error) as exc:
            raise BundleFormatError(f"The zip bundle is damaged at {name!r}: {exc}.") from exc
        magic, _, flags, method, _, _, crc, packed, size, _, _ = fields
        encoded = name.encode("utf-8" if info.flag_bits & _UTF8 else "cp437")
        agrees = (magic, raw_name, flags, method) == (
            b"PK\x03\x04",
            encoded,
            info.flag_bits,
            info.compress_type,
        )
        if agrees and not flags & _DESCRIPTOR:
            sizes = {(info.compress_size, info.file_size), (0xFFFFFFFF, 0xFFFFFFFF)}
            agrees = crc == info.CRC and (packed, size) in sizes
        if not agrees:
            raise _refused(name, "has a local header that disagrees with the central directory")
        _check_extras(name, extra)

    def _local_header(self, info: zipfile.ZipInfo) -> tuple[tuple[Any, ...], bytes, bytes]:
        fp = self.zip.fp
        if fp is None:
            raise OSError("the zip bundle is closed")
        # zipfile seeks its shared handle again before each of its reads: this seek is safe
        fp.seek(info.header_offset)
        fields = _LOCAL.unpack(fp.read(_LOCAL.size))
        return fields, fp.read(fields[9]), fp.read(fields[10])

    def _member(self, info: zipfile.ZipInfo) -> Member:
        mode = info.external_attr >> 16
        link = ""
        if info.is_dir():
            kind = DIRECTORY
        elif stat.S_ISLNK(mode):
            kind = SYMLINK
            if info.file_size > 4096:
                raise BundleFormatError(f"The zip bundle's symlink {info.filename!r} is too long.")
            link = b"".join(self.read_data()).decode("utf-8", "surrogateescape")
        elif stat.S_ISREG(mode) or mode == 0:
            kind = REGULAR
        else:
            kind = b"?"
        return Member(info.filename.rstrip("/"), kind, stat.S_IMODE(mode), info.file_size, 0, link)

    def expect(self, members: Iterable[Member]) -> None:
        """Nothing to bound: the central directory, checked whole, lists every member."""

    def finish(self) -> None:
        """Nothing to check: zipfile read the end of the archive first."""

    def read_data(self, block_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the current member's bytes; zipfile checks their CRC and size."""
        info = self._current
        if info is None:
            raise ValueError("read_data() reads the member just yielded; there is none.")
        try:
            with self.zip.open(info) as fh:
                while block := fh.read(block_size):
                    yield block
        except _READ_ERRORS as exc:
            raise BundleFormatError(f"The zip bundle is damaged: {exc}.") from exc
