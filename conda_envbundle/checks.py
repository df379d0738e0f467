"""Pre-flight checks: everything that can refuse an unbundle before a byte is written."""

from __future__ import annotations

import os

from . import _compat
from .exceptions import IncompatibleTargetError, TargetExistsError
from .manifest import Manifest


def check_target(manifest: Manifest, target: str, force: bool) -> None:
    """Refuse targets this bundle cannot be placed at, with the numbers that matter."""
    _check_subdir(manifest)
    _check_glibc(manifest)
    _check_length(manifest, target)
    _check_existing(target, force)


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


def _check_glibc(manifest: Manifest) -> None:
    needed = manifest.requirements.get("glibc")
    if not needed:
        return
    found = _compat.virtual_package_versions().get("__glibc")
    if found is None:
        raise IncompatibleTargetError(
            f"This bundle needs glibc {needed} or newer, but this machine has no glibc "
            "(musl or not Linux). Unbundle it on a glibc-based Linux."
        )
    if _version(found) < _version(needed):
        raise IncompatibleTargetError(
            f"This bundle needs glibc {needed} or newer; this machine has glibc {found}. "
            "Use a newer machine, or bundle an environment built for an older glibc."
        )


def _check_length(manifest: Manifest, target: str) -> None:
    limit = manifest.prefix_limit
    length = len(target.encode())
    if limit is not None and length > limit:
        raise IncompatibleTargetError(
            f"The target path is {length} bytes long, but this bundle's binaries can "
            f"take a prefix of at most {limit} bytes. Choose a shorter path."
        )


def _check_existing(target: str, force: bool) -> None:
    if not os.path.lexists(target):
        return
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
