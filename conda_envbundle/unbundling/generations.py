"""The one previous generation an unbundle may keep (of a delta, or with --force), and
bringing it back.

It lives beside the environment, in ``.NAME.envbundle-previous/env``: one level down, so
conda, which takes every directory of an envs directory that holds ``conda-meta`` for an
environment, does not list it. It is not a working environment where it lies (its files
name the target's path), only at the target: :func:`rollback` exchanges the two in one
atomic step, so running it twice goes forward again. After a delta it shares every file
the update left unchanged with the current environment (hardlinks), so it costs the space
of what the update changed.

Only the environment the last unbundle replaced is kept: an unbundle that replaces the
environment without keeping it drops the one kept before, which would no longer be the
previous one. A kept generation is dropped by renaming it aside first (a leftover the
next run removes), so a kill never leaves half of one in its place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass

from .. import _compat
from ..exceptions import EnvBundleError, TargetWriteError
from ..fstree import remove_tree
from ..manifest import MANIFEST_PATH
from .commit import STAGING_MARK, commit, remove_leftovers
from .lock import target_lock
from .state import ChangedEnvironmentError, changes, check_in_place, read_kept

PREVIOUS_MARK = ".envbundle-previous"
_ENV = "env"


@dataclass
class Generation:
    """A kept previous generation: where, and the bytes only it holds."""

    path: str
    own_size: int


def previous_of(target: str) -> str:
    """Where the previous generation of ``target`` is kept."""
    holder = f".{os.path.basename(target)}{PREVIOUS_MARK}"
    return os.path.join(os.path.dirname(target), holder, _ENV)


def replaced(old: str | None, target: str, keep_previous: bool) -> str | None:
    """After ``old`` (None: nothing) was replaced at ``target`` under its lock: keep it as
    the previous generation, or drop the one kept before; returns where it is kept."""
    if old is None:
        return None
    drop(target)
    if not keep_previous:
        return None
    previous = previous_of(target)
    try:
        os.mkdir(os.path.dirname(previous), 0o700)
        os.rename(old, previous)
    except OSError as exc:
        raise TargetWriteError(
            f"The new environment is in place at {target}, but the one it replaced could "
            f"not be kept ({exc.strerror}): it is removed, and there is nothing to roll "
            "back to."
        ) from exc
    return previous


def drop(target: str) -> None:
    """Remove the kept generation of ``target``, if any: renamed aside, then removed."""
    holder = os.path.dirname(previous_of(target))
    if not os.path.lexists(holder):
        return
    aside = tempfile.mkdtemp(
        dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}{STAGING_MARK}"
    )
    os.rename(holder, aside)  # over the empty directory just made
    with contextlib.suppress(OSError):
        remove_tree(aside)  # what stays is a leftover: the next run removes it


def own_size(root: str) -> int:
    """Bytes of the files under ``root`` that no other directory entry shares."""
    total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            info = os.lstat(os.path.join(directory, name))
            if info.st_nlink == 1:
                total += info.st_blocks * 512
    return total


def rollback(target: str) -> Generation:
    """Put the previous generation of ``target`` back in one atomic step; the environment
    it replaces becomes the previous generation."""
    target = os.path.abspath(target)
    if os.path.islink(target) or not _compat.is_conda_environment(target):
        raise EnvBundleError(f"There is no environment at {target} to roll back.")
    previous = previous_of(target)
    with target_lock(target):
        remove_leftovers(target)
        _check_kept(previous, target)
        old = commit(previous, target)
        if old is not None and old != previous:  # swapped by two renames: one level deeper
            os.rename(old, f"{previous}.moving")
            os.rmdir(previous)
            os.rename(f"{previous}.moving", previous)
        _compat.forget_prefix_data(target)
        _compat.register_env(target)
    return Generation(previous, own_size(previous))


def _check_kept(previous: str, target: str) -> None:
    """The kept generation is an environment, made for ``target``, as it was kept."""
    if os.path.islink(previous) or not _compat.is_conda_environment(previous):
        raise EnvBundleError(
            f"No previous generation of {target} is kept: conda unbundle keeps one when it "
            "replaces an environment with --keep-previous (or the unbundle_keep_previous "
            "setting)."
        )
    if not os.path.lexists(os.path.join(previous, MANIFEST_PATH)):
        return  # an environment conda made, replaced by a full bundle with --force
    kept = read_kept(previous)
    check_in_place(kept, target)
    what = changes(kept, previous, verify=False)
    if what:
        raise ChangedEnvironmentError(
            f"The kept generation of {target} changed since it was kept ({len(what)} paths: "
            f"{', '.join(what[:3])}), so it is not put back. Unbundle a full bundle of the "
            "environment you want instead."
        )
