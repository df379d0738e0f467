"""``conda unbundle DELTA``: the next generation of an environment, built beside it.

Every check runs before anything is written: the delta fits this machine and path, the
environment at the target was made from exactly the delta's base (the rebuilt manifest
of its origin seals to the checksum the delta names), and it is unchanged since. The new
environment is then built beside the old one under the target's lock: what the delta
ships is extracted and verified, every file it takes from the old one is hardlinked (a
copy where a link cannot be made or the mode differs), never written to, and the new
environment replaces the old one in one atomic exchange. Processes running from the old
environment keep the files they have open; a kill at any moment leaves the old
environment or the complete new one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
from collections.abc import Iterator
from functools import partial

from .. import _compat, baseline
from ..archive.members import Member, Reader
from ..exceptions import BundleFormatError, TargetWriteError
from ..fstree import make_dirs
from ..manifest import FILE, FileEntry, Manifest
from .assemble import InstallResult, build
from .commit import commit, remove_leftovers, staging_dir
from .generations import replaced
from .lock import target_lock
from .preflight import check_mount_point, check_platform, check_room
from .state import ChangedEnvironmentError, check_in_place, check_unchanged, read_kept

_FICLONE = 0x40049409  # Linux: share the source's blocks (btrfs, xfs, ...)


def apply_delta(
    reader: Reader,
    members: Iterator[Member],
    delta: Manifest,
    target: str,
    *,
    verify: bool = False,
    keep_previous: bool = False,
    threads: int = 0,
    show_progress: bool = False,
) -> InstallResult:
    """Replace the environment at ``target`` by the one ``delta`` makes of it."""
    check_platform(delta, target)
    _require_environment(target)  # before the lock, which is made beside it
    with target_lock(target):
        remove_leftovers(target)
        kept = check_base(delta, target, verify)
        check_room(_written(delta, kept), target)
        carry = partial(_carry, delta, kept, target)
        with staging_dir(target) as staging:
            relocated = build(
                reader, members, delta, staging, target, threads, show_progress, carry
            )
            previous = replaced(commit(staging, target), target, keep_previous)
            _compat.forget_prefix_data(target)
            _compat.register_env(target)
    reused = sum(1 for f in delta.files if f.reuse)
    return InstallResult(target, delta, relocated, reused, previous)


def check_base(delta: Manifest, target: str, verify: bool) -> Manifest:
    """The kept manifest of the environment at ``target``, if ``delta`` applies to it."""
    assert delta.delta is not None
    _require_environment(target)
    kept = read_kept(target)
    base = baseline.shipped_manifest(kept)
    if baseline.identity(base) == baseline.identity(delta):
        raise ChangedEnvironmentError(
            f"The environment at {target} already is the one this delta makes: there is "
            "nothing to do."
        )
    if baseline.identity(base) != delta.delta["base"]:
        raise ChangedEnvironmentError(
            f"The environment at {target} was not made from this delta's base "
            f"({delta.delta['base_name']}, {delta.delta['base'][:12]}), but from "
            f"{base.source_name}, {baseline.identity(base)[:12]}. Apply the deltas in "
            "order, or a full bundle."
        )
    problem = baseline.delta_problem(delta, base)
    if problem:
        raise BundleFormatError(f"This delta is damaged or hostile: {problem}.")
    check_in_place(kept, target)
    check_unchanged(kept, target, verify)
    return kept


def _require_environment(target: str) -> None:
    if os.path.islink(target):
        raise ChangedEnvironmentError(
            f"{target} is a symlink to {os.path.realpath(target)}: a delta replaces a "
            "directory, not a link. Apply it where the environment really is, moved back to "
            "the path its files name."
        )
    if not _compat.is_conda_environment(target):
        raise ChangedEnvironmentError(
            f"There is no environment at {target} to apply this delta to: unbundle a full "
            "bundle of its base there first."
        )
    check_mount_point(target)


def _written(delta: Manifest, kept: Manifest) -> Manifest:
    """What applying the delta writes: what it ships, and copies of the files whose
    permissions change or are read-only (a link costs an inode, no blocks)."""
    modes = {entry.path: entry.mode for entry in kept.files}
    files = [
        f
        for f in delta.files
        if not f.reuse or modes[f.path] & 0o777 != f.mode & 0o777 or not f.mode & 0o200
    ]
    return Manifest(
        delta.source_name, delta.subdir, delta.conda_version, delta.tool_version, files=files
    )


def _carry(delta: Manifest, kept: Manifest, target: str, root: str) -> dict[str, str]:
    """Link (or copy) into ``root`` every file ``delta`` takes from the environment at
    ``target``; returns the sha256 of those with a prefix rule, as relocated there."""
    old = {entry.path: entry for entry in kept.files if entry.kind == FILE}
    relocated = {}
    for entry in delta.files:
        if entry.reuse:
            now = old[entry.path]
            try:
                _place(os.path.join(target, entry.path), os.path.join(root, entry.path), entry, now)
            except OSError as exc:
                raise TargetWriteError(
                    f"Cannot write beside {target}: {exc.strerror}. Make room or fix the "
                    f"permissions of {os.path.dirname(target)}, then try again; {target} is "
                    "as it was."
                ) from exc
            if entry.prefix:
                relocated[entry.path] = now.file_sha256
    return relocated


def _place(source: str, dest: str, entry: FileEntry, now: FileEntry) -> None:
    make_dirs(os.path.dirname(dest), 0o700)
    linked = False
    # conda makes a read-only file writable before it removes it: shared, that chmod would
    # change the kept generation's file too
    if now.mode & 0o777 == entry.mode & 0o777 and entry.mode & 0o200:
        with contextlib.suppress(OSError):
            os.link(source, dest, follow_symlinks=False)
            linked = True
    if not linked:
        _copy(source, dest)
        os.chmod(dest, entry.mode & 0o777)
    placed = os.lstat(dest)
    if not stat.S_ISREG(placed.st_mode) or placed.st_size != now.size:
        raise ChangedEnvironmentError(
            f"{source} changed while the update was being built: nothing was changed. "
            "Stop whatever writes to the environment, then apply the delta again."
        )


def _copy(source: str, dest: str) -> None:
    """A copy that shares the source's blocks where the filesystem can (a reflink)."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as src, open(dest, "xb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY):
                raise
            shutil.copyfileobj(src, dst, 1 << 20)
