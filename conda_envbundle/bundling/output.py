"""Where ``conda bundle`` writes: a locked temporary sibling, then one atomic step.

The bundle is written to ``.<name>.envbundle-XXXXXXXX.part`` beside the output while
its writer holds ``flock`` on it, and put in place by a rename (an exchange for a
directory bundle replaced with ``--force``). A run that dies leaves at most that
``.part``; the next run writing the same output removes the ``.part`` files of that
name it can lock, so never one a live run is writing. The kernel drops a lock when its
holder dies, even by SIGKILL.

``--force`` replaces only what is unmistakably a bundle: a regular file, or a
directory bundle, which carries :data:`~.archive.directory.DIR_BUNDLE_MARKER` naming
the sha256 of its manifest. ``conda unbundle`` never writes that file (the reader skips
it and the manifest cannot list it), ``conda bundle`` never ships it, and
``bin/conda-unpack`` run in the directory rewrites the manifest: an environment is
never taken for a bundle.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator

from ..archive.directory import DIR_BUNDLE_MARKER
from ..exceptions import EnvBundleError, OutputExistsError, TargetBusyError
from ..fstree import name_max, remove_tree
from ..manifest import MANIFEST_PATH
from ..renames import exchange, rename_noreplace

PART_MARK = ".envbundle-"
PART_SUFFIX = ".part"
# what the .part name adds to the output's: the dot, the mark, tempfile's 8 characters
_PART_EXTRA = 1 + len(PART_MARK) + 8 + len(PART_SUFFIX)
_MARKER_HEAD = "conda-envbundle dir bundle\nmanifest_sha256 "
_BLOCK = 1 << 20


def _part_pattern(name: str) -> re.Pattern[str]:
    """Names of the temporary outputs for ``name`` (``tempfile``'s eight characters)."""
    return re.compile(rf"{re.escape(f'.{name}{PART_MARK}')}[a-z0-9_]{{8}}{re.escape(PART_SUFFIX)}")


def remove_dead_parts(output: str) -> list[str]:
    """Remove the ``.part`` files and directories of ``output`` no live run holds."""
    directory, name = os.path.split(output)
    pattern = _part_pattern(name)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for found in sorted(n for n in names if pattern.fullmatch(n)):
        path = os.path.join(directory, found)
        with contextlib.suppress(OSError), _locked_if_dead(path) as dead:
            if dead:
                _remove(path)
                removed.append(path)
    return removed


@contextlib.contextmanager
def _locked_if_dead(path: str) -> Iterator[bool]:
    """Lock ``path``; yields False when a live run holds it or it is no file or directory."""
    # O_NONBLOCK: opening a fifo someone named like this must not hang
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        yield kind in (stat.S_IFREG, stat.S_IFDIR) and _lock(fd) and _still_at(fd, path)
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        remove_tree(path)
    else:
        os.unlink(path)


@contextlib.contextmanager
def part_file(output: str) -> Iterator[tuple[str, int]]:
    """A new locked ``.part`` file beside ``output``: ``(path, fd)``, the fd open for
    reading and writing; removed on error, the lock held until the block ends."""
    directory, name = os.path.split(output)

    def make() -> tuple[str, int]:
        fd, path = tempfile.mkstemp(dir=directory, prefix=f".{name}{PART_MARK}", suffix=PART_SUFFIX)
        return path, fd

    with _part(output, make) as made:
        yield made


@contextlib.contextmanager
def part_dir(output: str) -> Iterator[str]:
    """A new locked ``.part`` directory beside ``output``; removed on error."""
    directory, name = os.path.split(output)

    def make() -> tuple[str, int]:
        path = tempfile.mkdtemp(dir=directory, prefix=f".{name}{PART_MARK}", suffix=PART_SUFFIX)
        return path, os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)

    with _part(output, make) as (path, _):
        yield path


@contextlib.contextmanager
def _part(output: str, make) -> Iterator[tuple[str, int]]:
    remove_dead_parts(output)
    path, fd = _make_locked(output, make)
    try:
        yield path, fd
    except BaseException:
        with contextlib.suppress(OSError):
            _remove(path)
        raise
    finally:
        os.close(fd)


def check_output_name(output: str) -> None:
    """The output's ``.part`` name must fit the file system's name limit (checked before
    the environment is read, not when the bundle is about to be written)."""
    directory, name = os.path.split(output)
    length = len(os.fsencode(name))
    limit = name_max(directory)
    if length + _PART_EXTRA > limit:
        raise EnvBundleError(
            f"The output name {name} is {length} bytes long, too long for the hidden file "
            f"conda bundle writes first beside it (.NAME{PART_MARK}XXXXXXXX{PART_SUFFIX}, "
            f"{_PART_EXTRA} bytes more): this file system takes names of at most {limit} "
            f"bytes. Choose an output name of at most {limit - _PART_EXTRA} bytes with -o."
        )


