"""``conda unbundle``: check, extract beside the target, relocate, commit in one step."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from .. import _compat
from ..archive.members import Member, Reader
from ..manifest import Manifest
from .assemble import InstallResult, build
from .commit import commit, parents_of, remove_leftovers, staging_dir
from .extract import read_manifest
from .generations import replaced
from .lock import target_lock
from .preflight import check_existing, check_target
from .update import apply_delta


def install(
    reader: Reader,
    target: str,
    *,
    force: bool = False,
    threads: int = 0,
    show_progress: bool = False,
    accept: Callable[[Manifest], None] | None = None,
    verify: bool = False,
    keep_previous: bool = False,
    head: tuple[Manifest, Iterator[Member]] | None = None,
) -> InstallResult:
    """Turn the bundle that ``reader`` reads (see :mod:`.archive`) into an env at ``target``.

    Every pre-flight check runs before anything is written; the environment is built
    beside the target under the target's lock and put in place by one atomic step, and
    registered only then. On any error the target is as it was. ``accept`` may refuse
    the manifest before anything is written (a signed one must be the one verified).

    ``keep_previous`` keeps the environment it replaces (``force``, or a delta) for
    :func:`.generations.rollback`. A delta bundle updates the environment at ``target``
    instead (:mod:`.update`); ``verify`` checks the sha256 of its every file first.
    ``head`` is the manifest and members when the caller has read the manifest already.
    """
    target = os.path.abspath(target)
    manifest, members = head or read_manifest(reader)
    if accept is not None:
        accept(manifest)
    if manifest.delta is not None:
        return apply_delta(
            reader,
            members,
            manifest,
            target,
            verify=verify,
            keep_previous=keep_previous,
            threads=threads,
            show_progress=show_progress,
        )
    check_target(manifest, target, force)
    with parents_of(target), target_lock(target):
        remove_leftovers(target)
        check_existing(target, force)  # again: another run may have finished meanwhile
        with staging_dir(target) as staging:
            relocated = build(reader, members, manifest, staging, target, threads, show_progress)
            previous = replaced(commit(staging, target), target, keep_previous)
            _compat.forget_prefix_data(target)
            _compat.register_env(target)
    return InstallResult(target, manifest, relocated, previous=previous)
