"""What conda-envbundle verifies is what GNU tar, bsdtar and unzip extract.

Accepted constructions: a crafted archive is extracted by the real tools and read by our
reader, and the trees (paths, sha256 of contents, symlink targets) must be equal.
Refused constructions: a real bundle carrying one is refused by ``unbundle`` and ``verify``
with a clear message, and nothing is written. For the constructions that once passed
``--verify``, the tests also show what the tools made of them: other content over a file.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest

from conda_envbundle import unbundle, verify
from conda_envbundle.archive.members import DIRECTORY, REGULAR, SYMLINK
from conda_envbundle.archive.tar import (
    END_OF_ARCHIVE,
    GNU_LONGLINK,
    GNU_LONGNAME,
    PAX_GLOBAL,
    PAX_LOCAL,
    TarWriter,
    member_header,
    padding,
)
from conda_envbundle.archive.tarread import TarReader
from conda_envbundle.archive.zip import ZipReader, ZipWriter
from conda_envbundle.exceptions import BundleFormatError

from .support.crafted import (
    Bundle,
    Patched,
    Raw,
    ZipEntry,
    edit_header,
    extended,
    pax_records,
    raw_zip,
    tree,
    unicode_path_extra,
    zip_entries,
)

TAR_TOOLS = ["tar", "bsdtar"]  # tools/system-deps.sh installs bsdtar (libarchive-tools)
EVIL = b"#!/bin/sh\necho this is not what the manifest says\n"
# bsdtar converts pax (UTF-8) names to the locale's charset; where it cannot, it still
# writes the raw bytes, with this warning and exit status 1.
_CONVERSION_WARNING = "can't be converted from UTF-8 to current locale"


def _tool_env(locale: str = "C.UTF-8") -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "LC_ALL": locale}


def _extract(tool: str, archive: Path, out: Path, locale: str = "C.UTF-8") -> dict[str, str]:
    """``tool -x`` (or ``unzip``) of ``archive`` into the new ``out``; the tree it made."""
    out.mkdir()
    if tool == "unzip":
        command = ["unzip", "-q", "-o", str(archive), "-d", str(out)]
    else:
        command = [tool, "-xf", str(archive), "-C", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, env=_tool_env(locale))
    if tool == "bsdtar" and proc.returncode == 1:
        assert _CONVERSION_WARNING in proc.stderr, proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
    return tree(out)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_tree(reader) -> dict[str, str]:
    """What our reader yields, in the form of :func:`tree` (parent directories implied)."""
    found: dict[str, str] = {}
    for member in reader:
        data = b"".join(reader.read_data()) if member.kind == REGULAR else b""
        path = member.path.rstrip("/")
        parts = path.split("/")
        for i in range(1, len(parts)):
            found.setdefault("/".join(parts[:i]), "dir")
        kinds = {REGULAR: _sha(data), DIRECTORY: "dir", SYMLINK: "-> " + member.link}
        found[path] = kinds[member.kind]
    return found


def _tar_tree(data: bytes) -> dict[str, str]:
    return _read_tree(TarReader(io.BytesIO(data)))


# --- accepted tar constructions: same tree from our reader, GNU tar and bsdtar ----------------

LONG_DIR = "long/" + "x" * 150
LONG_NAME = LONG_DIR + "/" + "y" * 120
SPLIT = "share/" + "d" * 90 + "/" + "n" * 90  # fits ustar's prefix and name fields


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    """Files, directories and symlinks whose names need every ustar and pax field."""
    src = tmp_path / "src"
    for path, data in [
        ("bin/tool", b"#!/bin/sh\necho hi\n"),
        (SPLIT, b"split"),
        ("lib/ünïcødé.txt", b"unicode"),
        ("lib/" + "n" * 100, b"exactly one hundred bytes of name"),
        ("empty", b""),
        ("big", bytes(range(256)) * 3000),
        (LONG_NAME, b"long"),
    ]:
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    (src / "lib/link").symlink_to("../bin/tool")
    (src / "lib/far").symlink_to("../" + LONG_DIR + "/" + "y" * 120)
    (src / "lib/hundred").symlink_to("t" * 100)
    return src


_USTAR_SAFE = ["bin", "share", "lib/ünïcødé.txt", "lib/link", "empty", "big"]


def _write_tree(src: Path, writer) -> None:
    """Every entry under ``src`` into ``writer``, sorted, as our bundles hold them."""
    for parent, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(dirs + files):
            full = Path(parent, name)
            rel = str(full.relative_to(src))
            if full.is_symlink():
                writer.add_symlink(rel, os.readlink(full))
            elif full.is_dir():
                writer.add_dir(rel, 0o755)
            else:
                data = full.read_bytes()
                writer.add_file(rel, 0o644, len(data), [data])
    writer.close()


def _by_our_writer(src: Path, _: Path) -> bytes:
    out = io.BytesIO()
    _write_tree(src, TarWriter(out, mtime=1_700_000_000))
    return out.getvalue()


def _by_gnu_tar(fmt: str) -> Callable[[Path, Path], bytes]:
    def build(src: Path, tmp: Path) -> bytes:
        names = _USTAR_SAFE if fmt == "ustar" else sorted(os.listdir(src))
        archive = tmp / f"gnu-{fmt}.tar"
        subprocess.run(["tar", f"--format={fmt}", "-cf", archive, "-C", src, *names], check=True)
        return archive.read_bytes()

    return build


def _by_tarfile(fmt: int) -> Callable[[Path, Path], bytes]:
    def build(src: Path, _: Path) -> bytes:
        names = _USTAR_SAFE if fmt == tarfile.USTAR_FORMAT else sorted(os.listdir(src))
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
            for name in names:
                archive.add(src / name, arcname=name)
        return out.getvalue()

    return build


def _member(path: str, data: bytes, before: bytes = b"", **patch: bytes) -> bytes:
    header = member_header(path, REGULAR, mode=0o644, size=len(data))
    if patch:
        header = edit_header(header, **patch)
    return before + header + data + padding(len(data))


def _pax(*records: tuple[str, bytes], kind: bytes = PAX_LOCAL) -> bytes:
    return extended(kind, pax_records(*records))


def _pax_fields(_: Path, __: Path) -> bytes:
    """pax records the reader interprets (size) or ignores (times, owners)."""
    data = b"s" * 700
    harmless = _pax(
        ("mtime", b"1577836800.5"),
        ("atime", b"1577836800"),
        ("ctime", b"-5"),
        ("uid", b"1234"),
        ("gid", b"5678"),
        ("uname", b"someone"),
        ("gname", b"group"),
    )
    return b"".join(
        [
            # the size in the pax record, none in the header; then a header that disagrees
            _member("pax-size", data, _pax(("size", b"700")), size=b"0"),
            _member("pax-size-wins", data, _pax(("size", b"700")), size=b"%011o" % 5),
            _member("harmless", b"h", harmless),
            END_OF_ARCHIVE,
        ]
    )


def _checksum_as(header: bytes, spelling: bytes) -> bytes:
    """``header`` with its (right) checksum written as ``spelling % checksum``."""
    block = bytearray(header[-512:])
    block[148:156] = b" " * 8
    block[148:156] = (spelling % sum(block)).ljust(8, b"\0")
    return header[:-512] + bytes(block)


def _number_spellings(_: Path, __: Path) -> bytes:
    """Octal fields as other writers spell them: leading spaces, no terminator."""
    members = [
        _member("spaces", b"12345", size=b"%11o " % 5, mode=b"   644 \0"),
        _member("no-terminator", b"twelve digits", size=b"%012o" % 13),
    ]
    for spelling in (b"%06o\0 ", b"%07o\0", b"%07o ", b" %06o\0"):
        header = member_header(f"checksum-{len(members)}", REGULAR, mode=0o644, size=1)
        members.append(_checksum_as(header, spelling) + b"c" + padding(1))
    return b"".join(members) + END_OF_ARCHIVE


ACCEPTED: dict[str, Callable[[Path, Path], bytes]] = {
    "our-writer": _by_our_writer,
    "gnu-tar-pax": _by_gnu_tar("pax"),
    "gnu-tar-ustar": _by_gnu_tar("ustar"),
    "tarfile-pax": _by_tarfile(tarfile.PAX_FORMAT),
    "tarfile-ustar": _by_tarfile(tarfile.USTAR_FORMAT),
    "pax-fields": _pax_fields,
    "number-spellings": _number_spellings,
}


@pytest.mark.parametrize("tool", TAR_TOOLS)
@pytest.mark.parametrize("case", ACCEPTED)
def test_accepted_tar_extracts_as_we_read_it(case, tool, source_tree, tmp_path):
    data = ACCEPTED[case](source_tree, tmp_path)
    archive = tmp_path / "a.tar"
    archive.write_bytes(data)
    ours = _tar_tree(data)
    assert len(ours) >= 3
    assert _extract(tool, archive, tmp_path / "out") == ours


@pytest.mark.parametrize("tool", TAR_TOOLS)
@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_names_in_any_bytes_extract_as_we_read_them(tool, locale, tmp_path):
    """Non-ASCII and non-UTF-8 names and link targets, as our writer stores them (pax)."""
    out = io.BytesIO()
    writer = TarWriter(out, mtime=0)
    for name in ["ünï", "caf\udce9", "new\nline", "tab\tand space", "é" * 60]:
        data = name.encode("utf-8", "surrogateescape")
        writer.add_file(name, 0o644, len(data), [data])
        writer.add_symlink(name + ".link", name)
    writer.close()
    archive = tmp_path / "names.tar"
    archive.write_bytes(out.getvalue())
    assert _extract(tool, archive, tmp_path / "out", locale) == _tar_tree(out.getvalue())


def test_reader_refuses_gnu_format_output_of_gnu_tar(source_tree, tmp_path):
    for fmt in ("gnu", "oldgnu"):
        archive = tmp_path / f"{fmt}.tar"
        tar = ["tar", f"--format={fmt}", "-cf", archive, "-C", source_tree, "bin"]
        subprocess.run(tar, check=True)
        with pytest.raises(BundleFormatError, match="GNU-format tar header"):
            _tar_tree(archive.read_bytes())


# --- refused tar constructions: in a real bundle, refused with nothing written ---------------

FOO = "bin/foo"


def _index(b: Bundle, path: str) -> int:
    return next(i for i, m in enumerate(b.members) if m.path == path)


def _patch(b: Bundle, path: str, **header_fields: bytes) -> None:
    """Rewrite fields of the ustar header of ``path``'s member."""
    i = _index(b, path)
    raw = b.members[i]
    copied = {f.name: getattr(raw, f.name) for f in fields(Raw)}
    b.members[i] = Patched(**copied, patch=lambda blocks: edit_header(blocks, **header_fields))


