"""What each installed conda package owns, and where its pristine files are cached."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from conda.common.path import get_python_noarch_target_path
from conda.gateways.disk.read import read_paths_json
from conda.models.enums import FileMode, NoarchType

from . import _compat
from .manifest import BINARY, TEXT


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
    """One installed package: its files and, when cached, their pristine copies."""

    record: PackageRecord
    record_paths: list[str] = field(default_factory=list)
    prefix_modes: dict[str, str] = field(default_factory=dict)
    pristine: dict[str, Pristine] = field(default_factory=dict)

    @property
    def has_prefix_files(self) -> bool:
        return bool(self.prefix_modes)

    @property
    def cached(self) -> bool:
        return bool(self.pristine)


def _mode_name(file_mode) -> str:
    return BINARY if file_mode == FileMode.binary else TEXT


def installed_path(path: str, noarch_python: bool, site_packages: str | None) -> str:
    """Where a record's path lives in the environment.

    conda (24.7 at least) records ``paths_data`` of noarch python packages with their
    package-relative paths (``site-packages/...``); ``files`` has the installed ones.
    """
    if noarch_python and site_packages:
        return get_python_noarch_target_path(path, site_packages)
    return path


def package_files(prefix: str, records: list) -> list[PackageFiles]:
    """Describe the files of every record of the environment at ``prefix``."""
    site_packages = _compat.site_packages_short_path(records)
    result = []
    for rec in records:
        pkg = PackageFiles(record=rec)
        noarch_python = rec.noarch == NoarchType.python
        paths = rec.paths_data.paths if rec.paths_data else ()
        where = {p.path: installed_path(p.path, noarch_python, site_packages) for p in paths}
        pkg.record_paths = sorted({*rec.files, *where.values()} - {""})
        pkg.prefix_modes = {
            where[p.path]: _mode_name(p.file_mode) for p in paths if p.prefix_placeholder
        }
        if pkg.prefix_modes:
            pkg.pristine = _pristine_copies(rec, site_packages)
        result.append(pkg)
    return result


def _cache_dir(rec) -> str | None:
    candidates = [rec.get("extracted_package_dir", None)]
    link = rec.get("link", None)
    if link is not None:
        # a Link object, or (in newer conda's record dataclasses) possibly a plain dict
        candidates.append(link.get("source") if isinstance(link, dict) else link.source)
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
