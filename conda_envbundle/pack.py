"""``conda bundle``'s second half: an inventory and its manifest, streamed into one output.

The output is written to a temporary sibling and renamed into place at the end, so a
failure never leaves a partial bundle; standard output (``-``) is streamed as it goes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from . import progress
from .archive import installer, open_writer
from .archive.tar import SizeChangedError
from .exceptions import FileChangedError
from .inventory import Inventory
from .manifest import DIR, MANIFEST_PATH, SYMLINK, Manifest
from .readahead import ReadAhead, changed

BLOCK_SIZE = 1 << 20


@dataclass
class WriteResult:
    """What was written: the bundle's size and sha256 (None for a directory bundle)."""

    size: int
    sha256: str | None


class _HashingFile:
    """Count and hash the bytes written through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.size

    def seekable(self) -> bool:
        return False


@dataclass
class WriteOptions:
    """How to encode the bundle (``sh_codec`` and ``dest_prefix`` matter to ``sh`` only)."""

    fmt: str
    level: int | None
    threads: int
    sh_codec: str = "gzip"
    dest_prefix: str | None = None
    show_progress: bool = False


def write_bundle(
    inventory: Inventory, manifest: Manifest, output: str, options: WriteOptions
) -> WriteResult:
    """Write the bundle to ``output`` (``-`` for standard output)."""
    if output == "-":
        out = _HashingFile(sys.stdout.buffer)
        _stream(inventory, manifest, out, options)
        out.flush()
        return WriteResult(out.size, out.digest.hexdigest())
    directory, name = os.path.split(os.path.abspath(output))
    if options.fmt == "dir":
        return _write_directory(inventory, manifest, output, directory, name, options)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w+b") as raw:
            if options.fmt == "sh":
                result = _write_installer(inventory, manifest, raw, options)
            else:
                out = _HashingFile(raw)
                _stream(inventory, manifest, out, options)
                result = WriteResult(out.size, out.digest.hexdigest())
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temp, (0o777 if options.fmt == "sh" else 0o666) & ~_umask())
        _replace(temp, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return result


def _write_installer(
    inventory: Inventory, manifest: Manifest, raw: BinaryIO, options: WriteOptions
) -> WriteResult:
    """The shell header, then the payload, then the payload's sha256 patched into the header."""
    names = {f.path for f in manifest.files}
    listing = "\n".join(
        f"{p['name']} {p['version']} {p['build']} {p['channel']}" for p in manifest.packages
    )
    head = installer.header(
        name=manifest.source_name,
        subdir=manifest.subdir,
        glibc=manifest.requirements.get("glibc", ""),
        limit=manifest.prefix_limit,
        size=manifest.total_size,
        has_python=bool({"bin/python3", "bin/python"} & names),
        codec=options.sh_codec,
        dest=options.dest_prefix or "",
        listing=f"{manifest.source_name}: {len(manifest.packages)} packages, "
        f"{len(manifest.files)} entries, {manifest.total_size} bytes\n{listing}",
    )
    raw.write(head)
    payload = _HashingFile(raw)
    _stream(
        inventory,
        manifest,
        payload,
        dataclasses.replace(options, fmt=installer.CODECS[options.sh_codec]),
    )
    installer.patch_sha256(raw, 0, head, payload.digest.hexdigest())
    raw.flush()
    raw.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: raw.read(BLOCK_SIZE), b""):
        digest.update(block)
    return WriteResult(len(head) + payload.size, digest.hexdigest())


def _write_directory(inventory, manifest, output, directory, name, options) -> WriteResult:
    temp = tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".part")
    try:
        _stream(inventory, manifest, temp, options)
        os.chmod(temp, 0o777 & ~_umask())
        _replace(temp, output)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return WriteResult(manifest.total_size, None)


def _replace(temp: str, output: str) -> None:
    """Move the finished bundle into place, replacing what --force allowed us to replace."""
    if os.path.isdir(output) and not os.path.islink(output):
        shutil.rmtree(output)
    os.replace(temp, output)


def _stream(inventory: Inventory, manifest: Manifest, out, options: WriteOptions) -> None:
    with (
        progress.step("Writing", manifest.total_size, options.show_progress) as writing,
        open_writer(
            out, options.fmt, mtime=inventory.mtime, level=options.level, threads=options.threads
        ) as writer,
        ReadAhead(inventory.items, inventory.prefix, manifest.subdir) as entries,
    ):
        writer.add_file(MANIFEST_PATH, 0o644, *manifest.to_stream())
        for item, chunks in entries:
            entry = item.entry
            if entry.kind == DIR:
                writer.add_dir(entry.path, entry.mode)
            elif entry.kind == SYMLINK:
                writer.add_symlink(entry.path, entry.link_target)
            elif chunks is not None:
                try:
                    writer.add_file(entry.path, entry.mode, entry.size, chunks)
                except SizeChangedError:
                    raise FileChangedError(changed(item)) from None
                writing.advance(entry.size)
        if entries.mismatched:
            raise RecordMismatch(entries.mismatched)


class RecordMismatch(Exception):
    """Files whose bytes differ from conda's record of them (the bundle must be redone)."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
