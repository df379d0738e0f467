"""``conda bundle``'s second half: an inventory and its manifest, streamed into one output.

The output is written to a locked temporary sibling and put in place in one step at the
end (see :mod:`.output`), so a failure or a kill never leaves a partial bundle; standard
output (``-``) is streamed as it goes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO

from . import progress
from .archive import open_writer, sh
from .archive.members import SizeChangedError
from .exceptions import FileChangedError, TargetWriteError
from .fstree import umask
from .inventory import Inventory
from .manifest import DIR, MANIFEST_PATH, SYMLINK, Manifest
from .output import mark_dir_bundle, part_dir, part_file, place
from .readahead import ReadAhead, changed


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
        # A buffered stream may write part and say so (standard output on a full disk
        # does): write the rest, where the error, if any, is raised.
        view = memoryview(data).cast("B")
        while view:
            view = view[self.raw.write(view) :]
        return len(data)

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
    force: bool = False  # replace an existing output (only what output.py allows)


def write_bundle(
    inventory: Inventory, manifest: Manifest, output: str, options: WriteOptions
) -> WriteResult:
    """Write the bundle to ``output`` (``-`` for standard output)."""
    try:
        return _write(inventory, manifest, output, options)
    except BrokenPipeError:
        raise  # the reader of standard output went away: the CLI ends quietly
    except OSError as exc:
        where = "standard output" if output == "-" else output
        raise TargetWriteError(
            f"Cannot write the bundle to {where}: {exc.strerror or exc}. Make room, or "
            "choose an output path where you can write."
        ) from exc


def _write(
    inventory: Inventory, manifest: Manifest, output: str, options: WriteOptions
) -> WriteResult:
    if output == "-":
        out = _HashingFile(sys.stdout.buffer)
        _stream(inventory, manifest, out, options)
        out.flush()
        return WriteResult(out.size, out.digest.hexdigest())
    output = os.path.abspath(output)
    if options.fmt == "dir":
        return _write_directory(inventory, manifest, output, options)
    with part_file(output) as (temp, fd), os.fdopen(fd, "w+b", closefd=False) as raw:
        # the .part stays locked (fd open) until it is in place: see output.py
        if options.fmt == "sh":
            result = _write_installer(inventory, manifest, raw, options)
        else:
            out = _HashingFile(raw)
            _stream(inventory, manifest, out, options)
            result = WriteResult(out.size, out.digest.hexdigest())
        raw.flush()
        os.fsync(raw.fileno())
        os.chmod(temp, (0o777 if options.fmt == "sh" else 0o666) & ~umask())
        place(temp, output, options.fmt, options.force)
    return result


def _write_installer(
    inventory: Inventory, manifest: Manifest, raw: BinaryIO, options: WriteOptions
) -> WriteResult:
    """The shell header, then the payload, then the file's sha256 sealed into the header."""
    head = sh.header_for(manifest, payload=options.sh_codec, dest=options.dest_prefix or "")
    sealed = _HashingFile(raw)  # the header, its sha256 field still zeros, and the payload
    sealed.write(head)
    payload = dataclasses.replace(options, fmt=sh.payload_format(options.sh_codec))
    _stream(inventory, manifest, sealed, payload)
    return WriteResult(sealed.size, sh.seal_file(raw, head, sealed.digest.hexdigest()))


def _write_directory(
    inventory: Inventory, manifest: Manifest, output: str, options: WriteOptions
) -> WriteResult:
    with part_dir(output) as temp:
        _stream(inventory, manifest, temp, options)
        mark_dir_bundle(temp, inventory.mtime)
        os.chmod(temp, 0o777 & ~umask())
        place(temp, output, options.fmt, options.force)
    return WriteResult(manifest.total_size, None)


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
                    writer.add_file(entry.path, entry.mode, entry.size, chunks, item.mtime)
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
