"""The manifest's JSON: encoded in pieces, byte for byte what ``json.dumps`` gives."""

from __future__ import annotations

import hashlib
import json

import pytest

from conda_envbundle.exceptions import BundleFormatError, ChecksumMismatchError
from conda_envbundle.manifest import BINARY, DIR, FILE, SYMLINK, FileEntry, Manifest, PrefixRule
from conda_envbundle.relocation.rules import CHECKSUM_KEY


def _entries(count: int) -> list[FileEntry]:
    kinds = [
        lambda i: FileEntry(f"d{i}", DIR, 0o755),
        lambda i: FileEntry(f"lib/f{i}.so", FILE, 0o755, i, f"{i:064x}", prefix=None),
        lambda i: FileEntry(f"l{i}", SYMLINK, 0o777, target="f"),
        lambda i: FileEntry(
            f"b\u00e9{i}", FILE, 0o644, 1, "a" * 64, prefix=PrefixRule("/p", BINARY)
        ),
    ]
    return [kinds[i % len(kinds)](i) for i in range(count)]


@pytest.mark.parametrize("count", [0, 1, 2047, 2048, 2049, 5000])
def test_pieces_are_the_sealed_json_of_the_whole(count):
    manifest = Manifest("env", "linux-64", "24.7.1", "0.1.0", files=_entries(count))
    size, pieces = manifest.to_stream()
    raw = b"".join(pieces)
    assert len(raw) == size
    data = json.loads(raw)
    body = {k: v for k, v in data.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert data[CHECKSUM_KEY] == hashlib.sha256(canonical).hexdigest()
    assert raw == json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    assert Manifest.from_bytes(raw).files == manifest.files


def _full() -> Manifest:
    return Manifest(
        "env",
        "linux-64",
        "24.7.1",
        "0.1.0",
        site_packages="lib/python3.12/site-packages",
        requirements={"glibc": "2.17"},
        packages=[{"name": "foo", "version": "1.0", "build": "0", "channel": "local"}],
        files=_entries(8),
        unrelocated=[{"path": "lib/x.pyc", "reason": "compiled"}],
    )


def _sealed(data: dict) -> bytes:
    body = {k: v for k, v in data.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return json.dumps({**body, CHECKSUM_KEY: hashlib.sha256(canonical).hexdigest()}).encode()


def test_every_field_round_trips():
    manifest = _full()
    again = Manifest.from_bytes(b"".join(manifest.to_stream()[1]))
    assert again == manifest
    assert again.prefix_limit == len(b"/p")
    assert again.total_size == sum(f.size for f in manifest.files if f.kind == FILE)


def test_a_changed_field_breaks_the_checksum():
    data = json.loads(b"".join(_full().to_stream()[1]))
    data["files"][1]["mode"] = 0o777
    with pytest.raises(ChecksumMismatchError):
        Manifest.from_bytes(json.dumps(data).encode())


def test_a_newer_version_asks_for_an_update():
    data = json.loads(b"".join(_full().to_stream()[1]))
    data["version"] = 3
    with pytest.raises(BundleFormatError, match="Update conda-envbundle"):
        Manifest.from_bytes(_sealed(data))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "../outside", "kind": "dir", "mode": 0o755}, "unsafe path"),
        ({"path": "/etc/passwd", "kind": "dir", "mode": 0o755}, "unsafe path"),
        ({"path": "d0", "kind": "dir", "mode": 0o755}, "twice"),
        (
            {"path": "bin/su", "kind": "file", "mode": 0o4755, "size": 0, "sha256": "0" * 64},
            "setuid",
        ),
        ({"path": "l", "kind": "symlink", "mode": 0o777, "target": "../../x"}, "outside"),
        ({"path": "x", "kind": "fifo", "mode": 0o644}, "unknown kind"),
    ],
)
def test_hostile_entries_are_refused(entry, message):
    data = json.loads(b"".join(_full().to_stream()[1]))
    data["files"].append(entry)
    with pytest.raises(BundleFormatError, match=message):
        Manifest.from_bytes(_sealed(data))
