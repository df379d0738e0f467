"""Directory bundles: the bundle's members as a plain tree, for rsync-style transfers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from ..exceptions import BundleFormatError
from .tar import DIRECTORY, REGULAR, SYMLINK, Member, exactly


class DirWriter:
    """Write members as files under ``root``, all with the bundle's one mtime.

    Equal mtimes and sizes let ``rsync`` skip unchanged files when a site updates.
    """

    def __init__(self, root: str, mtime: int) -> None:
        self.root = root
        self.mtime = mtime

    def _path(self, path: str) -> str:
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def add_dir(self, path: str, mode: int) -> None:
        os.makedirs(os.path.join(self.root, path), exist_ok=True)
        os.chmod(os.path.join(self.root, path), mode | 0o700)

    def add_symlink(self, path: str, target: str) -> None:
        full = self._path(path)
        os.symlink(target, full)
        os.utime(full, (self.mtime, self.mtime), follow_symlinks=False)

    def add_file(self, path: str, mode: int, size: int, chunks: Iterable[bytes]) -> int:
        full = self._path(path)
        with open(full, "wb") as fh:
            for chunk in exactly(path, size, chunks):
                fh.write(chunk)
        os.chmod(full, mode)
        os.utime(full, (self.mtime, self.mtime))
        return size

    def close(self) -> None:
        """Give every directory the mtime last, deepest first: adding entries changed it."""
        for parent, _, _ in sorted(os.walk(self.root), key=lambda w: -w[0].count(os.sep)):
            os.utime(parent, (self.mtime, self.mtime))


class DirReader:
    """Read a directory bundle in the order a tar bundle would hold it."""

    def __init__(self, root: str, first: str) -> None:
        self.root = root
        self.first = first
        self._current: str | None = None

    def _paths(self) -> list[str]:
        found = []
        for parent, dirs, files in os.walk(self.root):
            rel = os.path.relpath(parent, self.root)
            for name in dirs + files:
                found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(parent, d))]
        skipped = {self.first, os.path.dirname(self.first)}
        return [self.first, *sorted(p for p in found if p not in skipped)]

    def __iter__(self) -> Iterator[Member]:
        for path in self._paths():
            full = os.path.join(self.root, path)
            st = os.lstat(full)
            self._current = full
            if os.path.islink(full):
                yield Member(path, SYMLINK, 0o777, 0, 0, os.readlink(full))
            elif os.path.isdir(full):
                yield Member(path, DIRECTORY, st.st_mode & 0o7777, 0, 0, "")
            elif os.path.isfile(full):
                yield Member(path, REGULAR, st.st_mode & 0o7777, st.st_size, 0, "")
            else:
                raise BundleFormatError(f"The bundle directory holds a special file: {path}.")

    def read_data(self, block_size: int = 1 << 20) -> Iterator[bytes]:
        full = self._current
        if full is None:
            raise ValueError("read_data() reads the member just yielded; there is none.")
        with open(full, "rb", buffering=0) as fh:
            while block := fh.read(block_size):
                yield block
