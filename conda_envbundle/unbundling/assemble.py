"""The complete environment for a target, built in a staging directory beside it.

Shared by a full unbundle and a delta: extract and verify what the bundle ships, place
what a delta takes from the environment it replaces, relocate for the target, compile
again the pycs of relocated sources, keep conda-meta records and the kept manifest true.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .. import baseline, progress
from ..archive.members import Member, Reader
from ..manifest import DIR, FILE, MANIFEST_PATH, SYMLINK, FileEntry, Manifest, PrefixRule
from ..relocation import bytecode, rules
from ..relocation.prefix import relocate_files
from ..relocation.records import update_records
from .extract import extract_members

# Places the files a delta takes from the environment it replaces in the new one;
# returns the sha256 of those with a prefix rule, as relocated there, by path.
Carry = Callable[[str], dict[str, str]]


@dataclass
class InstallResult:
    """What ``conda unbundle`` made."""

    prefix: str
    manifest: Manifest
    relocated: int
    # a delta: the files taken from the environment it replaced, and where that
    # environment was kept (None: removed)
    reused: int = 0
    previous: str | None = None


def build(
    reader: Reader,
    members: Iterator[Member],
    manifest: Manifest,
    staging: str,
    target: str,
    threads: int,
    show_progress: bool,
    carry: Carry | None = None,
) -> int:
    """The complete environment for ``target`` in ``staging``; returns how many relocated.

    ``carry`` places the files a delta takes from the environment it replaces.
    """
    with progress.step("Extracting", manifest.shipped_size, show_progress) as extracting:
        extract_members(reader, members, manifest, staging, extracting)
    carried = carry(staging) if carry else {}
    return finish(staging, target, manifest, threads, show_progress, carried)


def finish(
    staging: str,
    target: str,
    manifest: Manifest,
    threads: int,
    show_progress: bool,
    carried: dict[str, str] | None = None,
) -> int:
    """Make the environment extracted in ``staging`` true for ``target``: relocate, modes,
    bytecode, records, the kept manifest; returns how many files were relocated.

    ``carried``: the sha256 of the files with a prefix rule a delta took from the
    environment it replaces, relocated there already.
    """
    shipped = [f for f in manifest.files if not f.reuse]
    rules = sum(1 for f in shipped if f.prefix)
    with progress.step("Relocating", rules, show_progress, "files") as relocating:
        relocated = relocate_files(staging, shipped, target, manifest.subdir, threads, relocating)
    relocated.update(carried or {})
    _apply_file_modes(staging, shipped)
    recompiled = _recompile_relocated(staging, target, manifest, relocated)
    hashes = {
        f.path: recompiled.get(f.path) or relocated.get(f.path, f.file_sha256)
        for f in manifest.files
        if f.kind == FILE
    }
    for path in update_records(staging, hashes, manifest.site_packages, target):
        hashes[path] = _scan_sha(os.path.join(staging, path))
    kept = _kept_manifest(manifest, staging, target, hashes)
    _write_kept_manifest(staging, kept)
    _finish_metadata(staging, manifest)
    return len(relocated)


def _recompile_relocated(
    staging: str, target: str, manifest: Manifest, relocated: dict[str, str]
) -> dict[str, str]:
    """Compile again the pycs of the ``.py`` files relocation rewrote; new sha256 by path.

    Their content changed, so their shipped pycs are stale; python would otherwise
    compile them on first import and write inside the environment.
    """
    files = [f.path for f in manifest.files if f.kind == FILE]
    links = {f.path: f.link_target for f in manifest.files if f.kind == SYMLINK}
    jobs = [
        (src, pyc)
        for src, pyc in rules.pairs(files, links)
        if rules.resolve(src, links) in relocated
    ]
    python = bytecode.environment_python(staging)
    if not jobs or python is None:
        return {}
    bytecode.recompile(python, staging, target, jobs)
    return {pyc: _scan_sha(os.path.join(staging, pyc)) for _, pyc in jobs}


def _scan_sha(path: str) -> str:
    from ..scan import scan_file

    return scan_file(path, None).sha256


def _kept_manifest(manifest: Manifest, root: str, target: str, hashes: dict[str, str]) -> Manifest:
    """The manifest as true for the environment built in ``root`` for ``target``, for
    the next move; its ``origin`` rebuilds the full manifest it came from (lineage.py)."""
    files = []
    shipped: dict[str, dict] = {}
    for entry in manifest.files:
        kept = dataclasses.replace(entry, reuse=False)
        if entry.kind == FILE and entry.sha256 != hashes[entry.path]:
            kept.sha256 = hashes[entry.path]
            kept.size = os.path.getsize(os.path.join(root, entry.path))
        if kept.sha256 != entry.sha256 or entry.prefix:
            rules.remember_shipped(shipped, entry.to_json(), kept.sha256, kept.size, target)
        if entry.prefix:
            kept.prefix = PrefixRule(target, entry.prefix.mode)
        files.append(kept)
    origin = {"manifest": baseline.identity(manifest), "shipped": shipped} if shipped else None
    return dataclasses.replace(manifest, files=files, delta=None, origin=origin, sealed=None)


def _write_kept_manifest(root: str, manifest: Manifest) -> None:
    os.makedirs(os.path.join(root, rules.MANIFEST_DIR), exist_ok=True)
    with open(os.path.join(root, MANIFEST_PATH), "wb") as fh:
        fh.writelines(manifest.to_stream()[1])


def _apply_file_modes(root: str, files: list[FileEntry]) -> None:
    for entry in files:
        if entry.kind == FILE:
            os.chmod(os.path.join(root, entry.path), entry.mode & 0o777)


def _finish_metadata(root: str, manifest: Manifest) -> None:
    """Keep shipped .pyc files valid; give directories their modes last."""
    _match_sources_to_pyc(root, manifest)
    for entry in reversed(manifest.files):
        if entry.kind == DIR:
            os.chmod(os.path.join(root, entry.path), entry.mode & 0o777 | 0o700)


def _match_sources_to_pyc(root: str, manifest: Manifest) -> None:
    """Set each ``.py`` file's mtime to the one its timestamp-based ``.pyc`` expects.

    Extraction gives every file the time it was written; without this, every shipped
    ``.pyc`` would look stale and python would compile again on import. A symlinked
    source is checked by python through the file it points to.
    """
    files = [entry.path for entry in manifest.files if entry.kind == FILE]
    links = {f.path: f.link_target for f in manifest.files if f.kind == SYMLINK}
    reused = {entry.path for entry in manifest.files if entry.reuse}
    for source, pyc in rules.pairs(files, links):
        source = rules.resolve(source, links)
        source_path = os.path.join(root, source)
        if source in reused or not os.path.isfile(source_path):
            continue  # a delta takes a source only with its pycs: its mtime is right
        with open(os.path.join(root, pyc), "rb") as fh:
            mtime = rules.source_mtime(fh.read(rules.PYC_HEADER_SIZE), os.path.getsize(source_path))
        if mtime is not None:
            os.utime(source_path, (mtime, mtime), follow_symlinks=False)