def _before(b: Bundle, path: str, blocks: bytes) -> None:
    b.members[_index(b, path)].before = blocks


def _overwrite(b: Bundle, raw: Raw) -> None:
    """Add ``raw`` (EVIL content, honestly listed in the manifest) as the last member."""
    b.members.append(raw)
    b.honest()


def oldgnu_magic_with_prefix(b: Bundle) -> None:
    # we once read 'zzz/bin/foo'; tar and bsdtar ignore the prefix of an old-GNU header
    _overwrite(b, Raw("zzz/bin/foo", data=EVIL))
    _patch(b, "zzz/bin/foo", name=b"bin/foo", prefix=b"zzz", magic=b"ustar  \0")


def pax_gnu_sparse_name(b: Bundle) -> None:
    _overwrite(b, Raw("zzz", data=EVIL, before=_pax(("GNU.sparse.name", FOO.encode()))))


def pax_global_path(b: Bundle) -> None:
    _overwrite(b, Raw("zzz", data=EVIL, before=_pax(("path", FOO.encode()), kind=PAX_GLOBAL)))


def pax_two_spaces(b: Bundle) -> None:
    # GNU tar skips the second space and reads 'path'; bsdtar reads the key ' path'
    _overwrite(b, Raw("zzz", data=EVIL, before=extended(PAX_LOCAL, b"17  path=bin/foo\n")))


