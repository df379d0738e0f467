"""``conda unbundle``: check, extract beside the target, relocate, commit in one step."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .. import _compat, progress
from ..archive.members import Member, Reader
from ..manifest import DIR, FILE, MANIFEST_PATH, SYMLINK, Manifest, PrefixRule
from ..relocation import bytecode, rules
from ..relocation.prefix import relocate_files
from ..relocation.records import update_records
from .commit import commit, parents_of, remove_leftovers, staging_dir
from .extract import extract_members, read_manifest
from .lock import target_lock
from .preflight import check_existing, check_target


@dataclass
class InstallResult:
    """What ``conda unbundle`` made."""

    prefix: str
    manifest: Manifest
    relocated: int


def install(
    reader: Reader,
    target: str,
    *,
    force: bool = False,
    threads: int = 0,
    show_progress: bool = False,
    accept: Callable[[Manifest], None] | None = None,
    head: tuple[Manifest, Iterator[Member]] | None = None,
) -> InstallResult:
    """Turn the bundle that ``reader`` reads (see :mod:`.archive`) into an env at ``target``.

    Every pre-flight check runs before anything is written; the environment is built
    beside the target under the target's lock and put in place by one atomic step, and
    registered only then. On any error the target is as it was. ``accept`` may refuse
    the manifest before anything is written (a signed one must be the one verified).
    ``head`` is the manifest and members when the caller has read the manifest already.
    """
    target = os.path.abspath(target)
    manifest, members = head or read_manifest(reader)
    if accept is not None:
        accept(manifest)
    check_target(manifest, target, force)
    with parents_of(target), target_lock(target):
        remove_leftovers(target)
        check_existing(target, force)  # again: another run may have finished meanwhile
        with staging_dir(target) as staging:
            relocated = _build(reader, members, manifest, staging, target, threads, show_progress)
            commit(staging, target)
            _compat.forget_prefix_data(target)
            _compat.register_env(target)
    return InstallResult(target, manifest, relocated)


def _build(
    reader: Reader,
    members: Iterator[Member],
    manifest: Manifest,
    staging: str,
    target: str,
    threads: int,
    show_progress: bool,
) -> int:
    """The complete environment for ``target`` in ``staging``; returns how many relocated."""
    with progress.step("Extracting", manifest.total_size, show_progress) as extracting:
        extract_members(reader, members, manifest, staging, extracting)
    return finish(staging, target, manifest, threads, show_progress)


def finish(staging: str, target: str, manifest: Manifest, threads: int, show_progress: bool) -> int:
    """Make the extracted environment in ``staging`` true for ``target``: relocate, modes,
    bytecode, records, the kept manifest; returns how many files were relocated."""
    rules = sum(1 for f in manifest.files if f.prefix)
    with progress.step("Relocating", rules, show_progress, "files") as relocating:
        relocated = relocate_files(
            staging, manifest.files, target, manifest.subdir, threads, relocating
        )
    _apply_file_modes(staging, manifest)
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
    the next move."""
    files = []
    for entry in manifest.files:
        entry = dataclasses.replace(entry)
        if entry.kind == FILE and entry.sha256 != hashes[entry.path]:
            entry.sha256 = hashes[entry.path]
            entry.size = os.path.getsize(os.path.join(root, entry.path))
        if entry.prefix:
            entry.prefix = PrefixRule(target, entry.prefix.mode)
        files.append(entry)
    return dataclasses.replace(manifest, files=files)


def _write_kept_manifest(root: str, manifest: Manifest) -> None:
    os.makedirs(os.path.join(root, rules.MANIFEST_DIR), exist_ok=True)
    with open(os.path.join(root, MANIFEST_PATH), "wb") as fh:
        fh.writelines(manifest.to_stream()[1])


def _apply_file_modes(root: str, manifest: Manifest) -> None:
    for entry in manifest.files:
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
    for source, pyc in rules.pairs(files, links):
        source_path = os.path.join(root, rules.resolve(source, links))
        if not os.path.isfile(source_path):
            continue
        with open(os.path.join(root, pyc), "rb") as fh:
            mtime = rules.source_mtime(fh.read(rules.PYC_HEADER_SIZE), os.path.getsize(source_path))
        if mtime is not None:
            os.utime(source_path, (mtime, mtime), follow_symlinks=False)
