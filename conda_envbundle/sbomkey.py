"""The manifest's optional ``sbom`` key, checked as plain JSON before any of it is used."""

from __future__ import annotations

from typing import Any

from .jsoncheck import SHA256, damaged, short_text


def check_facts(facts: Any) -> dict[str, Any] | None:
    """The optional ``sbom`` key: the bundle's fixed ``mtime``, the Python distributions
    no conda package installed (``name``, ``version``, ``installer``, ``metadata``: their
    dist-info directory, ``record``: ``[path, sha256]`` pairs from RECORD) and a summary of
    the files no package owns (``unowned``: ``files``, ``size``, ``directories``)."""
    if facts is None:
        return None
    mtime = facts.get("mtime") if isinstance(facts, dict) else None
    if type(mtime) is not int or not 0 <= mtime <= 253402300799:  # what SBOMs can write
        raise damaged("its sbom facts are not an object with an mtime from 1970 to 9999")
    dists = facts.get("python_distributions")
    if not isinstance(dists, list) or not all(isinstance(d, dict) for d in dists):
        raise damaged("its Python distributions are not a list of objects")
    for dist in dists:
        for key in ("name", "version", "installer", "metadata"):
            short_text(dist.get(key), f"distribution {key}")
        record = dist.get("record")
        if not isinstance(record, list) or not all(_record_pair(pair) for pair in record):
            raise damaged(f"the RECORD hashes of {dist['name']!r} are not path and sha256 pairs")
    unowned = facts.get("unowned")
    if not isinstance(unowned, dict) or not _counts(unowned):
        raise damaged("its summary of unowned files is not counts")
    groups = unowned.get("directories")
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and _counts(g) and short_text(g.get("path"), "directory")
        for g in groups
    ):
        raise damaged("its unowned directories are not counts")
    return facts


def _record_pair(pair: Any) -> bool:
    return (
        isinstance(pair, list)
        and len(pair) == 2
        and bool(short_text(pair[0], "RECORD path"))
        and isinstance(pair[1], str)
        and bool(SHA256.fullmatch(pair[1]))
    )


def _counts(item: dict[str, Any]) -> bool:
    return all(type(item.get(key)) is int and item[key] >= 0 for key in ("files", "size"))
