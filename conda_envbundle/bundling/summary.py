"""What the inventory decided, told to the user: log lines and the result's warnings."""

from __future__ import annotations

import logging

from ..manifest import Manifest
from .inventory import Inventory

# Under conda's logger, so that conda's -v options and handlers apply (see cli.py).
log = logging.getLogger("conda.envbundle")


def log_inventory(inv: Inventory) -> None:
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


def warnings(inv: Inventory, manifest: Manifest) -> list[str]:
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
