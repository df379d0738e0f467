"""The Python API behind ``conda bundle`` and ``conda unbundle``; the CLI is a thin layer."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from . import _compat, progress, sbom, scan, settings, sources
from ._version import __version__
from .archive import open_file, open_reader
from .bundling.bundle import BundleResult
from .bundling.bundle import bundle as carry_out
from .bundling.plan import check_format, check_threads, default_output, environment_name, make_plan
from .bundling.refusals import editables_message, missing_message
from .exceptions import (
    BundleFormatError,
    EditableInstallError,
    EnvBundleError,
    FrozenEnvironmentError,
    MissingFilesError,
)
from .manifest import MANIFEST_PATH, Manifest
from .signing import Trust, Verified
from .unbundling.assemble import InstallResult
from .unbundling.extract import read_manifest, verify_members
from .unbundling.generations import own_size
from .unbundling.install import install
from .unbundling.preflight import check_platform, check_target
from .unbundling.update import check_base
from .updates import ExportResult as ExportResult
from .updates import RollbackResult as RollbackResult
from .updates import export_base as export_base
from .updates import load_base
from .updates import rollback as rollback

__all__ = [
    "BundleResult",
    "UnbundleResult",
    "Verified",
    "__version__",
    "bundle",
    "check_format",
    "check_threads",
    "default_output",
    "environment_name",
    "inspect",
    "make_sbom",
    "replaces",
    "stopping_error",
    "trust",
    "unbundle",
    "verify",
    "verify_signed",
]

# Under conda's logger, so that conda's -v options and handlers apply (see cli.py).
log = logging.getLogger("conda.envbundle")


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
    # the bundle's signature, when it was verified (None: not checked, or unsigned and
    # no signature required)
    signature: Verified | None = None
    # a delta: the files it took from the environment it replaced, and where that one
    # is kept with the bytes only it holds (None: removed)
    delta: bool = False
    reused: int = 0
    previous: str | None = None
    previous_size: int = 0


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
    sbom: list[str] | tuple[str, ...] = (),
    sign: str | None = None,
    delta_from: str | None = None,
) -> BundleResult:
    """Pack the conda environment at ``prefix`` into one relocatable bundle.

    With ``dest_prefix`` every prefix is rewritten now, so the extracted tree works at
    that path with no unpack step (and stays relocatable from there). With ``dry_run``
    everything is read and decided, editable installs and missing files are reported
    instead of refused, and nothing is written. ``show_progress`` reports each step on
    standard error: a bar with rate and remaining time on a terminal, else a line per step.
    ``sbom`` lists SBOM formats (``cyclonedx``, ``spdx``) written beside the output
    (``<output>.cdx.json``, ``<output>.spdx.json``); ``sign`` is an OpenSSH key (a private
    key file, or a public key whose private half ssh-agent holds) whose signature of the
    bundle is written to ``<output>.sig``. With ``delta_from`` (a bundle, or a base file
    :func:`export_base` wrote) the bundle is a delta: it ships only what changed since
    that base, and applies only to an environment made from it.

    ``output`` is a file (``-`` for standard output, or a directory for ``fmt="dir"``);
    ``fmt`` defaults to what its name says, else tar.zst. ``level`` is the codec's
    compression level and ``threads`` its thread count (0 or -1: all cores). ``filters`` are
    ``("exclude" | "include", fnmatch pattern)`` pairs applied in order to paths relative
    to the environment. Every user error is an :class:`~.exceptions.EnvBundleError`; on
    error no output is left behind.
    """
    plan = make_plan(
        prefix,
        output,
        fmt=fmt,
        level=level,
        threads=threads,
        force=force,
        filters=filters,
        ignore_editable=ignore_editable,
        ignore_missing=ignore_missing,
        dest_prefix=dest_prefix,
        sh_codec=sh_codec,
        dry_run=dry_run,
        show_progress=show_progress,
        sbom=sbom,
        sign=sign,
        delta_base=load_base(delta_from) if delta_from is not None else None,
    )
    return carry_out(plan)


def stopping_error(
    result: BundleResult, ignore_editable: bool, ignore_missing: bool
) -> EnvBundleError | None:
    """The error that would stop the real run a dry run described, if any."""
    if result.editables and not ignore_editable:
        return EditableInstallError(editables_message(result.editables))
    if result.missing and not ignore_missing:
        return MissingFilesError(missing_message(result.missing))
    return None


def unbundle(
    bundle_path: str,
    prefix: str,
    *,
    force: bool = False,
    override_frozen: bool = False,
    threads: int = 0,
    dry_run: bool = False,
    show_progress: bool = False,
    allowed_signers: str | None = None,
    require_signature: bool | None = None,
    signature: str | None = None,
    verify: bool = False,
    keep_previous: bool | None = None,
) -> UnbundleResult:
    """Create a working environment at ``prefix`` from a bundle (``-`` reads standard input;
    an ``http://``, ``https://`` or ``s3://`` URL is read as conda reads channels).

    Every check runs before anything is written; on error the target is as it was. With
    ``dry_run`` only the manifest is read and the checks run: nothing is written. An
    environment marked frozen (``conda-meta/frozen``) is replaced only with ``force`` and
    ``override_frozen``.

    With ``allowed_signers`` (an OpenSSH allowed-signers file) a signed bundle must match
    its signature (``signature``, default ``<bundle>.sig``), made by one of them; with
    ``require_signature`` an unsigned one is refused too (:func:`trust` says how the
    settings fill what is None). A signed bundle is verified and installed from one
    private copy.

    A delta bundle updates the environment at ``prefix``, which must have been made from
    its base and be unchanged since (with ``verify``: every file's sha256 is checked);
    ``keep_previous`` (default: the ``unbundle_keep_previous`` setting) keeps the
    environment it replaces for :func:`rollback`.
    """
    started = time.monotonic()
    prefix = os.path.abspath(prefix)
    keep = bool(settings.value("unbundle_keep_previous", keep_previous))
    replaced = replaces(prefix, force, override_frozen)
    policy = trust(allowed_signers, require_signature, signature)
    shown = "standard input" if bundle_path == "-" else sources.shown(bundle_path)
    log.info("Reading the manifest of %s", shown)
    with (
        sources.checked(bundle_path, policy) as checked,
        open_reader(checked.source, MANIFEST_PATH) as reader,
    ):
        if dry_run:
            manifest, _ = read_manifest(reader)
            checked.accept(manifest)
            _check(manifest, prefix, force, verify)
            relocated = sum(1 for f in manifest.files if f.prefix)
            result = InstallResult(prefix, manifest, relocated)
        else:
            log.info("Unbundling into %s%s", prefix, " (replacing it)" if replaced else "")
            result = install(
                reader,
                prefix,
                force=force,
                threads=threads,
                show_progress=show_progress,
                accept=checked.accept,
                verify=verify,
                keep_previous=keep,
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
        signature=checked.signature,
        delta=manifest.delta is not None,
        reused=sum(1 for f in manifest.files if f.reuse),
        previous=result.previous,
        previous_size=own_size(result.previous) if result.previous else 0,
    )


def _check(manifest: Manifest, prefix: str, force: bool, verify: bool) -> None:
    """The checks a real run makes before writing anything."""
    if manifest.delta is None:
        check_target(manifest, prefix, force)
    else:
        check_platform(manifest, prefix)
        check_base(manifest, prefix, verify)


def trust(
    allowed_signers: str | None = None,
    require_signature: bool | None = None,
    signature: str | None = None,
) -> Trust:
    """Whom unbundling trusts: the arguments, and for each one that is None the setting
    (``unbundle_allowed_signers``, ``unbundle_require_signature``)."""
    allowed = settings.value("unbundle_allowed_signers", allowed_signers) or None
    required = settings.value("unbundle_require_signature", require_signature)
    if allowed is not None:
        allowed = os.path.expanduser(allowed)
    return Trust(allowed_signers=allowed, require=bool(required), signature=signature)


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
    """Read a bundle's manifest without extracting anything (``-`` reads standard input;
    from a URL, only the first bytes where the server answers range requests)."""
    with open_reader(_source(bundle_path), MANIFEST_PATH) as reader:
        manifest, _ = read_manifest(reader)
    return manifest


def verify(
    bundle_path: str,
    show_progress: bool = False,
    *,
    allowed_signers: str | None = None,
    require_signature: bool | None = None,
    signature: str | None = None,
) -> Manifest:
    """Check a whole bundle without installing it: every member against the manifest's
    rules, every file against its sha256, and its signature as :func:`unbundle` would.
    Writes nothing; raises a :class:`~.exceptions.BundleFormatError` for a damaged or
    hostile bundle, a :class:`~.exceptions.SignatureError` for a refused signature.
    """
    policy = trust(allowed_signers, require_signature, signature)
    return verify_signed(bundle_path, policy, show_progress)[0]


def verify_signed(
    bundle_path: str, policy: Trust, show_progress: bool = False
) -> tuple[Manifest, Verified | None]:
    """:func:`verify` under ``policy``; also returns the signature it verified, if any."""
    with (
        sources.checked(bundle_path, policy) as checked,
        open_reader(checked.source, MANIFEST_PATH) as reader,
    ):
        manifest, members = read_manifest(reader)
        checked.accept(manifest)
        with progress.step("Verifying", manifest.shipped_size, show_progress) as verifying:
            verify_members(reader, members, manifest, verifying)
    return manifest, checked.signature


def make_sbom(bundle_path: str, fmt: str) -> dict[str, Any]:
    """The SBOM (``fmt``: ``cyclonedx`` or ``spdx``) of a bundle, from its manifest and the
    sha256 of the bundle file (read whole, extracted nowhere; ``-`` reads standard input).
    The same document as ``bundle(..., sbom=[fmt])`` wrote beside it.
    """
    sbom.check_formats([fmt])
    if sources.is_url(bundle_path):  # read twice: ranges for the manifest, then whole
        return sbom.document(inspect(bundle_path), fmt, _url_sha256(bundle_path))
    if bundle_path != "-" and os.path.isdir(bundle_path):
        return sbom.document(inspect(bundle_path), fmt, None)
    if bundle_path == "-":
        return _streamed_sbom(sys.stdin.buffer, fmt)
    # One open: the sha256 is of the very bytes whose manifest the document describes,
    # whatever happens to the path meanwhile.
    with open_file(bundle_path) as fh:
        if not fh.seekable():  # a fifo, say
            return _streamed_sbom(fh, fmt)
        before = scan.signature(os.fstat(fh.fileno()))
        digest = sbom.HashingReader(fh).finish()
        fh.seek(0)
        with open_reader(fh, MANIFEST_PATH) as reader:
            manifest, _ = read_manifest(reader)
        if scan.signature(os.fstat(fh.fileno())) != before:
            raise BundleFormatError(
                f"{bundle_path} changed while its SBOM was made. Make the SBOM again once "
                "nothing writes to it."
            )
    return sbom.document(manifest, fmt, digest)


def _streamed_sbom(raw: BinaryIO, fmt: str) -> dict[str, Any]:
    """The SBOM of a bundle read once from a stream: the manifest, then the rest."""
    stream = sbom.HashingReader(raw)
    # the readers want only read() of a stream
    with open_reader(cast(BinaryIO, stream), MANIFEST_PATH) as reader:
        manifest, _ = read_manifest(reader)
    return sbom.document(manifest, fmt, stream.finish())


def _url_sha256(url: str) -> str:
    with sources.open_url(url) as remote:
        return sbom.HashingReader(cast(BinaryIO, remote)).finish()


def _source(bundle_path: str):
    return sys.stdin.buffer if bundle_path == "-" else bundle_path
