"""The manifest's JSON: encoded in pieces, byte for byte what ``json.dumps`` gives."""

from __future__ import annotations

import hashlib
import json

import pytest

from conda_envbundle.manifest import (
    BINARY,
    CHECKSUM_KEY,
    DIR,
    FILE,
    SYMLINK,
    FileEntry,
    Manifest,
    PrefixRule,
)


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
