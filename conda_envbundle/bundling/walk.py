"""The entries of an installed environment, as a walk finds them, and the filters on them."""

from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Iterable

from ..exceptions import EnvBundleError
from ..manifest import DIR, FILE, SYMLINK
from ..relocation.rules import MANIFEST_DIR

SKIPPED_TOP_LEVEL = {"pkgs", "envs", "conda-bld", ".conda_lock"}


def under(relpath: str, roots: set[str]) -> bool:
    """True when ``relpath`` is one of ``roots`` or inside one of them."""
    while relpath:
        if relpath in roots:
            return True
        relpath = posixpath.dirname(relpath)
    return False


def wanted(relpath: str, filters: Iterable[tuple[str, str]]) -> bool:
    """Whether ``relpath`` is kept by ``filters`` (the last matching one decides)."""
    keep = True
    for action, pattern in filters:
        if fnmatch.fnmatchcase(relpath, pattern):
            keep = action == "include"
    return keep


def walk(prefix: str, left_out: list[str]) -> Iterable[tuple[str, str]]:
    """Yield ``(relative path, kind)`` for everything under ``prefix``, symlinks unfollowed.

    The kinds come from the directory listing itself: one ``lstat`` per entry is
    taken later, where its result is used. What a bundle cannot hold goes to
    ``left_out``: special files, and a ``conda-meta/envbundle`` that is no directory
    (the bundle's manifest goes there; our own directory is left out silently).
    """
    pending = [("", prefix)]
    while pending:
        rel_root, root = pending.pop()
        try:
            with os.scandir(root) as listing:
                found = [(entry.name, entry.path, _kind(entry)) for entry in listing]
        except OSError as exc:
            raise EnvBundleError(f"Cannot read {root}: {exc.strerror}.") from exc
        for name, full, kind in found:
            relpath = rel_root + name
            if kind is None or (relpath == MANIFEST_DIR and kind != DIR):
                left_out.append(relpath)
                continue
            if kind == DIR:
                if (not rel_root and name in SKIPPED_TOP_LEVEL) or relpath == MANIFEST_DIR:
                    continue
                pending.append((relpath + "/", full))
            yield relpath, kind


def _kind(entry: os.DirEntry) -> str | None:
    """SYMLINK, DIR or FILE; None for what a bundle cannot hold (sockets, devices, fifos)."""
    if entry.is_symlink():
        return SYMLINK
    if entry.is_dir(follow_symlinks=False):
        return DIR
    return FILE if entry.is_file(follow_symlinks=False) else None


def spellings(prefix: str) -> list[str]:
    """The environment's path as given and, when a symlink leads to it, as resolved:
    its files may hold either, depending on the path conda installed them through."""
    real = os.path.realpath(prefix)
    return [prefix] if real == prefix else [prefix, real]


def link_target(prefix: str, relpath: str, target: str) -> str | None:
    """A symlink target made relative and checked to stay inside the environment."""
    if os.path.isabs(target):
        inside = next(
            (
                rel
                for rel in (os.path.relpath(target, p) for p in spellings(prefix))
                if rel != ".." and not rel.startswith("../")
            ),
            None,
        )
        if inside is None:
            return None
        target = posixpath.relpath(inside, posixpath.dirname(relpath) or ".")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(relpath), target))
    if resolved == ".." or resolved.startswith("../") or posixpath.isabs(resolved):
        return None
    return target
