"""Index a local channel directory (``repodata.json`` per subdir), as conda-index would."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conda_package_streaming.package_streaming import stream_conda_info

SUBDIRS = ("linux-64", "noarch")


def _index_json(package: Path) -> dict:
    """``info/index.json`` of a ``.conda`` package."""
    for tar, member in stream_conda_info(str(package)):
        if member.name == "info/index.json":
            return json.load(tar.extractfile(member))
    raise ValueError(f"{package} has no info/index.json")


def _digests(package: Path) -> dict[str, str | int]:
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    size = 0
    with package.open("rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest(), "size": size}


def write_repodata(channel: Path) -> set[str]:
    """Write ``<subdir>/repodata.json`` for both subdirs; return the package names."""
    names = set()
    for subdir in SUBDIRS:
        (channel / subdir).mkdir(parents=True, exist_ok=True)
        records = {}
        for package in sorted((channel / subdir).glob("*.conda")):
            index = _index_json(package)
            names.add(index["name"])
            records[package.name] = {**index, **_digests(package)}
        repodata = {
            "info": {"subdir": subdir},
            "packages": {},
            "packages.conda": records,
            "repodata_version": 1,
        }
        (channel / subdir / "repodata.json").write_text(json.dumps(repodata, indent=1))
    return names
