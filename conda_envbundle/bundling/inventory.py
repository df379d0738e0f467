"""An installed environment, read through conda's PrefixData, as a list of entries to ship.

For each file the inventory decides where its bytes come from (the pristine copy in the
package cache, or the installed file) and which prefix must be rewritten at unbundle.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .. import _compat, progress
from ..archive.members import EARLIEST_MTIME, LATEST_MTIME
from ..exceptions import EnvBundleError, source_read_error
from ..manifest import BINARY, DIR, FILE, FileEntry
from . import standalone
from .classify import classify
from .items import Item
from .launchers import copies_for_links
from .packages import PackageFiles, package_files
from .plan import Plan
from .pycs import match_source_mtimes
from .refusals import (
    editable_installs,
    missing_files,
    refuse_bad_names,
    refuse_editables,
    refuse_interrupted_unpack,
    refuse_missing,
)
from .retarget import retarget
from .sbomfacts import sbom_facts
from .walk import spellings, under, walk, wanted

_BOUND = re.compile(r">=?\s*([0-9][0-9.]*)")


@dataclass
class Inventory:
    """Everything ``conda bundle`` will write, decided before the first byte is written."""

    prefix: str
    items: list[Item]
    packages: list[dict[str, Any]]
    requirements: dict[str, str]
    site_packages: str | None = None
    subdir: str | None = None
    uncached: list[str] = field(default_factory=list)
    unrelocated: list[dict[str, str]] = field(default_factory=list)
    editables: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    mtime: int = EARLIEST_MTIME
    # fifos, sockets, devices, and a conda-meta/envbundle that is not our directory
    left_out: list[str] = field(default_factory=list)
    # the manifest's sbom key: Python distributions conda did not install, unowned files
    sbom: dict[str, Any] = field(default_factory=dict)

    limited_by: tuple[list[str], list[str]] = ([], [])

    @property
    def files(self) -> list[FileEntry]:
        return [item.entry for item in self.items]


def take_inventory(plan: Plan) -> Inventory:
    """Read the environment (not modifying it) and decide what to ship and how to
    relocate it."""
    prefix = plan.prefix
    records = sorted(_compat.load_records(prefix), key=lambda rec: rec.name)
    pkgs = package_files(prefix, records)
    facts = _EnvFacts.of(records)
    # conda's records are large (an object per file) and cached per process: let them go.
    del records
    _compat.forget_prefix_data(prefix)
    survey = _Survey.of(prefix, pkgs, plan)
    with progress.step("Reading", len(survey.paths), plan.show_progress, "entries") as reading:
        try:
            items, unrelocated = classify(
                prefix,
                survey.paths,
                pkgs,
                plan.threads,
                facts.site_packages,
                reading,
                plan.distrust,
            )
        except OSError as exc:
            raise source_read_error(exc) from exc
    items = _with_generated(items, prefix, survey.has_conda, survey.generated)
    if plan.dest_prefix:
        subdir = facts.subdir or _compat.native_subdir()
        retarget(items, prefix, plan.dest_prefix, subdir, plan.threads, facts.mtime)
    match_source_mtimes(items, prefix)
    if plan.fmt == "zip":
        items = copies_for_links(items)
    return Inventory(
        prefix=prefix,
        items=items,
        packages=_with_sizes(pkgs, items),
        requirements=facts.requirements,
        subdir=facts.subdir,
        site_packages=facts.site_packages,
        uncached=[pkg.name for pkg in pkgs if pkg.has_prefix_files and not pkg.cached],
        limited_by=_limited_by(items, prefix, pkgs),
        left_out=survey.unholdable,
        unrelocated=unrelocated,
        editables=survey.editables,
        missing=survey.missing,
        mtime=facts.mtime,
        sbom=sbom_facts(prefix, facts.site_packages, pkgs, items, facts.mtime),
    )


@dataclass
class _Survey:
    """The entries to ship, after the walk, the filters and the refusals."""

    paths: list[tuple[str, str]]
    generated: list[str]
    has_conda: bool
    editables: list[str]
    missing: dict[str, list[str]]
    unholdable: list[str]

    @classmethod
    def of(cls, prefix: str, pkgs: list[PackageFiles], plan: Plan) -> _Survey:
        """Walk ``prefix``; refuse what stops the bundle (a dry run only reports it)."""
        refuse_interrupted_unpack(prefix)
        editable_paths = editable_installs(prefix)
        editables = sorted(editable_paths)
        unholdable: list[str] = []
        walked = list(walk(prefix, unholdable))
        missing = missing_files(prefix, pkgs, {path for path, _ in walked})
        if editables and not (plan.ignore_editable or plan.dry_run):
            refuse_editables(editables)
        if missing and not (plan.ignore_missing or plan.dry_run):
            refuse_missing(missing)
        left_out = {path for paths in editable_paths.values() for path in paths}
        has_conda = any(pkg.name == "conda" for pkg in pkgs)
        candidates = standalone.generated_paths(has_conda)
        owned = {path for pkg in pkgs for path in pkg.record_paths if path in candidates}
        generated = [p for p in candidates if p not in owned]
        paths = sorted(
            p
            for p in walked
            if p[0] not in generated
            and not under(p[0], left_out)
            and (wanted(p[0], plan.filters) or p[1] == DIR)
        )
        del walked  # an entry per file: the environment's size should not count twice
        refuse_bad_names(prefix, paths, plan.fmt == "zip")
        return cls(paths, generated, has_conda, editables, missing, sorted(unholdable))


def _limited_by(
    items: list[Item], prefix: str, pkgs: list[PackageFiles]
) -> tuple[list[str], list[str]]:
    """What keeps target paths to this environment's path length: binaries shipped as
    installed (no pristine copy), as (packages, files not installed by conda)."""
    limiting = []
    for item in items:
        rule = item.rewrite_from or item.entry.prefix
        if rule and rule.mode == BINARY and rule.placeholder in spellings(prefix):
            limiting.append(item.entry.path)
    wanted = set(limiting)
    owners = {path: pkg.name for pkg in pkgs for path in pkg.record_paths if path in wanted}
    packages = {owners[path] for path in limiting if path in owners}
    return sorted(packages), [path for path in limiting if path not in owners]


@dataclass
class _EnvFacts:
    """What the inventory needs of conda's records once they are released."""

    requirements: dict[str, str]
    subdir: str | None
    site_packages: str | None
    mtime: int

    @classmethod
    def of(cls, records) -> _EnvFacts:
        return cls(
            _requirements(records),
            _subdir(records),
            _compat.site_packages_short_path(records),
            _fixed_mtime(records),
        )


