"""The Python API behind ``conda bundle`` and ``conda unbundle``; the CLI is a thin layer."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from . import _compat, inventory
from .archive import DEFAULT_FORMAT, format_from_name, open_reader
from .exceptions import OutputExistsError, SourceEnvironmentError
from .extract import read_manifest
from .install import install
from .manifest import Manifest
from .pack import write_bundle

__version__ = "0.1.0"


@dataclass
class BundleResult:
    """What ``bundle()`` wrote."""

    output: str
    format: str
    size: int
    sha256: str
    source: str
    packages: int
    files: int
    content_size: int
    uncached: list[str] = field(default_factory=list)
    unrelocated: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    elapsed: float = 0.0


@dataclass
class UnbundleResult:
    """What ``unbundle()`` made."""

    prefix: str
    source: str
    packages: int
    files: int
    relocated: int
    elapsed: float = 0.0


def default_output(prefix: str, fmt: str = DEFAULT_FORMAT) -> str:
    """``<environment name>.<format>`` in the current directory."""
    name = os.path.basename(os.path.normpath(prefix)) or "env"
    return os.path.abspath(f"{name}.{fmt}")


def bundle(
    prefix: str,
    output: str | None = None,
    *,
    force: bool = False,
    filters: list[tuple[str, str]] | None = None,
    ignore_editable: bool = False,
    ignore_missing: bool = False,
    level: int = 3,
    threads: int = 0,
) -> BundleResult:
    """Pack the conda environment at ``prefix`` into one relocatable bundle file.

    ``filters`` are ``("exclude" | "include", fnmatch pattern)`` pairs applied in order to
    paths relative to the environment. Raises an :class:`~.exceptions.EnvBundleError`
    subclass for every user error; on error no output file is left behind.
    """
    started = time.monotonic()
    prefix = os.path.abspath(prefix)
    if not _compat.is_conda_environment(prefix):
        raise SourceEnvironmentError(
            f"{prefix} is not a conda environment (it has no conda-meta/history). "
            "Name an existing environment with -n or -p."
        )
    output = os.path.abspath(output or default_output(prefix))
    fmt = format_from_name(output) or DEFAULT_FORMAT
    if os.path.lexists(output) and not force:
        raise OutputExistsError(f"{output} already exists. Pass --force to overwrite it.")
    options = inventory.Options(filters or [], ignore_editable, ignore_missing, threads)
    inv = inventory.take_inventory(prefix, options)
    manifest = Manifest(
        source_prefix=prefix,
        source_name=os.path.basename(prefix),
        subdir=_compat.native_subdir(),
        conda_version=_compat.CONDA_VERSION,
        tool_version=__version__,
        site_packages=inv.site_packages,
        requirements=inv.requirements,
        packages=inv.packages,
        files=inv.files,
        unrelocated=inv.unrelocated,
    )
    written = write_bundle(inv, manifest, output, fmt, level=level, threads=threads or -1)
    return BundleResult(
        output=output,
        format=fmt,
        size=written.size,
        sha256=written.sha256,
        source=prefix,
        packages=len(inv.packages),
        files=len(manifest.files),
        content_size=manifest.total_size,
        uncached=inv.uncached,
        unrelocated=inv.unrelocated,
        warnings=_warnings(inv, manifest),
        elapsed=time.monotonic() - started,
    )


def _warnings(inv: inventory.Inventory, manifest: Manifest) -> list[str]:
    notes = []
    if inv.uncached:
        notes.append(
            f"{len(inv.uncached)} package(s) are not in the package cache "
            f"({', '.join(inv.uncached)}); their files were taken from the environment, so "
            f"this bundle can only be unbundled at paths of at most {manifest.prefix_limit} "
            "bytes."
        )
    binaries = [u["path"] for u in inv.unrelocated if not u["path"].endswith((".pyc", ".pyo"))]
    if binaries:
        notes.append(
            f"{len(binaries)} file(s) contain the environment's path in a form that cannot be "
            f"rewritten safely and will keep it: {', '.join(binaries[:5])}"
            + (" ..." if len(binaries) > 5 else "")
        )
    return notes


def unbundle(
    bundle_path: str, prefix: str, *, force: bool = False, threads: int = 0
) -> UnbundleResult:
    """Create a working environment at ``prefix`` from a bundle file (``-`` reads stdin).

    Every check runs before anything is written; on error the target is as it was.
    """
    started = time.monotonic()
    with _open_input(bundle_path) as stream:
        result = install(stream, prefix, force=force, threads=threads)
    manifest = result.manifest
    return UnbundleResult(
        prefix=result.prefix,
        source=manifest.source_prefix,
        packages=len(manifest.packages),
        files=len(manifest.files),
        relocated=result.relocated,
        elapsed=time.monotonic() - started,
    )


def inspect(bundle_path: str) -> Manifest:
    """Read a bundle's manifest without extracting anything."""
    with _open_input(bundle_path) as stream:
        manifest, _ = read_manifest(open_reader(stream))
    return manifest


def _open_input(bundle_path: str):
    from .exceptions import BundleFormatError

    try:
        return open(bundle_path, "rb")
    except FileNotFoundError:
        raise BundleFormatError(f"{bundle_path} does not exist.") from None
    except OSError as exc:
        raise BundleFormatError(f"Cannot read {bundle_path}: {exc.strerror}.") from None
