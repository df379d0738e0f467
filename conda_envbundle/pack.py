"""``conda bundle``'s second half: an inventory and its manifest, streamed into one file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from . import scan
from .archive import open_writer
from .archive.tar import SizeChangedError
from .exceptions import EnvBundleError, FileChangedError
from .inventory import Inventory, Item
from .manifest import DIR, MANIFEST_PATH, SYMLINK, Manifest


@dataclass
class WriteResult:
    """What was written: the bundle's size and sha256."""

    size: int
    sha256: str


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


def write_bundle(
    inventory: Inventory, manifest: Manifest, output: str, fmt: str, *, level: int, threads: int
) -> WriteResult:
    """Stream the bundle into a temporary file beside ``output``, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(output))
    fd, temp = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(output)}.", suffix=".part"
    )
    try:
        with os.fdopen(fd, "wb") as raw:
            out = _HashingFile(raw)
            _stream(inventory, manifest, out, fmt, level=level, threads=threads)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temp, 0o644 & ~_umask())
        os.replace(temp, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return WriteResult(out.size, out.digest.hexdigest())


def _stream(
    inventory: Inventory, manifest: Manifest, out, fmt: str, *, level: int, threads: int
) -> None:
    with open_writer(out, fmt, mtime=inventory.mtime, level=level, threads=threads) as tar:
        body = manifest.to_bytes()
        tar.add_file(MANIFEST_PATH, 0o644, len(body), [body])
        for item in inventory.items:
            entry = item.entry
            if entry.kind == DIR:
                tar.add_dir(entry.path, entry.mode)
            elif entry.kind == SYMLINK:
                tar.add_symlink(entry.path, entry.target)
            else:
                _add_file(tar, item)


def _add_file(tar, item: Item) -> None:
    entry = item.entry
    digest = hashlib.sha256()
    blocks = [item.content] if item.content is not None else scan.read_blocks(item.source)
    try:
        tar.add_file(entry.path, entry.mode, entry.size, _hashed(blocks, digest))
    except SizeChangedError:
        raise FileChangedError(_changed(item)) from None
    except OSError as exc:
        if exc.filename is None:
            raise
        raise EnvBundleError(f"Cannot read {exc.filename}: {exc.strerror}.") from exc
    if digest.hexdigest() != entry.sha256:
        raise FileChangedError(_changed(item))


def _hashed(blocks, digest) -> Iterator[bytes]:
    for block in blocks:
        digest.update(block)
        yield block


def _changed(item: Item) -> str:
    return (
        f"{item.source or item.entry.path} changed while it was being bundled. Stop "
        "whatever is writing to the environment and run conda bundle again."
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
