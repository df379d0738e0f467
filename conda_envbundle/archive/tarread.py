"""A strict streaming tar reader: it accepts only what a bundle may contain (files,
directories, symlinks, as POSIX ustar + pax) and refuses everything else."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

from ..exceptions import BundleFormatError
from .members import DIRECTORY, REGULAR, SYMLINK, ByteSource, Member
from .tar import BLOCK, GNU_LONGLINK, GNU_LONGNAME, HARDLINK, PAX_GLOBAL, PAX_LOCAL, padding

_MAX_META = 1 << 20
# Slack for the end-of-archive blocks and the record padding some tar writers add.
_END_SLACK = 64 * BLOCK

# What the reader accepts is what GNU tar and bsdtar extract the same way: the POSIX tar
# that the .tar writer produces. Everything else is refused rather than read one way while other
# tools write another (docs/security.md: "What is verified is what tar and unzip extract").
_POSIX_MAGIC = b"ustar\x0000"
_GNU_MAGIC = b"ustar  \x00"
# Yielded to the caller, which refuses them with its own message; they may carry no data.
_FORBIDDEN_KINDS = (HARDLINK, b"3", b"4", b"6", b"7")
_REFUSED_KINDS = {
    b"\0": "an old-style tar member type ('\\0'), which tar reads as a directory or a file",
    PAX_GLOBAL: "a pax global header, which tar applies to every later member",
    GNU_LONGNAME: "a GNU long-name header",
    GNU_LONGLINK: "a GNU long-link header",
    b"S": "a GNU sparse file",
}
_KNOWN_KINDS = frozenset((REGULAR, DIRECTORY, SYMLINK, PAX_LOCAL, *_FORBIDDEN_KINDS))
_OCTAL = re.compile(rb" *[0-7]+[ \0]*")
_OCTAL_OR_EMPTY = re.compile(rb" *[0-7]*[ \0]*")
_RECORD_LENGTH = re.compile(rb"[1-9][0-9]{0,7} ")
_DECIMAL = re.compile(rb"[0-9]+")
_TIME = re.compile(rb"-?[0-9]+(\.[0-9]+)?")
_ANY = re.compile(rb"[^\0]*")
# pax keys the reader interprets, and keys it ignores because they change only times and
# ownership; every other key (GNU.sparse.*, SCHILY.*, LIBARCHIVE.*, hdrcharset...) is refused.
_PAX_KEYS = {
    "path": _ANY,
    "linkpath": _ANY,
    "size": _DECIMAL,
    "mtime": _TIME,
    "atime": _TIME,
    "ctime": _TIME,
    "uid": _DECIMAL,
    "gid": _DECIMAL,
    "uname": _ANY,
    "gname": _ANY,
}
# GNU tar refuses (exit 2) pax numbers outside the range of the C type they fill: off_t
# for sizes, time_t for the whole seconds of times, uid_t and gid_t (32 bits everywhere).
_INT64 = (-(1 << 63), (1 << 63) - 1)
_ID = (0, (1 << 32) - 1)
_PAX_RANGES = {
    "size": (0, _INT64[1]),
    "mtime": _INT64,
    "atime": _INT64,
    "ctime": _INT64,
    "uid": _ID,
    "gid": _ID,
}


def _refused(what: str) -> BundleFormatError:
    return BundleFormatError(
        f"The bundle holds {what}; conda-envbundle reads only plain POSIX tar, which tar "
        "and bsdtar extract exactly as it verifies it. Re-create the bundle with conda bundle."
    )


@functools.lru_cache(maxsize=4096)  # modes, times and owners repeat from member to member
def _number(field: bytes, what: str, pattern: re.Pattern[bytes] = _OCTAL) -> int:
    """An octal header field; GNU base-256 and any other spelling are refused."""
    if not pattern.fullmatch(field):
        raise BundleFormatError(f"The bundle has a damaged tar header ({what}).")
    digits = field.strip(b" \0")
    return int(digits, 8) if digits else 0


def _string(field: bytes, what: str) -> bytes:
    """A NUL-terminated header field; bytes after its end must be NULs."""
    value, _, rest = field.partition(b"\0")
    if rest.strip(b"\0"):
        raise BundleFormatError(f"The bundle has a damaged tar header ({what}).")
    return value


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> dict[str, bytes]:
    """The records of a pax header: each exactly ``LEN key=value\\n``, filling it exactly."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        match = _RECORD_LENGTH.match(data, pos)
        end = pos + int(match.group()[:-1]) if match else 0
        if match is None or end > len(data) or data[end - 1 : end] != b"\n":
            raise BundleFormatError("The bundle has a damaged pax header.")
        raw_key, equals, value = data[match.end() : end - 1].partition(b"=")
        key = raw_key.decode("ascii", "replace")
        if not equals or key not in _PAX_KEYS:
            raise _refused(f"a pax header with the key {key!r}")
        if key in records or not value or not _PAX_KEYS[key].fullmatch(value):
            raise _refused(f"a pax header with a repeated, empty or malformed {key!r}")
        if key in _PAX_RANGES and not _in_range(value, *_PAX_RANGES[key]):
            raise _refused(f"a pax header whose {key!r} is out of the range tar takes")
        records[key] = value
        pos = end
    return records


def _in_range(number: bytes, low: int, high: int) -> bool:
    """The whole part of a pax number between ``low`` and ``high``; no more digits are
    converted than a 64-bit value has (a long run of them is refused, not parsed)."""
    whole = number.partition(b".")[0]
    sign = -1 if whole.startswith(b"-") else 1
    digits = whole.lstrip(b"-").lstrip(b"0") or b"0"
    return len(digits) <= 20 and low <= sign * int(digits) <= high


