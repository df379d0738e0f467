"""Directory trees of any depth: created and removed without recursion.

``os.makedirs`` and ``shutil.rmtree`` recurse once per level (on Python 3.11), so a tree
a bundle can hold (thousands of levels) would end in ``RecursionError``, and a removal
that stops half-way would leave a tree nobody's next run can remove either. These work
level by level: removal holds one directory open at a time (plus the one it started
from) and works relative to it, so depth is limited neither by the stack, nor by the
number of open files, nor by ``PATH_MAX``.
"""

from __future__ import annotations

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Identity = tuple[int, int]


def identity(path: str) -> Identity:
    """(device, inode) of ``path`` itself (a symlink is not followed)."""
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def make_dirs(path: str, mode: int = 0o777) -> list[str]:
    """Create ``path`` and its missing parents, top down; returns those this call made.

    A directory that exists already, or that another process creates meanwhile, is used
    and not listed as made by this call.
    """
    try:
        os.mkdir(path, mode)  # the common case: the parent exists
        return [path]
    except FileNotFoundError:
        pass
    except FileExistsError:
        if os.path.isdir(path):
            return []
        raise
    missing = []
    probe = path
    while not os.path.isdir(probe):
        missing.append(probe)
        up = os.path.dirname(probe)
        if up == probe:
            break
        probe = up
    made = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
            continue
        made.append(directory)
    return made


def remove_empty(made: list[tuple[str, Identity]]) -> None:
    """Remove directories :func:`make_dirs` made, deepest first, while they are still the
    same directories and empty: the first one that holds something or was replaced
    stops it (its parents hold it, so they are not empty either)."""
    for directory, ident in reversed(made):
        try:
            if identity(directory) != ident:
                return
            os.rmdir(directory)
        except OSError:
            return


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything below it; a symlink is removed, never followed.

    Raises ``OSError`` when something cannot be removed, or when a directory was moved
    while it was being emptied (then it stops rather than remove anything elsewhere).
    """
    parent_fd = os.open(os.path.dirname(path) or ".", _DIR_FLAGS)
    try:
        name = os.path.basename(path)
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            _empty(parent_fd, name)
            os.rmdir(name, dir_fd=parent_fd)
        else:
            os.unlink(name, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def _empty(top_fd: int, top_name: str) -> None:
    """Remove everything inside the directory ``top_name`` of ``top_fd``, depth first."""
    fd = os.open(top_name, _DIR_FLAGS, dir_fd=top_fd)
    # one level per directory entered: its name, the subdirectories still to remove, and
    # its identity, which the way back up through ".." must find again
    levels = [(top_name, _remove_files(fd), _fd_identity(fd))]
    try:
        while levels:
            pending = levels[-1][1]
            if pending:
                child = pending.pop()
                child_fd = _open_child(fd, child)
                if child_fd is None:
                    continue
                os.close(fd)
                fd = child_fd
                levels.append((child, _remove_files(fd), _fd_identity(fd)))
                continue
            name = levels.pop()[0]
            if not levels:
                return
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            if _fd_identity(fd) != levels[-1][2]:
                raise OSError(errno.ESTALE, "a directory was moved while it was removed", name)
            os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)


def _open_child(fd: int, name: str) -> int | None:
    """The subdirectory ``name`` opened; None when it is gone or was no directory after all
    (then it is removed as a file)."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    os.unlink(name, dir_fd=fd)
    return None


def _remove_files(fd: int) -> list[str]:
    """Unlink every entry of the directory ``fd`` but its subdirectories; returns those."""
    subdirs = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    return subdirs


def _fd_identity(fd: int) -> Identity:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def name_max(directory: str) -> int:
    """The longest file name, in bytes, the file system at ``directory`` takes (255 when
    it cannot tell)."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def umask() -> int:
    """The process's umask (reading it means setting it: set it back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
