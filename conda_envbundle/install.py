"""``conda unbundle``: check, extract beside the target, relocate, commit with one rename."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from . import _compat
from .archive import open_reader
from .checks import check_target
from .exceptions import EnvBundleError
from .extract import extract_members, read_manifest
from .manifest import DIR, FILE, MANIFEST_DIR, MANIFEST_PATH, Manifest, PrefixRule
from .records import update_records
from .relocate import relocate_files

STAGING_MARK = ".envbundle-staging-"
BACKUP_MARK = ".envbundle-replaced-"


@dataclass
class InstallResult:
    """What ``conda unbundle`` made."""

    prefix: str
    manifest: Manifest
    relocated: int


def install(
    stream: BinaryIO, target: str, *, force: bool = False, threads: int = 0
) -> InstallResult:
    """Turn the bundle read from ``stream`` into a working environment at ``target``."""
    target = os.path.abspath(target)
    reader = open_reader(stream)
    manifest, members = read_manifest(reader)
    check_target(manifest, target, force)
    with _staging(target) as staging:
        extract_members(reader, members, manifest, staging)
        relocated = relocate_files(staging, manifest.files, target, manifest.subdir, threads)
        hashes = {f.path: relocated.get(f.path, f.sha256) for f in manifest.files if f.kind == FILE}
        for path in update_records(staging, hashes, manifest.site_packages):
            hashes[path] = _scan_sha(os.path.join(staging, path))
        kept = _kept_manifest(manifest, target, hashes)
        _write_kept_manifest(staging, kept)
        _finish_metadata(staging, manifest)
        _commit(staging, target)
    _compat.forget_prefix_data(target)
    _compat.register_env(target)
    return InstallResult(target, manifest, len(relocated))


def _scan_sha(path: str) -> str:
    from .scan import scan_file

    return scan_file(path, None).sha256


@contextlib.contextmanager
def _staging(target: str):
    """A fresh directory beside ``target``; removed unless it was committed."""
    parent = os.path.dirname(target)
    created = _make_parents(parent)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(target)}{STAGING_MARK}")
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _make_parents(parent: str) -> str | None:
    """Create ``parent`` if needed; returns the topmost directory created, if any."""
    top = None
    probe = parent
    while not os.path.exists(probe):
        top = probe
        probe = os.path.dirname(probe)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise EnvBundleError(f"Cannot create {parent}: {exc.strerror}.") from exc
    return top


def _kept_manifest(manifest: Manifest, target: str, hashes: dict[str, str]) -> Manifest:
    """The manifest as true for the environment at ``target``, for the next move."""
    files = []
    for entry in manifest.files:
        entry = dataclasses.replace(entry)
        if entry.kind == FILE:
            entry.sha256 = hashes[entry.path]
        if entry.prefix:
            entry.prefix = PrefixRule(target, entry.prefix.mode)
        files.append(entry)
    return dataclasses.replace(manifest, source_prefix=target, files=files)


def _write_kept_manifest(root: str, manifest: Manifest) -> None:
    os.makedirs(os.path.join(root, MANIFEST_DIR), exist_ok=True)
    with open(os.path.join(root, MANIFEST_PATH), "wb") as fh:
        fh.write(manifest.to_bytes())


def _finish_metadata(root: str, manifest: Manifest) -> None:
    """Give files their modes and one timestamp; keep shipped .pyc files valid."""
    for entry in manifest.files:
        if entry.kind != DIR:
            full = os.path.join(root, entry.path)
            if entry.kind == FILE:
                os.chmod(full, entry.mode & 0o777)
    _match_sources_to_pyc(root, manifest)
    for entry in reversed(manifest.files):
        if entry.kind == DIR:
            os.chmod(os.path.join(root, entry.path), entry.mode & 0o777 | 0o700)


def _match_sources_to_pyc(root: str, manifest: Manifest) -> None:
    """Set each ``.py`` file's mtime to the one its timestamp-based ``.pyc`` expects.

    Bundles carry one normalised mtime for reproducibility; without this, every shipped
    ``.pyc`` would look stale and python would recompile on import.
    """
    for entry in manifest.files:
        directory, _, name = entry.path.rpartition("/")
        if not (name.endswith(".pyc") and directory.endswith("__pycache__")):
            continue
        source = os.path.join(root, os.path.dirname(directory), name.split(".", 1)[0] + ".py")
        with open(os.path.join(root, entry.path), "rb") as fh:
            header = fh.read(16)
        if len(header) < 16 or not os.path.isfile(source):
            continue
        flags, mtime, size = struct.unpack("<III", header[4:16])
        if flags == 0 and os.path.getsize(source) & 0xFFFFFFFF == size:
            os.utime(source, (mtime, mtime), follow_symlinks=False)


def _commit(staging: str, target: str) -> None:
    """Put the complete environment at ``target`` with a rename; swap out an old one."""
    backup = None
    if os.path.isdir(target) and os.listdir(target):
        backup = tempfile.mkdtemp(
            dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}{BACKUP_MARK}"
        )
        os.rename(target, os.path.join(backup, "env"))
    try:
        os.rename(staging, target)
    except OSError:
        if backup:
            os.rename(os.path.join(backup, "env"), target)
            os.rmdir(backup)
        raise
    if backup:
        shutil.rmtree(backup, ignore_errors=True)
