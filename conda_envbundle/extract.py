"""Write a bundle's members into a fresh directory, refusing anything the manifest does not say.

Each member must be the next entry of the manifest, of the same kind and size; file
contents are hashed while they are written and must match the manifest's sha256.
"""

from __future__ import annotations

import hashlib
import os
import posixpath

from .archive.tar import DIRECTORY, REGULAR, SYMLINK, TarReader
from .exceptions import BundleFormatError, ChecksumMismatchError
from .manifest import DIR, FILE, MANIFEST_PATH, FileEntry, Manifest, link_stays_inside
from .manifest import SYMLINK as SYMLINK_KIND

_KINDS = {REGULAR: FILE, DIRECTORY: DIR, SYMLINK: SYMLINK_KIND}
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def read_manifest(reader: TarReader) -> tuple[Manifest, object]:
    """Read the first member, which must be the manifest; returns it and the member iterator."""
    members = iter(reader)
    first = next(members, None)
    if first is None or first.path != MANIFEST_PATH or first.kind != REGULAR:
        raise BundleFormatError("This file is not a conda-envbundle bundle: no manifest first.")
    if first.size > 256 << 20:
        raise BundleFormatError("The bundle's manifest is implausibly large.")
    return Manifest.from_bytes(b"".join(reader.read_data())), members


def extract_members(reader: TarReader, members, manifest: Manifest, root: str) -> None:
    """Create every manifest entry under ``root`` from the remaining members, in order."""
    expected = iter(manifest.files)
    links: set[str] = set()
    for member in members:
        entry = next(expected, None)
        if entry is None:
            raise BundleFormatError(f"The bundle holds {member.path!r}, which its manifest lacks.")
        _match(member, entry)
        _check_parents(entry.path, links)
        full = os.path.join(root, entry.path)
        if entry.kind == DIR:
            os.makedirs(full, mode=0o700, exist_ok=True)
        elif entry.kind == SYMLINK_KIND:
            _ensure_parent(full, root)
            os.symlink(entry.target, full)
            links.add(entry.path)
        else:
            _ensure_parent(full, root)
            _write_file(reader, entry, full)
    missing = next(expected, None)
    if missing is not None:
        raise BundleFormatError(
            f"The bundle is incomplete: {missing.path!r} is in its manifest but not in it."
        )


def _match(member, entry: FileEntry) -> None:
    kind = _KINDS.get(member.kind)
    if kind is None:
        raise BundleFormatError(f"The bundle holds {member.path!r} of a forbidden type.")
    if member.path.rstrip("/") != entry.path:
        raise BundleFormatError(
            f"The bundle holds {member.path!r} where its manifest says {entry.path!r}."
        )
    if kind != entry.kind:
        raise BundleFormatError(f"{entry.path!r} in the bundle is not a {entry.kind}.")
    if kind == FILE and member.size != entry.size:
        raise BundleFormatError(
            f"{entry.path!r} in the bundle has {member.size} bytes; its manifest says {entry.size}."
        )
    if kind == SYMLINK_KIND and (
        member.link != entry.target or not link_stays_inside(entry.path, entry.target)
    ):
        raise BundleFormatError(f"The symlink {entry.path!r} in the bundle points outside it.")


def _check_parents(path: str, links: set[str]) -> None:
    parent = posixpath.dirname(path)
    while parent:
        if parent in links:
            raise BundleFormatError(f"{path!r} in the bundle would be written through a symlink.")
        parent = posixpath.dirname(parent)


def _ensure_parent(full: str, root: str) -> None:
    parent = os.path.dirname(full)
    if parent != root:
        os.makedirs(parent, mode=0o700, exist_ok=True)


def _write_file(reader: TarReader, entry: FileEntry, full: str) -> None:
    digest = hashlib.sha256()
    fd = os.open(full, _OPEN_FLAGS, 0o600)
    with os.fdopen(fd, "wb", buffering=0) as fh:
        for chunk in reader.read_data():
            digest.update(chunk)
            fh.write(chunk)
    if digest.hexdigest() != entry.sha256:
        raise ChecksumMismatchError(
            f"{entry.path} in the bundle does not match its checksum: the bundle is damaged. "
            "Copy it again from its source."
        )
