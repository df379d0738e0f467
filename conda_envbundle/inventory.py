"""An installed environment, read through conda's PrefixData, as a list of entries to ship.

For each file the inventory decides where its bytes come from (the pristine copy in the
package cache, or the installed file) and which prefix must be rewritten at unbundle.
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
import stat
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import _compat, bytecode, progress, scan, standalone
from .archive.members import EARLIEST_MTIME
from .exceptions import (
    EditableInstallError,
    EnvBundleError,
    MissingFilesError,
    UnsafeLinkError,
    UnsupportedPathError,
    source_read_error,
)
from .items import Item
from .manifest import (
    BINARY,
    DIR,
    FILE,
    MANIFEST_DIR,
    SYMLINK,
    TEXT,
    FileEntry,
    PrefixRule,
    link_stays_inside,
    path_problem,
    zip_name_problem,
)
from .packages import PackageFiles, package_files
from .records import encode_record, is_record_path, refresh_record
from .relocate import relocated_bytes, worker_count

SKIPPED_TOP_LEVEL = {"pkgs", "envs", "conda-bld", ".conda_lock"}
CACHE_PATH_KEYS = ("extracted_package_dir", "package_tarball_full_path")
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

    limited_by: tuple[list[str], list[str]] = ([], [])

    @property
    def files(self) -> list[FileEntry]:
        return [item.entry for item in self.items]


@dataclass
class Options:
    """What the user asked of the inventory."""

    filters: list[tuple[str, str]] = field(default_factory=list)
    ignore_editable: bool = False
    ignore_missing: bool = False
    threads: int = 0
    dest_prefix: str | None = None
    show_progress: bool = False
    trust_records: bool = True
    distrust: frozenset[str] = frozenset()
    # the bundle is a zip: names must also be what zip carries
    zip_names: bool = False


def take_inventory(prefix: str, options: Options) -> Inventory:
    """Read ``prefix`` (not modifying it) and decide what to ship and how to relocate it."""
    records = sorted(_compat.load_records(prefix), key=lambda rec: rec.name)
    pkgs = package_files(prefix, records)
    facts = _EnvFacts.of(records)
    # conda's records are large (an object per file) and cached per process: let them go.
    del records
    _compat.forget_prefix_data(prefix)
    editable_paths = _editable_installs(prefix)
    editables = sorted(editable_paths)
    unholdable: list[str] = []
    walked = list(_walk(prefix, unholdable))
    missing = _missing_files(prefix, pkgs, {path for path, _ in walked})
    if editables and not options.ignore_editable:
        _refuse_editables(editables)
    left_out = {path for paths in editable_paths.values() for path in paths}
    if missing and not options.ignore_missing:
        _refuse_missing(missing)
    has_conda = any(pkg.name == "conda" for pkg in pkgs)
    candidates = standalone.generated_paths(has_conda)
    owned = {path for pkg in pkgs for path in pkg.record_paths if path in candidates}
    generated = [p for p in candidates if p not in owned]
    paths = sorted(
        p
        for p in walked
        if p[0] not in generated
        and not _under(p[0], left_out)
        and (wanted(p[0], options.filters) or p[1] == DIR)
    )
    del walked  # an entry per file: the environment's size should not count twice
    _refuse_bad_names(prefix, paths, options.zip_names)
    with progress.step("Reading", len(paths), options.show_progress, "entries") as reading:
        try:
            items, unrelocated = _classify(
                prefix,
                paths,
                pkgs,
                options.threads,
                facts.site_packages,
                reading,
                options.distrust if options.trust_records else None,
            )
        except OSError as exc:
            raise source_read_error(exc) from exc
    items = _with_generated(items, prefix, has_conda, generated)
    if options.dest_prefix:
        relocated = _retarget(
            items, prefix, options.dest_prefix, _compat.native_subdir(), options.threads
        )
        bytecode.recompile_relocated(items, relocated, prefix, options.dest_prefix, facts.mtime)
    bytecode.match_source_mtimes(items, prefix)
    return Inventory(
        prefix=prefix,
        items=items,
        packages=_with_sizes(pkgs, items),
        requirements=facts.requirements,
        subdir=facts.subdir,
        site_packages=facts.site_packages,
        uncached=[pkg.name for pkg in pkgs if pkg.has_prefix_files and not pkg.cached],
        limited_by=_limited_by(items, prefix, pkgs),
        left_out=sorted(unholdable),
        unrelocated=unrelocated,
        editables=editables,
        missing=missing,
        mtime=facts.mtime,
    )


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


def _retarget(
    items: list[Item], prefix: str, dest: str, subdir: str, threads: int
) -> dict[str, bytes]:
    """Relocate every rule to ``dest`` now (``--dest-prefix``); the bytes change as shipped.

    Returns the new bytes of the ``.py`` files rewritten (their pycs must follow).
    """

    def one(ruled: tuple[Item, PrefixRule]) -> tuple[str, bytes] | None:
        item, rule = ruled
        content = item.content
        if content is not None:
            data = relocated_bytes(content, rule, dest, subdir, item.entry.path)
            item.content = data
        else:
            with open(item.source_file(prefix), "rb") as fh:
                data = relocated_bytes(fh.read(), rule, dest, subdir, item.entry.path)
            item.rewrite_from = rule
        facts = scan.scan_bytes([data], None)
        item.entry.size, item.entry.sha256 = facts.size, facts.sha256
        item.entry.prefix = PrefixRule(dest, rule.mode)
        return (item.entry.path, data) if item.entry.path.endswith(".py") else None

    ruled = [(item, item.entry.prefix) for item in items if item.entry.prefix]
    if bytecode.python_unsafe(dest) and any(item.entry.path.endswith(".py") for item, _ in ruled):
        raise EnvBundleError(
            f"This environment's python sources hold its path in string literals, and "
            f"{dest!r} would break them (a quote, backslash or control character). "
            "Choose another --dest-prefix."
        )
    with ThreadPoolExecutor(max_workers=worker_count(threads)) as pool:
        return dict(found for found in pool.map(one, ruled) if found)


def _under(relpath: str, roots: set[str]) -> bool:
    """True when ``relpath`` is one of ``roots`` or inside one of them."""
    while relpath:
        if relpath in roots:
            return True
        relpath = posixpath.dirname(relpath)
    return False


def _with_sizes(pkgs: list[PackageFiles], items: list[Item]) -> list[dict[str, Any]]:
    """The packages' summaries with the bytes each has in the bundle (``--info`` shows
    the largest); a file two packages record counts for the first."""
    sizes = {item.entry.path: item.entry.size for item in items if item.entry.kind == FILE}
    summaries = []
    for pkg in pkgs:
        size = sum(sizes.pop(path, 0) for path in pkg.record_paths)
        summaries.append({**pkg.summary, "size": size})
    return summaries


def wanted(relpath: str, filters: list[tuple[str, str]]) -> bool:
    """Whether ``relpath`` is kept by ``filters`` (the last matching one decides)."""
    keep = True
    for action, pattern in filters:
        if fnmatch.fnmatchcase(relpath, pattern):
            keep = action == "include"
    return keep


def _walk(prefix: str, left_out: list[str]) -> Iterable[tuple[str, str]]:
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


def _classify(
    prefix: str,
    paths: list[tuple[str, str]],
    pkgs: list[PackageFiles],
    threads: int,
    site_packages: str | None,
    reading: progress.Progress = progress.SILENT,
    distrust: frozenset[str] | None = frozenset(),
) -> tuple[list[Item], list[dict[str, str]]]:
    """Decide every entry; records last, so they can describe the bytes actually shipped.

    Most entries are decided from their ``lstat`` and conda's records, in this thread;
    only files whose bytes must be read now go to the pool (threads contending for the
    GIL on cheap work are slower than one).
    """
    classifier = _Classifier(prefix, pkgs, distrust)
    is_record = [kind == FILE and is_record_path(path) for path, kind in paths]
    found = [
        None if record else classifier.quick(p) for p, record in zip(paths, is_record, strict=True)
    ]
    to_read = [i for i, item in enumerate(found) if item is None and not is_record[i]]
    reading.advance(len(paths) - len(to_read))

    def batch(indexes: list[int]) -> list[Item]:
        done = [classifier.read(paths[index][0]) for index in indexes]
        reading.advance(len(indexes))
        return done

    # Batches, not one task per file: a future per file costs more than most files.
    chunks = [to_read[i : i + _BATCH] for i in range(0, len(to_read), _BATCH)]
    with ThreadPoolExecutor(max_workers=worker_count(threads)) as pool:
        for indexes, done in zip(chunks, pool.map(batch, chunks), strict=True):
            for index, item in zip(indexes, done, strict=True):
                found[index] = item
    hashes = {i.entry.path: i.entry.file_sha256 for i in found if i and i.entry.kind == FILE}
    for index, record in enumerate(is_record):
        if record:
            found[index] = classifier.record(paths[index][0], hashes, site_packages)
    classifier.refuse_bad_links()
    items = [item for item in found if item is not None]
    return items, sorted(classifier.unrelocated, key=lambda u: u["path"])


_BATCH = 256


class _Classifier:
    """Where each entry's bytes come from and which prefix rule it gets."""

    def __init__(
        self, prefix: str, pkgs: list[PackageFiles], distrust: frozenset[str] | None
    ) -> None:
        self.prefix = prefix
        self.needles = tuple(p.encode() for p in spellings(prefix))
        self.owners = {path: pkg for pkg in pkgs for path in pkg.record_paths}
        # None: trust no record (every file is read in full before writing)
        self.distrust = distrust
        self.bad_links: list[str] = []
        self.unrelocated: list[dict[str, str]] = []

    def quick(self, path_kind: tuple[str, str]) -> Item | None:
        """The entry, when it is decided without reading its bytes now; else None."""
        relpath, kind = path_kind
        full = os.path.join(self.prefix, relpath)
        st = os.lstat(full)
        mode = stat.S_IMODE(st.st_mode) & 0o1777
        if kind == DIR:
            return Item(FileEntry(relpath, DIR, mode=mode))
        if kind == SYMLINK:
            target = _link_target(self.prefix, relpath, os.readlink(full))
            if target is None or not link_stays_inside(relpath, target):
                self.bad_links.append(relpath)
            return Item(FileEntry(relpath, SYMLINK, target=target or "."))
        pkg = self.owners.get(relpath)
        if pkg is not None and relpath in pkg.pristine:
            return None
        return self._as_recorded(relpath, mode, st)

    def read(self, relpath: str) -> Item:
        """A file decided by reading it: its pristine copy, else the installed file."""
        full = os.path.join(self.prefix, relpath)
        mode = stat.S_IMODE(os.lstat(full).st_mode) & 0o1777
        return self._pristine(relpath, mode) or self._installed(relpath, full, mode)

    def _as_recorded(self, relpath: str, mode: int, st: os.stat_result) -> Item | None:
        """A file that conda installed unchanged from its package, by conda's own record.

        Its bytes are read once, while they are written into the bundle, and checked
        against the record there; a package's own file cannot hold this env's path.
        """
        pkg = self.owners.get(relpath)
        if pkg is None or self.distrust is None or relpath in self.distrust:
            return None
        known = pkg.recorded.get(relpath)
        if known is None or known[1] != st.st_size:
            return None
        entry = FileEntry(relpath, FILE, mode, st.st_size, known[0])
        return Item(entry, signature=scan.signature(st), verify=True)

    def _pristine(self, relpath: str, mode: int) -> Item | None:
        """The package-cache copy of a prefix file, when it is there and intact."""
        pkg = self.owners.get(relpath)
        pristine = pkg.pristine.get(relpath) if pkg else None
        if pristine is None:
            return None
        try:
            facts = scan.scan_file(pristine.source, None)
        except OSError:  # the cache changed under us (conda clean, say): use the env's file
            return None
        if facts.sha256 != pristine.sha256:
            return None
        rule = PrefixRule(pristine.placeholder, pristine.mode)
        entry = FileEntry(relpath, FILE, mode, facts.size, facts.sha256, prefix=rule)
        return Item(entry, source=pristine.source, signature=facts.signature)

    def _installed(self, relpath: str, full: str, mode: int) -> Item:
        """The file as installed, with a rule for wherever the source prefix occurs."""
        facts = scan.scan_file(full, self.needles)
        entry = FileEntry(relpath, FILE, mode, facts.size, facts.sha256)
        if facts.needle is not None:
            pkg = self.owners.get(relpath)
            declared = pkg.prefix_modes.get(relpath) if pkg else None
            entry.prefix, reason = _installed_rule(full, relpath, facts.needle, facts, declared)
            if len(facts.found) > 1 and entry.prefix is not None:
                reason = "it holds the environment's path both as given and as resolved"
            if reason:
                self.unrelocated.append({"path": relpath, "reason": reason})
        return Item(entry, signature=facts.signature)

    def record(self, relpath: str, hashes: dict[str, str], site_packages: str | None) -> Item:
        """A conda-meta record true for the bundle: no package-cache paths, shipped hashes."""
        full = os.path.join(self.prefix, relpath)
        with open(full, "rb") as fh:
            data = json.load(fh)
        for key in CACHE_PATH_KEYS:
            if key in data:
                data[key] = ""
        if isinstance(data.get("link"), dict):
            data["link"]["source"] = ""
        refresh_record(data, hashes, site_packages)
        content = encode_record(data)
        facts = scan.scan_bytes([content], self.needles)
        mode = stat.S_IMODE(os.lstat(full).st_mode) & 0o1777
        entry = FileEntry(relpath, FILE, mode, facts.size, facts.sha256)
        if facts.needle is not None:
            entry.prefix = PrefixRule(facts.needle.decode(), TEXT)
        return Item.in_memory(entry, content)

    def refuse_bad_links(self) -> None:
        """A symlink that changed after :func:`_refuse_bad_names` looked at it."""
        if self.bad_links:
            raise UnsafeLinkError(_bad_links_message(sorted(self.bad_links)))