def _tail(b: Bundle, blocks: bytes) -> None:
    b.members.append(Raw("zzz", data=b"z", before=blocks))
    b.honest()


REFUSED_TAR: dict[str, tuple[Callable[[Bundle], None], str]] = {
    "oldgnu-magic-with-prefix": (oldgnu_magic_with_prefix, "GNU-format tar header"),
    "gnu-magic": (lambda b: _patch(b, FOO, magic=b"ustar  \0"), "GNU-format tar header"),
    "pax-gnu-sparse-name": (pax_gnu_sparse_name, "with the key 'GNU.sparse.name'"),
    "pax-global-path": (pax_global_path, "a pax global header"),
    "pax-two-spaces": (pax_two_spaces, "with the key ' path'"),
    "gnu-long-name": (
        lambda b: _tail(b, extended(GNU_LONGNAME, b"zzz\0", "././@LongLink")),
        "GNU long-name header",
    ),
    "gnu-long-link": (
        lambda b: _before(b, "lib/libfoo.so", extended(GNU_LONGLINK, b"libfoo.so.1\0")),
        "GNU long-link header",
    ),
    "gnu-sparse-type": (lambda b: _patch(b, FOO, typeflag=b"S"), "GNU sparse file"),
    "volume-label-type": (lambda b: _patch(b, FOO, typeflag=b"V"), "unknown type b'V'"),
    "old-regular-type": (lambda b: _patch(b, FOO, typeflag=b"\0"), "old-style tar member"),
    "pax-xattr": (
        lambda b: _before(b, FOO, _pax(("SCHILY.xattr.security.capability", b"\x01\0\0\x02"))),
        "'SCHILY.xattr.security.capability'",
    ),
    "pax-hdrcharset": (
        lambda b: _before(b, FOO, _pax(("hdrcharset", b"BINARY"))),
        "with the key 'hdrcharset'",
    ),
    "pax-comment": (lambda b: _before(b, FOO, _pax(("comment", b"hi"))), "key 'comment'"),
    "pax-two-in-a-row": (
        lambda b: _before(b, FOO, _pax(("mtime", b"1")) + _pax(("path", FOO.encode()))),
        "two pax headers in a row",
    ),
    "pax-before-end": (lambda b: None, "a pax header with no member after it"),
    "pax-repeated-key": (
        lambda b: _before(b, FOO, _pax(("path", b"zzz"), ("path", FOO.encode()))),
        "repeated, empty or malformed 'path'",
    ),
    "pax-empty-path": (lambda b: _before(b, FOO, _pax(("path", b""))), "malformed 'path'"),
    "pax-nul-in-path": (
        lambda b: _before(b, FOO, _pax(("path", FOO.encode() + b"\0zzz"))),
        "malformed 'path'",
    ),
    "pax-size-with-sign": (
        lambda b: _before(b, FOO, _pax(("size", b"+16496"))),
        "malformed 'size'",
    ),
    "pax-no-newline": (
        lambda b: _before(b, FOO, extended(PAX_LOCAL, pax_records(("path", b"bin/foo"))[:-1])),
        "damaged pax header",
    ),
    "pax-junk-after-records": (
        lambda b: _before(b, FOO, extended(PAX_LOCAL, pax_records(("mtime", b"1")) + b"\0junk")),
        "damaged pax header",
    ),
    "ustar-version-not-00": (
        lambda b: _patch(b, FOO, magic=b"ustar\0xx"),
        "without the POSIX magic",
    ),
    "v7-no-magic": (lambda b: _patch(b, FOO, magic=b""), "without the POSIX magic"),
    "file-name-ends-in-slash": (
        lambda b: _patch(b, FOO, name=b"bin/foo/"),
        "a name ending in '/' that tar makes a directory",
    ),
    "directory-with-data": (
        lambda b: _tail(b, member_header("zzz", DIRECTORY, mode=0o755, size=512) + b"x" * 512),
        "carries data its type has none of",
    ),
    "symlink-with-pax-size": (
        lambda b: _before(b, "lib/libfoo.so", _pax(("size", b"512"))),
        "carries data its type has none of",
    ),
    "base-256-size": (
        lambda b: _patch(b, FOO, size=b"\x80" + (16496).to_bytes(11, "big")),
        "damaged tar header (size)",
    ),
    "octal-with-underscore": (
        lambda b: _patch(b, FOO, size=b"0000_40160\0"),
        "damaged tar header (size)",
    ),
    "octal-with-0o": (lambda b: _patch(b, FOO, mode=b"0o755\0"), "damaged tar header (mode)"),
    "bytes-after-nul-in-name": (
        lambda b: _patch(b, FOO, name=b"bin/foo\0evil"),
        "damaged tar header (name)",
    ),
    "data-in-reserved-bytes": (lambda b: _patch(b, FOO, pad=b"x"), "reserved bytes"),
    "link-target-on-a-file": (lambda b: _patch(b, FOO, linkname=b"zzz"), "no link but has"),
    "empty-name": (lambda b: _patch(b, FOO, name=b""), "a member with an empty name"),
    "garbage-block-between-members": (
        lambda b: _before(b, FOO, b"\x01" * 512),
        "tar header checksum is wrong",
    ),
    "signed-checksum": (
        lambda b: _patch(b, FOO, uname=b"\xff\xfe", chksum=b"%06o\0 " % _signed_sum(b)),
        "tar header checksum is wrong",
    ),
}


