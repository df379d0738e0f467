"""Make conda-meta records true for the environment's new place.

What a record must say (rules.refresh_record) is shared with the no-conda unpacker; this
module reads and checks records from a bundle and writes them back.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..budget import ParseBudget, read_json
from ..exceptions import BundleFormatError, IncompatibleTargetError
from .rules import encode_record, is_record_path, json_unsafe, paths_of, refresh_record


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
            with open(full, "wb") as fh:
                fh.write(encode_record(record))
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
    if not isinstance(record, dict) or paths_of(record) is None:
        raise BundleFormatError(
            f"{path} in the bundle is not a conda package record: the bundle is damaged."
        )
    return record
