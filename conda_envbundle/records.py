"""Make conda-meta records true for the environment's new place."""

from __future__ import annotations

import io
import json
import os

from .packages import installed_path

RECORD_DIR = "conda-meta"


def is_record_path(path: str) -> bool:
    """True for ``conda-meta/<name>-<version>-<build>.json``, conda's package records."""
    head, _, name = path.rpartition("/")
    return head == RECORD_DIR and name.endswith(".json")


def encode_record(record: dict) -> bytes:
    """A record as conda writes it (indented, keys sorted).

    Encoded through a buffer rather than ``json.dumps``, which gathers every token of the
    output in a list first: for a package of ten thousand files, several times its size.
    """
    buffer = io.StringIO()
    for chunk in json.JSONEncoder(indent=2, sort_keys=True).iterencode(record):
        buffer.write(chunk)
    buffer.write("\n")
    return buffer.getvalue().encode()


def update_records(root: str, hashes: dict[str, str], site_packages: str | None) -> list[str]:
    """Set ``sha256_in_prefix`` to the final hash of every file the records describe.

    ``hashes`` maps every shipped file to its sha256 as it now is under ``root``;
    ``site_packages`` places noarch python paths. Returns the rewritten record paths.
    """
    changed = []
    for path in sorted(p for p in hashes if is_record_path(p)):
        full = os.path.join(root, path)
        with open(full, "rb") as fh:
            record = json.load(fh)
        if refresh_record(record, hashes, site_packages):
            with open(full, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=2, sort_keys=True)
                fh.write("\n")
            changed.append(path)
    return changed


def refresh_record(record: dict, hashes: dict[str, str], site_packages: str | None) -> bool:
    """Set ``sha256_in_prefix`` of the record's files from ``hashes``; True if anything changed."""
    paths = (record.get("paths_data") or {}).get("paths") or []
    noarch_python = record.get("noarch") == "python" or record.get("package_type") == (
        "noarch_python"
    )
    dirty = False
    for item in paths:
        path = installed_path(item.get("_path", ""), noarch_python, site_packages)
        tracked = "sha256_in_prefix" in item or item.get("prefix_placeholder")
        if path in hashes and tracked and item.get("sha256_in_prefix") != hashes[path]:
            item["sha256_in_prefix"] = hashes[path]
            dirty = True
    return dirty
