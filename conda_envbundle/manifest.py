"""The manifest: what a bundle holds and how each file must be relocated.

It is the contract between ``conda bundle`` and ``conda unbundle``. It travels as the
first member of every bundle and stays in the unbundled environment, so the
environment can be moved and bundled again.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import asdict, dataclass, field
from typing import Any

from .exceptions import BundleFormatError

FORMAT_NAME = "conda-envbundle"
FORMAT_VERSION = 1
MANIFEST_DIR = "conda-meta/envbundle"
MANIFEST_PATH = f"{MANIFEST_DIR}/manifest.json"

TEXT = "text"
BINARY = "binary"
FILE = "file"
DIR = "dir"
SYMLINK = "symlink"


@dataclass(frozen=True)
class PrefixRule:
    """A prefix to replace in a file at unbundle time, and how (text or binary)."""

    placeholder: str
    mode: str


@dataclass
class FileEntry:
    """One member of the bundle."""

    path: str
    kind: str
    mode: int = 0o644
    size: int = 0
    sha256: str | None = None
    target: str | None = None
    prefix: PrefixRule | None = None

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        if self.kind != FILE:
            data.pop("size", None)
        return data


@dataclass
class Manifest:
    """Everything ``conda unbundle`` needs to check and place an environment."""

    source_prefix: str
    source_name: str
    subdir: str
    conda_version: str
    tool_version: str
    site_packages: str | None = None
    requirements: dict[str, str] = field(default_factory=dict)
    packages: list[dict[str, Any]] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)
    unrelocated: list[dict[str, str]] = field(default_factory=list)

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

    def to_bytes(self) -> bytes:
        data = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "created_by": {"tool": self.tool_version, "conda": self.conda_version},
            "source": {
                "prefix": self.source_prefix,
                "name": self.source_name,
                "site_packages": self.site_packages,
            },
            "platform": {"subdir": self.subdir, **self.requirements},
            "prefix_limit": self.prefix_limit,
            "packages": self.packages,
            "files": [f.to_json() for f in self.files],
            "unrelocated": self.unrelocated,
        }
        return json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        """Parse and validate a manifest; any defect is a :class:`BundleFormatError`."""
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT_NAME:
                raise BundleFormatError("This file is not a conda-envbundle bundle.")
            if data.get("version") != FORMAT_VERSION:
                raise BundleFormatError(
                    f"This bundle has manifest version {data.get('version')}; this "
                    f"conda-envbundle reads version {FORMAT_VERSION}. Update conda-envbundle."
                )
            platform = dict(data["platform"])
            manifest = cls(
                source_prefix=str(data["source"]["prefix"]),
                source_name=str(data["source"]["name"]),
                subdir=str(platform.pop("subdir")),
                conda_version=str(data["created_by"]["conda"]),
                tool_version=str(data["created_by"]["tool"]),
                site_packages=data["source"].get("site_packages"),
                requirements={str(k): str(v) for k, v in platform.items()},
                packages=list(data["packages"]),
                files=[_entry_from_json(item) for item in data["files"]],
                unrelocated=list(data.get("unrelocated", [])),
            )
        except BundleFormatError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BundleFormatError(f"The bundle's manifest is damaged ({exc}).") from exc
        _check_paths(manifest.files)
        return manifest


def _entry_from_json(item: dict[str, Any]) -> FileEntry:
    rule = item.get("prefix")
    entry = FileEntry(
        path=str(item["path"]),
        kind=str(item["kind"]),
        mode=int(item.get("mode", 0o644)),
        size=int(item.get("size", 0)),
        sha256=item.get("sha256"),
        target=item.get("target"),
        prefix=PrefixRule(str(rule["placeholder"]), str(rule["mode"])) if rule else None,
    )
    if entry.kind not in (FILE, DIR, SYMLINK):
        raise BundleFormatError(f"The manifest lists {entry.path!r} with unknown kind.")
    if entry.kind == FILE and (not entry.sha256 or entry.size < 0):
        raise BundleFormatError(f"The manifest lists {entry.path!r} without a checksum.")
    if entry.kind == SYMLINK and not entry.target:
        raise BundleFormatError(f"The manifest lists symlink {entry.path!r} without a target.")
    if entry.prefix and (entry.prefix.mode not in (TEXT, BINARY) or not entry.prefix.placeholder):
        raise BundleFormatError(f"The manifest has a bad prefix rule for {entry.path!r}.")
    return entry


def is_safe_relpath(path: str) -> bool:
    """True for a normalised relative POSIX path that stays inside its root."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    return posixpath.normpath(path) == path and path != "." and path.split("/")[0] != ".."


def _check_paths(files: list[FileEntry]) -> None:
    seen: set[str] = set()
    for entry in files:
        if not is_safe_relpath(entry.path):
            raise BundleFormatError(f"The manifest lists an unsafe path: {entry.path!r}.")
        if entry.path in seen:
            raise BundleFormatError(f"The manifest lists {entry.path!r} twice.")
        seen.add(entry.path)


def link_stays_inside(link_path: str, target: str) -> bool:
    """True when a symlink at ``link_path`` pointing to ``target`` resolves inside the root.

    Only ``..`` components leading the target are allowed: a ``..`` after another
    component could climb out through a symlinked directory.
    """
    if not target or target.startswith("/") or "\0" in target:
        return False
    parts = [p for p in target.split("/") if p not in ("", ".")]
    ups = 0
    while ups < len(parts) and parts[ups] == "..":
        ups += 1
    if ".." in parts[ups:]:
        return False
    depth = link_path.count("/")
    return ups <= depth
