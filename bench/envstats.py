"""Describe a conda environment: size, files, packages and prefix-carrying files."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path


def _walk(prefix: Path) -> dict[str, int]:
    """Apparent size and counts of what is on disk (symlinks not followed)."""
    files = links = dirs = size = shared = 0
    for root, dirnames, filenames in os.walk(prefix):
        for name in dirnames:
            if os.path.islink(os.path.join(root, name)):
                links += 1
            else:
                dirs += 1
        for name in filenames:
            st = os.lstat(os.path.join(root, name))
            if os.path.islink(os.path.join(root, name)):
                links += 1
                continue
            files += 1
            size += st.st_size
            shared += st.st_nlink > 1
    return {"files": files, "symlinks": links, "dirs": dirs, "bytes": size, "hardlinked": shared}


def _records(prefix: Path) -> dict[str, int]:
    """Counts from ``conda-meta/*.json``: packages, path types and prefix files."""
    counts: Counter[str] = Counter()
    managed: set[str] = set()
    for meta in (prefix / "conda-meta").glob("*.json"):
        record = json.loads(meta.read_text())
        counts["packages"] += 1
        counts["noarch_packages" if record.get("noarch") else "arch_packages"] += 1
        managed.update(record.get("files", []))
        for entry in record.get("paths_data", {}).get("paths", []):
            counts[f"path_type_{entry.get('path_type')}"] += 1
            mode = entry.get("file_mode")
            if entry.get("prefix_placeholder") and mode:
                counts[f"prefix_{mode}"] += 1
                path = prefix / entry["_path"]
                if mode == "binary" and path.stat().st_size >= 1 << 20:
                    counts["prefix_binary_1mib"] += 1
    counts["managed_paths"] = len(managed)
    return dict(counts)


def _unmanaged(prefix: Path, managed: set[str]) -> int:
    """Files and symlinks outside ``conda-meta`` that no record lists."""
    count = 0
    for root, dirnames, filenames in os.walk(prefix):
        rel_root = os.path.relpath(root, prefix)
        if rel_root == "conda-meta":
            dirnames[:] = []
            continue
        names = filenames + [d for d in dirnames if os.path.islink(os.path.join(root, d))]
        for name in names:
            rel = os.path.normpath(os.path.join(rel_root, name))
            count += rel not in managed
    return count


def _scan_prefix(prefix: Path) -> dict[str, int]:
    """Files (outside ``conda-meta``) whose bytes contain the environment's path."""
    needle = os.fsencode(prefix)
    counts = {"with_prefix_text": 0, "with_prefix_binary": 0, "with_prefix_pyc": 0}
    for root, dirnames, filenames in os.walk(prefix):
        if os.path.relpath(root, prefix) == "conda-meta":
            dirnames[:] = []
            continue
        for name in filenames:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            if needle not in data:
                continue
            if name.endswith(".pyc"):
                counts["with_prefix_pyc"] += 1
            else:
                counts["with_prefix_binary" if b"\0" in data else "with_prefix_text"] += 1
    return counts


def describe(prefix: Path) -> dict[str, int]:
    """Counts of :func:`_walk`, :func:`_records`, :func:`_scan_prefix`, ``unmanaged`` files."""
    managed: set[str] = set()
    for meta in (prefix / "conda-meta").glob("*.json"):
        managed.update(json.loads(meta.read_text()).get("files", []))
    stats = {**_walk(prefix), **_records(prefix), **_scan_prefix(prefix)}
    stats["unmanaged"] = _unmanaged(prefix, managed)
    stats["prefix_files"] = stats.get("prefix_text", 0) + stats.get("prefix_binary", 0)
    return stats