def _with_generated(
    items: list[Item], prefix: str, has_conda: bool, generated: list[str]
) -> list[Item]:
    """Add the files that make the bundle usable without conda, in sorted place."""
    extra = [
        item
        for item in standalone.generated_items(prefix, has_conda)
        if item.entry.path in generated
    ]
    if not any(item.entry.path == "bin" for item in items):
        extra.append(Item(FileEntry("bin", DIR, mode=0o755)))
    return sorted(items + extra, key=lambda item: item.entry.path)


def _with_sizes(pkgs: list[PackageFiles], items: list[Item]) -> list[dict[str, Any]]:
    """The packages' summaries with the bytes each has in the bundle (``--info`` shows
    the largest); a file two packages record counts for the first."""
    sizes = {item.entry.path: item.entry.size for item in items if item.entry.kind == FILE}
    summaries = []
    for pkg in pkgs:
        size = sum(sizes.pop(path, 0) for path in pkg.record_paths)
        summaries.append({**pkg.summary, "size": size})
    return summaries


def _requirements(records) -> dict[str, str]:
    """The highest ``__glibc`` and ``__osx`` lower bounds that the packages declare."""
    found: dict[str, tuple[int, ...]] = {}
    for rec in records:
        for spec in (*rec.depends, *rec.constrains):
            name = spec.split()[0].split(">")[0].split("=")[0]
            if name not in ("__glibc", "__osx"):
                continue
            for bound in _BOUND.findall(spec):
                version = tuple(int(x) for x in bound.strip(".").split(".") if x)
                key = name.lstrip("_")
                found[key] = max(found.get(key, ()), version)
    return {key: ".".join(map(str, version)) for key, version in found.items()}


def _subdir(records) -> str | None:
    """The environment's platform, from its packages (an emulated env is not the host's)."""
    subdirs = Counter(rec.subdir for rec in records if rec.subdir and rec.subdir != "noarch")
    return subdirs.most_common(1)[0][0] if subdirs else None


def _fixed_mtime(records) -> int:
    """SOURCE_DATE_EPOCH, else the newest package build time: the same for the same packages."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        # a later time overflows a tar header's field or a zip's date: refuse it here
        if len(epoch) > len(str(LATEST_MTIME)) or int(epoch) > LATEST_MTIME:
            raise EnvBundleError(
                f"SOURCE_DATE_EPOCH={epoch[:20]} is later than a bundle can record "
                f"(at most {LATEST_MTIME}, the end of 2107). Set an earlier time."
            )
        return int(epoch)
    stamps = [int(rec.timestamp or 0) for rec in records]
    newest = max(stamps, default=0)
    newest = newest // 1000 if newest > 10**11 else newest
    return min(max(newest, EARLIEST_MTIME), LATEST_MTIME)
