"""The Python API behind ``conda bundle`` and ``conda unbundle``; the CLI is a thin layer."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata

from . import _compat, inventory, progress, sizes
from .archive import check_level, default_level, level_format, open_reader, sh
from .checks import check_target
from .exceptions import (
    EditableInstallError,
    EnvBundleError,
    FileChangedError,
    FrozenEnvironmentError,
    MissingFilesError,
    OutputExistsError,
    SourceEnvironmentError,
)
from .extract import read_manifest, verify_members
from .formats import DEFAULT_FORMAT, FORMATS, output_format
from .install import install
from .manifest import MANIFEST_PATH, Manifest
from .output import check_output_name, check_replaceable
from .pack import RecordMismatch, WriteOptions, write_bundle

# Under conda's logger, so that conda's -v options and handlers apply (see cli.py).
log = logging.getLogger("conda.envbundle")

try:
    __version__ = metadata.version("conda-envbundle")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


@dataclass
class BundleResult:
    """What ``bundle()`` wrote (or, with ``dry_run``, would write: then size is 0)."""

    output: str
    format: str
    size: int
    sha256: str | None
    source: str
    packages: int
    files: int
    content_size: int
    prefix_limit: int | None = None
    uncached: list[str] = field(default_factory=list)
    unrelocated: list[dict[str, str]] = field(default_factory=list)
    editables: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    elapsed: float = 0.0
    # with dry_run: where the size goes (sizes.breakdown), to choose --exclude patterns
    sizes: dict = field(default_factory=dict)


@dataclass
class UnbundleResult:
    """What ``unbundle()`` made (or, with ``dry_run``, would make)."""

    prefix: str
    packages: int
    files: int
    content_size: int
    relocated: int
    replaced: bool = False
    dry_run: bool = False
    elapsed: float = 0.0


def environment_name(prefix: str) -> str:
    """conda's name of the environment at ``prefix`` (``base`` for conda's own), else the
    last part of its path."""
    from conda.base.context import env_name

    return os.path.basename(os.path.normpath(env_name(prefix))) or "env"


def default_output(prefix: str, fmt: str = DEFAULT_FORMAT) -> str:
    """``<environment name>.<format>`` (``<name>-bundle`` for dir) in the current directory."""
    name = environment_name(prefix)
    return os.path.abspath(f"{name}-bundle" if fmt == "dir" else f"{name}.{fmt}")


def bundle(
    prefix: str,
    output: str | None = None,
    *,
    fmt: str | None = None,
    level: int | None = None,
    threads: int = 0,
    force: bool = False,
    filters: list[tuple[str, str]] | None = None,
    ignore_editable: bool = False,
    ignore_missing: bool = False,
    dest_prefix: str | None = None,
    sh_codec: str = "gzip",
    dry_run: bool = False,
    show_progress: bool = False,
) -> BundleResult:
    """Pack the conda environment at ``prefix`` into one relocatable bundle.

    With ``dest_prefix`` every prefix is rewritten now, so the extracted tree works at
    that path with no unpack step (and stays relocatable from there). With ``dry_run``
    everything is read and decided, editable installs and missing files are reported
    instead of refused, and nothing is written. ``show_progress`` reports each step on
    standard error: a bar with rate and remaining time on a terminal, else a line per step.

    ``output`` is a file (``-`` for standard output, or a directory for ``fmt="dir"``);
    ``fmt`` defaults to what its name says, else tar.zst. ``level`` is the codec's
    compression level and ``threads`` its thread count (0 or -1: all cores). ``filters`` are
    ``("exclude" | "include", fnmatch pattern)`` pairs applied in order to paths relative
    to the environment. Every user error is an :class:`~.exceptions.EnvBundleError`; on
    error no output is left behind.
    """
    started = time.monotonic()
    prefix = os.path.abspath(prefix)
    if not _compat.is_conda_environment(prefix):
        raise SourceEnvironmentError(
            f"{prefix} is not a conda environment (it has no conda-meta/history). "
            "Name an existing environment with -n or -p."
        )
    fmt = fmt or (output and output_format(output)) or DEFAULT_FORMAT
    output = _output_path(prefix, output, fmt, force)
    sh.payload_format(sh_codec)  # refuses an unknown payload, whatever the format
    check_threads(threads)
    threads = max(threads, 0)  # conda-pack's -1, like our 0, is all cores
    write_options = _write_options(fmt, level, threads, sh_codec)
    write_options.sh_codec, write_options.dest_prefix = sh_codec, dest_prefix
    write_options.force = force
    unknown = sorted({kind for kind, _ in filters or [] if kind not in ("exclude", "include")})
    if unknown:
        raise EnvBundleError(f"A filter is 'exclude' or 'include', not {unknown[0]!r}.")
    _check_filters(prefix, filters or [])
    if dest_prefix is not None and not os.path.isabs(dest_prefix):
        raise EnvBundleError(f"--dest-prefix must be an absolute path, not {dest_prefix!r}.")
    options = inventory.Options(
        filters or [],
        ignore_editable or dry_run,
        ignore_missing or dry_run,
        threads,
        dest_prefix,
        show_progress,
        # standard output cannot be rewound to bundle again after a record mismatch
        trust_records=output != "-",
        zip_names=fmt == "zip",
    )
    try:
        return _bundle_once(prefix, output, fmt, options, write_options, dry_run, started)
    except RecordMismatch as exc:
        # Files that differ from conda's record (a post-link script edited them, say):
        # bundle again reading those in full. A second mismatch means they are changing.
        options.distrust = frozenset(exc.paths)
        try:
            return _bundle_once(prefix, output, fmt, options, write_options, dry_run, started)
        except RecordMismatch as again:
            raise FileChangedError(
                f"{', '.join(again.paths[:3])} changed while being bundled. Stop whatever "
                "is writing to the environment and run conda bundle again."
            ) from None


def _bundle_once(
    prefix: str,
    output: str,
    fmt: str,
    options: inventory.Options,
    write_options: WriteOptions,
    dry_run: bool,
    started: float,
) -> BundleResult:
    log.info("Reading the environment at %s", prefix)
    inv = inventory.take_inventory(prefix, options)
    _log_inventory(inv)
    manifest = Manifest(
        source_name=environment_name(prefix),
        subdir=inv.subdir or _compat.native_subdir(),
        conda_version=_compat.CONDA_VERSION,
        tool_version=__version__,
        site_packages=inv.site_packages,
        requirements=inv.requirements,
        packages=inv.packages,
        files=inv.files,
        unrelocated=inv.unrelocated,
    )
    written = None
    if not dry_run:
        write_options.show_progress = options.show_progress
        log.info(
            "Writing a %s bundle (compression level %s, %d threads) to %s",
            fmt,
            write_options.level,
            write_options.threads,
            "standard output" if output == "-" else output,
        )
        written = write_bundle(inv, manifest, output, write_options)
    return BundleResult(
        output=output,
        format=fmt,
        size=written.size if written else 0,
        sha256=written.sha256 if written else None,
        source=prefix,
        packages=len(inv.packages),
        files=len(manifest.files),
        content_size=manifest.total_size,
        prefix_limit=manifest.prefix_limit,
        uncached=inv.uncached,
        unrelocated=inv.unrelocated,
        editables=inv.editables,
        missing=inv.missing,
        warnings=_warnings(inv, manifest),
        dry_run=dry_run,
        elapsed=time.monotonic() - started,
        sizes=sizes.breakdown(manifest) if dry_run else {},
    )


def _output_path(prefix: str, output: str | None, fmt: str, force: bool) -> str:
    check_format(fmt)
    if output == "-":
        if fmt in ("dir", "sh"):
            raise EnvBundleError(f"A {fmt} bundle cannot be written to standard output.")
        return output
    output = os.path.abspath(output or default_output(prefix, fmt))
    check_replaceable(output, fmt)  # first: what --force may not replace is said at once
    if os.path.lexists(output) and not force:
        raise OutputExistsError(f"{output} already exists. Pass --force to overwrite it.")
    if not os.path.isdir(os.path.dirname(output)):
        raise EnvBundleError(f"The directory of {output} does not exist. Create it first.")
    check_output_name(output)
    return output


def _write_options(fmt: str, level: int | None, threads: int, sh_codec: str) -> WriteOptions:
    codec = level_format(fmt, sh_codec)
    if level is None:
        level = default_level(codec) if codec else None
    else:
        check_level(codec or fmt, level)
    return WriteOptions(fmt, level, threads or (os.cpu_count() or 1))


def _check_filters(prefix: str, filters: list[tuple[str, str]]) -> None:
    """Refuse filters that leave out what makes the result a conda environment: its
    history (conda's mark of an environment) and its package records."""
    meta = os.path.join(prefix, "conda-meta")
    records = sorted(name for name in os.listdir(meta) if name.endswith(".json"))
    essential = ["conda-meta/history", *(f"conda-meta/{name}" for name in records)]
    lost = [path for path in essential if not inventory.wanted(path, filters)]
    if lost:
        shown = ", ".join(lost[:3]) + (" ..." if len(lost) > 3 else "")
        raise EnvBundleError(
            f"The filters leave out {shown}, without which conda would not recognise the "
            "result as an environment. Narrow the --exclude patterns, or --include these "
            "back."
        )


def check_threads(threads: int) -> None:
    """Refuse a thread count below -1: 0, and -1 as in conda-pack, mean all cores."""
    if threads < -1:
        raise EnvBundleError(
            "The thread count (-j) is a number of threads, or 0 or -1 for all cores, "
            f"not {threads}."
        )


def check_format(fmt: str) -> None:
    """Refuse a format name that is not one of :data:`~.archive.FORMATS`."""
    if fmt not in FORMATS:
        raise EnvBundleError(f"Unknown format {fmt!r}. Choose one of: {', '.join(FORMATS)}.")


def stopping_error(
    result: BundleResult, ignore_editable: bool, ignore_missing: bool
) -> EnvBundleError | None:
    """The error that would stop the real run a dry run described, if any."""
    if result.editables and not ignore_editable:
        return EditableInstallError(inventory.editables_message(result.editables))
    if result.missing and not ignore_missing:
        return MissingFilesError(inventory.missing_message(result.missing))
    return None


def _log_inventory(inv: inventory.Inventory) -> None:
    """The decisions the inventory took: where bytes come from, what is relocated, and why."""
    from_cache = [item for item in inv.items if item.source]
    holding = [item for item in inv.items if item.entry.prefix and not item.source]
    log.info(
        "%d packages, %d entries: %d files from pristine package-cache copies (they hold "
        "the package's placeholder), %d files as installed that hold this environment's "
        "path, %d files that keep it",
        len(inv.packages),
        len(inv.items),
        len(from_cache),
        len(holding),
        len(inv.unrelocated),
    )
    if inv.uncached:
        log.info("Not in the package cache: %s", ", ".join(inv.uncached))
    if not log.isEnabledFor(logging.DEBUG):
        return
    for item in from_cache:
        rule = item.entry.prefix
        assert rule is not None  # a package-cache copy is shipped for its placeholder
        log.debug(
            "%s: from the package cache (%s), %s placeholder of %d bytes rewritten at unbundle",
            item.entry.path,
            item.source,
            rule.mode,
            len(rule.placeholder.encode()),
        )
    for item in holding:
        rule = item.entry.prefix
        assert rule is not None
        log.debug(
            "%s: as installed, holds the environment's path (%s): rewritten from it at unbundle",
            item.entry.path,
            rule.mode,
        )
    for kept in inv.unrelocated:
        log.debug("%s: keeps the old path: %s", kept["path"], kept["reason"])


def _warnings(inv: inventory.Inventory, manifest: Manifest) -> list[str]:
    notes = []
    packages, files = inv.limited_by
    if packages or files:
        why = []
        if packages:
            why.append(f"binaries of {', '.join(packages)} (not in the package cache)")
        if files:
            shown = ", ".join(files[:3]) + (" ..." if len(files) > 3 else "")
            why.append(f"binaries not installed by conda ({shown})")
        notes.append(
            f"Target paths can be at most {manifest.prefix_limit} bytes, the length of the "
            f"path these hold in binary form: {'; '.join(why)}."
        )
    if inv.uncached:
        notes.insert(
            0,
            f"{len(inv.uncached)} package(s) are not in the package cache "
            f"({', '.join(inv.uncached)}): their files that hold the environment's path are "
            "taken from the environment, to be rewritten from its current path.",
        )
    binaries = [u["path"] for u in inv.unrelocated if not u["path"].endswith((".pyc", ".pyo"))]
    if binaries:
        notes.append(
            f"{len(binaries)} file(s) contain the environment's path in a form that cannot be "
            f"rewritten safely and will keep it: {', '.join(binaries[:5])}"
            + (" ..." if len(binaries) > 5 else "")
        )
    if inv.left_out:
        notes.append(
            f"Left out {len(inv.left_out)} entries a bundle cannot hold (fifos, sockets, "
            "devices, or a conda-meta/envbundle that is not a directory): "
            + ", ".join(inv.left_out[:5])
            + (" ..." if len(inv.left_out) > 5 else "")
        )
    return notes


def unbundle(
    bundle_path: str,
    prefix: str,
    *,
    force: bool = False,
    override_frozen: bool = False,
    threads: int = 0,
    dry_run: bool = False,
    show_progress: bool = False,
) -> UnbundleResult:
    """Create a working environment at ``prefix`` from a bundle (``-`` reads standard input).

    Every check runs before anything is written; on error the target is as it was. With
    ``dry_run`` only the manifest is read and the checks run: nothing is written. An
    environment marked frozen (``conda-meta/frozen``) is replaced only with ``force`` and
    ``override_frozen``.
    """
    started = time.monotonic()
    prefix = os.path.abspath(prefix)
    replaced = replaces(prefix, force, override_frozen)
    log.info("Reading the manifest of %s", "standard input" if bundle_path == "-" else bundle_path)
    with open_reader(_source(bundle_path), MANIFEST_PATH) as reader:
        if dry_run:
            manifest, _ = read_manifest(reader)
            check_target(manifest, prefix, force)
            relocated = sum(1 for f in manifest.files if f.prefix)
        else:
            log.info("Unbundling into %s%s", prefix, " (replacing it)" if replaced else "")
            result = install(
                reader, prefix, force=force, threads=threads, show_progress=show_progress
            )
            manifest, relocated = result.manifest, result.relocated
    _log_relocation(manifest, dry_run)
    return UnbundleResult(
        prefix=prefix,
        packages=len(manifest.packages),
        files=len(manifest.files),
        content_size=manifest.total_size,
        relocated=relocated,
        replaced=replaced,
        dry_run=dry_run,
        elapsed=time.monotonic() - started,
    )


def replaces(prefix: str, force: bool, override_frozen: bool = False) -> bool:
    """True when unbundling to ``prefix`` replaces the environment there (``force``).

    An environment marked frozen (CEP 22: ``conda-meta/frozen``) is refused, as conda
    refuses to change one, unless ``override_frozen``.
    """
    if not _compat.is_conda_environment(prefix):
        return False
    frozen = _compat.frozen_reason(prefix)
    if frozen is not None and not override_frozen:
        reason = f" Reason: {frozen.strip().rstrip('.')}." if frozen.strip() else ""
        raise FrozenEnvironmentError(
            f"{prefix} is an environment marked as frozen (conda-meta/frozen).{reason} "
            "conda unbundle replaces it only with --force and --override-frozen, at your "
            "own risk."
        )
    return force


def _log_relocation(manifest: Manifest, dry_run: bool) -> None:
    """Which files are rewritten for the new place, from which path, and how."""
    rules = [f for f in manifest.files if f.prefix]
    placeholders = Counter(
        (f.prefix.mode, len(f.prefix.placeholder.encode())) for f in rules if f.prefix
    )
    log.info(
        "%s %d files for the new path: %s",
        "Would relocate" if dry_run else "Relocated",
        len(rules),
        ", ".join(
            f"{count} {mode} from a {length}-byte path"
            for (mode, length), count in sorted(placeholders.items())
        )
        or "none",
    )
    if log.isEnabledFor(logging.DEBUG):
        for entry in rules:
            assert entry.prefix is not None
            log.debug(
                "%s: %s rewrite of %s", entry.path, entry.prefix.mode, entry.prefix.placeholder
            )


def inspect(bundle_path: str) -> Manifest:
    """Read a bundle's manifest without extracting anything (``-`` reads standard input)."""
    with open_reader(_source(bundle_path), MANIFEST_PATH) as reader:
        manifest, _ = read_manifest(reader)
    return manifest


def verify(bundle_path: str, show_progress: bool = False) -> Manifest:
    """Check a whole bundle without installing it: every member against the manifest's
    rules, every file against its sha256. Writes nothing; raises a
    :class:`~.exceptions.BundleFormatError` for a damaged or hostile bundle.
    """
    with open_reader(_source(bundle_path), MANIFEST_PATH) as reader:
        manifest, members = read_manifest(reader)
        with progress.step("Verifying", manifest.total_size, show_progress) as verifying:
            verify_members(reader, members, manifest, verifying)
    return manifest


def _source(bundle_path: str):
    return sys.stdin.buffer if bundle_path == "-" else bundle_path
