"""What a manifest says of a package, as the SBOM formats' schemas take it.

A manifest's package records are checked only as far as conda unbundle needs them
(names, versions, builds and channels as text): what else they say may be anything, and
text may hold a file name's undecodable bytes. These give package URLs, hashes, file
names and text that every document can hold, leaving out what is not what it claims.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .exceptions import BundleFormatError
from .manifest import FILE

if TYPE_CHECKING:
    from .manifest import Manifest

# hash values the schemas take (hex of the algorithm's length)
_DIGESTS = {"sha256": re.compile(r"[0-9a-fA-F]{64}"), "md5": re.compile(r"[0-9a-fA-F]{32}")}
_SURROGATE = re.compile("[\ud800-\udfff]")


def conda_purl(package: dict[str, Any]) -> str:
    """The package URL of a conda package: ``pkg:conda/name@version?build=..&channel=..``."""
    qualifiers = {
        "build": package.get("build"),
        "channel": package.get("channel"),
        "subdir": package.get("subdir"),
        "type": _archive_type(file_name(package)),
    }
    query = "&".join(
        f"{key}={_quoted(value)}"
        for key, value in sorted(qualifiers.items())
        if isinstance(value, str) and value
    )
    name, version = _quoted(package["name"].lower()), _quoted(package["version"])
    return f"pkg:conda/{name}@{version}" + (f"?{query}" if query else "")


def pypi_purl(dist: dict[str, Any]) -> str:
    """The package URL of a Python distribution (PEP 503 name)."""
    name = re.sub(r"[-_.]+", "-", dist["name"]).lower()
    return f"pkg:pypi/{_quoted(name)}@{_quoted(dist['version'])}"


def _quoted(text: str) -> str:
    """``text`` percent-encoded for a package URL, undecodable bytes as themselves."""
    try:
        return quote(text, safe="", errors="surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return quote(valid_text(text), safe="")


def _archive_type(fn: str | None) -> str | None:
    if fn is None:
        return None
    return "conda" if fn.endswith(".conda") else "tar.bz2" if fn.endswith(".tar.bz2") else None


def digest_of(package: dict[str, Any], key: str) -> str | None:
    """The package's ``key`` hash (``sha256``, ``md5``) when it is one, else None."""
    value = package.get(key)
    return value if isinstance(value, str) and _DIGESTS[key].fullmatch(value) else None


def file_name(package: dict[str, Any]) -> str | None:
    """The package archive's file name, when the record gives one as text."""
    value = package.get("fn")
    return value if isinstance(value, str) and value else None


def valid_text(value: Any) -> Any:
    """``value`` with every string valid Unicode: the manifest keeps a file name's
    undecodable bytes as lone surrogates, which no UTF-8 document can hold; they are
    shown as ``\\xNN`` escapes (other surrogates as ``\\uNNNN``). What is valid already
    is returned as it is, uncopied."""
    if isinstance(value, str):
        return value if value.isascii() else _SURROGATE.sub(_escaped, value)
    if isinstance(value, dict):
        pairs = [(valid_text(k), valid_text(v)) for k, v in value.items()]
        olds = value.items()
        kept = all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, olds, strict=True))
        return value if kept else dict(pairs)
    if isinstance(value, list):
        items = [valid_text(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


class Refs:
    """The bom-refs of one document: each names one thing. Two dist-infos of one project
    (a stale one left by pip) share a package URL; the second gets a number."""

    def __init__(self, *taken: str) -> None:
        self.taken = set(taken)
        self.last: dict[str, int] = {}  # the last number given to a ref, not to count again

    def unique(self, ref: str) -> str:
        number = self.last.get(ref, 1)
        found = ref if number == 1 else f"{ref}+{number}"
        while found in self.taken:
            number += 1
            found = f"{ref}+{number}"
        self.last[ref] = number
        self.taken.add(found)
        return found


def check_records(manifest: Manifest) -> None:
    """Refuse RECORD hashes of files the bundle does not ship, or of one file twice in one
    distribution: conda bundle records no others (bundling/sbomfacts.py), and a long list
    of them would cost gigabytes to describe."""
    files = {entry.path for entry in manifest.files if entry.kind == FILE}
    for dist in manifest.sbom["python_distributions"] if manifest.sbom else []:
        paths = [path for path, _ in dist["record"]]
        if len(set(paths)) != len(paths) or not files.issuperset(paths):
            raise BundleFormatError(
                f"The bundle's manifest is damaged: the RECORD hashes of {dist['name']!r} "
                "name files the bundle does not ship, or one file twice."
            )