def _installed_rule(
    full: str, relpath: str, needle: bytes, facts: scan.FileFacts, declared: str | None
) -> tuple[PrefixRule | None, str | None]:
    """The rule for an installed file that contains the source prefix, or why there is none."""
    prefix = needle.decode()
    if relpath.endswith((".pyc", ".pyo")):
        return None, "compiled Python: the old path only shows in tracebacks"
    if declared == TEXT or (declared is None and not facts.has_nul):
        return PrefixRule(prefix, TEXT), None
    if scan.in_c_strings(full, needle, facts.offsets):
        return PrefixRule(prefix, BINARY), None
    return None, "binary file whose prefix is not in NUL-terminated strings"


def spellings(prefix: str) -> list[str]:
    """The environment's path as given and, when a symlink leads to it, as resolved:
    its files may hold either, depending on the path conda installed them through."""
    real = os.path.realpath(prefix)
    return [prefix] if real == prefix else [prefix, real]


def _link_target(prefix: str, relpath: str, target: str) -> str | None:
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


def _refuse_bad_names(prefix: str, paths: list[tuple[str, str]], zip_names: bool) -> None:
    """Refuse, all in one message, the names conda unbundle would refuse (the rule both
    ends share), those a zip cannot carry when the bundle is a zip, and symlinks that
    point outside the environment."""
    bad = []
    for path, _ in paths:
        problem = path_problem(path)
        if problem is None and zip_names:
            problem = zip_name_problem(path)
        if problem:
            bad.append((path, problem))
    links = _links_outside(prefix, paths)
    if not bad:
        if links:
            raise UnsafeLinkError(_bad_links_message(links))
        return
    shown = "; ".join(f"{path!r}: {problem}" for path, problem in bad[:5])
    message = (
        f"{len(bad)} file name(s) cannot travel in {'a zip' if zip_names else 'a'} bundle "
        f"({shown}{' ...' if len(bad) > 5 else ''}). Rename them, or leave them out with "
        f"--exclude{'' if not zip_names else ' (or choose a tar format)'}."
    )
    raise UnsupportedPathError(message + (f" Also: {_bad_links_message(links)}" if links else ""))


