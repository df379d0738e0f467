"""The Python API behind ``conda bundle`` and ``conda unbundle``; the CLI is a thin layer."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from . import _compat, progress, sbom, scan, settings, sources
from ._version import __version__
from .archive import open_file, open_reader
from .bundling.bundle import BundleResult
from .bundling.bundle import bundle as carry_out
from .bundling.multi import SeveralBundleResult, bundle_environments
from .bundling.plan import check_format, check_threads, default_output, environment_name, make_plan
from .bundling.refusals import editables_message, missing_message
from .collection import Collection, as_collection, chosen
from .exceptions import (
    BundleFormatError,
    EditableInstallError,
    EnvBundleError,
    FrozenEnvironmentError,
    MissingFilesError,
)
from .manifest import MANIFEST_PATH, Manifest
from .signing import Trust, Verified
from .unbundling.extract import read_manifest, verify_members
from .unbundling.multi import check_environments, install_head, read_bundle, verify_environments

__all__ = [
    "BundleResult",
    "Collection",
    "SeveralBundleResult",
    "UnbundleResult",
    "Verified",
    "__version__",
    "bundle",
    "bundle_environments",
    "check_format",
    "check_threads",
    "default_output",
    "environment_name",
    "inspect",
    "inspect_environments",
    "inspect_head",
    "make_sbom",
    "replaces",
    "stopping_error",
    "trust",
    "unbundle",
    "unbundle_all",
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
    bundle is written to ``<output>.sig``.

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
    env: str | None = None,
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

    From a bundle of several environments, ``env`` names the one to install (the same
    result as a bundle of it alone); :func:`unbundle_all` installs them all.
    """
    started = time.monotonic()
    prefix = os.path.abspath(prefix)
    replaced = replaces(prefix, force, override_frozen)
    policy = trust(allowed_signers, require_signature, signature)
    shown = "standard input" if bundle_path == "-" else sources.shown(bundle_path)
    log.info("Reading the manifest of %s", shown)
    with (
        sources.checked(bundle_path, policy) as checked,
        open_reader(checked.source, MANIFEST_PATH) as reader,
    ):
        head, members = read_bundle(reader)
        manifest = chosen(head, env)
        checked.accept(manifest)
        targets = {manifest.source_name: prefix}
        if dry_run:
            relocated = check_environments(head, targets, force)[manifest.source_name]
        else:
            log.info("Unbundling into %s%s", prefix, " (replacing it)" if replaced else "")
            made = install_head(reader, head, members, targets, force, threads, show_progress)
            relocated = made[manifest.source_name]
    _log_relocation(manifest, dry_run)
    return _result(manifest, prefix, relocated, replaced, dry_run, started, checked.signature)


def _result(manifest: Manifest, *facts: Any) -> UnbundleResult:
    """The result for ``manifest``: ``facts`` are prefix, relocated, replaced, dry_run,
    the start time and the signature."""
    prefix, relocated, replaced, dry_run, started, signature = facts
    counts = (len(manifest.packages), len(manifest.files), manifest.total_size)
    elapsed = time.monotonic() - started
    return UnbundleResult(prefix, *counts, relocated, replaced, dry_run, elapsed, signature)


def unbundle_all(
    bundle_path: str,
    envs_dir: str | None = None,
    *,
    force: bool = False,
    override_frozen: bool = False,
    threads: int = 0,
    dry_run: bool = False,
    show_progress: bool = False,
    allowed_signers: str | None = None,
    require_signature: bool | None = None,
    signature: str | None = None,
    confirm: Callable[[list[str]], None] | None = None,
) -> list[UnbundleResult]:
    """Install every environment of a bundle at ``envs_dir/<its name>`` (default: conda's
    first writable envs directory), all checked before anything is written, identical
    files hardlinked where safe. ``confirm`` gets the targets ``force`` would replace,
    before anything is written, and may refuse by raising; the rest is :func:`unbundle`'s.
    """
    started = time.monotonic()
    envs_dir = os.path.abspath(envs_dir) if envs_dir else _compat.first_writable_envs_dir()
    policy = trust(allowed_signers, require_signature, signature)
    with (
        sources.checked(bundle_path, policy) as checked,
        open_reader(checked.source, MANIFEST_PATH) as reader,
    ):
        head, members = read_bundle(reader)
        collection = as_collection(head)
        if isinstance(head, Manifest):
            checked.accept(head)
        targets = {name: os.path.join(envs_dir, name) for name in collection.names}
        replaced = {name: replaces(t, force, override_frozen) for name, t in targets.items()}
        if confirm is not None and any(replaced.values()):
            confirm([targets[name] for name, yes in replaced.items() if yes])
        if dry_run:
            relocated = check_environments(head, targets, force)
        else:
            log.info("Unbundling %d environments into %s", len(targets), envs_dir)
            relocated = install_head(reader, head, members, targets, force, threads, show_progress)
    envs = collection.environments
    done = [(e.manifest, targets[e.name], relocated[e.name], replaced[e.name]) for e in envs]
    return [_result(*one, dry_run, started, checked.signature) for one in done]


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


def inspect(bundle_path: str, env: str | None = None) -> Manifest:
    """Read a bundle's manifest without extracting anything (``-`` reads standard input;
    from a URL, only the first bytes where the server answers range requests).

    A bundle of several environments needs ``env``: the name of the one to read.
    """
    return chosen(inspect_head(bundle_path), env)


def inspect_environments(bundle_path: str) -> Collection:
    """The environments a bundle holds (one, or several), read as :func:`inspect` reads."""
    return as_collection(inspect_head(bundle_path))


def inspect_head(bundle_path: str) -> Manifest | Collection:
    """A bundle's first member, read without extracting anything: the manifest of its
    one environment, or the head of several."""
    with open_reader(_source(bundle_path), MANIFEST_PATH) as reader:
        head, _ = read_bundle(reader)
    return head


def verify(
    bundle_path: str,
    show_progress: bool = False,
    *,
    allowed_signers: str | None = None,
    require_signature: bool | None = None,
    signature: str | None = None,
) -> Manifest | Collection:
    """Check a whole bundle without installing it: every member against the manifest's
    rules, every file against its sha256, and its signature as :func:`unbundle` would.
    Writes nothing; raises a :class:`~.exceptions.BundleFormatError` for a damaged or
    hostile bundle, a :class:`~.exceptions.SignatureError` for a refused signature.
    Returns the manifest, or the head of several environments (all of them checked).
    """
    policy = trust(allowed_signers, require_signature, signature)
    return verify_signed(bundle_path, policy, show_progress)[0]


def verify_signed(
    bundle_path: str, policy: Trust, show_progress: bool = False
) -> tuple[Manifest | Collection, Verified | None]:
    """:func:`verify` under ``policy``; also returns the signature it verified, if any."""
    with (
        sources.checked(bundle_path, policy) as checked,
        open_reader(checked.source, MANIFEST_PATH) as reader,
    ):
        head, members = read_bundle(reader)
        if isinstance(head, Collection):
            verify_environments(reader, members, head, show_progress)
            return head, checked.signature
        checked.accept(head)
        with progress.step("Verifying", head.total_size, show_progress) as verifying:
            verify_members(reader, members, head, verifying)
    return head, checked.signature


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
