"""Delta updates, the API side: the base a delta is made against, exporting it from an
installed environment, and rolling an update back.

A base is a full manifest (see :mod:`.baseline`): read from a bundle (a delta bundle
stands for its new environment), or from a file that :func:`export_base` wrote at the
site where the environment is installed (the kept manifest an environment holds in
``conda-meta/envbundle/manifest.json`` is accepted as it is, too).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from . import _compat, baseline, sources
from .archive import open_reader
from .budget import MAX_MANIFEST_SIZE, ParseBudget
from .bundling.output import check_replaceable, part_file, place
from .exceptions import BundleFormatError, EnvBundleError, OutputExistsError, TargetWriteError
from .manifest import MANIFEST_PATH, Manifest
from .unbundling import generations
from .unbundling.extract import read_manifest
from .unbundling.state import read_kept


@dataclass
class ExportResult:
    """What :func:`export_base` wrote: where, and the base's checksum."""

    output: str
    base: str
    name: str
    files: int


@dataclass
class RollbackResult:
    """What :func:`rollback` did: the environment now in place came from ``base`` (None:
    it was not made by conda unbundle)."""

    prefix: str
    base: str | None
    previous: str
    previous_size: int


def load_base(path: str) -> Manifest:
    """The full manifest a delta against ``path`` is made against: ``path`` is a bundle
    (a file, dir bundle or URL) or a base file :func:`export_base` wrote."""
    if not sources.is_url(path) and os.path.isfile(path) and _starts_with_brace(path):
        with open(path, "rb") as fh:
            raw = fh.read(MAX_MANIFEST_SIZE + 1)
        if len(raw) > MAX_MANIFEST_SIZE:
            raise BundleFormatError(f"{path} is larger than any manifest conda-envbundle writes.")
        ParseBudget(f"The base {path}", BundleFormatError).add(raw)
        manifest = Manifest.from_bytes(raw)
    else:
        with open_reader(path, MANIFEST_PATH) as reader:
            manifest, _ = read_manifest(reader)
    if manifest.delta is not None:
        return baseline.full_manifest(manifest)
    return baseline.shipped_manifest(manifest)


def _starts_with_brace(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(64).lstrip()[:1] == b"{"


def export_base(prefix: str, output: str, *, force: bool = False) -> ExportResult:
    """Write the base a delta for the environment at ``prefix`` must be made against:
    the full manifest of the bundle it was made from, checked against its checksum
    (``-``: standard output). Send it to whoever makes the delta (``--delta-from``)."""
    prefix = os.path.abspath(prefix)
    if not _compat.is_conda_environment(prefix):
        raise EnvBundleError(f"There is no environment at {prefix} to export the base of.")
    base = baseline.shipped_manifest(read_kept(prefix))
    _, pieces = base.to_stream()
    if output == "-":
        sys.stdout.buffer.writelines(pieces)
        sys.stdout.buffer.flush()
    else:
        output = os.path.abspath(output)
        if os.path.lexists(output) and not force:
            raise OutputExistsError(f"{output} already exists. Pass --force to overwrite it.")
        check_replaceable(output, "json")
        if not os.path.isdir(os.path.dirname(output)):
            raise EnvBundleError(f"The directory of {output} does not exist. Create it first.")
        try:
            with part_file(output) as (temp, fd), os.fdopen(fd, "wb", closefd=False) as fh:
                fh.writelines(pieces)
                fh.flush()
                os.fsync(fd)
                place(temp, output, "json", force)
        except OSError as exc:
            raise TargetWriteError(f"Cannot write {output}: {exc.strerror}.") from exc
    return ExportResult(output, baseline.identity(base), base.source_name, len(base.files))


def rollback(prefix: str) -> RollbackResult:
    """Put back the environment the last delta applied to ``prefix`` replaced (kept with
    ``keep_previous``), in one atomic exchange; the replaced one is kept in its place, so
    a second rollback goes forward again."""
    kept = generations.rollback(prefix)
    prefix = os.path.abspath(prefix)
    base = None
    if os.path.lexists(os.path.join(prefix, MANIFEST_PATH)):
        base = baseline.identity(baseline.shipped_manifest(read_kept(prefix)))
    return RollbackResult(prefix, base, kept.path, kept.own_size)
