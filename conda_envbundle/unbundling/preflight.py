"""Pre-flight checks: everything that can refuse an unbundle before a byte is written.

Each refusal is one message with the numbers that matter (needed against found).
"""

from __future__ import annotations

import os
import re
import sys

from conda.base.context import context
from conda.utils import human_bytes

from .. import _compat
from ..exceptions import IncompatibleTargetError, TargetExistsError
from ..fstree import name_max
from ..manifest import Manifest
from ..relocation.rules import is_record_path, json_unsafe, python_unsafe
from ..space import space_needed
from .commit import BACKUP_MARK, STAGING_MARK
from .lock import LOCK_MARK


def check_target(manifest: Manifest, target: str, force: bool) -> None:
    """Refuse targets this bundle cannot be placed at; ``target`` is an absolute path."""
    check_platform(manifest, target)
    check_existing(target, force)
    check_room(manifest, target)


def check_platform(manifest: Manifest, target: str) -> None:
    """Refuse a machine or path the environment of ``manifest`` cannot run on or at."""
    _check_subdir(manifest)
    if {"glibc", "osx"} & manifest.requirements.keys():
        # only then: conda computes every virtual package, CUDA's in a child process
        versions = _compat.virtual_package_versions()
        _check_minimum(manifest, versions, "glibc", "glibc", "a glibc-based Linux (not musl)")
        _check_minimum(manifest, versions, "osx", "macOS", "a Mac")
    _check_text(manifest, target)
    check_name_length(target)
    _check_length(manifest, target)
    _check_nesting(target)


def _check_text(manifest: Manifest, target: str) -> None:
    """The target path must be text that relocation can write where the bundle needs it."""
    try:
        target.encode("utf-8")
    except UnicodeEncodeError:
        raise IncompatibleTargetError(
            f"The target path {target!r} is not valid UTF-8, which conda and prefix "
            "rewriting need. Choose another path."
        ) from None
    if json_unsafe(target) and any(f.prefix and is_record_path(f.path) for f in manifest.files):
        raise IncompatibleTargetError(
            f"This bundle's conda-meta records hold the environment's path, and {target!r} "
            "would break their JSON (a quote, backslash or control character). Choose "
            "another path."
        )
    if python_unsafe(target) and any(f.prefix and f.path.endswith(".py") for f in manifest.files):
        raise IncompatibleTargetError(
            f"This bundle's python sources hold the environment's path in string literals, "
            f"and {target!r} would break them (a quote, backslash or control character). "
            "Choose another path."
        )


