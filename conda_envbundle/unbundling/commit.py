"""Placing a complete environment at its target: all or nothing, even under SIGKILL.

The new environment is built in a staging directory beside the target (same filesystem)
and put in place by one atomic rename, or, over an existing environment, by one atomic
exchange (``renameat2(RENAME_EXCHANGE)`` on Linux, ``renamex_np(RENAME_SWAP)`` on macOS).
Whatever the moment a run dies, the target is its old self or the complete new
environment, plus at most one hidden directory named after the target, which the next
run on that target removes (under the target's lock, so never one still in use). The
``.sh`` installer names its directories the same way and takes the same lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator

from ..exceptions import TargetWriteError
from ..fstree import identity, make_dirs, remove_empty, remove_tree, umask
from ..renames import exchange

STAGING_MARK = ".envbundle-staging-"
BACKUP_MARK = ".envbundle-replaced-"
_BACKUP_ENV = "env"


def _leftover_pattern(target: str) -> re.Pattern[str]:
    """Names of the staging and backup directories of ``target`` (``tempfile`` suffixes)."""
    name = re.escape(f".{os.path.basename(target)}")
    marks = "|".join(re.escape(m) for m in (STAGING_MARK, BACKUP_MARK))
    return re.compile(rf"{name}(?:{marks})[a-z0-9_]{{8}}")


def leftovers(target: str) -> list[str]:
    """Staging and backup directories of ``target`` left by runs that died."""
    parent = os.path.dirname(target)
    pattern = _leftover_pattern(target)
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(parent, n) for n in names if pattern.fullmatch(n))


def remove_leftovers(target: str) -> None:
    """Undo what a dead run left; call it holding the target's lock.

    A run that died between the two renames of the fallback swap left the old
    environment in its backup directory and no target: put it back first.
    """
    for path in leftovers(target):
        old = os.path.join(path, _BACKUP_ENV)
        is_backup = BACKUP_MARK in os.path.basename(path)
        if is_backup and os.path.isdir(old) and not os.path.lexists(target):
            try:
                os.rename(old, target)
            except OSError as exc:
                raise TargetWriteError(
                    f"A previous conda unbundle left the old environment of {target} in "
                    f"{old} and it cannot be put back ({exc.strerror}). Move it back yourself."
                ) from exc
        _remove_quietly(path)


def _remove_quietly(path: str) -> None:
    """Best effort: what stays is removed by the next run, which retries."""
    with contextlib.suppress(OSError):
        remove_tree(path)


@contextlib.contextmanager
def parents_of(target: str) -> Iterator[str]:
    """Create the target's parent directory if needed; on error remove the directories
    this run created that are still empty and still the ones it created.

    Another run may have put its environment in one of them meanwhile (two targets in
    one new directory): that directory and its parents stay.
    """
    parent = os.path.dirname(target)
    try:
        made = [(directory, identity(directory)) for directory in make_dirs(parent)]
    except OSError as exc:
        raise TargetWriteError(f"Cannot create {parent}: {exc.strerror}.") from exc
    try:
        yield parent
    except BaseException:
        remove_empty(made)
        raise


@contextlib.contextmanager
def staging_dir(target: str) -> Iterator[str]:
    """A fresh directory beside ``target``; removed unless :func:`commit` consumed it."""
    try:
        staging = tempfile.mkdtemp(
            dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}{STAGING_MARK}"
        )
    except OSError as exc:
        raise TargetWriteError(
            f"Cannot create a directory in {os.path.dirname(target)}: {exc.strerror}."
        ) from exc
    # mkdtemp makes it 0700; as the environment's root it must have the umask's permissions.
    os.chmod(staging, 0o777 & ~umask())
    try:
        yield staging
    finally:
        _remove_quietly(staging)


def commit(staging: str, target: str) -> str | None:
    """Put the complete environment in ``staging`` at ``target`` in one atomic step.

    Returns where the old environment at ``target`` now is, inside ``staging`` (removed
    by the caller), or None if there was none.
    """
    try:
        if not os.path.lexists(target) or _is_empty_dir(target):
            os.rename(staging, target)  # replaces an empty directory atomically
            return None
        if exchange(staging, target):
            return staging
        _swap_by_renames(staging, target)
        return os.path.join(staging, _BACKUP_ENV)
    except OSError as exc:
        raise TargetWriteError(
            f"Cannot put the new environment at {target}: {exc.strerror}. {target} is as it "
            "was; unbundle into a new directory instead."
        ) from exc


def _is_empty_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)


def _swap_by_renames(staging: str, target: str) -> None:
    """Two renames where the filesystem cannot exchange; :func:`remove_leftovers` repairs
    the moment between them."""
    backup = tempfile.mkdtemp(
        dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}{BACKUP_MARK}"
    )
    os.rename(target, os.path.join(backup, _BACKUP_ENV))
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(os.path.join(backup, _BACKUP_ENV), target)
        os.rmdir(backup)
        raise
    os.rename(backup, staging)
