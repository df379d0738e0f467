"""User-facing errors. Each says what is wrong and what to do, in one or two lines.

The exit code tells scripts what kind of failure it was (docs/cli.md lists them):
1 the environment or a usage problem, 3 a damaged or hostile bundle, 4 the target cannot
take this bundle, 5 the output or target already exists, 6 another unbundle is writing
the same target, 7 the bundle's signature is missing, wrong or not trusted, 8 the bundle
could not be downloaded from its URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from conda import CondaError


class EnvBundleError(CondaError):
    """Base class of every conda-envbundle error; conda prints it without a traceback."""

    def __init__(self, message: str) -> None:
        # CondaError applies "message % kwargs" even without kwargs: paths may hold "%".
        super().__init__(message.replace("%", "%%"))


class SourceEnvironmentError(EnvBundleError):
    """The environment to bundle is missing, unnamed or not a conda environment."""


class OutputExistsError(EnvBundleError):
    """The output already exists and --force was not given."""

    return_code = 5


class EditableInstallError(EnvBundleError):
    """The environment holds editable (development) installs that cannot travel."""


class MissingFilesError(EnvBundleError):
    """Files that conda records as installed are missing from the environment."""


class UnsafeLinkError(EnvBundleError):
    """A symlink in the environment points outside it."""


class UnsupportedPathError(EnvBundleError):
    """A file name in the environment is one that ``conda unbundle`` would refuse."""


class FileChangedError(EnvBundleError):
    """A file changed while it was being bundled."""


class BundleFormatError(EnvBundleError):
    """The file is not a bundle, or it is damaged, truncated or hostile."""

    return_code = 3


class ChecksumMismatchError(BundleFormatError):
    """A file in the bundle does not match the checksum in its manifest."""


class TargetExistsError(EnvBundleError):
    """The target path already exists and --force was not given."""

    return_code = 5


class FrozenEnvironmentError(TargetExistsError):
    """The target is an environment marked frozen and --override-frozen was not given."""


class IncompatibleTargetError(EnvBundleError):
    """The bundle cannot run on this machine or at this path."""

    return_code = 4


class RelocationError(EnvBundleError):
    """A prefix could not be rewritten."""


class TargetBusyError(EnvBundleError):
    """Another ``conda unbundle`` is writing the same target right now."""

    return_code = 6


class SignatureError(EnvBundleError):
    """The bundle's signature is required but missing, does not match the bundle, or was
    made by a key the allowed signers do not list."""

    return_code = 7


class DownloadError(EnvBundleError):
    """The bundle (or its signature) could not be read from its URL: refused, not found,
    the connection failed or dropped, or the file changed while it was read."""

    return_code = 8

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the server's HTTP status, when it answered one


class TargetWriteError(EnvBundleError):
    """The target's filesystem refused a write (full, read-only, no permission)."""


def source_read_error(exc: OSError) -> EnvBundleError:
    """The error for an environment file that ``conda bundle`` could not read: gone
    meanwhile (something is changing the environment), or unreadable."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return FileChangedError(
            f"{exc.filename} disappeared while it was being bundled. Stop whatever is "
            "writing to the environment and run conda bundle again."
        )
    return EnvBundleError(f"Cannot read {exc.filename}: {exc.strerror}. Fix its permissions.")


# Where to get each library that is not part of Python.
_PACKAGES = {
    "zstandard": "zstandard on conda-forge and PyPI",
    "isal": "python-isal on conda-forge, isal on PyPI",
    "boto3": "boto3 on conda-forge and PyPI",
}


@contextlib.contextmanager
def needs(library: str, what: str) -> Iterator[None]:
    """Import ``library`` inside this block, for ``what``; failing, an error that says so.

    The codec libraries are imported only where a bundle needs them: the plugin loads
    without them, and the formats that do not use a missing one still work.
    """
    try:
        yield
    except ImportError as exc:
        raise EnvBundleError(
            f"{what} needs the Python package {library} ({_PACKAGES[library]}), which cannot "
            f"be imported: {exc}. Install it where conda runs from."
        ) from exc
