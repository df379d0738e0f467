"""What each installed conda package owns, and where its pristine files are cached."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from conda.gateways.disk.read import read_paths_json
from conda.models.enums import FileMode, NoarchType

from .. import _compat
from .._compat import installed_path
from ..manifest import BINARY, TEXT
from .sbomfacts import recorded_text


class PackageRecord(Protocol):
    """What is read here of conda's PrefixRecord (whose types mypy cannot see)."""

    name: str
    version: str
    build: str
    build_number: int
    channel: Any
    subdir: str
    fn: str

    def get(self, key: str, default: Any = None) -> Any: ...


@dataclass(frozen=True)
class Pristine:
    """A file as it is in the package cache, with its build-time placeholder inside."""

    source: str
    placeholder: str
    mode: str
    sha256: str


@dataclass
class PackageFiles:
    """One installed package: its files, what conda recorded of them and, when cached,
    their pristine copies. conda's record itself is not kept: it is large."""

    name: str
    summary: dict[str, Any] = field(default_factory=dict)
    record_paths: list[str] = field(default_factory=list)
    prefix_modes: dict[str, str] = field(default_factory=dict)
    recorded: dict[str, tuple[str, int]] = field(default_factory=dict)
    pristine: dict[str, Pristine] = field(default_factory=dict)

    @property
    def has_prefix_files(self) -> bool:
        return bool(self.prefix_modes)

    @property
    def cached(self) -> bool:
        return bool(self.pristine)


def _mode_name(file_mode) -> str:
    return BINARY if file_mode == FileMode.binary else TEXT


def package_files(prefix: str, records: list) -> list[PackageFiles]:
    """Describe the files of every record of the environment at ``prefix``."""
    site_packages = _compat.site_packages_short_path(records)
    result = []
    for rec in records:
        pkg = PackageFiles(name=rec.name)
        noarch_python = rec.noarch == NoarchType.python
        paths = rec.paths_data.paths if rec.paths_data else ()
        where = {p.path: installed_path(p.path, noarch_python, site_packages) for p in paths}
        pkg.record_paths = sorted({*rec.files, *where.values()} - {""})
        pkg.prefix_modes = {
            where[p.path]: _mode_name(p.file_mode) for p in paths if p.prefix_placeholder
        }
        recorded = _recorded_hashes(prefix, rec, noarch_python, site_packages)
        # the same path strings as record_paths: an environment has tens of thousands
        same = {path: path for path in pkg.record_paths}
        pkg.recorded = {same.get(path, path): known for path, known in recorded.items()}
        if pkg.prefix_modes:
            pkg.pristine = _pristine_copies(rec, site_packages)
        pkg.summary = _summary(rec, pkg.cached or not pkg.has_prefix_files)
        result.append(pkg)
    return result


def _recorded_hashes(
    prefix: str, rec: PackageRecord, noarch_python: bool, site_packages: str | None
) -> dict[str, tuple[str, int]]:
    """sha256 and size that conda recorded for files installed as the package has them.

    Files conda wrote (entry points, pyc) or changed (prefix replacement) are left out:
    only a file equal to the package's own can be trusted to hold no prefix.
    """
    known = {}
    for item in _compat.recorded_paths(prefix, rec):
        package_sha = item.get("sha256")
        digest = item.get("sha256_in_prefix") or package_sha
        size = item.get("size_in_bytes")
        if item.get("prefix_placeholder") or not digest or digest != package_sha:
            continue
        if item.get("path_type") == "hardlink" and isinstance(size, int):
            path = installed_path(item.get("_path", ""), noarch_python, site_packages)
            known[path] = (digest, size)
    return known


def _summary(rec: PackageRecord, cached: bool) -> dict[str, Any]:
    """The package as the manifest lists it."""
    return {
        "name": rec.name,
        "version": rec.version,
        "build": rec.build,
        "build_number": rec.build_number,
        "channel": str(rec.channel.canonical_name) if rec.channel else "",
        "subdir": rec.subdir,
        "fn": rec.fn,
        "md5": rec.get("md5", None),
        "sha256": rec.get("sha256", None),
        "cached": cached,
        "license": recorded_text(rec.get("license", None)),  # for SBOMs
    }


def _cache_dir(rec) -> str | None:
    candidates = [rec.get("extracted_package_dir", None)]
    candidates.append(_compat.link_source(rec))
    for candidate in candidates:
        if candidate and os.path.isfile(os.path.join(candidate, "info", "index.json")):
            return candidate
    return None


def _pristine_copies(rec, site_packages: str | None) -> dict[str, Pristine]:
    """Map installed paths to their cached, placeholder-bearing originals (if cached)."""
    cache_dir = _cache_dir(rec)
    if cache_dir is None:
        return {}
    try:
        paths = read_paths_json(cache_dir).paths
    except (OSError, ValueError):
        return {}
    noarch_python = rec.noarch == NoarchType.python
    copies = {}
    for path in paths:
        if not path.prefix_placeholder or not path.sha256:
            continue
        target = installed_path(path.path, noarch_python, site_packages)
        source = os.path.join(cache_dir, path.path)
        if os.path.isfile(source) and not os.path.islink(source):
            copies[target] = Pristine(
                source, path.prefix_placeholder, _mode_name(path.file_mode), path.sha256
            )
    return copies
