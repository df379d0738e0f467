"""Build the local test channel once and cache it, keyed by a hash of the builder sources."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conda_package_streaming.package_streaming import stream_conda_info

from . import cpython
from .cbuild import CSRC
from .packages import BUILDERS

_HERE = Path(__file__).parent
_BUILDER_SOURCES = (
    "channel.py",
    "cbuild.py",
    "condapkg.py",
    "cpython.py",
    "packages.py",
    "pydist.py",
)
SUBDIRS = ("linux-64", "noarch")


def default_cache_root() -> Path:
    """``$ENVBUNDLE_TEST_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/conda-envbundle-tests``."""
    if "ENVBUNDLE_TEST_CACHE" in os.environ:
        return Path(os.environ["ENVBUNDLE_TEST_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "conda-envbundle-tests"


def _cache_key() -> str:
    """Hash of everything the channel content depends on."""
    digest = hashlib.sha256(f"{cpython.CPYTHON}\n".encode())
    for path in [_HERE / name for name in _BUILDER_SOURCES] + sorted(CSRC.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def write_repodata(channel: Path) -> set[str]:
    """Write ``<subdir>/repodata.json`` for both subdirs (even empty); return package names.

    Packages are hashed in blocks: the benchmark's channel holds packages of hundreds of MB.
    """
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


def _build(work: Path, channel: Path) -> None:
    """Build every package into ``channel`` (staging payloads under ``work``)."""
    for builder in (*BUILDERS, cpython.build_python):
        builder(work, channel)
    write_repodata(channel)


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (serializes concurrent pytest processes)."""
    with lock_file.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def build_channel(cache_root: Path) -> Path:
    """Return the channel directory ``<cache_root>/<key>``, building it if not cached.

    Safe for concurrent callers: the build holds a lock and appears by an atomic rename.
    """
    cache_root.mkdir(parents=True, exist_ok=True)
    key = _cache_key()
    channel = cache_root / key
    with _locked(cache_root / f"{key}.lock"):
        if not channel.is_dir():
            work = Path(tempfile.mkdtemp(prefix=f"{key}.build-", dir=cache_root))
            try:
                _build(work / "build", work / "channel")
                (work / "channel").rename(channel)
            finally:
                shutil.rmtree(work)
    return channel
