"""Make conda-meta records true for the environment's new place."""

from __future__ import annotations

import io
import json
import os
from typing import Any

from .._compat import installed_path
from ..budget import ParseBudget, read_json
from ..exceptions import BundleFormatError, IncompatibleTargetError

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


def json_unsafe(text: str) -> bool:
    """True when ``text`` cannot stand in JSON text unescaped (a quote, a backslash, a
    control character): a prefix rewritten into a record as text would break it."""
    return any(c in '"\\' or ord(c) < 0x20 for c in text)


def update_records(
    root: str, hashes: dict[str, str], site_packages: str | None, target: str = ""
) -> list[str]:
    """Set ``sha256_in_prefix`` to the final hash of every file the records describe.

    ``hashes`` maps every shipped file to its sha256 as it now is under ``root``;
    ``site_packages`` places noarch python paths; ``target`` is where the environment
    goes (named when its path broke a record). Returns the rewritten record paths.
    """
    changed = []
    for path in sorted(p for p in hashes if is_record_path(p)):
        full = os.path.join(root, path)
        record = _load_record(full, path, target)
        if refresh_record(record, hashes, site_packages):
            with open(full, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=2, sort_keys=True)
                fh.write("\n")
            changed.append(path)
    return changed


def _load_record(full: str, path: str, target: str) -> dict[str, Any]:
    """A record from a bundle, parsed within a memory budget and checked for its shape."""
    budget = ParseBudget(f"{path} in the bundle", BundleFormatError)
    with open(full, "rb") as fh:
        raw = read_json(iter(lambda: fh.read(1 << 20), b""), budget)
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        if json_unsafe(target):
            raise IncompatibleTargetError(
                f"{path} holds the environment's path, and {target!r} cannot be written "
                "into its JSON as is (a quote, backslash or control character). Choose "
                "another target path."
            ) from exc
        raise BundleFormatError(
            f"{path} in the bundle is not valid JSON ({type(exc).__name__}): the bundle is "
            "damaged or hostile."
        ) from exc
    if not isinstance(record, dict) or _paths_of(record) is None:
        raise BundleFormatError(
            f"{path} in the bundle is not a conda package record: the bundle is damaged."
        )
    return record


def _paths_of(record: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The record's ``paths_data.paths`` ([] if it has none); None when malformed."""
    data = record.get("paths_data") or {}
    paths = (data.get("paths") or []) if isinstance(data, dict) else None
    if not isinstance(paths, list):
        return None
    ok = all(isinstance(i, dict) and isinstance(i.get("_path", ""), str) for i in paths)
    return paths if ok else None


def refresh_record(record: dict, hashes: dict[str, str], site_packages: str | None) -> bool:
    """Set ``sha256_in_prefix`` of the record's files from ``hashes``; True if anything changed."""
    paths = _paths_of(record) or []
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