def _signed_sum(b: Bundle) -> int:
    """The checksum of bin/foo's header with a uname of 0xff 0xfe, summed as signed bytes
    (what old tars wrote, and what GNU tar and bsdtar still accept)."""
    raw = b.members[_index(b, FOO)]
    block = edit_header(raw.header(), uname=b"\xff\xfe", chksum=b" " * 8)[-512:]
    return sum(byte - 256 if byte > 127 else byte for byte in block)


def _write(name: str, b: Bundle, out: Path) -> Path:
    REFUSED_TAR[name][0](b)
    if name == "pax-before-end":
        return b.write(out, codec="tar", tail=_pax(("mtime", b"1")) + END_OF_ARCHIVE)
    return b.write(out, codec="tar")


def _assert_refused(bundle: Path, fragment: str, tmp_path: Path) -> None:
    """``unbundle`` and ``verify`` refuse ``bundle`` with ``fragment``; nothing is written."""
    before = tree(tmp_path)
    with pytest.raises(BundleFormatError) as info:
        unbundle(str(bundle), str(tmp_path / "work" / "env"))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert tree(tmp_path) == before
    with pytest.raises(BundleFormatError) as again:
        verify(str(bundle))
    assert str(again.value) == str(info.value)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", REFUSED_TAR)
