"""``conda unbundle`` of a multi-environment bundle: one environment, or several at once.

The bundle is read in one pass. Every selected environment is checked before the first
byte is written, each under its own target's lock and in its own staging directory
beside its target. A stored file is written where the first selected environment needs
it as it streams by; every other selected place that needs the same bytes gets a
hardlink of it (another environment, same mode, no prefix rule, outside conda-meta:
what nothing later rewrites in place) or a copy. Members of environments not selected
are read and verified too. Every environment is complete before the first is put in
place; see docs/design.md for what a kill between two commits leaves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .. import _compat, progress
from ..archive.members import Member, Reader
from ..archive.tarread import TarReader
from ..collection import (
    Collection,
    Environment,
    Place,
    as_collection,
    is_collection,
    member_path,
)
from ..collection import from_bytes as collection_from_bytes
from ..exceptions import (
    BundleFormatError,
    EnvBundleError,
    IncompatibleTargetError,
    TargetWriteError,
)
from ..fstree import make_dirs
from ..manifest import FILE, SYMLINK, FileEntry, Manifest
from ..relocation import rules
from ..space import space_needed
from .assemble import InstallResult, finish
from .commit import commit, parents_of, remove_leftovers, staging_dir
from .extract import (
    _check_parents,
    _match,
    _place,
    _reading_bundle,
    _verified_data,
    declared,
    member_of,
    read_head,
)
from .filewriters import OPEN_FLAGS, FileWriters
from .install import install
from .lock import target_lock
from .preflight import check_existing, check_target

# conda rewrites these in place (records) or we do: never shared between environments
_NEVER_LINKED = rules.RECORD_DIR + "/"
_CANNOT_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES)


def read_bundle(reader: Reader) -> tuple[Manifest | Collection, Iterator[Member]]:
    """The head of any bundle (one environment's manifest, or several environments'
    head) and the member iterator; what the reader may read is bounded by it."""
    raw, members = read_head(reader)
    if not is_collection(raw):
        manifest = Manifest.from_bytes(raw)
        reader.expect(declared(manifest))
        return manifest, members
    if not isinstance(reader, TarReader):
        raise BundleFormatError(
            "This bundle claims several environments but is not a tar file: conda bundle "
            "writes those only as tar formats. It is damaged or hostile."
        )
    collection = collection_from_bytes(raw)
    del raw
    reader.expect(member_of(e, member_path(env.name, e.path)) for env, e in collection.stored())
    return collection, members


def check_environments(
    head: Manifest | Collection, targets: dict[str, str], force: bool
) -> dict[str, int]:
    """The pre-flight checks of the environments named in ``targets`` (name -> target),
    as a dry run makes them; returns how many files each would relocate."""
    collection = as_collection(head)
    relocated = {}
    for name, target in targets.items():
        manifest = collection.get(name).manifest
        check_target(manifest, target, force)
        relocated[name] = sum(1 for f in manifest.files if f.prefix)
    return relocated


def install_head(
    reader: Reader,
    head: Manifest | Collection,
    members: Iterator[Member],
    targets: dict[str, str],
    force: bool,
    threads: int,
    show_progress: bool,
) -> dict[str, int]:
    """Install the environments named in ``targets`` from a bundle whose head is read;
    returns how many files each relocated."""
    if isinstance(head, Manifest):  # a bundle of one environment
        ((name, target),) = targets.items()
        one = install(
            reader,
            target,
            force=force,
            threads=threads,
            show_progress=show_progress,
            head=(head, members),
        )
        return {name: one.relocated}
    made = install_environments(
        reader, members, head, targets, force=force, threads=threads, show_progress=show_progress
    )
    return {name: result.relocated for name, result in zip(targets, made, strict=True)}


@dataclass
class _Selected:
    """An environment being installed, and where."""

    env: Environment
    target: str
    staging: str = ""


def install_environments(
    reader: Reader,
    members: Iterator[Member],
    collection: Collection,
    targets: dict[str, str],
    *,
    force: bool = False,
    threads: int = 0,
    show_progress: bool = False,
) -> list[InstallResult]:
    """Install the environments named in ``targets`` (name -> absolute target path) from
    the bundle ``reader`` reads, its head already read: all of them, or none."""
    chosen = [_Selected(collection.get(name), target) for name, target in targets.items()]
    for selected in chosen:
        check_target(selected.env.manifest, selected.target, force)
    _check_space_together(chosen)
    with contextlib.ExitStack() as stack:
        for selected in sorted(chosen, key=lambda s: s.target):
            stack.enter_context(parents_of(selected.target))
            stack.enter_context(target_lock(selected.target))
        for selected in chosen:
            remove_leftovers(selected.target)
            check_existing(selected.target, force)  # again: under the lock
            selected.staging = stack.enter_context(staging_dir(selected.target))
        # the whole stream is read, whatever is selected
        total = collection.content_size - collection.shared_size
        with progress.step("Extracting", total, show_progress) as extracting:
            _extract(reader, members, collection, chosen, extracting.advance)
        relocated = {
            s.env.name: finish(s.staging, s.target, s.env.manifest, threads, show_progress)
            for s in chosen
        }
        for selected in chosen:
            _unshare_stale_sources(selected)
        _commit_all(chosen)
        for selected in chosen:
            _compat.forget_prefix_data(selected.target)
            _compat.register_env(selected.target)
    return [InstallResult(s.target, s.env.manifest, relocated[s.env.name]) for s in chosen]


def verify_environments(
    reader: Reader, members: Iterator[Member], collection: Collection, show_progress: bool
) -> None:
    """Check every member of every environment against the head, every byte against its
    sha256; write nothing."""
    total = collection.content_size - collection.shared_size
    with progress.step("Verifying", total, show_progress) as verifying:
        _extract(reader, members, collection, [], verifying.advance)


def _check_space_together(chosen: list[_Selected]) -> None:
    """Environments on one filesystem must fit there together (each was checked alone;
    counted without the space hardlinks save)."""
    needed: dict[int, tuple[int, str]] = {}
    for selected in chosen:
        where = _nearest_existing(os.path.dirname(selected.target))
        fs = os.statvfs(where)
        block = fs.f_frsize or fs.f_bsize or 4096
        device = os.stat(where).st_dev
        size, _ = space_needed(selected.env.manifest, block, selected.target)
        before = needed.get(device, (0, where))[0]
        needed[device] = (before + size, where)
    for size, where in needed.values():
        fs = os.statvfs(where)
        free = (fs.f_bfree if os.geteuid() == 0 else fs.f_bavail) * (fs.f_frsize or 4096)
        if size > free:
            raise IncompatibleTargetError(
                f"These environments need {size} bytes of free space together at {where}; "
                f"only {free} bytes are free. Free some space, or install fewer at once."
            )


def _nearest_existing(path: str) -> str:
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


@dataclass
class _Destination:
    """A place in a selected environment that needs the bytes of a stored member."""

    selected: _Selected
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


def _destinations(collection: Collection, chosen: list[_Selected]) -> dict[Place, list]:
    """Stored member (environment, path) -> the selected places that need its bytes."""
    needed: dict[Place, list[_Destination]] = {}
    for selected in chosen:
        env = selected.env
        for entry in env.manifest.files:
            if entry.kind == FILE:
                place = env.stored_elsewhere.get(entry.path, (env.name, entry.path))
                needed.setdefault(place, []).append(_Destination(selected, entry))
    return needed


def _extract(
    reader: Reader,
    members: Iterator[Member],
    collection: Collection,
    chosen: list[_Selected],
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
                _match(member, dataclasses.replace(entry, path=member_path(env.name, entry.path)))
                _check_parents(entry.path, links[env.name], clean[env.name])
                if entry.kind == SYMLINK:
                    links[env.name].add(entry.path)
                if entry.kind != FILE:
                    if env.name in selected:
                        full = os.path.join(selected[env.name].staging, entry.path)
                        _place(reader, entry, full, made, writers)
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
    with _reading_bundle():
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
        for _ in _verified_data(reader, entry):
            pass
        return
    first = places[0]
    if len(places) == 1:
        _place(reader, first.entry, first.full, made, writers)
        return
    _make_parent(first.full, made)
    fd = os.open(first.full, OPEN_FLAGS, 0o600)
    with os.fdopen(fd, "wb", buffering=0) as fh:
        for chunk in _verified_data(reader, entry):
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


def _unshare_stale_sources(selected: _Selected) -> None:
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


def _commit_all(chosen: list[_Selected]) -> None:
    """Put every environment in place; on an error, take back the ones already put."""
    done: list[tuple[_Selected, str | None]] = []
    try:
        for selected in chosen:
            done.append((selected, commit(selected.staging, selected.target)))
    except BaseException:
        for selected, old in reversed(done):
            _uncommit(selected.target, selected.staging, old)
        raise


def _uncommit(target: str, staging: str, old: str | None) -> None:
    """Undo one :func:`commit`, which left the environment it replaced at ``old`` (inside
    the staging directory; None: there was none): put it back the same way, or move the
    new one away. Either way what is left in the staging directory is removed after."""
    # best effort: this runs while another error is on its way to the user
    with contextlib.suppress(OSError, EnvBundleError):
        if old is None:
            os.rename(target, staging)
        else:
            commit(old, target)
