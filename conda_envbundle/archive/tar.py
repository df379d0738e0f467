"""A minimal POSIX (ustar + pax) tar writer; :mod:`.tarread` reads what it writes.

Headers are built directly rather than through :mod:`tarfile`: its per-member
machinery is the throughput ceiling of conda-pack.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from .members import DIRECTORY, REGULAR, SYMLINK, ByteSink, exactly

BLOCK = 512
HARDLINK = b"1"
PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK = b"x", b"g", b"L", b"K"
_MAX_OCTAL_SIZE = 8**11 - 1


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _fits_ustar(path: bytes) -> tuple[bytes, bytes] | None:
    """Split ``path`` into ustar (prefix, name) fields, or None when it does not fit."""
    if len(path) <= 100:
        return b"", path
    cut = path.rfind(b"/", 0, 156)
    while cut > 0:
        if len(path) - cut - 1 <= 100:
            return path[:cut], path[cut + 1 :]
        cut = path.rfind(b"/", 0, cut)
    return None


# name, mode, uid, gid, size, mtime, checksum, kind, link, magic+version, uname, gname,
# devmajor, devminor, prefix, padding: struct pads each field with NULs, in C.
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_ZERO_ID = _octal(0, 8)
_MAGIC = b"ustar\x0000"
# The checksum counts its own field as eight spaces.
_CHECKSUM_SPACES = sum(b" " * 8)


def _header(
    name: bytes, prefix: bytes, mode: int, size: int, mtime: int, kind: bytes, link: bytes = b""
) -> bytes:
    fields = (_octal(mode, 8), _octal(size, 12), _octal(mtime, 12))
    checksum = _CHECKSUM_SPACES + sum(name) + sum(prefix) + sum(link) + kind[0]
    checksum += sum(map(sum, fields)) + _FIXED_SUM
    return _USTAR.pack(
        name,
        fields[0],
        _ZERO_ID,
        _ZERO_ID,
        fields[1],
        fields[2],
        b"%06o\0 " % checksum,
        kind,
        link,
        _MAGIC,
        b"",
        b"",
        _ZERO_ID,
        _ZERO_ID,
        prefix,
    )


# uid, gid, devmajor, devminor (all zero) and the magic: the same in every header.
_FIXED_SUM = 4 * sum(_ZERO_ID) + sum(_MAGIC)


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def member_header(
    path: str, kind: bytes, *, mode: int, size: int = 0, mtime: int = 0, link: str = ""
) -> bytes:
    """The header block(s) of one member: a pax header first when ustar cannot hold it."""
    raw_path = path.encode("utf-8", "surrogateescape")
    raw_link = link.encode("utf-8", "surrogateescape")
    records = b""
    split = _fits_ustar(raw_path) if raw_path.isascii() else None
    if split is None:
        records += _pax_record("path", raw_path)
        split = (b"", raw_path[-100:].lstrip(b"/") or b"x")
    if len(raw_link) > 100 or not raw_link.isascii():
        records += _pax_record("linkpath", raw_link)
        raw_link = raw_link[:100]
    if size > _MAX_OCTAL_SIZE:
        records += _pax_record("size", str(size).encode())
    head = b""
    if records:
        head = _header(b"././@PaxHeader", b"", 0o644, len(records), mtime, PAX_LOCAL)
        head += records + padding(len(records))
    fixed_size = 0 if size > _MAX_OCTAL_SIZE else size
    return head + _header(split[1], split[0], mode, fixed_size, mtime, kind, raw_link)


END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


_FLUSH_AT = 1 << 20
# Files up to this size are joined with their header and padding before being buffered.
_SMALL_FILE = 64 << 10


class TarWriter:
    """Write members to a binary stream; the caller supplies already-ordered entries.

    Headers and small files are gathered into large writes: each write into a
    compressor costs a call, and environments hold tens of thousands of small files.
    """

    def __init__(self, out: ByteSink, mtime: int) -> None:
        self.out = out
        self.mtime = mtime
        self._buffer = bytearray()

    def _write(self, data: bytes) -> None:
        if len(data) >= _FLUSH_AT:
            self._flush()
            self.out.write(data)
            return
        self._buffer += data
        if len(self._buffer) >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self.out.write(self._buffer)
            self._buffer = bytearray()

    def add_dir(self, path: str, mode: int) -> None:
        self._write(member_header(path, DIRECTORY, mode=mode, mtime=self.mtime))

    def add_symlink(self, path: str, target: str) -> None:
        self._write(member_header(path, SYMLINK, mode=0o777, mtime=self.mtime, link=target))

    def add_file(
        self, path: str, mode: int, size: int, chunks: Iterable[bytes], mtime: int | None = None
    ) -> int:
        """Write one regular file; returns the number of data bytes actually written.

        ``mtime`` overrides the bundle's one timestamp (a ``.py`` whose ``.pyc`` expects it).
        """
        stamp = self.mtime if mtime is None else mtime
        head = member_header(path, REGULAR, mode=mode, size=size, mtime=stamp)
        if size <= _SMALL_FILE:  # most files: one write of header, data and padding
            self._write(head + b"".join(exactly(path, size, chunks)) + padding(size))
            return size
        self._write(head)
        for chunk in exactly(path, size, chunks):
            self._write(chunk)
        self._write(padding(size))
        return size

    def close(self) -> None:
        self._write(END_OF_ARCHIVE)
        self._flush()
