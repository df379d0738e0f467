"""One ``conda unbundle`` at a time per target: an advisory lock beside the target.

The lock is ``fcntl.flock`` on ``.<name>.envbundle-lock`` in the target's parent. A second
unbundle of the same target fails at once with a clear message rather than waiting: in CI
and on clusters a silent wait looks like a hang, and retrying is the caller's decision.
The kernel drops the lock when its holder dies, even by SIGKILL, so a stale lock file
never blocks anyone; the holder removes the file when it is done.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from ..exceptions import TargetBusyError, TargetWriteError

LOCK_MARK = ".envbundle-lock"


def lock_path(target: str) -> str:
    """The lock file of ``target``: hidden, beside it, named after it."""
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}{LOCK_MARK}")


@contextlib.contextmanager
def target_lock(target: str) -> Iterator[str]:
    """Hold the lock of ``target`` (whose parent must exist); yields the lock file's path."""
    path = lock_path(target)
    fd = _acquire(path, target)
    try:
        yield path
    finally:
        # Unlink before unlocking: a waiter that opened the old file then sees that it is
        # no longer the file at ``path`` and starts over (see _acquire).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _acquire(path: str, target: str) -> int:
    import fcntl  # POSIX only, like the rest of unbundle (symlinks, modes, renameat2)

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise TargetWriteError(_lock_error(path, exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise TargetBusyError(
                f"Another conda unbundle{holder} is writing {target} right now (lock file "
                f"{path}). Wait for it to finish, then try again."
            ) from None
        if _still_at(fd, path):
            _write_holder(fd)
            return fd
        os.close(fd)


def _lock_error(path: str, exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return (
            f"Cannot create the lock file {path}: its name, the target's with {LOCK_MARK} "
            "added, is too long for this file system. Choose a shorter target name."
        )
    return (
        f"Cannot create the lock file {path}: {exc.strerror}. Check the permissions of "
        f"{os.path.dirname(path)}."
    )


def _still_at(fd: int, path: str) -> bool:
    """True when ``fd`` is still the file at ``path`` (the last holder may have removed it)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _read_holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f" (pid {text})" if text.isdigit() else ""
