"""The one previous generation an unbundle may keep (of a delta, or with --force), and
bringing it back.

It lives beside the environment, in ``.NAME.envbundle-previous/env``: one level down, so
conda, which takes every directory of an envs directory that holds ``conda-meta`` for an
environment, does not list it. It is not a working environment where it lies (its files
name the target's path), only at the target: :func:`rollback` exchanges the two in one
atomic step, so running it twice goes forward again. It shares every file the update
left unchanged with the current environment (hardlinks), so it costs the space of what
the update changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import _compat
from ..exceptions import EnvBundleError, TargetWriteError
from ..fstree import remove_tree
from ..manifest import MANIFEST_PATH
from .commit import commit, remove_leftovers
from .lock import target_lock
from .state import check_in_place, read_kept

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


def keep(old: str, target: str) -> Generation:
    """Keep ``old``, the environment an update replaced, as the previous generation of
    ``target``, in place of the one kept before (this run holds the target's lock)."""
    previous = previous_of(target)
    holder = os.path.dirname(previous)
    try:
        if os.path.lexists(holder):
            remove_tree(holder)
        os.mkdir(holder, 0o700)
        os.rename(old, previous)
    except OSError as exc:
        raise TargetWriteError(
            f"The update is in place at {target}, but the environment it replaced could not "
            f"be kept in {holder} ({exc.strerror}): it is removed, and there is nothing to "
            "roll back to."
        ) from exc
    return Generation(previous, own_size(previous))


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
    previous = previous_of(target)
    with target_lock(target):
        remove_leftovers(target)
        if not os.path.isdir(previous) or os.path.islink(previous):
            raise EnvBundleError(
                f"No previous generation of {target} is kept: conda unbundle keeps one when "
                "it replaces an environment with --keep-previous (or the "
                "unbundle_keep_previous setting)."
            )
        if os.path.lexists(os.path.join(previous, MANIFEST_PATH)):
            check_in_place(read_kept(previous), target)
        old = commit(previous, target)
        if old is not None and old != previous:  # swapped by two renames: one level deeper
            os.rename(old, f"{previous}.moving")
            os.rmdir(previous)
            os.rename(f"{previous}.moving", previous)
        _compat.forget_prefix_data(target)
        _compat.register_env(target)
    return Generation(previous, own_size(previous))