def _check_subdir(manifest: Manifest) -> None:
    host = _compat.native_subdir()
    if manifest.subdir not in (host, "noarch"):
        raise IncompatibleTargetError(
            f"This bundle is for {manifest.subdir}, but this machine is {host}. "
            f"Unbundle it on a {manifest.subdir} machine."
        )


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(c for c in piece if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _check_minimum(
    manifest: Manifest, versions: dict[str, str], key: str, label: str, where: str
) -> None:
    """The bundle's lowest ``__glibc``/``__osx`` bound against this machine's virtual package.

    conda's virtual packages honour ``CONDA_OVERRIDE_GLIBC`` / ``CONDA_OVERRIDE_OSX``, so a
    user can override a wrong detection the way conda itself allows.
    """
    needed = manifest.requirements.get(key)
    if not needed:
        return
    found = versions.get(f"__{key}")
    if found is None:
        raise IncompatibleTargetError(
            f"This bundle needs {label} {needed} or newer, but this machine has no {label}. "
            f"Unbundle it on {where}."
        )
    if _version(found) < _version(needed):
        raise IncompatibleTargetError(
            f"This bundle needs {label} {needed} or newer; this machine has {label} {found}. "
            f"Use a newer machine, or bundle an environment built for an older {label}."
        )


def _check_length(manifest: Manifest, target: str) -> None:
    limit = manifest.prefix_limit
    length = len(target.encode())
    if limit is not None and length > limit:
        raise IncompatibleTargetError(
            f"The target path is {length} bytes long, but this bundle's binaries can "
            f"take a prefix of at most {limit} bytes. Choose a shorter path."
        )


# The longest hidden name beside the target: .NAME.envbundle-replaced-XXXXXXXX
HIDDEN_EXTRA = 1 + max(len(STAGING_MARK), len(BACKUP_MARK), len(LOCK_MARK)) + 8


def check_name_length(target: str) -> None:
    """The hidden directories and lock file named after the target must fit the file
    system's name limit, or the lock would fail with a bare "File name too long"."""
    name = os.path.basename(target)
    length = len(os.fsencode(name))
    limit = name_max(_nearest_existing(os.path.dirname(target)))
    if length + HIDDEN_EXTRA > limit:
        raise IncompatibleTargetError(
            f"The name {name} is {length} bytes long, too long for the hidden directories "
            f"beside it that conda unbundle names after it (.NAME{BACKUP_MARK}XXXXXXXX, "
            f"{HIDDEN_EXTRA} bytes more): this file system takes names of at most {limit} "
            f"bytes. Choose a name of at most {limit - HIDDEN_EXTRA} bytes."
        )


def _check_nesting(target: str) -> None:
    """Refuse a target inside another environment, except in that environment's ``envs/``.

    conda would see its files as untracked files of the outer environment (and remove or
    clobber them); ``<env>/envs/NAME`` is where conda itself puts named environments.
    """
    parent = os.path.realpath(os.path.dirname(target))
    probe = parent
    while True:
        if _compat.is_conda_environment(probe):
            if probe == os.path.dirname(parent) and os.path.basename(parent) == "envs":
                return
            raise IncompatibleTargetError(
                f"{target} is inside the conda environment {probe}. Choose a path outside "
                f"it, or {os.path.join(probe, 'envs', os.path.basename(target))}."
            )
        up = os.path.dirname(probe)
        if up == probe:
            return
        probe = up


def check_existing(target: str, force: bool) -> None:
    """Refuse an existing target unless ``force`` and it is a replaceable environment."""
    if not os.path.lexists(target):
        return
    check_mount_point(target)
    if os.path.isdir(target) and not os.path.islink(target) and not os.listdir(target):
        return
    if not force:
        raise TargetExistsError(
            f"{target} already exists. Choose another path, or pass --force to replace "
            "the environment there."
        )
    if os.path.islink(target) or not _compat.is_conda_environment(target):
        raise TargetExistsError(
            f"{target} exists and is not a conda environment; --force only replaces "
            "environments. Remove it yourself or choose another path."
        )
    if any(_same_path(target, running) for running in (context.root_prefix, sys.prefix)):
        raise TargetExistsError(
            f"{target} is the environment conda runs from; it cannot be replaced. "
            "Choose another path."
        )


def check_mount_point(target: str) -> None:
    """Refuse a mount point: the environment is put in place by renaming a directory over
    the target, which the kernel refuses for a mount point (EBUSY), empty or not.

    Extracting straight into it would leave a half environment there when a run fails or
    is killed; a subdirectory keeps the all-or-nothing promise.
    """
    if not (os.path.isdir(target) and not os.path.islink(target)):
        return
    if os.path.ismount(target) or os.path.realpath(target) in _mount_points():
        raise IncompatibleTargetError(
            f"{target} is a mount point, and conda unbundle puts an environment in place by "
            "renaming a directory over its target, which a mount point cannot take. "
            f"Unbundle into a directory inside it, such as {os.path.join(target, 'NAME')}."
        )


def _mount_points() -> set[str]:
    """Mount points the kernel lists (Linux), bind mounts of a directory of the same
    filesystem included, which ``os.path.ismount`` cannot tell apart."""
    try:
        with open("/proc/self/mountinfo", "rb") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return set()
    unescape = re.compile(rb"\\([0-7]{3})")
    points = set()
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4:
            raw = unescape.sub(lambda m: bytes([int(m[1], 8) & 0xFF]), fields[4])
            points.add(os.fsdecode(raw))
    return points


def _same_path(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing(path: str) -> str:
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def check_room(manifest: Manifest, target: str) -> None:
    """The filesystem of the target must hold the whole environment beside any old one.

    An environment replaced with --force stays until the new one is complete.
    """
    where = _nearest_existing(os.path.dirname(target))
    fs = os.statvfs(where)
    block = fs.f_frsize or fs.f_bsize or 4096
    needed, inodes = space_needed(manifest, block, target)
    # root may use the blocks reserved for it; others may not
    free = (fs.f_bfree if _is_root() else fs.f_bavail) * block
    if needed > free:
        raise IncompatibleTargetError(
            f"This bundle needs {human_bytes(needed)} ({needed} bytes) of free space at "
            f"{where}; only {human_bytes(free)} ({free} bytes) are free. Free some space or "
            "choose another path."
        )
    # filesystems without an inode limit (btrfs, some network filesystems) report 0 inodes
    if fs.f_files and inodes > fs.f_favail:
        raise IncompatibleTargetError(
            f"This bundle needs {inodes} files at {where}; the filesystem has room for only "
            f"{fs.f_favail} more. Free some inodes or choose another path."
        )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