def _links_outside(prefix: str, paths: list[tuple[str, str]]) -> list[str]:
    """The symlinks conda unbundle would refuse: they lead outside the environment."""
    outside = []
    for path, kind in paths:
        if kind != SYMLINK:
            continue
        try:
            target = _link_target(prefix, path, os.readlink(os.path.join(prefix, path)))
        except OSError as exc:
            raise source_read_error(exc) from exc
        if target is None or not link_stays_inside(path, target):
            outside.append(path)
    return outside


def _bad_links_message(links: list[str]) -> str:
    shown = ", ".join(links[:5]) + (" ..." if len(links) > 5 else "")
    return (
        f"{len(links)} symlink(s) point outside the environment (or climb with '..' after "
        f"a directory name, which conda unbundle refuses): {shown}. Replace them with "
        "files, or leave them out with --exclude."
    )


def _refuse_editables(found: list[str]) -> None:
    raise EditableInstallError(editables_message(found))


def editables_message(found: list[str]) -> str:
    """Why editable installs stop a bundle, and what to do (a dry run reports it too)."""
    return (
        f"Editable install(s) cannot be bundled: {', '.join(found)}. Install them "
        "normally (pip install <path>), or pass --ignore-editable to leave them behind."
    )


def _editable_installs(prefix: str) -> dict[str, list[str]]:
    """Editable installs by name, with the paths (relative to ``prefix``) that make them up."""
    found: dict[str, list[str]] = {}
    for site in _site_packages_dirs(prefix):
        rel_site = os.path.relpath(site, prefix).replace(os.sep, "/")
        for name in sorted(os.listdir(site)):
            full = os.path.join(site, name)
            if name.endswith(".egg-link"):
                found[name[: -len(".egg-link")]] = [f"{rel_site}/{name}"]
            elif name.endswith(".dist-info") and _is_editable_dist(full):
                stem = name[: -len(".dist-info")]
                found[stem.rsplit("-", 1)[0]] = _editable_paths(prefix, site, rel_site, stem)
    return found


