"""A minimal POSIX (ustar + pax) tar writer and a strict streaming reader.

Headers are built directly rather than through :mod:`tarfile`: its per-member
machinery is the throughput ceiling of conda-pack. The reader accepts only what a
bundle may contain (files, directories, symlinks) and rejects everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ..exceptions import BundleFormatError

BLOCK = 512
REGULAR, DIRECTORY, SYMLINK, HARDLINK = b"0", b"5", b"2", b"1"
PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK = b"x", b"g", b"L", b"K"
_MAX_OCTAL_SIZE = 8**11 - 1
_MAX_META = 1 << 20


class ByteSink(Protocol):
    """What a tar stream is written to: a binary file, or a compressor in front of one."""

    def write(self, data: bytes | bytearray, /) -> int: ...


class ByteSource(Protocol):
    """What a tar stream is read from: a binary file, or a decompressor over one."""

    def read(self, size: int, /) -> bytes: ...


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


def _header(
    name: bytes, prefix: bytes, mode: int, size: int, mtime: int, kind: bytes, link: bytes = b""
) -> bytes:
    fields = [
        name.ljust(100, b"\0"),
        _octal(mode, 8),
        _octal(0, 8),
        _octal(0, 8),
        _octal(size, 12),
        _octal(mtime, 12),
        b" " * 8,
        kind,
        link.ljust(100, b"\0"),
        b"ustar\x0000",
        b"\0" * 32,
        b"\0" * 32,
        _octal(0, 8),
        _octal(0, 8),
        prefix.ljust(155, b"\0"),
        b"\0" * 12,
    ]
    block = bytearray(b"".join(fields))
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


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

    def add_file(self, path: str, mode: int, size: int, chunks: Iterable[bytes]) -> int:
        """Write one regular file; returns the number of data bytes actually written."""
        self._write(member_header(path, REGULAR, mode=mode, size=size, mtime=self.mtime))
        for chunk in exactly(path, size, chunks):
            self._write(chunk)
        self._write(padding(size))
        return size

    def close(self) -> None:
        self._write(END_OF_ARCHIVE)
        self._flush()


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
    """Raised by the writer when a file's length differs from its announced size."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass
class Member:
    """One member header as read from a tar stream."""

    path: str
    kind: bytes
    mode: int
    size: int
    mtime: int
    link: str


def _parse_number(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise BundleFormatError(f"The bundle has a damaged tar header ({what}).") from None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise BundleFormatError("The bundle has a damaged pax header.") from None
        if space < 0 or length <= 0 or pos + length > len(data):
            raise BundleFormatError("The bundle has a damaged pax header.")
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value
        pos += length
    return records


class TarReader:
    """Iterate over the members of a tar stream, reading each member's data on demand."""

    def __init__(self, stream: ByteSource) -> None:
        self.stream = stream
        self._remaining = 0
        self._pending_padding = 0
        self.position = 0

    def _read_exact(self, size: int) -> bytes:
        parts = []
        while size:
            chunk = self.stream.read(size)
            if not chunk:
                raise BundleFormatError("The bundle is truncated: it ends in the middle of a file.")
            parts.append(chunk)
            size -= len(chunk)
        data = b"".join(parts)
        self.position += len(data)
        return data

    def _skip_rest(self) -> None:
        for _ in self.read_data():
            pass

    def read_data(self, block_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the current member's data, then consume its padding."""
        while self._remaining:
            chunk = self._read_exact(min(block_size, self._remaining))
            self._remaining -= len(chunk)
            yield chunk
        if self._pending_padding:
            self._read_exact(self._pending_padding)
            self._pending_padding = 0

    def __iter__(self) -> Iterator[Member]:
        overrides: dict[str, bytes] = {}
        while True:
            self._skip_rest()
            block = self._read_exact(BLOCK)
            if block == b"\0" * BLOCK:
                return
            member = self._parse_header(block, overrides)
            if member.kind in (PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK):
                if member.size > _MAX_META:
                    raise BundleFormatError("The bundle has an oversized extended header.")
                data = self._read_exact(member.size + len(padding(member.size)))[: member.size]
                if member.kind == PAX_LOCAL:
                    overrides.update(_parse_pax(data))
                elif member.kind == GNU_LONGNAME:
                    overrides["path"] = data.rstrip(b"\0")
                elif member.kind == GNU_LONGLINK:
                    overrides["linkpath"] = data.rstrip(b"\0")
                continue
            overrides = {}
            self._remaining = member.size if member.kind == REGULAR else 0
            self._pending_padding = len(padding(self._remaining))
            yield member

    @staticmethod
    def _parse_header(block: bytes, overrides: dict[str, bytes]) -> Member:
        stored = _parse_number(block[148:156], "checksum")
        if stored != sum(block[:148]) + 256 + sum(block[156:]):
            raise BundleFormatError("The bundle is damaged: a tar header checksum is wrong.")
        name = block[0:100].split(b"\0", 1)[0]
        if block[257:262] == b"ustar":
            prefix = block[345:500].split(b"\0", 1)[0]
            if prefix:
                name = prefix + b"/" + name
        kind = block[156:157]
        size = _parse_number(block[124:136], "size")
        if "size" in overrides:
            try:
                size = int(overrides["size"])
            except ValueError:
                raise BundleFormatError("The bundle has a damaged pax size.") from None
        if size < 0:
            raise BundleFormatError("The bundle has a negative member size.")
        return Member(
            path=_decode(overrides.get("path", name)),
            kind=REGULAR if kind == b"\0" else kind,
            mode=_parse_number(block[100:108], "mode"),
            size=size,
            mtime=_parse_number(block[136:148], "mtime"),
            link=_decode(overrides.get("linkpath", block[157:257].split(b"\0", 1)[0])),
        )
