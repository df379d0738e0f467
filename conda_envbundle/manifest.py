"""The manifest: what a bundle holds and how each file must be relocated.

It is the contract between ``conda bundle`` and ``conda unbundle``. It travels as the
first member of every bundle and stays in the unbundled environment, so the
environment can be moved and bundled again.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import lineage, sbomkey
from .exceptions import BundleFormatError
from .jsoncheck import SHA256, damaged, short_text
from .paths import is_utf8, link_stays_inside, path_problem

# Where the manifest lives and its checksum key: the no-conda unpacker reads them too.
from .relocation.rules import CHECKSUM_KEY, MANIFEST_DIR, MANIFEST_PATH
from .sealing import list_pieces, seal_of, sealed_stream, verify_checksum

FORMAT_NAME = "conda-envbundle"
FORMAT_VERSION = 1
# A delta (see :mod:`.lineage`) is version 2: readers that do not know deltas refuse it
# with their "update conda-envbundle" message instead of finding members missing.
DELTA_VERSION = 2

TEXT = "text"
BINARY = "binary"
FILE = "file"
DIR = "dir"
SYMLINK = "symlink"

# The manifest's own checksum (CHECKSUM_KEY) catches damage the per-file checksums cannot
# (a flipped size, mode or prefix rule); it is not a signature: whoever can change a
# bundle can recompute it.
# Modes a manifest may give: permission bits and the sticky bit, never setuid/setgid
# (``conda bundle`` strips them; a bundle that carries them was not made by it).
ALLOWED_MODE_BITS = 0o1777
# The head's keys this version reads: the others are kept as they are (Manifest.extra)
_KNOWN_KEYS = frozenset(
    {
        *("format", "version", "created_by", "source", "platform", "prefix_limit"),
        *("packages", "files", "unrelocated", "sbom", "delta", "origin", CHECKSUM_KEY),
    }
)
# A platform requirement is a plain dotted version: its parts become ints.
_VERSION = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){0,7}")


@dataclass(frozen=True, slots=True)
class PrefixRule:
    """A prefix to replace in a file at unbundle time, and how (text or binary)."""

    placeholder: str
    mode: str


@dataclass(slots=True)
class FileEntry:
    """One member of the bundle."""

    path: str
    kind: str
    mode: int = 0o644
    size: int = 0
    sha256: str | None = None
    target: str | None = None
    prefix: PrefixRule | None = None
    # in a delta: not in the bundle, taken from the environment the delta applies to
    reuse: bool = False

    @property
    def file_sha256(self) -> str:
        """A file entry's sha256: every file entry has one."""
        if self.sha256 is None:
            raise ValueError(f"{self.path!r} has no sha256: it is not a file entry.")
        return self.sha256

    @property
    def link_target(self) -> str:
        """A symlink entry's target: every symlink entry has one."""
        if self.target is None:
            raise ValueError(f"{self.path!r} has no target: it is not a symlink entry.")
        return self.target

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "kind": self.kind, "mode": self.mode}
        if self.kind == FILE:
            data["size"] = self.size
            data["sha256"] = self.sha256
        if self.target is not None:
            data["target"] = self.target
        if self.prefix is not None:
            data["prefix"] = {"placeholder": self.prefix.placeholder, "mode": self.prefix.mode}
        if self.reuse:
            data["reuse"] = True
        return data