class TarReader:
    """Iterate over the members of a tar stream, reading each member's data on demand.

    Every byte taken from the stream counts against a limit that :meth:`expect` sets
    from the members still to come, so a stream holding more stops early.
    """

    def __init__(self, stream: ByteSource) -> None:
        self.stream = stream
        self._remaining = 0
        self._pending_padding = 0
        self.position = 0
        self._limit: int | None = None

    def expect(self, members: Iterable[Member]) -> None:
        """From here on, read no more than ``members`` take, with their headers and the end."""
        self._limit = self.position + sum(map(_allowance, members)) + _END_SLACK

    def _take(self, size: int) -> bytes:
        """Up to ``size`` bytes of the stream (fewer only at its end), counted."""
        data = self.stream.read(size)
        self.position += len(data)
        if self._limit is not None and self.position > self._limit:
            raise BundleFormatError(
                f"The bundle holds more data than its manifest declares (over {self._limit} "
                "bytes): it is damaged or hostile. Nothing was installed."
            )
        return data

    def _read_exact(self, size: int) -> bytes:
        parts = []
        while size:
            chunk = self._take(size)
            if not chunk:
                raise BundleFormatError("The bundle is truncated: it ends in the middle of a file.")
            parts.append(chunk)
            size -= len(chunk)
        return b"".join(parts)

    def finish(self) -> None:
        """Read the stream to its end, past the first zero block where iteration stopped.

        The second zero block of the end-of-archive marker must be there (a cut bundle
        often ends in between), then only zeros may follow; reading to the end also lets
        the codecs check their own trailers (and an installer its sha256).
        """
        seen = 0
        while chunk := self._take(1 << 20):
            seen += len(chunk)
            if chunk.count(0) != len(chunk):
                raise BundleFormatError(
                    "The bundle holds data after its end: it is damaged or was tampered with."
                )
        if seen < BLOCK:
            raise BundleFormatError(
                "The bundle is truncated: its end-of-archive marker is cut short."
            )

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
        pax: dict[str, bytes] | None = None
        while True:
            self._skip_rest()
            block = self._read_exact(BLOCK)
            if block == b"\0" * BLOCK:
                if pax is not None:
                    raise _refused("a pax header with no member after it")
                return
            kind = block[156:157]
            if kind == PAX_LOCAL:
                if pax is not None:
                    raise _refused("two pax headers in a row, which tar programs merge differently")
                pax = _parse_pax(self._read_meta(block))
                continue
            member = _parse_header(block, pax or {})
            pax = None
            self._remaining = member.size
            self._pending_padding = len(padding(member.size))
            yield member

    def _read_meta(self, block: bytes) -> bytes:
        size = _parse_header(block, {}).size
        if size > _MAX_META:
            raise BundleFormatError("The bundle has an oversized extended header.")
        return self._read_exact(size + len(padding(size)))[:size]


def _padded(size: int) -> int:
    return size + len(padding(size))


def _allowance(member: Member) -> int:
    """The most stream bytes one member may take: data, a ustar and a pax header, padding."""
    names = len(member.path.encode("utf-8", "surrogateescape"))
    names += len(member.link.encode("utf-8", "surrogateescape"))
    return (
        _padded(member.size if member.kind == REGULAR else 0) + 3 * BLOCK + _padded(2 * names + 64)
    )


def _parse_header(block: bytes, pax: dict[str, bytes]) -> Member:
    """One member header, with the pax records that came before it applied."""
    _check_block(block)
    kind = block[156:157]
    if kind in _REFUSED_KINDS:
        raise _refused(_REFUSED_KINDS[kind])
    if kind not in _KNOWN_KINDS:
        raise _refused(f"a tar member of unknown type {kind!r}")
    name = _string(block[0:100], "name")
    prefix = _string(block[345:500], "prefix")
    path = pax.get("path", prefix + b"/" + name if prefix else name)
    link = pax.get("linkpath", _string(block[157:257], "link name"))
    size = int(pax["size"]) if "size" in pax else _number(block[124:136], "size")
    if not path:
        raise _refused("a member with an empty name")
    if kind not in (DIRECTORY, PAX_LOCAL) and path.endswith(b"/"):
        raise _refused(f"{_decode(path)!r}, a name ending in '/' that tar makes a directory")
    if kind not in (REGULAR, PAX_LOCAL) and size:
        raise _refused(f"{_decode(path)!r}, a member that carries data its type has none of")
    if link and kind in (REGULAR, DIRECTORY):
        raise _refused(f"{_decode(path)!r}, a member that is no link but has a link target")
    return Member(
        path=_decode(path),
        kind=kind,
        mode=_number(block[100:108], "mode"),
        size=size,
        mtime=_number(block[136:148], "mtime"),
        link=_decode(link),
    )


def _check_block(block: bytes) -> None:
    """The parts of a header that name no member: checksum, magic, numbers, padding."""
    field = block[148:156]
    stored = int(field.strip(b" \0"), 8) if _OCTAL.fullmatch(field) else None
    if stored != sum(block) - sum(field) + 256:
        raise BundleFormatError("The bundle is damaged: a tar header checksum is wrong.")
    magic = block[257:265]
    if magic == _GNU_MAGIC:
        raise _refused("a GNU-format tar header (magic 'ustar  ')")
    if magic != _POSIX_MAGIC:
        raise _refused("a tar header without the POSIX magic 'ustar\\x0000'")
    _number(block[108:116], "uid", _OCTAL_OR_EMPTY)
    _number(block[116:124], "gid", _OCTAL_OR_EMPTY)
    _number(block[329:337], "devmajor", _OCTAL_OR_EMPTY)
    _number(block[337:345], "devminor", _OCTAL_OR_EMPTY)
    if block[500:512].strip(b"\0"):
        raise _refused("a tar header with data in its reserved bytes")
