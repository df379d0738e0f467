"""Make conda-meta records true for the environment's new place."""

from __future__ import annotations

import json
import os

RECORD_DIR = "conda-meta"


def is_record_path(path: str) -> bool:
    """True for ``conda-meta/<name>-<version>-<build>.json``, conda's package records."""
    head, _, name = path.rpartition("/")
    return head == RECORD_DIR and name.endswith(".json")


def update_records(root: str, hashes: dict[str, str]) -> list[str]:
    """Set ``sha256_in_prefix`` to the final hash of every file the records describe.

    ``hashes`` maps every shipped file to its sha256 as it now is under ``root``.
    Returns the record paths that were rewritten.
    """
    changed = []
    for path in sorted(p for p in hashes if is_record_path(p)):
        full = os.path.join(root, path)
        with open(full, "rb") as fh:
            record = json.load(fh)
        if _refresh(record, hashes):
            with open(full, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=2, sort_keys=True)
                fh.write("\n")
            changed.append(path)
    return changed


def _refresh(record: dict, hashes: dict[str, str]) -> bool:
    paths = (record.get("paths_data") or {}).get("paths") or []
    dirty = False
    for item in paths:
        path = item.get("_path")
        if path not in hashes:
            continue
        if "sha256_in_prefix" in item or item.get("prefix_placeholder"):
            if item.get("sha256_in_prefix") != hashes[path]:
                item["sha256_in_prefix"] = hashes[path]
                dirty = True
    return dirty