def test_refused_tar_construction_writes_nothing(name, small_bundle_data, conda_env, tmp_path):
    (tmp_path / "work").mkdir()
    bundle = _write(name, small_bundle_data.copy(), tmp_path / "b.tar")
    _assert_refused(bundle, REFUSED_TAR[name][1], tmp_path)


@pytest.mark.parametrize(
    ("name", "tool"),
    [
        ("oldgnu-magic-with-prefix", "tar"),
        ("oldgnu-magic-with-prefix", "bsdtar"),
        ("pax-gnu-sparse-name", "tar"),
        ("pax-gnu-sparse-name", "bsdtar"),
        ("pax-global-path", "tar"),
        ("pax-two-spaces", "tar"),
    ],
)
def test_refused_construction_would_overwrite_a_file(name, tool, small_bundle_data, tmp_path):
    """Why they are refused: the tool writes EVIL over bin/foo, which the manifest lists with
    other content, while every member's content matches the manifest."""
    bundle = small_bundle_data.copy()
    expected = next(f for f in bundle.manifest["files"] if f["path"] == FOO)["sha256"]
    archive = _write(name, bundle, tmp_path / "b.tar")
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([tool, "-xf", archive, "-C", out], capture_output=True, env=_tool_env())
    assert _sha((out / FOO).read_bytes()) == _sha(EVIL) != expected


# --- zip: what zipfile reads is what unzip extracts --------------------------------------------


def _by_zip_writer(src: Path, tmp: Path) -> Path:
    out = tmp / "ours.zip"
    with open(out, "wb") as fh:
        _write_tree(src, ZipWriter(fh, 1_700_000_000, 6))
    return out


def _by_info_zip(src: Path, tmp: Path) -> Path:
    out = tmp / "info-zip.zip"
    # Info-ZIP marks non-ASCII names with a 0x7075 field or not at all: both refused
    names = ["bin", "share", "empty", "big", "long", "lib/link", "lib/far", "lib/hundred"]
    subprocess.run(["zip", "-q", "-r", "-y", out, *names], cwd=src, check=True)
    return out