def _make_locked(output: str, make) -> tuple[str, int]:
    """Create and lock a ``.part``; a cleaner that locked it first removes it: make another."""
    for _ in range(100):
        try:
            path, fd = make()
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                check_output_name(output)
            raise EnvBundleError(
                f"Cannot write in {os.path.dirname(output)}: {exc.strerror}. Choose an "
                "output in a directory you can write to."
            ) from exc
        if _lock(fd) and _still_at(fd, path):
            return path, fd
        os.close(fd)
    raise EnvBundleError(f"Cannot create a temporary file beside {output}; try again.")


def _lock(fd: int) -> bool:
    import fcntl  # POSIX only, like the rest of the placement machinery

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _still_at(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False


# --- what --force may replace ------------------------------------------------------------


def check_replaceable(output: str, fmt: str) -> None:
    """Refuse an existing ``output`` that ``--force`` must not replace."""
    try:
        st = os.lstat(output)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if fmt != "dir":
            raise OutputExistsError(f"{output} is a directory; give a file name with -o.")
        if not is_dir_bundle(output):
            raise OutputExistsError(
                f"{output} is a directory but not a directory bundle written by conda bundle "
                "(an environment, say); --force only replaces bundles. Choose another output "
                "path, or remove it yourself."
            )
    elif fmt == "dir":
        raise OutputExistsError(f"{output} exists and is not a directory; choose another path.")
    elif not stat.S_ISREG(st.st_mode):
        raise OutputExistsError(
            f"{output} is not a regular file; --force only replaces files. Choose another "
            "output path, or remove it yourself."
        )


def is_dir_bundle(path: str) -> bool:
    """True when ``path`` is a directory bundle as ``conda bundle`` left it."""
    marker = os.path.join(path, DIR_BUNDLE_MARKER)
    manifest = os.path.join(path, MANIFEST_PATH)
    try:
        if not (_is_regular(marker) and _is_regular(manifest)):
            return False
        with open(marker, "rb") as fh:
            text = fh.read(4096).decode("ascii")
        return text == f"{_MARKER_HEAD}{_sha256_of(manifest)}\n"
    except (OSError, UnicodeDecodeError):
        return False


def mark_dir_bundle(root: str, mtime: int) -> None:
    """Write the marker of a complete directory bundle at ``root``, with the bundle's one
    ``mtime`` on it and on its directory (rsync compares times)."""
    digest = _sha256_of(os.path.join(root, MANIFEST_PATH))
    marker = os.path.join(root, DIR_BUNDLE_MARKER)
    with open(marker, "x", encoding="ascii") as fh:
        fh.write(f"{_MARKER_HEAD}{digest}\n")
    for path in (marker, os.path.dirname(marker)):
        os.utime(path, (mtime, mtime))


def _is_regular(path: str) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


# --- putting the finished bundle in place --------------------------------------------------


def place(temp: str, output: str, fmt: str, force: bool) -> None:
    """Move the finished bundle at ``temp`` to ``output`` in one step.

    The output is checked again here, as it may have changed while the bundle was
    written: without ``force`` nothing may be there, with it only what
    :func:`check_replaceable` allows.
    """
    if not force:
        try:
            rename_noreplace(temp, output)
        except FileExistsError:
            raise OutputExistsError(
                f"{output} appeared while the bundle was written. Pass --force to overwrite it."
            ) from None
        return
    if fmt == "dir" and os.path.isdir(output) and not os.path.islink(output):
        _replace_dir(temp, output)
    else:
        check_replaceable(output, fmt)
        os.replace(temp, output)


def _replace_dir(temp: str, output: str) -> None:
    """Exchange the new directory bundle with the old one, then remove the old one.

    The old one is locked first: once at the ``.part`` name it is a leftover that only
    this run may remove while it lives.
    """
    old = os.open(output, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not _lock(old):
            raise TargetBusyError(
                f"Another conda bundle is replacing {output} right now. Wait for it to "
                "finish, then try again."
            )
        check_replaceable(output, "dir")  # under the lock: it may have changed meanwhile
        if not exchange(temp, output):
            aside = tempfile.mkdtemp(
                dir=os.path.dirname(output),
                prefix=f".{os.path.basename(output)}{PART_MARK}",
                suffix=PART_SUFFIX,
            )
            os.rename(output, aside)  # over the empty directory just made
            try:
                os.rename(temp, output)
            except OSError:
                os.rename(aside, output)
                raise
            temp = aside
        with contextlib.suppress(OSError):
            remove_tree(temp)  # what stays is a dead run's .part: the next run removes it
    finally:
        os.close(old)
