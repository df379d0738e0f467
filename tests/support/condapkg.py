"""Write real conda packages (``.conda``) from a payload staged in a placeholder prefix.

Mirrors conda-build: the payload is built inside a real directory whose path is the
255-character placeholder; every file containing that path becomes a prefix file
(``binary`` if it contains a NUL byte, else ``text``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from conda_package_handling import api as cph

PLACEHOLDER_LENGTH = 255
PLACEHOLDER_MARKER = "_h_env_placehold"
"""Text found in every build placeholder (conda's ``register_env`` skips ``placehold_pl``)."""


def placeholder_prefix(build_root: Path, name: str) -> Path:
    """Create a conda-build style host prefix ``<root>/<name>_<ms>/_h_env_placehold…``.

    The path is exactly 255 characters long.
    """
    base = f"{build_root.resolve()}/{name}_{time.time_ns() // 1_000_000}/"
    padding = PLACEHOLDER_LENGTH - len(base)
    if padding < len(PLACEHOLDER_MARKER):
        raise ValueError(f"build root too long for a {PLACEHOLDER_LENGTH}-char prefix: {base}")
    prefix = Path(base + ("_h_env" + "_placehold" * 26)[:padding])
    prefix.mkdir(parents=True)
    return prefix


@dataclass
class PackageSpec:
    """Metadata of a package to write; ``noarch`` is ``None``, ``"generic"`` or ``"python"``.

    ``build_tag`` ends the build string (``h<hash>_<number>_<tag>``), so that a spec like
    ``name=*=*_<tag>`` can pick one build among several of the same version.
    """

    name: str
    version: str
    noarch: str | None = None
    depends: list[str] = field(default_factory=list)
    entry_points: list[str] = field(default_factory=list)
    build_number: int = 0
    build_tag: str = ""

    @property
    def subdir(self) -> str:
        return "noarch" if self.noarch else "linux-64"

    @property
    def build(self) -> str:
        digest = hashlib.sha1(f"{self.name} {self.version} {self.depends}".encode()).hexdigest()
        build = f"{'py' if self.noarch == 'python' else ''}h{digest[:7]}_{self.build_number}"
        return f"{build}_{self.build_tag}" if self.build_tag else build

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}.conda"

    def index_json(self) -> dict:
        """Return the content of ``info/index.json``."""
        index = {
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "build_number": self.build_number,
            "depends": self.depends,
            "license": "BSD-3-Clause",
            "subdir": self.subdir,
            "arch": None if self.noarch else "x86_64",
            "platform": None if self.noarch else "linux",
            "timestamp": time.time_ns() // 1_000_000,
        }
        if self.noarch:
            index["noarch"] = self.noarch
        return index


def _payload(prefix: Path) -> list[str]:
    """Relative paths of all files and symlinks under ``prefix``, sorted."""
    paths = []
    for root, dirs, files in os.walk(prefix):
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        for name in files + links:
            paths.append(os.path.relpath(os.path.join(root, name), prefix))
    return sorted(paths)


def _path_entry(prefix: Path, rel: str, placeholder: bytes) -> dict:
    """Return the ``info/paths.json`` entry of one payload path."""
    path = prefix / rel
    entry: dict = {"_path": rel, "path_type": "softlink" if path.is_symlink() else "hardlink"}
    if path.is_symlink() and not path.is_file():
        return entry
    data = path.read_bytes()
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    entry["size_in_bytes"] = len(data)
    if not path.is_symlink() and not rel.endswith((".pyc", ".pyo")) and placeholder in data:
        entry["prefix_placeholder"] = placeholder.decode()
        entry["file_mode"] = "binary" if b"\0" in data else "text"
    return entry


def _has_prefix_path(rel: str) -> str:
    """A path as a ``has_prefix`` field: quoted when it holds whitespace (conda splits on it)."""
    return f'"{rel}"' if any(c.isspace() for c in rel) else rel


def _info_files(prefix: Path, payload: list[str], spec: PackageSpec) -> dict[str, str]:
    """Return the ``info/`` files (name → content) describing ``payload``."""
    entries = [_path_entry(prefix, rel, os.fsencode(prefix)) for rel in payload]
    has_prefix = [
        f"{e['prefix_placeholder']} {e['file_mode']} {_has_prefix_path(e['_path'])}"
        for e in entries
        if "prefix_placeholder" in e
    ]
    info = {
        "index.json": json.dumps(spec.index_json(), indent=2),
        "paths.json": json.dumps({"paths": entries, "paths_version": 1}, indent=2),
        "files": "".join(f"{e['_path']}\n" for e in entries),
    }
    if has_prefix:
        info["has_prefix"] = "".join(f"{line}\n" for line in has_prefix)
    if spec.noarch == "python":
        link = {"noarch": {"type": "python", "entry_points": spec.entry_points}}
        info["link.json"] = json.dumps({**link, "package_metadata_version": 1}, indent=2)
    return info


def write_package(prefix: Path, spec: PackageSpec, channel: Path) -> Path:
    """Write the payload staged in ``prefix`` to ``channel/<subdir>/<filename>``; return it."""
    payload = _payload(prefix)
    info = _info_files(prefix, payload, spec)
    (prefix / "info").mkdir()
    for name, content in info.items():
        (prefix / "info" / name).write_text(content)
    out = (channel / spec.subdir / spec.filename).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    members = [f"info/{name}" for name in info] + payload
    cph.create(str(prefix), members, str(out), compression_level=3, compression_threads=1)
    return out
