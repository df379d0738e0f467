"""``conda bundle``'s second half: an inventory and its manifest, streamed into one output.

The output is written to a locked temporary sibling and put in place in one step at the
end (see :mod:`.output`), so a failure or a kill never leaves a partial bundle; standard
output (``-``) is streamed as it goes.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO

from .. import progress
from ..archive import open_writer, sh
from ..archive.members import SizeChangedError
from ..exceptions import FileChangedError, TargetWriteError
from ..fstree import umask
from ..manifest import DIR, MANIFEST_PATH, SYMLINK, Manifest
from .inventory import Inventory
from .output import mark_dir_bundle, part_dir, part_file, place
from .plan import Plan
from .readahead import ReadAhead, changed
from .sidecars import beside


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


def write_bundle(inventory: Inventory, manifest: Manifest, plan: Plan) -> WriteResult:
    """Write the bundle where ``plan`` says (``-``: standard output)."""
    output = plan.output
    try:
        return _write(inventory, manifest, plan)
    except BrokenPipeError:
        raise  # the reader of standard output went away: the CLI ends quietly
    except OSError as exc:
        where = "standard output" if output == "-" else output
        raise TargetWriteError(
            f"Cannot write the bundle to {where}: {exc.strerror or exc}. Make room, or "
            "choose an output path where you can write."
        ) from exc


def _write(inventory: Inventory, manifest: Manifest, plan: Plan) -> WriteResult:
    output = plan.output
    if output == "-":
        out = _HashingFile(sys.stdout.buffer)
        _stream(inventory, manifest, out, plan)
        out.flush()
        return WriteResult(out.size, out.digest.hexdigest())
    output = os.path.abspath(output)
    if plan.fmt == "dir":
        return _write_directory(inventory, manifest, output, plan)
    with part_file(output) as (temp, fd), os.fdopen(fd, "w+b", closefd=False) as raw:
        # the .part stays locked (fd open) until it is in place: see output.py
        if plan.fmt == "sh":
            result = _write_installer(inventory, manifest, raw, plan)
        else:
            out = _HashingFile(raw)
            _stream(inventory, manifest, out, plan)
            result = WriteResult(out.size, out.digest.hexdigest())
        raw.flush()
        os.fsync(raw.fileno())
        os.chmod(temp, (0o777 if plan.fmt == "sh" else 0o666) & ~umask())
        with beside(plan, manifest, temp, result.sha256):
            place(temp, output, plan.fmt, plan.force)
    return result


def _write_installer(
    inventory: Inventory, manifest: Manifest, raw: BinaryIO, plan: Plan
) -> WriteResult:
    """The shell header, then the payload, then the file's sha256 sealed into the header."""
    head = sh.header_for(manifest, payload=plan.sh_codec, dest=plan.dest_prefix or "")
    sealed = _HashingFile(raw)  # the header, its sha256 field still zeros, and the payload
    sealed.write(head)
    _stream(inventory, manifest, sealed, plan)
    return WriteResult(sealed.size, sh.seal_file(raw, head, sealed.digest.hexdigest()))


def _write_directory(
    inventory: Inventory, manifest: Manifest, output: str, plan: Plan
) -> WriteResult:
    with part_dir(output) as temp:
        _stream(inventory, manifest, temp, plan)
        mark_dir_bundle(temp, inventory.mtime)
        os.chmod(temp, 0o777 & ~umask())
        with beside(plan, manifest, temp, None):
            place(temp, output, plan.fmt, plan.force)
    return WriteResult(manifest.total_size, None)


def _stream(inventory: Inventory, manifest: Manifest, out, plan: Plan) -> None:
    with (
        progress.step("Writing", manifest.total_size, plan.show_progress) as writing,
        open_writer(
            out,
            plan.payload_format,
            mtime=inventory.mtime,
            level=plan.level,
            threads=plan.codec_threads,
        ) as writer,
        ReadAhead(inventory.items, inventory.prefix, manifest.subdir) as entries,
    ):
        writer.add_file(MANIFEST_PATH, 0o644, *manifest.to_stream())
        reused = {f.path for f in manifest.files if f.reuse}
        for item, chunks in entries:
            entry = item.entry
            if entry.path in reused and chunks is not None:
                for _ in chunks:  # read all the same: a file unlike its record stops the run
                    pass
            elif entry.kind == DIR:
                writer.add_dir(entry.path, entry.mode)
            elif entry.kind == SYMLINK:
                writer.add_symlink(entry.path, entry.link_target)
            elif chunks is not None:
                try:
                    writer.add_file(entry.path, entry.mode, entry.size, chunks, item.mtime)
                except SizeChangedError:
                    raise FileChangedError(changed(item)) from None
                writing.advance(entry.size)