class _Pipe(io.RawIOBase):
    """A stream that cannot seek: zipfile then writes data descriptors after each member."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.data += data
        return len(data)


def _by_zipfile_to_a_pipe(src: Path, tmp: Path) -> Path:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ["bin/tool", SPLIT, "lib/ünïcødé.txt", "big", "empty"]:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, (src / name).read_bytes())
    out = tmp / "piped.zip"
    out.write_bytes(pipe.data)
    return out


ACCEPTED_ZIP: dict[str, Callable[[Path, Path], Path]] = {
    "our-writer": _by_zip_writer,
    "info-zip": _by_info_zip,
    "zipfile-data-descriptors": _by_zipfile_to_a_pipe,
}


@pytest.mark.parametrize("case", ACCEPTED_ZIP)
def test_accepted_zip_extracts_as_we_read_it(case, source_tree, tmp_path):
    archive = ACCEPTED_ZIP[case](source_tree, tmp_path)
    ours = _read_tree(ZipReader(str(archive)))
    assert len(ours) >= 5
    assert _extract("unzip", archive, tmp_path / "out") == ours


def _entry(entries: list[ZipEntry], name: str) -> ZipEntry:
    return next(e for e in entries if e.name == name.encode())


def _zip_change(**changes) -> Callable[[list[ZipEntry]], None]:
    def change(entries: list[ZipEntry]) -> None:
        entry = _entry(entries, FOO)
        for key, value in changes.items():
            setattr(entry, key, value)

    return change


def _zip_add(**entry) -> Callable[[list[ZipEntry]], None]:
    return lambda entries: entries.append(ZipEntry(**entry))


def _ms_dos_symlink(entries: list[ZipEntry]) -> None:
    _entry(entries, "lib/libfoo.so").system = 0


def _duplicate(entries: list[ZipEntry]) -> None:
    entries.append(ZipEntry(FOO.encode(), EVIL, mode=0o100755))


REFUSED_ZIP: dict[str, tuple[Callable[[list[ZipEntry]], None], str]] = {
    "unicode-path-extra": (
        _zip_change(central_extra=unicode_path_extra(FOO.encode(), b"bin/evil")),
        "extra field of type 0x7075",
    ),
    "unicode-path-extra-local": (
        _zip_change(local_extra=unicode_path_extra(FOO.encode(), b"bin/evil")),
        "extra field of type 0x7075",
    ),
    "unknown-extra": (_zip_change(central_extra=b"\x0d\x00\x00\x00"), "type 0x000d"),
    "local-name-differs": (_zip_change(local_name=b"bin/evil"), "disagrees with the central"),
    "local-method-differs": (_zip_change(local_method=8), "disagrees with the central"),
    "local-name-of-a-directory": (
        _zip_add(name=b"zzz/", mode=0o040755, local_name=b"evil"),
        "disagrees with the central",
    ),
    "duplicate-name": (_duplicate, "is in it twice"),
    "backslash-name": (_zip_add(name=b"bin\\evil", data=EVIL), "or a backslash"),
    "newline-name": (_zip_add(name=b"bin/fo\no", data=EVIL), "a control character"),
    "nul-in-name": (_zip_add(name=b"bin/foo\0evil", data=EVIL), "a control character"),
    "latin1-name-unflagged": (
        _zip_add(name=b"bin/\xfc", data=EVIL, flags=0),
        "non-ASCII name not marked as UTF-8",
    ),
    "ms-dos-symlink": (_ms_dos_symlink, "was not made on Unix"),
    "encrypted": (_zip_change(flags=0x801), "is encrypted"),
    "bzip2": (_zip_change(method=12), "compression other than deflate"),
    "directory-with-data": (_zip_add(name=b"zzz/", data=b"x", mode=0o040755), "carries data"),
}


@pytest.mark.parametrize("name", REFUSED_ZIP)
def test_refused_zip_construction_writes_nothing(name, small_bundle_data, conda_env, tmp_path):
    (tmp_path / "work").mkdir()
    entries = zip_entries(small_bundle_data.copy())
    change, fragment = REFUSED_ZIP[name]
    change(entries)
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(raw_zip(entries))
    _assert_refused(bundle, fragment, tmp_path)


def test_unmodified_raw_zip_is_accepted(small_bundle_data, conda_env, tmp_path):
    """The zip the refused cases start from installs: each fails for its change only."""
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(raw_zip(zip_entries(small_bundle_data.copy())))
    assert verify(str(bundle)).files


def test_unzip_honours_the_unicode_path_that_zipfile_ignores(small_bundle_data, tmp_path):
    """Why 0x7075 is refused: unzip writes the member under the extra field's name."""
    entries = zip_entries(small_bundle_data.copy())
    foo = _entry(entries, FOO)
    foo.flags, foo.central_extra = 0, unicode_path_extra(FOO.encode(), b"bin/evil")
    archive = tmp_path / "u.zip"
    archive.write_bytes(raw_zip(entries))
    assert zipfile.ZipFile(archive).getinfo(FOO).file_size > 0
    out = tmp_path / "out"
    unzip = ["unzip", "-q", archive, "-d", out]
    subprocess.run(unzip, capture_output=True, env=_tool_env())
    assert (out / "bin/evil").is_file() and not (out / FOO).exists()


def test_unzip_writes_what_the_local_header_says(tmp_path):
    """Why a local header must agree: unzip inflates what zipfile reads as stored."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    stored = packer.compress(EVIL) + packer.flush()
    archive = tmp_path / "m.zip"
    archive.write_bytes(raw_zip([ZipEntry(b"f", stored, local_method=8)]))
    assert zipfile.ZipFile(archive).read("f") == stored
    unzip = ["unzip", "-q", archive, "-d", tmp_path / "out"]
    subprocess.run(unzip, capture_output=True, env=_tool_env())
    assert (tmp_path / "out/f").read_bytes() == EVIL
