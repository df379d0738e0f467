"""Hand-made bundles for the safety tests: real archives, built member by member.

A crafted bundle is written with the project's own tar header builder and zstandard, so
it is byte-for-byte what a hostile or damaged file would be. Its manifest is sealed with
the format's own sealing rule (:func:`dump`) unless a test wants it broken.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import zstandard

from conda_envbundle.archive import open_reader
from conda_envbundle.archive.members import DIRECTORY, REGULAR, SYMLINK
from conda_envbundle.archive.tar import END_OF_ARCHIVE, member_header, padding
from conda_envbundle.manifest import MANIFEST_PATH
from conda_envbundle.relocation.rules import CHECKSUM_KEY

KIND_NAMES = {REGULAR: "file", DIRECTORY: "dir", SYMLINK: "symlink"}


@dataclass
class Raw:
    """One archive member to write: header fields and data, any of them hostile."""

    path: str
    kind: bytes = REGULAR
    data: bytes = b""
    mode: int = 0o644
    link: str = ""
    size: int | None = None  # the header's size when it should lie about the data
    before: bytes = b""  # raw blocks written before the header (pax or GNU headers)
    extra: dict[str, Any] = field(default_factory=dict)  # manifest fields kept (prefix rule)

    def header(self) -> bytes:
        size = len(self.data) if self.size is None else self.size
        return self.before + member_header(
            self.path, self.kind, mode=self.mode, size=size, mtime=0, link=self.link
        )

    def entry(self) -> dict[str, Any]:
        """The manifest entry that describes this member honestly."""
        kind = KIND_NAMES.get(self.kind, "file")  # hardlinks, devices: described as files
        entry: dict[str, Any] = {"path": self.path.rstrip("/"), "kind": kind}
        entry.update(self.extra)
        entry["mode"] = self.mode & 0o1777 if self.kind != SYMLINK else 0o644
        if kind == "file":
            entry["size"] = len(self.data)
            entry["sha256"] = hashlib.sha256(self.data).hexdigest()
        if self.kind == SYMLINK:
            entry["target"] = self.link
        return entry


@dataclass
class Bundle:
    """A bundle as data: manifest (a dict, or raw bytes) and members in archive order."""

    manifest: dict[str, Any]
    members: list[Raw] = field(default_factory=list)
    manifest_bytes: bytes | None = None  # used instead of sealing ``manifest``

    def copy(self) -> Bundle:
        return Bundle(
            json.loads(json.dumps(self.manifest)),
            [replace(m) for m in self.members],
            self.manifest_bytes,
        )

    def honest(self) -> Bundle:
        """This bundle with a manifest that lists exactly its members."""
        self.manifest["files"] = [m.entry() for m in self.members]
        return self

    def sealed_manifest(self) -> bytes:
        if self.manifest_bytes is not None:
            return self.manifest_bytes
        return dump({k: v for k, v in self.manifest.items() if k != CHECKSUM_KEY})

    def tar(self, *, manifest_first: bool = True, tail: bytes = END_OF_ARCHIVE) -> bytes:
        body = self.sealed_manifest()
        head = Raw(MANIFEST_PATH, data=body)
        members = [head, *self.members] if manifest_first else [*self.members, head]
        out = io.BytesIO()
        for member in members:
            out.write(member.header())
            out.write(member.data)
            out.write(padding(len(member.data)))
        out.write(tail)
        return out.getvalue()

    def write(self, path: Path, *, codec: str = "zst", **tar_options: Any) -> Path:
        data = self.tar(**tar_options)
        if codec == "zst":
            data = zstandard.ZstdCompressor(write_checksum=True).compress(data)
        path.write_bytes(data)
        return path

    def write_zip(self, path: Path, names: dict[str, str] | None = None) -> Path:
        """A zip bundle; ``names`` renames members in the archive only (zip-slip)."""
        names = names or {}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_zip_info(MANIFEST_PATH, 0o100644), self.sealed_manifest())
            for m in self.members:
                name = names.get(m.path, m.path)
                if m.kind == DIRECTORY:
                    zf.writestr(_zip_info(name + "/", 0o040000 | m.mode), b"")
                elif m.kind == SYMLINK:
                    zf.writestr(_zip_info(name, 0o120777), m.link.encode())
                else:
                    zf.writestr(_zip_info(name, 0o100000 | m.mode), m.data)
        return path


def _zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def read_bundle(path: Path) -> Bundle:
    """A real bundle (any format ``open_reader`` knows) as a :class:`Bundle`."""
    with open_reader(str(path), MANIFEST_PATH) as reader:
        members = iter(reader)
        next(members)
        manifest = json.loads(b"".join(reader.read_data()))
        rules = {f["path"]: {"prefix": f["prefix"]} for f in manifest["files"] if "prefix" in f}
        raws = []
        for m in members:
            data = b"".join(reader.read_data()) if m.kind == REGULAR else b""
            raws.append(Raw(m.path, m.kind, data, m.mode, m.link, extra=rules.get(m.path, {})))
    return Bundle(manifest, raws)


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with what it is: a file's sha256, a link's target, dirs."""
    found = {}
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            full = Path(parent, name)
            rel = str(full.relative_to(root))
            if full.is_symlink():
                found[rel] = "-> " + os.readlink(full)
            elif full.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(full.read_bytes()).hexdigest()
    return found


