"""Where each entry's bytes come from, and which prefix rule it gets.

A file conda installed unchanged is decided from its ``lstat`` and conda's record;
prefix files come from their pristine package-cache copy when it is intact; every other
file is read once, hashed, and searched for the environment's path.
"""

from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor

from .. import progress, scan
from ..exceptions import UnsafeLinkError
from ..manifest import BINARY, DIR, FILE, SYMLINK, TEXT, FileEntry, PrefixRule
from ..paths import link_stays_inside
from ..relocation.prefix import worker_count
from ..relocation.rules import encode_record, is_record_path, refresh_record
from .items import Item
from .launchers import relative_launchers
from .packages import PackageFiles
from .refusals import bad_links_message
from .walk import link_target, spellings

CACHE_PATH_KEYS = ("extracted_package_dir", "package_tarball_full_path")


def classify(
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
    relative_launchers(found, prefix)
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
            target = link_target(self.prefix, relpath, os.readlink(full))
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
        """A symlink that changed after :func:`refuse_bad_names` looked at it."""
        if self.bad_links:
            raise UnsafeLinkError(bad_links_message(sorted(self.bad_links)))


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
