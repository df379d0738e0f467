"""Every format's writer and reader, round trip, in temporary files: the archive contract.

The members are checked against a manifest by the same code ``conda unbundle`` uses
(:func:`~conda_envbundle.unbundling.extract.verify_members`), so each reader's ``expect`` and
``finish`` run as they do for real.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
from pathlib import Path

import pytest

from conda_envbundle.archive import open_reader, open_writer, sh
from conda_envbundle.archive.members import DIRECTORY, REGULAR, SYMLINK, SizeChangedError
from conda_envbundle.archive.tar import END_OF_ARCHIVE, TarWriter
from conda_envbundle.archive.tarread import TarReader
from conda_envbundle.exceptions import BundleFormatError, ChecksumMismatchError
from conda_envbundle.manifest import DIR, FILE, MANIFEST_PATH, FileEntry, Manifest
from conda_envbundle.manifest import SYMLINK as LINK
from conda_envbundle.unbundling.extract import read_manifest, verify_members

MTIME = 1_700_000_000
LONG = "lib/" + "d" * 120 + "/ünïcødé/" + "f" * 110 + ".txt"
CONTENT = {"bin/tool": b"#!/bin/sh\necho hi\n", LONG: bytes(range(256)) * 40, "empty": b""}
FORMATS = ["tar", "tar.zst", "tar.gz", "tar.bz2", "tar.xz", "zip", "dir"]


def _manifest() -> Manifest:
    """Every directory listed, as in an environment: a directory bundle holds them all."""
    dirs = {"conda-meta"}
    files = []
    for path, data in CONTENT.items():
        sha = hashlib.sha256(data).hexdigest()
        files.append(FileEntry(path, FILE, 0o755, len(data), sha))
        parent = posixpath.dirname(path)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    files += [FileEntry(d, DIR, 0o755) for d in dirs]
    files.append(FileEntry("bin/short", LINK, 0o777, target="tool"))
    return Manifest("env", "linux-64", "24.7.1", "0.1.0", files=sorted(files, key=_path))


def _path(entry: FileEntry) -> str:
    return entry.path


def _write(writer, manifest: Manifest) -> None:
    writer.add_file(MANIFEST_PATH, 0o644, *manifest.to_stream())
    for entry in manifest.files:
        if entry.kind == DIR:
            writer.add_dir(entry.path, entry.mode)
        elif entry.kind == LINK:
            writer.add_symlink(entry.path, entry.link_target)
        else:
            data = CONTENT[entry.path]
            mtime = MTIME - 10 if entry.path == "bin/tool" else None
            writer.add_file(entry.path, entry.mode, len(data), [data[:7], data[7:]], mtime)


def _bundle(tmp_path: Path, fmt: str) -> Path:
    out = tmp_path / ("b-bundle" if fmt == "dir" else f"b.{fmt}")
    manifest = _manifest()
    if fmt == "dir":
        with open_writer(str(out), fmt, mtime=MTIME, level=None, threads=1) as writer:
            _write(writer, manifest)
        return out
    with open(out, "wb") as fh, open_writer(fh, fmt, mtime=MTIME, level=1, threads=1) as writer:
        _write(writer, manifest)
    return out


def _members(path: Path) -> list[tuple[str, bytes, bytes, str]]:
    with open_reader(str(path), MANIFEST_PATH) as reader:
        return [
            (m.path, m.kind, b"".join(reader.read_data()) if m.kind == REGULAR else b"", m.link)
            for m in reader
        ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_member_comes_back(fmt, tmp_path):
    found = _members(_bundle(tmp_path, fmt))
    assert found[0][0] == MANIFEST_PATH
    kinds = {DIR: DIRECTORY, FILE: REGULAR, LINK: SYMLINK}
    expected = [
        (e.path, kinds[e.kind], CONTENT.get(e.path, b""), e.target or "") for e in _manifest().files
    ]
    assert found[1:] == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_reader_passes_the_manifest_check(fmt, tmp_path):
    with open_reader(str(_bundle(tmp_path, fmt)), MANIFEST_PATH) as reader:
        manifest, members = read_manifest(reader)
        verify_members(reader, members, manifest)
    assert manifest.files == _manifest().files


@pytest.mark.parametrize("fmt", ["tar", "zip", "dir"])
def test_a_file_that_changes_size_stops_the_writer(fmt, tmp_path):
    target: str | io.BytesIO = str(tmp_path) if fmt == "dir" else io.BytesIO()
    with (
        pytest.raises(SizeChangedError),
        open_writer(target, fmt, mtime=MTIME, level=None if fmt != "zip" else 1, threads=1) as w,
    ):
        w.add_file("grown", 0o644, 3, [b"four"])


def _tar_with_trailer(trailer: bytes) -> bytes:
    out = io.BytesIO()
    writer = TarWriter(out, MTIME)
    _write(writer, _manifest())
    writer.close()
    return out.getvalue() + trailer


def _verified(data: bytes) -> None:
    reader = TarReader(io.BytesIO(data))
    manifest, members = read_manifest(reader)
    verify_members(reader, members, manifest)


def test_tar_reader_refuses_more_than_the_manifest_declares():
    _verified(_tar_with_trailer(bytes(10 * 512)))  # zero padding, as tar programs add
    with pytest.raises(BundleFormatError, match="more data than its manifest declares"):
        _verified(_tar_with_trailer(bytes(1 << 20)))


def test_tar_reader_refuses_data_after_the_end():
    with pytest.raises(BundleFormatError, match="data after its end"):
        _verified(_tar_with_trailer(b"\1" + bytes(511)))
    with pytest.raises(BundleFormatError, match="end-of-archive marker is cut short"):
        _verified(_tar_with_trailer(b"")[: -len(END_OF_ARCHIVE) // 2])


@pytest.mark.parametrize("payload", ["gzip", "zstd"])
def test_sh_installer_round_trip_and_seal(payload, tmp_path):
    manifest = _manifest()
    head = sh.header_for(manifest, payload=payload, dest="")
    out = tmp_path / "env.sh"
    with open(out, "w+b") as raw:
        raw.write(head)
        fmt = sh.payload_format(payload)
        with open_writer(raw, fmt, mtime=MTIME, level=1, threads=1) as writer:
            _write(writer, manifest)
        raw.flush()
        whole = sh.seal_file(raw, head, _sha256_with_zeros(out))
    assert whole == hashlib.sha256(out.read_bytes()).hexdigest()
    with open_reader(str(out), MANIFEST_PATH) as reader:
        found, members = read_manifest(reader)
        verify_members(reader, members, found)
    data = bytearray(out.read_bytes())
    data[head.index(b"\nname=") + 7] ^= 0x20  # the header, not the payload, changed
    out.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError), open_reader(str(out), MANIFEST_PATH) as reader:
        found, members = read_manifest(reader)
        verify_members(reader, members, found)


def _sha256_with_zeros(path: Path) -> str:
    """The file as written so far, with the header's sha256 field still zeros."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_unknown_sh_payload_is_refused():
    from conda_envbundle.exceptions import EnvBundleError

    with pytest.raises(EnvBundleError, match="--sh-payload must be gzip or zstd"):
        sh.payload_format("bzip2")