def _editable_paths(prefix: str, site: str, rel_site: str, stem: str) -> list[str]:
    """An editable dist-info, its ``__editable__`` hooks, and what its RECORD lists."""
    hook_stems = (f"__editable__.{stem}", "__editable___" + re.sub(r"[-.]", "_", stem))
    paths = [f"{rel_site}/{stem}.dist-info"]
    paths += [f"{rel_site}/{n}" for n in os.listdir(site) if n.startswith(hook_stems)]
    try:
        with open(os.path.join(site, f"{stem}.dist-info", "RECORD"), encoding="utf-8") as fh:
            listed = [line.split(",")[0] for line in fh if line.strip()]
    except OSError:
        listed = []
    for entry in listed:
        rel = os.path.relpath(os.path.normpath(os.path.join(site, entry)), prefix)
        if not rel.startswith(".."):
            paths.append(rel.replace(os.sep, "/"))
    return sorted(set(paths))


def _is_editable_dist(dist_info: str) -> bool:
    try:
        with open(os.path.join(dist_info, "direct_url.json"), "rb") as fh:
            return bool(json.load(fh).get("dir_info", {}).get("editable"))
    except (OSError, ValueError, AttributeError):
        return False


def _site_packages_dirs(prefix: str) -> Iterable[str]:
    lib = os.path.join(prefix, "lib")
    if os.path.isdir(lib):
        for name in sorted(os.listdir(lib)):
            site = os.path.join(lib, name, "site-packages")
            if name.startswith("python") and os.path.isdir(site):
                yield site
    windows_site = os.path.join(prefix, "Lib", "site-packages")
    if os.path.isdir(windows_site):
        yield windows_site


