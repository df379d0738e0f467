"""Renames that the system makes atomic beyond ``os.rename``: no-replace and exchange.

Both ends use them: ``conda unbundle`` to put a new environment in place, ``conda bundle``
to put a finished output in place.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys


def rename_noreplace(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst``; ``FileExistsError`` if ``dst`` exists, even if it appears
    meanwhile, where the system can tell (Linux ``RENAME_NOREPLACE``, macOS ``RENAME_EXCL``).
    """
    if _rename2(src, dst, linux_flag=1, darwin_flag=4):
        return
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst)


def exchange(a: str, b: str) -> bool:
    """Swap two existing paths atomically; False when this system or filesystem cannot."""
    return _rename2(a, b, linux_flag=2, darwin_flag=2)  # RENAME_EXCHANGE, RENAME_SWAP


def _rename2(a: str, b: str, *, linux_flag: int, darwin_flag: int) -> bool:
    """``renameat2`` / ``renamex_np`` with a flag; False when the system or filesystem
    does not have it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd = -100
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), linux_flag)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), darwin_flag)
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), a, None, b)
