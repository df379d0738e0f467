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
import os
from collections.abc import Iterator

from .. import _compat, progress
from ..archive.members import Member, Reader
from ..archive.tarread import TarReader
from ..collection import (
    Collection,
    as_collection,
    is_collection,
    member_path,
)
from ..collection import from_bytes as collection_from_bytes
from ..exceptions import (
    BundleFormatError,
    EnvBundleError,
    IncompatibleTargetError,
)
from ..manifest import Manifest
from ..space import space_needed
from .assemble import InstallResult, finish
from .commit import commit, parents_of, remove_leftovers, staging_dir
from .extract import (
    declared,
    member_of,
    read_head,
)
from .generations import replaced
from .install import install
from .lock import target_lock
from .multiextract import Selected, extract_environments, unshare_stale_sources
from .preflight import check_existing, check_target


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
    chosen = [Selected(collection.get(name), target) for name, target in targets.items()]
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
            extract_environments(reader, members, collection, chosen, extracting.advance)
        relocated = {
            s.env.name: finish(s.staging, s.target, s.env.manifest, threads, show_progress)
            for s in chosen
        }
        for selected in chosen:
            unshare_stale_sources(selected)
        for selected, old in _commit_all(chosen):
            replaced(old, selected.target, keep_previous=False)  # a kept one is stale now
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
        extract_environments(reader, members, collection, [], verifying.advance)


def _check_space_together(chosen: list[Selected]) -> None:
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


def _commit_all(chosen: list[Selected]) -> list[tuple[Selected, str | None]]:
    """Put every environment in place; on an error, take back the ones already put.
    Returns each with where commit left the environment it replaced (None: none)."""
    done: list[tuple[Selected, str | None]] = []
    try:
        for selected in chosen:
            done.append((selected, commit(selected.staging, selected.target)))
    except BaseException:
        for selected, old in reversed(done):
            _uncommit(selected.target, selected.staging, old)
        raise
    return done


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