@dataclass
class Manifest:
    """Everything ``conda unbundle`` needs to check and place an environment."""

    source_name: str
    subdir: str
    conda_version: str
    tool_version: str
    site_packages: str | None = None
    requirements: dict[str, str] = field(default_factory=dict)
    packages: list[dict[str, Any]] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)
    unrelocated: list[dict[str, str]] = field(default_factory=list)
    # What only an SBOM needs (see :func:`.sbomkey.check_facts`); None in bundles made before it
    sbom: dict[str, Any] | None = None
    # A delta's base and what it removes (lineage.check_delta); None in full bundles
    delta: dict[str, Any] | None = None
    # Kept manifests only: the bundle manifest they come from (lineage.check_origin)
    origin: dict[str, Any] | None = None
    # Set when read: the checksum the manifest was sealed with, and the keys of its head
    # this version does not know (kept, so that the manifest seals the same again)
    sealed: str | None = field(default=None, compare=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prefix_limit(self) -> int | None:
        """Longest target prefix, in UTF-8 bytes, that every binary rewrite can take."""
        lengths = [
            len(f.prefix.placeholder.encode())
            for f in self.files
            if f.prefix and f.prefix.mode == BINARY
        ]
        return min(lengths, default=None)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files if f.kind == FILE)

    @property
    def shipped_size(self) -> int:
        """Bytes of the files the bundle holds (a delta takes the others from its base)."""
        return sum(f.size for f in self.files if f.kind == FILE and not f.reuse)

    def to_stream(self) -> tuple[int, Iterator[bytes]]:
        """The sealed manifest JSON as ``(size, pieces)``: the entries are encoded a chunk
        at a time, twice (for the checksum, then for the output), and never held whole."""
        return sealed_stream(self._head(), self._file_pieces)

    def seal(self) -> str:
        """The checksum :meth:`to_stream` seals this manifest with."""
        return seal_of(self._head(), self._file_pieces())

    def _file_pieces(self) -> Iterator[bytes]:
        return list_pieces(self.files, FileEntry.to_json)

    def _head(self) -> dict[str, Any]:
        head: dict[str, Any] = {
            **self.extra,
            "format": FORMAT_NAME,
            "version": DELTA_VERSION if self.delta is not None else FORMAT_VERSION,
            "created_by": {"tool": self.tool_version, "conda": self.conda_version},
            "source": {
                "name": self.source_name,
                "site_packages": self.site_packages,
            },
            "platform": {"subdir": self.subdir, **self.requirements},
            "prefix_limit": self.prefix_limit,
            "packages": self.packages,
            "unrelocated": self.unrelocated,
        }
        # optional keys: readers since 0.1 ignore keys they do not know, and the checksum
        # covers every key
        for key, value in (("sbom", self.sbom), ("delta", self.delta), ("origin", self.origin)):
            if value is not None:
                head[key] = value
        return head

    @classmethod
    def from_bytes(cls, raw: bytes | bytearray) -> Manifest:
        """Parse and validate a manifest; any defect is a :class:`BundleFormatError`.

        The caller bounds what ``raw`` costs to parse (:class:`ParseBudget`).
        """
        try:
            data = json.loads(raw)
            del raw  # the caller's only copy: a manifest lists every file
            if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
                raise BundleFormatError("This file is not a conda-envbundle bundle.")
            version = data.get("version")
            if version not in (FORMAT_VERSION, DELTA_VERSION):
                raise BundleFormatError(
                    f"This bundle has manifest version {version}; this conda-envbundle "
                    f"reads versions {FORMAT_VERSION} and {DELTA_VERSION}. Update "
                    "conda-envbundle."
                )
            verify_checksum(data)
            delta = data.get("delta")
            if (version == DELTA_VERSION) != (delta is not None):
                raise damaged(f"version {version} and its delta key disagree")
            source, created = _object(data, "source"), _object(data, "created_by")
            platform = dict(_object(data, "platform"))
            manifest = cls(
                source_name=short_text(source.get("name"), "source name"),
                subdir=short_text(platform.pop("subdir", None), "subdir"),
                conda_version=short_text(created.get("conda"), "conda version"),
                tool_version=short_text(created.get("tool"), "tool version"),
                site_packages=short_text(
                    source.get("site_packages"), "site-packages", optional=True
                ),
                requirements=_requirements(platform),
                packages=_packages(data.get("packages")),
                files=_entries_from_json(data["files"]),
                unrelocated=_unrelocated(data.get("unrelocated", [])),
                sbom=sbomkey.check_facts(data.get("sbom")),
                delta=None if delta is None else lineage.check_delta(delta),
                origin=_optional(data.get("origin"), lineage.check_origin),
                sealed=data[CHECKSUM_KEY],
                extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
            )
        except BundleFormatError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise BundleFormatError(
                f"The bundle's manifest is damaged ({type(exc).__name__}: {exc})."
            ) from exc
        _check_paths(manifest.files)
        if manifest.delta is None and any(f.reuse for f in manifest.files):
            raise damaged("a full bundle takes files from elsewhere")
        return manifest


def _field(
    item: dict[str, Any], key: str, kind: type, default: Any = None, owner: Any = None
) -> Any:
    """``item[key]`` if it has exactly the type ``kind`` (bool is not an int here)."""
    value = item.get(key, default)
    if value is not None and type(value) is not kind:
        raise BundleFormatError(
            f"The bundle's manifest is damaged: {key!r} of {owner or item.get('path')!r} "
            f"should be of type {kind.__name__}, not {type(value).__name__}."
        )
    return value


def _optional(value: Any, check: Any) -> Any:
    return None if value is None else check(value)


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise damaged(f"{key!r} is not an object")
    return value


def _requirements(platform: dict[str, Any]) -> dict[str, str]:
    """Minimum versions (glibc, macOS): plain dotted numbers, each part at most 9 digits."""
    found = {}
    for key, value in platform.items():
        version = short_text(value, f"{key} requirement")
        if not _VERSION.fullmatch(version):
            raise damaged(f"its {key} requirement {version[:40]!r} is not a version")
        found[short_text(key, "requirement name")] = version
    return found


