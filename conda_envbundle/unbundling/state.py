"""What an installed environment is: its kept manifest, and whether its files still match.

A delta builds the new environment from the old one's files, so before anything is
written the old one must be exactly what its kept manifest says: at the path the manifest
was made for, every listed file of the right kind, size and mode (with ``verify``: sha256),
and nothing else in it but python's own caches. Anything else would be lost by the
update, or copied into it unseen.
"""

from __future__ import annotations

import os
import stat

from ..budget import MAX_MANIFEST_SIZE, ParseBudget
from ..exceptions import BundleFormatError, IncompatibleTargetError
from ..manifest import DIR, FILE, MANIFEST_DIR, MANIFEST_PATH, SYMLINK, FileEntry, Manifest
from ..relocation.rules import JOURNAL
from ..scan import scan_file

_SHOWN = 3


class ChangedEnvironmentError(IncompatibleTargetError):
    """The environment a delta applies to is not the one it was made for, or changed."""


def read_kept(prefix: str) -> Manifest:
    """The kept manifest of the environment at ``prefix``, checked against its checksum."""
    path = os.path.join(prefix, MANIFEST_PATH)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_MANIFEST_SIZE + 1)
    except OSError as exc:
        raise ChangedEnvironmentError(
            f"{prefix} has no readable {MANIFEST_PATH} ({exc.strerror}): it was not made by "
            "conda unbundle, and a delta applies only to an environment that was."
        ) from exc
    if len(raw) > MAX_MANIFEST_SIZE:
        raise BundleFormatError(f"{path} is larger than any manifest conda-envbundle writes.")
    ParseBudget(f"{path}", BundleFormatError).add(raw)
    return Manifest.from_bytes(raw)


def check_in_place(kept: Manifest, prefix: str) -> None:
    """The environment's files name ``prefix``: it was not moved without conda-unpack."""
    if os.path.lexists(os.path.join(prefix, JOURNAL)):
        raise ChangedEnvironmentError(
            f"A run of conda-unpack in {prefix} was interrupted: run {prefix}/bin/conda-unpack "
            "again, then apply the delta."
        )
    elsewhere = {f.prefix.placeholder for f in kept.files if f.prefix} - {prefix}
    if elsewhere:
        raise ChangedEnvironmentError(
            f"The files of {prefix} still name {sorted(elsewhere)[0]}: it was moved without "
            f"conda-unpack. Run {prefix}/bin/conda-unpack first."
        )


def check_unchanged(kept: Manifest, prefix: str, verify: bool) -> None:
    """Every file of ``kept`` as listed, nothing more (python's caches aside)."""
    what = changes(kept, prefix, verify)
    if what:
        raise ChangedEnvironmentError(
            f"{prefix} changed since it was unbundled ({len(what)} paths: "
            f"{', '.join(what[:_SHOWN])}), and a delta would lose that. Apply a full bundle "
            "with --force instead, or undo the change."
        )


def changes(kept: Manifest, prefix: str, verify: bool) -> list[str]:
    """What differs at ``prefix`` from ``kept``: each path with "(changed)" or "(added)"."""
    listed = {entry.path: entry for entry in kept.files}
    changed = [e.path for e in kept.files if _differs(e, os.path.join(prefix, e.path), verify)]
    extra = [path for path in _walk(prefix) if path not in listed and not _ours(path)]
    return [*(f"{p} (changed)" for p in changed), *(f"{p} (added)" for p in extra)]


def _differs(entry: FileEntry, full: str, verify: bool) -> bool:
    try:
        info = os.lstat(full)
    except OSError:
        return True
    if entry.kind == DIR:
        return not stat.S_ISDIR(info.st_mode)
    if entry.kind == SYMLINK:
        return not stat.S_ISLNK(info.st_mode) or os.readlink(full) != entry.target
    assert entry.kind == FILE
    if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
        return True
    if stat.S_IMODE(info.st_mode) != entry.mode & 0o777:
        return True
    return verify and scan_file(full, None).sha256 != entry.sha256


def _walk(prefix: str) -> list[str]:
    """Every path under ``prefix``, relative, with ``/``; directory symlinks not followed."""
    found: list[str] = []
    for directory, dirs, files in os.walk(prefix):
        relative = os.path.relpath(directory, prefix)
        base = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        found.extend(base + name for name in dirs + files)
    return found


def _ours(path: str) -> bool:
    """The kept manifest and its directory, and the pycs python writes as it imports."""
    if path in (MANIFEST_DIR, MANIFEST_PATH):
        return True
    parts = path.split("/")
    return parts[-1] == "__pycache__" or (
        len(parts) > 1 and parts[-2] == "__pycache__" and parts[-1].endswith(".pyc")
    )
