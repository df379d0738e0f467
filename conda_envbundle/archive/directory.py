"""Directory bundles: the bundle's members as a plain tree, for rsync-style transfers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from ..exceptions import BundleFormatError
from ..fstree import make_dirs
from .members import DIRECTORY, REGULAR, SYMLINK, Member, exactly

# Written by ``conda bundle`` into a finished directory bundle, beside its manifest, and
# never part of the bundle's members: it tells a bundle from an environment (output.py).
DIR_BUNDLE_MARKER = "conda-meta/envbundle/dir-bundle"


class DirWriter:
    """Write members as files under ``root``, all with the bundle's one mtime unless a
    file is given its own (a ``.py`` whose ``.pyc`` expects it).

    Equal mtimes and sizes let ``rsync`` skip unchanged files when a site updates.
    """

    def __init__(self, root: str, mtime: int) -> None:
        self.root = root
        self.mtime = mtime
        self._dirs = {root}

    def _path(self, path: str) -> str:
        full = os.path.join(self.root, path)
        self._make(os.path.dirname(full))
        return full

    def _make(self, directory: str) -> None:
        # Iterative, unlike os.makedirs: environments can be deeper than the recursion limit.
        if directory not in self._dirs:
            make_dirs(directory)
            while directory not in self._dirs:
                self._dirs.add(directory)
                directory = os.path.dirname(directory)

    def add_dir(self, path: str, mode: int) -> None:
        self._make(os.path.join(self.root, path))
        os.chmod(os.path.join(self.root, path), mode | 0o700)

    def add_symlink(self, path: str, target: str) -> None:
        full = self._path(path)
        os.symlink(target, full)
        os.utime(full, (self.mtime, self.mtime), follow_symlinks=False)

    def add_file(
        self, path: str, mode: int, size: int, chunks: Iterable[bytes], mtime: int | None = None
    ) -> int:
        full = self._path(path)
        with open(full, "wb") as fh:
            for chunk in exactly(path, size, chunks):
                fh.write(chunk)
        os.chmod(full, mode)
        stamp = self.mtime if mtime is None else mtime
        os.utime(full, (stamp, stamp))
        return size

    def close(self) -> None:
        """Give every directory the mtime last, deepest first: adding entries changed it."""
        for directory in sorted(self._dirs, key=lambda d: -d.count(os.sep)):
            os.utime(directory, (self.mtime, self.mtime))


class DirReader:
    """Read a directory bundle in the order a tar bundle would hold it."""

    def __init__(self, root: str, first: str) -> None:
        self.root = root
        self.first = first
        self._current: str | None = None

    def _paths(self) -> list[str]:
        # An explicit stack, not os.walk (recursive before Python 3.12): a bundle can be
        # deeper than the recursion limit. A directory that cannot be listed is an error.
        found = []
        pending = [""]
        while pending:
            rel = pending.pop()
            with os.scandir(os.path.join(self.root, rel)) as entries:
                for entry in entries:
                    path = f"{rel}/{entry.name}" if rel else entry.name
                    found.append(path)
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(path)
        skipped = {self.first, os.path.dirname(self.first), DIR_BUNDLE_MARKER}
        return [self.first, *sorted(p for p in found if p not in skipped)]

    def __iter__(self) -> Iterator[Member]:
        manifest = os.path.join(self.root, self.first)
        if os.path.islink(manifest) or not os.path.isfile(manifest):
            raise BundleFormatError(
                f"{self.root} is a directory but not a bundle: it has no {self.first}."
            )
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

    def expect(self, members: Iterable[Member]) -> None:
        """Nothing to bound: the members are the files the directory holds."""

    def finish(self) -> None:
        """Nothing follows the last member of a directory."""

    def read_data(self, block_size: int = 1 << 20) -> Iterator[bytes]:
        full = self._current
        if full is None:
            raise ValueError("read_data() reads the member just yielded; there is none.")
        with open(full, "rb", buffering=0) as fh:
            while block := fh.read(block_size):
                yield block
