"""``conda bundle``: an environment, read once, written as one relocatable bundle.

The guarantee: every decision is taken before the first byte is written, and the output
appears complete or not at all (see :mod:`.output`). A file that changes while it is
read stops the run; a file whose bytes differ from conda's record of them (a post-link
script edited it) makes the run start again once, reading such files in full.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .. import _compat, baseline, sizes
from .._version import __version__
from ..exceptions import FileChangedError
from ..manifest import Manifest
from ..signing import signature_path
from . import sidecars, summary
from .inventory import Inventory, take_inventory
from .plan import Plan, environment_name
from .readahead import RecordMismatch
from .write import WriteResult, write_bundle

log = logging.getLogger("conda.envbundle")


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
    sizes: dict[str, Any] = field(default_factory=dict)
    # written beside the output (with dry_run: would be): the SBOM file of each format
    # asked for, and the signature file
    sbom: dict[str, str] = field(default_factory=dict)
    signature: str | None = None
    # a delta: its base's checksum, and the files it takes from there instead of shipping
    base: str | None = None
    reused: int = 0


def bundle(plan: Plan) -> BundleResult:
    """Carry out ``plan``: inventory, manifest, write; once more if a record misled."""
    started = time.monotonic()
    try:
        return _bundle_once(plan, started)
    except RecordMismatch as exc:
        plan = dataclasses.replace(plan, distrust=frozenset(exc.paths))
        try:
            return _bundle_once(plan, started)
        except RecordMismatch as again:  # twice: they are being written to right now
            raise FileChangedError(
                f"{', '.join(again.paths[:3])} changed while being bundled. Stop whatever "
                "is writing to the environment and run conda bundle again."
            ) from None


def _bundle_once(plan: Plan, started: float) -> BundleResult:
    log.info("Reading the environment at %s", plan.prefix)
    inventory = take_inventory(plan)
    summary.log_inventory(inventory)
    manifest = manifest_of(inventory)
    if plan.delta_base is not None:
        manifest = baseline.make_delta(plan.delta_base, manifest)
    written = None
    if not plan.dry_run:
        log.info(
            "Writing a %s bundle (compression level %s, %d threads) to %s",
            plan.fmt,
            plan.level,
            plan.codec_threads,
            "standard output" if plan.output == "-" else plan.output,
        )
        written = write_bundle(inventory, manifest, plan)
    return _result(plan, inventory, manifest, written, time.monotonic() - started)


def manifest_of(inventory: Inventory) -> Manifest:
    """The manifest of the bundle that ships ``inventory``."""
    return Manifest(
        source_name=environment_name(inventory.prefix),
        subdir=inventory.subdir or _compat.native_subdir(),
        conda_version=_compat.CONDA_VERSION,
        tool_version=__version__,
        site_packages=inventory.site_packages,
        requirements=inventory.requirements,
        packages=inventory.packages,
        files=inventory.files,
        unrelocated=inventory.unrelocated,
        sbom=inventory.sbom,
    )


def _result(
    plan: Plan,
    inventory: Inventory,
    manifest: Manifest,
    written: WriteResult | None,
    elapsed: float,
) -> BundleResult:
    return BundleResult(
        output=plan.output,
        format=plan.fmt,
        size=written.size if written else 0,
        sha256=written.sha256 if written else None,
        source=plan.prefix,
        packages=len(manifest.packages),
        files=len(manifest.files),
        content_size=manifest.total_size,
        prefix_limit=manifest.prefix_limit,
        uncached=inventory.uncached,
        unrelocated=manifest.unrelocated,
        editables=inventory.editables,
        missing=inventory.missing,
        warnings=summary.warnings(inventory, manifest)
        + sidecars.stale(plan.output, plan.sbom, plan.sign),
        dry_run=plan.dry_run,
        elapsed=elapsed,
        sizes=sizes.breakdown(manifest) if plan.dry_run else {},
        sbom=sidecars.paths(plan.output, plan.sbom, None),
        signature=signature_path(plan.output) if plan.sign else None,
        base=manifest.delta["base"] if manifest.delta else None,
        reused=sum(1 for f in manifest.files if f.reuse),
    )
