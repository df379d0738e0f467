"""The members of a bundle of several environments, read once and written wherever the
selected environments need them: stored content written once, then hardlinked (where
safe) or copied to every other place that holds the same bytes."""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..archive.members import Member, Reader
from ..collection import Collection, Environment, Place, member_path
from ..exceptions import BundleFormatError, TargetWriteError
from ..fstree import make_dirs
from ..manifest import FILE, SYMLINK, FileEntry
from ..relocation import rules
from .extract import check_parents, match_member, place_entry, reading_bundle, verified_data
from .filewriters import OPEN_FLAGS, FileWriters

# conda rewrites these in place (records) or we do: never shared between environments
_NEVER_LINKED = rules.RECORD_DIR + "/"


_CANNOT_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES)


@dataclass
class Selected:
    """An environment being installed, and where."""

    env: Environment
    target: str
    staging: str = ""


@dataclass
class _Destination:
    """A place in a selected environment that needs the bytes of a stored member."""

    selected: Selected
    entry: FileEntry

    @property
    def full(self) -> str:
        return os.path.join(self.selected.staging, self.entry.path)

    @property
    def linkable(self) -> bool:
        # conda makes a read-only file writable before it removes it: shared, that chmod
        # would change the other environment's file too
        return (
            self.entry.prefix is None
            and not self.entry.path.startswith(_NEVER_LINKED)
            and bool(self.entry.mode & 0o200)
        )


@dataclass
class _Copies:
    """The files written for one stored member: inodes another environment may share."""

    first: str
    shared: list[tuple[_Destination, set[str]]] = field(default_factory=list)


def _destinations(collection: Collection, chosen: list[Selected]) -> dict[Place, list]:
    """Stored member (environment, path) -> the selected places that need its bytes."""
    needed: dict[Place, list[_Destination]] = {}
    for selected in chosen:
        env = selected.env
        for entry in env.manifest.files:
            if entry.kind == FILE:
                place = env.stored_elsewhere.get(entry.path, (env.name, entry.path))
                needed.setdefault(place, []).append(_Destination(selected, entry))
    return needed


def extract_environments(
    reader: Reader,
    members: Iterator[Member],
    collection: Collection,
    chosen: list[Selected],
    advance: Callable[[int], None],
) -> None:
    """Read every member against the head, verifying every byte; write what the
    selected environments need."""
    needed = _destinations(collection, chosen)
    selected = {s.env.name: s for s in chosen}
    made = {s.staging for s in chosen}
    links: dict[str, set[str]] = {name: set() for name in collection.names}
    clean: dict[str, set[str]] = {name: set() for name in collection.names}
    expected = collection.stored()
    full = ""
    try:
        with FileWriters() as writers:
            for member in members:
                env, entry = next(expected, (None, None))
                if env is None or entry is None:
                    raise BundleFormatError(
                        f"The bundle holds {member.path!r}, which its head lacks."
                    )
                match_member(
                    member, dataclasses.replace(entry, path=member_path(env.name, entry.path))
                )
                check_parents(entry.path, links[env.name], clean[env.name])
                if entry.kind == SYMLINK:
                    links[env.name].add(entry.path)
                if entry.kind != FILE:
                    if env.name in selected:
                        full = os.path.join(selected[env.name].staging, entry.path)
                        place_entry(reader, entry, full, made, writers)
                    continue
                places = needed.get((env.name, entry.path), [])
                full = places[0].full if places else ""
                _write_all(reader, entry, places, made, writers)
                advance(entry.size)
    except OSError as exc:
        raise TargetWriteError(
            f"Cannot write {exc.filename or full}: {exc.strerror}. Make room or fix the "
            "permissions there, then try again."
        ) from exc
    _finish_stream(reader, expected)


def _finish_stream(reader: Reader, expected: Iterator[tuple[Environment, FileEntry]]) -> None:
    missing = next(expected, None)
    if missing is not None:
        env, entry = missing
        raise BundleFormatError(
            f"The bundle is incomplete: {entry.path!r} of {env.name!r} is in its head "
            "but not in it."
        )
    with reading_bundle():
        reader.finish()


def _write_all(
    reader: Reader,
    entry: FileEntry,
    places: list[_Destination],
    made: set[str],
    writers: FileWriters,
) -> None:
    """Write the current member's verified bytes to its first place, then link or copy
    it to the others; with no place, only verify it."""
    if not places:
        for _ in verified_data(reader, entry):
            pass
        return
    first = places[0]
    if len(places) == 1:
        place_entry(reader, first.entry, first.full, made, writers)
        return
    _make_parent(first.full, made)
    fd = os.open(first.full, OPEN_FLAGS, 0o600)
    with os.fdopen(fd, "wb", buffering=0) as fh:
        for chunk in verified_data(reader, entry):
            fh.write(chunk)
    copies = _Copies(first.full)
    if first.linkable:
        copies.shared.append((first, {first.selected.env.name}))
    for place in places[1:]:
        _make_parent(place.full, made)
        _link_or_copy(place, copies)


def _make_parent(full: str, made: set[str]) -> None:
    parent = os.path.dirname(full)
    if parent not in made:
        make_dirs(parent, 0o700)
        made.add(parent)


def _link_or_copy(place: _Destination, copies: _Copies) -> None:
    """Hardlink ``place`` to a file of another environment with the same mode that
    nothing rewrites in place, else copy; at most one path per environment per inode."""
    name = place.selected.env.name
    if place.linkable:
        for other, envs in copies.shared:
            if other.entry.mode == place.entry.mode and name not in envs:
                try:
                    os.link(other.full, place.full)
                except OSError as exc:
                    if exc.errno not in _CANNOT_LINK:
                        raise
                    break  # another filesystem, or links refused: copies then
                envs.add(name)
                return
    _copy(copies.first, place.full)
    if place.linkable:
        copies.shared.append((place, {name}))


def _copy(source: str, destination: str) -> None:
    fd = os.open(destination, OPEN_FLAGS, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def unshare_stale_sources(selected: Selected) -> None:
    """A shared ``.py`` has one mtime; when this environment's pyc expects another (the
    environments differ there), give this environment its own copy with its own mtime."""
    manifest = selected.env.manifest
    files = [f.path for f in manifest.files if f.kind == FILE]
    links = {f.path: f.link_target for f in manifest.files if f.kind == SYMLINK}
    for source, pyc in rules.pairs(files, links):
        path = os.path.join(selected.staging, rules.resolve(source, links))
        if not os.path.isfile(path) or os.lstat(path).st_nlink < 2:
            continue
        with open(os.path.join(selected.staging, pyc), "rb") as fh:
            wanted = rules.source_mtime(fh.read(rules.PYC_HEADER_SIZE), os.path.getsize(path))
        if wanted is not None and int(os.stat(path).st_mtime) != wanted:
            _own_copy(path)
            os.utime(path, (wanted, wanted), follow_symlinks=False)


def _own_copy(path: str) -> None:
    """Replace the hardlink at ``path`` with a copy of its own (same mode); the copy is
    made under a name no entry has (every entry exists by then)."""
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".envbundle-unshare-")
    with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.chmod(temp, os.stat(path).st_mode & 0o7777)
    os.replace(temp, path)
