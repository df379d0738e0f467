"""What an SBOM needs of an environment beyond conda's records: the Python distributions
that no conda package installed (pip, uv, ...), and the files that no package owns.

Recorded in the manifest's optional ``sbom`` key at bundle time, because a bundle's
manifest alone cannot tell them apart later: it lists files, not who installed them.
"""

from __future__ import annotations

import base64
import binascii
import csv
import email.parser
import io
import os
import posixpath
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ..manifest import FILE

if TYPE_CHECKING:
    from .items import Item
    from .packages import PackageFiles

_DIST_INFO = ".dist-info"
# RECORD and METADATA are small; a larger one is not worth describing
_MAX_METADATA = 64 << 20
# the manifest's rule for short text (conda unbundle refuses longer), with room to spare
_MAX_TEXT = 1024


def recorded_text(value: Any) -> str | None:
    """A value from a package's metadata as text the manifest takes: no NUL, not too
    long, valid UTF-8 (None when there is none)."""
    if value is None:
        return None
    text = str(value).replace("\0", "").encode("utf-8", "replace").decode("utf-8")
    return text[:_MAX_TEXT]


def sbom_facts(
    prefix: str,
    site_packages: str | None,
    pkgs: list[PackageFiles],
    items: list[Item],
    mtime: int,
) -> dict[str, Any]:
    """The manifest's ``sbom`` key for the bundle that ships ``items``."""
    shipped = {item.entry.path: item.entry for item in items if item.entry.kind == FILE}
    owned = {path for pkg in pkgs for path in pkg.record_paths}
    dists = [
        dist
        for folder in _foreign_dist_infos(site_packages, shipped, owned)
        if (dist := _distribution(prefix, site_packages or "", folder, shipped)) is not None
    ]
    owned.update(path for dist in dists for path, _ in dist["record"])
    owned.update(posixpath.join(dist["metadata"], "RECORD") for dist in dists)
    return {
        "mtime": mtime,
        "python_distributions": dists,
        "unowned": _unowned(shipped, owned),
    }


def _foreign_dist_infos(
    site_packages: str | None, shipped: dict[str, Any], owned: set[str]
) -> list[str]:
    """The ``*.dist-info`` directories in site-packages whose METADATA is shipped and
    belongs to no conda package."""
    if not site_packages:
        return []
    found = set()
    for path in shipped:
        folder, name = posixpath.split(path)
        if (
            name == "METADATA"
            and posixpath.dirname(folder) == site_packages
            and folder.endswith(_DIST_INFO)
            and path not in owned
        ):
            found.add(folder)
    return sorted(found)


def _distribution(
    prefix: str, site_packages: str, folder: str, shipped: dict[str, Any]
) -> dict[str, Any] | None:
    """Name, version, installer and RECORD sha256 of the files shipped, or None when its
    METADATA names no distribution."""
    headers = email.parser.Parser().parsestr(_read(prefix, f"{folder}/METADATA"), headersonly=True)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    return {
        "name": recorded_text(str(name).strip()),
        "version": recorded_text(str(version).strip()),
        "installer": recorded_text(_read(prefix, f"{folder}/INSTALLER").strip() or "unknown"),
        "metadata": folder,
        "record": _record(_read(prefix, f"{folder}/RECORD"), site_packages, shipped),
    }


def _record(text: str, site_packages: str, shipped: dict[str, Any]) -> list[list[str]]:
    """``[path, sha256 hex]`` for each RECORD line with a sha256, path from the
    environment's root, for files the bundle ships."""
    pairs = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or not row[1].startswith("sha256="):
            continue
        path = posixpath.normpath(posixpath.join(site_packages, row[0]))
        digest = _hex(row[1].removeprefix("sha256="))
        if path in shipped and digest is not None:
            pairs[path] = digest
    return [[path, digest] for path, digest in sorted(pairs.items())]


def _hex(urlsafe: str) -> str | None:
    """RECORD's urlsafe base64 digest (no padding) as hex; None if it is not a sha256."""
    try:
        raw = base64.urlsafe_b64decode(urlsafe + "=" * (-len(urlsafe) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _read(prefix: str, path: str) -> str:
    """A metadata file's text ('' when missing or unreadable: the SBOM says less)."""
    try:
        with open(os.path.join(prefix, path), "rb") as fh:
            return fh.read(_MAX_METADATA).decode("utf-8", "replace")
    except OSError:
        return ""


def _unowned(shipped: dict[str, Any], owned: set[str]) -> dict[str, Any]:
    """How many files (and bytes) no package or distribution owns, by top directory;
    conda's own metadata (conda-meta) is not counted."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path, entry in shipped.items():
        if path in owned or path.startswith("conda-meta/"):
            continue
        top = path.split("/", 1)[0] if "/" in path else "."
        groups[top][0] += 1
        groups[top][1] += entry.size
    return {
        "files": sum(files for files, _ in groups.values()),
        "size": sum(size for _, size in groups.values()),
        "directories": [
            {"path": top, "files": files, "size": size}
            for top, (files, size) in sorted(groups.items())
        ],
    }
