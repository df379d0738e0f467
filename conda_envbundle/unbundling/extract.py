"""Read a bundle's members against its manifest: write them into a fresh directory, or verify.

Each member must be the next entry of the manifest, of the same kind and size; file
contents are hashed while they are read and must match the manifest's sha256. A tar
stream may not yield more bytes than its manifest accounts for (so a decompression bomb
stops early), and nothing but zeros may follow the end of the archive.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
from collections.abc import Iterator
from typing import TypeVar

from ..archive.codecs import describe
from ..archive.members import DIRECTORY, REGULAR, SYMLINK, Member, Reader
from ..budget import MAX_MANIFEST_SIZE, ParseBudget, read_json
from ..collection import from_bytes, is_collection
from ..exceptions import BundleFormatError, ChecksumMismatchError, EnvBundleError, TargetWriteError
from ..fstree import make_dirs
from ..manifest import DIR, FILE, MANIFEST_PATH, FileEntry, Manifest
from ..manifest import SYMLINK as SYMLINK_KIND
from ..paths import link_stays_inside
from ..progress import SILENT, Progress
from .filewriters import OPEN_FLAGS, SMALL_FILE, FileWriters

T = TypeVar("T")
_KINDS = {REGULAR: FILE, DIRECTORY: DIR, SYMLINK: SYMLINK_KIND}
_MEMBER_KINDS = {kind: member_kind for member_kind, kind in _KINDS.items()}
_SETID_BITS = 0o6000


def declared(manifest: Manifest) -> Iterator[Member]:
    """The members the manifest declares after itself, as a reader will find them."""
    for entry in _shipped(manifest):
        yield member_of(entry, entry.path)


def member_of(entry: FileEntry, path: str) -> Member:
    """The member a reader finds at ``path`` for ``entry``."""
    size = entry.size if entry.kind == FILE else 0
    return Member(path, _MEMBER_KINDS[entry.kind], entry.mode, size, 0, entry.target or "")


def _shipped(manifest: Manifest) -> Iterator[FileEntry]:
    """The entries that are members: all but those a delta takes from its base."""
    return (entry for entry in manifest.files if not entry.reuse)


@contextlib.contextmanager
def reading_bundle() -> Iterator[None]:
    """Every failure inside, a BundleFormatError.

    Every read of a bundle goes through here: whatever a damaged or hostile bundle makes
    a reader, a codec or the filesystem under a directory bundle raise, the bundle is
    what is wrong. Writing the target happens outside, and fails in its own way.
    """
    try:
        yield
    except (EnvBundleError, MemoryError):
        raise
    except Exception as exc:
        raise BundleFormatError(f"The bundle is damaged or unreadable: {describe(exc)}.") from exc


def reading(items: Iterator[T]) -> Iterator[T]:
    """``items`` from a bundle reader, each failure of the reader a BundleFormatError."""
    while True:
        with reading_bundle():
            try:
                item = next(items)
            except StopIteration:
                return
        yield item


def read_manifest(reader: Reader) -> tuple[Manifest, Iterator[Member]]:
    """Read the first member, which must be the manifest; returns it and the member iterator.

    What the reader may read is bounded from here on: first by :data:`MAX_MANIFEST_SIZE`,
    then by what the manifest declares. A bundle of several environments is refused
    here, naming them: :mod:`.multi` reads those.
    """
    raw, members = read_head(reader)
    refuse_collection(raw)
    manifest = Manifest.from_bytes(raw)
    reader.expect(declared(manifest))
    return manifest, members


def read_head(reader: Reader) -> tuple[bytearray, Iterator[Member]]:
    """The bytes of the first member, the manifest (or a multi-environment head), checked
    against the budget before parsing; and the member iterator."""
    reader.expect([Member(MANIFEST_PATH, REGULAR, 0o644, MAX_MANIFEST_SIZE, 0, "")])
    members = reading(iter(reader))
    first = next(members, None)
    if first is None or first.path != MANIFEST_PATH or first.kind != REGULAR:
        raise BundleFormatError("This file is not a conda-envbundle bundle: no manifest first.")
    if first.size > MAX_MANIFEST_SIZE:
        raise BundleFormatError(
            f"The bundle's manifest is {first.size} bytes, more than the {MAX_MANIFEST_SIZE} "
            "this conda-envbundle reads: the bundle is damaged or hostile."
        )
    cost = ParseBudget("The bundle's manifest", BundleFormatError)
    return read_json(reading(reader.read_data()), cost), members


def refuse_collection(raw: bytearray) -> None:
    """Refuse a multi-environment head where one environment's manifest is read."""
    if is_collection(raw):
        names = from_bytes(raw).names
        raise BundleFormatError(
            f"This bundle holds {len(names)} environments ({', '.join(names)}), and this reads "
            "a bundle of one (an SBOM describes one environment). Use a bundle of each alone."
        )


