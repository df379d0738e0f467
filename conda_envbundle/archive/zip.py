"""Zip bundles: the same members as a tar, for targets where only ``unzip`` exists."""

from __future__ import annotations

import stat
import time
import zipfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..exceptions import BundleFormatError
from .tar import DIRECTORY, REGULAR, SYMLINK, Member, exactly

_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError)


def _info(path: str, mtime: int, mode: int) -> zipfile.ZipInfo:
    stamp = time.gmtime(max(mtime, 315532800))[:6]
    info = zipfile.ZipInfo(path, date_time=stamp)
    info.create_system = 3  # Unix, so unzip restores modes and symlinks
    info.external_attr = mode << 16
    return info


class ZipWriter:
    """Write members into a deterministic zip archive."""

    def __init__(self, out: BinaryIO, mtime: int, level: int | None) -> None:
        self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level)
        self.mtime = mtime

    def add_dir(self, path: str, mode: int) -> None:
        info = _info(path + "/", self.mtime, stat.S_IFDIR | mode)
        info.external_attr |= 0x10
        self.zip.writestr(info, b"")

    def add_symlink(self, path: str, target: str) -> None:
        info = _info(path, self.mtime, stat.S_IFLNK | 0o777)
        self.zip.writestr(info, target.encode("utf-8", "surrogateescape"), zipfile.ZIP_STORED)

    def add_file(self, path: str, mode: int, size: int, chunks: Iterable[bytes]) -> int:
        info = _info(path, self.mtime, stat.S_IFREG | mode)
        info.compress_type = zipfile.ZIP_DEFLATED
        with self.zip.open(info, "w", force_zip64=size > 0x7FFFFFFF) as fh:
            for chunk in exactly(path, size, chunks):
                fh.write(chunk)
        return size

    def close(self) -> None:
        self.zip.close()


class ZipReader:
    """Read a zip bundle member by member, like :class:`~.tar.TarReader`."""

    def __init__(self, path: str) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
            self.infos = self.zip.infolist()
        except _READ_ERRORS as exc:
            raise BundleFormatError(f"The zip bundle is damaged: {exc}.") from exc
        self._current: zipfile.ZipInfo | None = None

    def __iter__(self) -> Iterator[Member]:
        for info in self.infos:
            self._current = info
            yield self._member(info)
        self._current = None

    def _member(self, info: zipfile.ZipInfo) -> Member:
        mode = info.external_attr >> 16
        link = ""
        if info.is_dir():
            kind = DIRECTORY
        elif stat.S_ISLNK(mode):
            kind = SYMLINK
            if info.file_size > 4096:
                raise BundleFormatError(f"The zip bundle's symlink {info.filename!r} is too long.")
            link = b"".join(self.read_data()).decode("utf-8", "surrogateescape")
        elif stat.S_ISREG(mode) or mode == 0:
            kind = REGULAR
        else:
            kind = b"?"
        return Member(info.filename.rstrip("/"), kind, stat.S_IMODE(mode), info.file_size, 0, link)

    def read_data(self, block_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the current member's bytes; zipfile checks their CRC and size."""
        info = self._current
        if info is None:
            raise ValueError("read_data() reads the member just yielded; there is none.")
        try:
            with self.zip.open(info) as fh:
                while block := fh.read(block_size):
                    yield block
        except _READ_ERRORS as exc:
            raise BundleFormatError(f"The zip bundle is damaged: {exc}.") from exc