def _missing_files(prefix: str, pkgs: list[PackageFiles], walked: set[str]) -> dict[str, list[str]]:
    """Files that conda records as installed but that are not there, by package.

    ``walked`` holds what the walk found; a path it did not reach may still be there
    through a symlinked directory.
    """
    missing = {
        pkg.name: [
            p
            for p in pkg.record_paths
            if p not in walked and not os.path.lexists(os.path.join(prefix, p))
        ]
        for pkg in pkgs
    }
    return {name: paths for name, paths in sorted(missing.items()) if paths}


def _refuse_missing(missing: dict[str, list[str]]) -> None:
    raise MissingFilesError(missing_message(missing))


def missing_message(missing: dict[str, list[str]]) -> str:
    """Why missing files stop a bundle, and what to do (a dry run reports it too)."""
    detail = "; ".join(
        f"{name}: {', '.join(paths[:3])}" + (" ..." if len(paths) > 3 else "")
        for name, paths in sorted(missing.items())
    )
    return (
        f"Files recorded by conda are missing from the environment ({detail}). Reinstall "
        "those packages, or pass --ignore-missing to bundle without them."
    )


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
        return int(epoch)
    stamps = [int(rec.timestamp or 0) for rec in records]
    newest = max(stamps, default=0)
    newest = newest // 1000 if newest > 10**11 else newest
    return max(newest, EARLIEST_MTIME)