def _packages(items: Any) -> list[dict[str, Any]]:
    """The package list: objects with a name, version, build and channel as text."""
    if not isinstance(items, list):
        raise damaged("its packages are not a list")
    for item in items:
        if not isinstance(item, dict):
            raise damaged("a package is not an object")
        for key in ("name", "version", "build", "channel"):
            short_text(item.get(key), f"package {key}")
        short_text(item.get("license"), "package license", optional=True)
    return items


def _unrelocated(items: Any) -> list[dict[str, str]]:
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise damaged("its list of unrelocated files is not a list of objects")
    for item in items:
        short_text(item.get("path"), "unrelocated path")
        short_text(item.get("reason"), "unrelocated reason")
    return items


def _entries_from_json(items: list[Any]) -> list[FileEntry]:
    """The file entries, each parsed object released as soon as it is converted."""
    if not isinstance(items, list):
        raise BundleFormatError("The bundle's manifest is damaged: its files are not a list.")
    entries = []
    for index, item in enumerate(items):
        entries.append(_entry_from_json(item))
        items[index] = None
    return entries


def _entry_from_json(item: dict[str, Any]) -> FileEntry:
    if not isinstance(item, dict):
        raise BundleFormatError("The bundle's manifest is damaged: a file entry is not an object.")
    path = _field(item, "path", str, "")
    rule = _field(item, "prefix", dict)
    if rule is not None:
        rule = PrefixRule(
            _field(rule, "placeholder", str, "", path), _field(rule, "mode", str, "", path)
        )
    entry = FileEntry(
        path=path,
        kind=_field(item, "kind", str, ""),
        mode=_field(item, "mode", int, 0o644),
        size=_field(item, "size", int, 0),
        sha256=_field(item, "sha256", str),
        target=_field(item, "target", str),
        prefix=rule,
        reuse=_field(item, "reuse", bool, False),
    )
    _check_entry(entry)
    return entry


def _check_entry(entry: FileEntry) -> None:
    """Refuse entries ``conda bundle`` cannot have written."""
    path = entry.path
    if entry.kind not in (FILE, DIR, SYMLINK):
        raise BundleFormatError(f"The manifest lists {path!r} with unknown kind {entry.kind!r}.")
    if entry.mode & ~ALLOWED_MODE_BITS:
        raise BundleFormatError(
            f"The manifest gives {path!r} mode {entry.mode:o}: setuid, setgid and other "
            "special bits are refused. This bundle was not made by conda bundle."
        )
    if entry.reuse and entry.kind != FILE:
        raise BundleFormatError(f"The manifest takes {path!r}, which is no file, from elsewhere.")
    if entry.kind == FILE and (not SHA256.fullmatch(entry.sha256 or "") or entry.size < 0):
        raise BundleFormatError(f"The manifest lists {path!r} without a valid checksum or size.")
    if entry.kind == SYMLINK and not link_stays_inside(path, entry.target or ""):
        raise BundleFormatError(
            f"The manifest lists symlink {path!r} pointing outside the environment "
            f"({entry.target!r})."
        )
    if entry.kind != SYMLINK and entry.target is not None:
        raise BundleFormatError(f"The manifest gives {path!r}, which is no symlink, a target.")
    if entry.prefix and (
        entry.kind != FILE
        or entry.prefix.mode not in (TEXT, BINARY)
        or not is_utf8(entry.prefix.placeholder)
    ):
        raise BundleFormatError(f"The manifest has a bad prefix rule for {path!r}.")


def _check_paths(files: list[FileEntry]) -> None:
    """Every path safe and listed once, only under directories, never the manifest's own."""
    kinds: dict[str, str] = {}
    for entry in files:
        path = entry.path
        problem = path_problem(path)
        if problem:
            raise BundleFormatError(f"The manifest lists an unsafe path: {path!r} ({problem}).")
        if path == MANIFEST_DIR or path.startswith(MANIFEST_DIR + "/"):
            # where conda unbundle and conda-unpack keep their own files (the manifest,
            # conda-unpack's journal): nothing a bundle brings may stand there
            raise BundleFormatError(
                f"The manifest lists {path!r}, inside {MANIFEST_DIR}, where conda-envbundle "
                "keeps its own files: the bundle is damaged or hostile."
            )
        if path in kinds:
            raise BundleFormatError(f"The manifest lists {path!r} twice.")
        kinds[path] = entry.kind
    # unbundle writes the manifest it keeps there, so its directories must be directories
    for path in (*kinds, MANIFEST_PATH):
        parent = posixpath.dirname(path)
        while parent:
            kind = kinds.get(parent)
            if kind == DIR:
                break  # that directory's own entry checks the rest of the way up
            if kind is not None:
                raise BundleFormatError(
                    f"The bundle cannot hold {path!r}: its manifest lists {parent!r} as a "
                    f"{kind}, not a directory."
                )
            parent = posixpath.dirname(parent)
