"""Pre-flight checks: everything that can refuse an unbundle before a byte is written.

Each refusal is one message with the numbers that matter (needed against found).
"""

from __future__ import annotations

import json
import os
import re
import sys

from conda.base.context import context
from conda.utils import human_bytes

from . import _compat
from .bytecode import python_unsafe
from .commit import BACKUP_MARK, STAGING_MARK
from .exceptions import IncompatibleTargetError, TargetExistsError
from .fstree import name_max
from .lock import LOCK_MARK
from .manifest import FILE, TEXT, Manifest
from .records import is_record_path, json_unsafe


def check_target(manifest: Manifest, target: str, force: bool) -> None:
    """Refuse targets this bundle cannot be placed at; ``target`` is an absolute path."""
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
    check_existing(target, force)
    _check_space(manifest, target)


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
    _check_mount_point(target)
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


def _check_mount_point(target: str) -> None:
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


# The kept manifest's fields that do not depend on the target (its checksum, the
# prefix_limit number) may change length by a few bytes.
_MANIFEST_SLACK = 256
# A shebang line that relocation turns into conda's /bin/sh trampoline grows by at most
# the interpreter's path (the new prefix plus bin/pythonX.Y) and this much quoting.
_SHEBANG_SLACK = 128
# A conda-meta record may gain a sha256_in_prefix line for each file it describes whose
# content relocation changes ("sha256_in_prefix": "<64 hex digits>", indentation).
_RECORD_LINE = 100


def space_needed(manifest: Manifest, block: int, target: str) -> tuple[int, int]:
    """Bytes (whole ``block``s per entry) and inodes the environment takes at ``target``.

    Beyond the shipped files: the manifest the environment keeps, and what relocation
    can add. A text file grows only when the new prefix is longer than the placeholder
    it replaces, by that difference per occurrence, and each occurrence takes the
    placeholder's length, so ``size // len(placeholder)`` bounds their number.
    """
    new = len(target.encode())
    size = 0
    rules = 0
    for entry in manifest.files:
        if entry.kind != FILE:
            size += block
            continue
        grown = entry.size
        if entry.prefix is not None:
            rules += 1
            if entry.prefix.mode == TEXT:
                grown += _text_growth(entry.size, entry.prefix.placeholder, new)
        if is_record_path(entry.path):
            grown += block  # its share of the record lines, counted below
        size += -(-grown // block) * block
    size += -(-(rules * _RECORD_LINE) // block) * block
    kept = kept_manifest_size(manifest, target)
    return size + -(-kept // block) * block + block, len(manifest.files) + 2


# The block the .sh installer counts in: what ext4, xfs and tmpfs round files up to.
INSTALLER_BLOCK = 4096


def installer_space(manifest: Manifest) -> tuple[int, int, int, int]:
    """What the ``.sh`` installer checks for, made at bundle time: ``(space, length,
    per_byte, inodes)``, :func:`space_needed` in 4 KiB blocks for any target of up to
    ``length`` bytes, at most ``per_byte`` more for each further byte of the target's
    path, and the inodes.

    ``length`` is the longest text placeholder, past which every relocated text file
    grows with the target: by one byte per possible occurrence and one for its shebang
    (``space`` holds a block per text file for the rounding of that growth); the kept
    manifest grows by at most 6 characters (``\\u0001``) per byte per prefix rule.
    """
    texts = [f for f in manifest.files if f.prefix is not None and f.prefix.mode == TEXT]
    length = max((len(f.prefix.placeholder.encode()) for f in texts if f.prefix), default=0)
    # the target whose spelling in JSON is longest for its bytes
    space, inodes = space_needed(manifest, INSTALLER_BLOCK, "\x01" * length)
    space += (len(texts) + 1) * INSTALLER_BLOCK
    rules = sum(1 for f in manifest.files if f.prefix is not None)
    per_byte = sum(f.size // len(f.prefix.placeholder.encode()) + 1 for f in texts if f.prefix)
    return space, length, per_byte + 6 * rules, inodes


def _text_growth(size: int, placeholder: str, new: int) -> int:
    old = len(placeholder.encode())
    return max(0, new - old) * (size // old) + new + _SHEBANG_SLACK


def kept_manifest_size(manifest: Manifest, target: str) -> int:
    """The size of the manifest the environment keeps: the bundle's, with every prefix
    rule's placeholder replaced by ``target`` (file hashes keep their length)."""
    encoded = len(json.dumps(target))
    change = sum(
        encoded - len(json.dumps(entry.prefix.placeholder))
        for entry in manifest.files
        if entry.prefix is not None
    )
    return manifest.to_stream()[0] + change + _MANIFEST_SLACK


def _check_space(manifest: Manifest, target: str) -> None:
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