def extract_members(
    reader: Reader,
    members: Iterator[Member],
    manifest: Manifest,
    root: str,
    extracting: Progress = SILENT,
) -> None:
    """Create every manifest entry under ``root`` from the remaining members, in order."""
    made = {root}  # directories that exist: a makedirs per file would cost a syscall each
    full = root
    try:
        with FileWriters() as writers:
            for entry in _matched(reader, members, manifest):
                full = os.path.join(root, entry.path)
                place_entry(reader, entry, full, made, writers)
                extracting.advance(entry.size)
    except OSError as exc:
        raise TargetWriteError(
            f"Cannot write {exc.filename or full}: {exc.strerror}. Make room or fix "
            f"the permissions of {os.path.dirname(root)}, then try again."
        ) from exc


def verify_members(
    reader: Reader, members: Iterator[Member], manifest: Manifest, verifying: Progress = SILENT
) -> None:
    """Check every remaining member against the manifest, content included; write nothing."""
    for entry in _matched(reader, members, manifest):
        if entry.kind == FILE:
            for _ in verified_data(reader, entry):
                pass
            verifying.advance(entry.size)


def _matched(reader: Reader, members: Iterator[Member], manifest: Manifest) -> Iterator[FileEntry]:
    """Yield each manifest entry once its member matches it; the caller reads its data."""
    expected = _shipped(manifest)
    links: set[str] = set()
    clean: set[str] = set()
    for member in members:
        entry = next(expected, None)
        if entry is None:
            raise BundleFormatError(f"The bundle holds {member.path!r}, which its manifest lacks.")
        match_member(member, entry)
        check_parents(entry.path, links, clean)
        if entry.kind == SYMLINK_KIND:
            links.add(entry.path)
        yield entry
    missing = next(expected, None)
    if missing is not None:
        raise BundleFormatError(
            f"The bundle is incomplete: {missing.path!r} is in its manifest but not in it."
        )
    with reading_bundle():
        reader.finish()


def match_member(member: Member, entry: FileEntry) -> None:
    kind = _KINDS.get(member.kind)
    if kind is None:
        raise BundleFormatError(
            f"The bundle holds {member.path!r} of a forbidden type (hardlink, device, fifo "
            "or unknown): bundles hold only files, directories and symlinks."
        )
    if member.path.rstrip("/") != entry.path:
        raise BundleFormatError(
            f"The bundle holds {member.path!r} where its manifest says {entry.path!r}."
        )
    if kind != entry.kind:
        raise BundleFormatError(f"{entry.path!r} in the bundle is not a {entry.kind}.")
    # Directory bundles on setgid directories legitimately carry the bit on directories;
    # member modes are never applied anyway (the manifest's modes are).
    if kind != DIR and member.mode & _SETID_BITS:
        raise BundleFormatError(
            f"{entry.path!r} in the bundle has setuid/setgid bits (mode {member.mode:o}): refused."
        )
    if kind == FILE and member.size != entry.size:
        raise BundleFormatError(
            f"{entry.path!r} in the bundle has {member.size} bytes; its manifest says {entry.size}."
        )
    if kind == SYMLINK_KIND and (
        member.link != entry.target or not link_stays_inside(entry.path, entry.link_target)
    ):
        raise BundleFormatError(f"The symlink {entry.path!r} in the bundle points outside it.")


def check_parents(path: str, links: set[str], clean: set[str]) -> None:
    """Refuse a member under a symlink member; ``clean`` remembers directories found safe
    (each is a real directory by then, so no later symlink can take its place)."""
    first = posixpath.dirname(path)
    parent = first
    while parent and parent not in clean:
        if parent in links:
            raise BundleFormatError(f"{path!r} in the bundle would be written through a symlink.")
        parent = posixpath.dirname(parent)
    if first:
        clean.add(first)


def place_entry(
    reader: Reader, entry: FileEntry, full: str, made: set[str], writers: FileWriters
) -> None:
    if entry.kind == DIR:
        make_dirs(full, 0o700)  # not os.makedirs: it recurses once per missing level
        made.add(full)
        return
    parent = os.path.dirname(full)
    if parent not in made:
        make_dirs(parent, 0o700)
        made.add(parent)
    if entry.kind == SYMLINK_KIND:
        os.symlink(entry.link_target, full)
        return
    if entry.size <= SMALL_FILE:
        writers.write(full, b"".join(verified_data(reader, entry)))
        return
    fd = os.open(full, OPEN_FLAGS, 0o600)
    with os.fdopen(fd, "wb", buffering=0) as fh:
        for chunk in verified_data(reader, entry):
            fh.write(chunk)


def verified_data(reader: Reader, entry: FileEntry) -> Iterator[bytes]:
    """The current member's bytes, refused past the manifest's size or on a wrong sha256."""
    digest = hashlib.sha256()
    seen = 0
    for chunk in reading(reader.read_data()):
        seen += len(chunk)
        if seen > entry.size:
            raise BundleFormatError(
                f"{entry.path} in the bundle holds more than the {entry.size} bytes its "
                "manifest says: the bundle is damaged."
            )
        digest.update(chunk)
        yield chunk
    if seen != entry.size or digest.hexdigest() != entry.sha256:
        raise ChecksumMismatchError(
            f"{entry.path} in the bundle does not match its checksum: the bundle is damaged. "
            "Copy it again from its source."
        )