# --- raw constructions for tests/test_archive_fidelity.py ------------------------------------

# (offset, width) of each ustar header field
TAR_FIELDS = {
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "gid": (116, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "chksum": (148, 8),
    "typeflag": (156, 1),
    "linkname": (157, 100),
    "magic": (257, 8),
    "uname": (265, 32),
    "gname": (297, 32),
    "devmajor": (329, 8),
    "devminor": (337, 8),
    "prefix": (345, 155),
    "pad": (500, 12),
}


def edit_header(blocks: bytes, **fields: bytes) -> bytes:
    """``blocks`` with fields of its last (ustar) block replaced, NUL-padded; the checksum
    is computed again unless ``chksum`` is one of them."""
    block = bytearray(blocks[-512:])
    for key, value in fields.items():
        start, width = TAR_FIELDS[key]
        assert len(value) <= width, key
        block[start : start + width] = value.ljust(width, b"\0")
    if "chksum" not in fields:
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
    return blocks[:-512] + bytes(block)


def pax_records(*records: tuple[str, bytes]) -> bytes:
    """pax records, each ``LEN key=value\\n`` with its length right."""
    out = b""
    for key, value in records:
        body = b" " + key.encode() + b"=" + value + b"\n"
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length = len(str(length)) + len(body)
        out += str(length).encode() + body
    return out


def extended(kind: bytes, payload: bytes, name: str = "././@PaxHeader") -> bytes:
    """An extended header (pax ``x``/``g``, GNU ``L``/``K``) carrying ``payload``."""
    return (
        member_header(name, kind, mode=0o644, size=len(payload)) + payload + padding(len(payload))
    )


def _same(blocks: bytes) -> bytes:
    return blocks


@dataclass
class Patched(Raw):
    """A member whose header blocks are rewritten by ``patch`` (see :func:`edit_header`)."""

    patch: Callable[[bytes], bytes] = _same

    def header(self) -> bytes:
        return self.patch(super().header())


@dataclass
class ZipEntry:
    """One zip member, with every field that zipfile and unzip might read differently."""

    name: bytes
    data: bytes = b""
    mode: int = 0o100644
    flags: int = 0x800
    system: int = 3
    method: int = 0
    local_method: int | None = None  # the local header's, when it should disagree
    local_name: bytes | None = None
    local_extra: bytes = b""
    central_extra: bytes = b""


def raw_zip(entries: list[ZipEntry]) -> bytes:
    """A zip archive written byte by byte (stored data), central directory last."""
    out, central = bytearray(), bytearray()
    for e in entries:
        crc, size = zlib.crc32(e.data), len(e.data)
        local_name = e.name if e.local_name is None else e.local_name
        method = e.method if e.local_method is None else e.local_method
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, e.flags, method, 0, 0x21, crc, size, size,
            len(local_name), len(e.local_extra),
        )  # fmt: skip
        out += local_name + e.local_extra + e.data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, e.system << 8 | 20, 20, e.flags, e.method, 0,
            0x21, crc, size, size, len(e.name), len(e.central_extra), 0, 0, 0, e.mode << 16,
            offset,
        )  # fmt: skip
        central += e.name + e.central_extra
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0
    )
    return bytes(out + central + end)


def zip_entries(bundle: Bundle) -> list[ZipEntry]:
    """The members of ``bundle`` (its sealed manifest first) as zip entries."""
    entries = [ZipEntry(MANIFEST_PATH.encode(), bundle.sealed_manifest())]
    for m in bundle.members:
        name = m.path.encode("utf-8", "surrogateescape")
        if m.kind == DIRECTORY:
            entries.append(ZipEntry(name + b"/", mode=0o040000 | m.mode))
        elif m.kind == SYMLINK:
            entries.append(ZipEntry(name, m.link.encode(), mode=0o120777))
        else:
            entries.append(ZipEntry(name, m.data, mode=0o100000 | m.mode))
    return entries


def unicode_path_extra(name: bytes, real: bytes) -> bytes:
    """An Info-ZIP Unicode Path extra field (0x7075): unzip uses ``real`` as the name."""
    body = b"\x01" + struct.pack("<I", zlib.crc32(name)) + real
    return struct.pack("<HH", 0x7075, len(body)) + body


def dump(data: dict[str, Any]) -> bytes:
    """Manifest data as a bundle carries it, sealed by the rule docs/design.md states: the
    sha256 of the compact, key-sorted JSON of everything else, under ``manifest_sha256``."""
    unsealed = {key: value for key, value in data.items() if key != CHECKSUM_KEY}
    seal = hashlib.sha256(_compact(unsealed)).hexdigest()
    return _compact({**unsealed, CHECKSUM_KEY: seal}) + b"\n"


def _compact(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
