"""The Python API behind ``conda bundle`` and ``conda unbundle``; the CLI is a thin layer."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _compat, settings, sources
from ._version import __version__
from .archive import open_reader
from .bundling.bundle import BundleResult
from .bundling.bundle import bundle as carry_out
from .bundling.multi import SeveralBundleResult, bundle_environments
from .bundling.plan import check_format, check_threads, default_output, environment_name, make_plan
from .bundling.refusals import editables_message, missing_message
from .collection import Collection, as_collection, chosen
from .exceptions import (
    EditableInstallError,
    EnvBundleError,
    MissingFilesError,
)
from .manifest import MANIFEST_PATH, Manifest
from .policy import replaces, trust
from .reading import inspect, inspect_environments, inspect_head, make_sbom, verify, verify_signed
from .signing import Verified
from .unbundling.assemble import InstallResult
from .unbundling.generations import own_size
from .unbundling.install import install
from .unbundling.multi import check_environments, install_head, read_bundle
from .unbundling.preflight import check_platform
from .unbundling.update import check_base
from .updates import ExportResult, RollbackResult, export_base, load_base, rollback

__all__ = [
    "BundleResult",
    "Collection",
    "ExportResult",
    "RollbackResult",
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
    "export_base",
    "inspect",
    "inspect_environments",
    "inspect_head",
    "make_sbom",
    "replaces",
    "rollback",
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

    A delta bundle updates the environment at ``prefix``, which must have been made from
    its base and be unchanged since (with ``verify``: every file's sha256 is checked);
    ``keep_previous`` (default: the ``unbundle_keep_previous`` setting) keeps the
    environment it replaces for :func:`rollback`.

    From a bundle of several environments, ``env`` names the one to install (the same
    result as a bundle of it alone); :func:`unbundle_all` installs them all.
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
        head, members = read_bundle(reader)
        manifest = chosen(head, env)
        checked.accept(manifest)
        targets = {manifest.source_name: prefix}
        if dry_run:
            relocated = _dry_run(head, manifest, prefix, force, verify)
            result = InstallResult(prefix, manifest, relocated)
        elif isinstance(head, Manifest):
            log.info("Unbundling into %s%s", prefix, " (replacing it)" if replaced else "")
            result = install(
                reader,
                prefix,
                force=force,
                threads=threads,
                show_progress=show_progress,
                verify=verify,
                keep_previous=keep,
                head=(head, members),
            )
        else:
            log.info("Unbundling into %s%s", prefix, " (replacing it)" if replaced else "")
            made = install_head(reader, head, members, targets, force, threads, show_progress)
            result = InstallResult(prefix, manifest, made[manifest.source_name])
    _log_relocation(manifest, dry_run)
    return _result(
        manifest, prefix, result.relocated, replaced, dry_run, started, checked.signature, result
    )


def _dry_run(
    head: Manifest | Collection, manifest: Manifest, prefix: str, force: bool, verify: bool
) -> int:
    """The checks a real run makes before writing anything; how many files it relocates."""
    if manifest.delta is None:
        return check_environments(head, {manifest.source_name: prefix}, force)[manifest.source_name]
    check_platform(manifest, prefix)
    check_base(manifest, prefix, verify)
    return sum(1 for f in manifest.files if f.prefix)


def _result(manifest: Manifest, *facts: Any) -> UnbundleResult:
    """The result for ``manifest``: ``facts`` are prefix, relocated, replaced, dry_run,
    the start time, the signature and the install's result (None: several at once)."""
    prefix, relocated, replaced, dry_run, started, signature, made = facts
    counts = (len(manifest.packages), len(manifest.files), manifest.total_size)
    elapsed = time.monotonic() - started
    previous = made.previous if made else None
    return UnbundleResult(
        prefix,
        *counts,
        relocated,
        replaced,
        dry_run,
        elapsed,
        signature,
        delta=manifest.delta is not None,
        reused=sum(1 for f in manifest.files if f.reuse),
        previous=previous,
        previous_size=own_size(previous) if previous else 0,
    )


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
    return [_result(*one, dry_run, started, checked.signature, None) for one in done]


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
