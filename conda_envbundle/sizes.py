"""Where a bundle's size goes, so that users can choose ``--exclude`` patterns.

The classes of files are measured with the very patterns they suggest (matched as
``--exclude`` matches them), so a class's size is what leaving it out saves.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .manifest import FILE, Manifest

# (name, what it is, the --exclude patterns that leave it out)
CLASSES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("bytecode", "Python bytecode (.pyc)", ("*.pyc",)),
    ("static_libraries", "static libraries (.a)", ("*.a",)),
    ("tests", "test suites (tests/, test/)", ("*/tests/*", "*/test/*")),
)
LARGEST = 10
# directories are summed down to this depth: lib/python3.12/site-packages/numpy
DIRECTORY_DEPTH = 4


def breakdown(manifest: Manifest) -> dict[str, Any]:
    """Largest packages and directories and the weight of each class, in bytes.

    Only bundles whose manifest records each package's size (``size``, written since
    this breakdown exists) list packages.
    """
    files = [(f.path, f.size) for f in manifest.files if f.kind == FILE]
    packages = [(p["name"], p["size"]) for p in manifest.packages if "size" in p]
    return {
        "largest_packages": _top(packages, "name"),
        "largest_directories": _top(_directories(files).items(), "path"),
        "classes": {name: _measure(files, patterns) for name, _, patterns in CLASSES},
    }


def _top(sizes: Iterable[tuple[str, int]], key: str) -> list[dict[str, Any]]:
    ranked = sorted(sizes, key=lambda item: (-item[1], item[0]))[:LARGEST]
    return [{key: name, "size": size} for name, size in ranked]


def _directories(files: list[tuple[str, int]]) -> Counter[str]:
    """Bytes under each directory of at most DIRECTORY_DEPTH levels, deepest only: a
    directory's share is not counted again in its parents."""
    sizes: Counter[str] = Counter()
    for path, size in files:
        parts = posixpath.dirname(path).split("/")[:DIRECTORY_DEPTH]
        if parts != [""]:
            sizes["/".join(parts)] += size
    return sizes


def _measure(files: list[tuple[str, int]], patterns: tuple[str, ...]) -> dict[str, Any]:
    matched = [size for path, size in files if any(fnmatch.fnmatchcase(path, p) for p in patterns)]
    return {
        "size": sum(matched),
        "files": len(matched),
        "exclude": " ".join(f"--exclude '{p}'" for p in patterns),
    }
