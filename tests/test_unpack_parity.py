"""The two ways to unpack a bundle give the same environment, byte for byte.

``conda unbundle`` relocates with conda's own code; a copy made by ``tar -x`` or ``unzip``
is relocated by ``bin/conda-unpack`` (standard library only). Both apply the rules of
conda_envbundle/relocation/rules.py, and the unpacker copies conda's prefix replacement;
this test proves they agree. Each case unbundles a bundle to a path, moves the result
aside, unpacks the same bundle at the same path without conda, and compares every entry:
kind, mode, symlink target, the bytes of every file (the kept manifest and the pycs
compiled again included) and every conda-meta record parsed as JSON. Nothing is
normalised: neither side leaves a file of its own in the environment (conda-unpack's
journal is gone after a run that finished; conda's environments.txt is outside).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support.bare import bare_path, run_bare
from .support.bytecode import stale_pycs
from .support.cli import CondaProcess
from .support.envs import SOURCE_SPECS, create_env, pip_install_tool
from .support.isolation import Isolation

EXTRACT = {
    "tar.gz": lambda bundle, target: ["tar", "-xzf", bundle, "-C", target],
    "zip": lambda bundle, target: ["unzip", "-q", bundle, "-d", target],
}


@dataclass(frozen=True)
class Entry:
    """One path of an environment as both ways of unpacking must leave it."""

    kind: str
    mode: int
    target: str | None = None
    sha256: str | None = None


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> str:
    return bare_path(tmp_path_factory.mktemp("bare-bin"))


@pytest.fixture(scope="module")
def short_source_env(
    tmp_path_factory: pytest.TempPathFactory, channel: Path, conda_isolation: Isolation
) -> Path:
    """The session env's packages and pip tools at a short prefix: a target longer than
    it still fits (its binaries ship from the package cache with conda's placeholder)."""
    prefix = tmp_path_factory.mktemp("short") / "env"
    create_env(prefix, channel, SOURCE_SPECS, conda_isolation.env)
    pip_install_tool(prefix, tmp_path_factory.mktemp("wheels"))
    return prefix


def _bundle(prefix: Path, out: Path, isolation: Isolation) -> Path:
    proc = CondaProcess(isolation.env)("bundle", "-p", prefix, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def unpacked_both_ways(
    bundle: Path, fmt: str, target: Path, isolation: Isolation, bare: str
) -> tuple[Path, Path]:
    """``conda unbundle`` to ``target`` (then moved aside), and ``tar -x``/``unzip`` plus
    ``bin/conda-unpack`` at the same ``target``; returns (by conda, without conda)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = CondaProcess(isolation.env)("unbundle", bundle, "-p", target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by_conda = target.parent / "by conda"
    os.rename(target, by_conda)
    target.mkdir()
    proc = run_bare(EXTRACT[fmt](bundle, target), bare)
    assert proc.returncode == 0, proc.stderr
    proc = run_bare([target / "bin/conda-unpack"], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"file(s) relocated to {target}" in proc.stdout
    return by_conda, target


def _entry(path: str) -> Entry:
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return Entry("symlink", 0, target=os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir", mode)
    assert stat.S_ISREG(st.st_mode), f"{path}: neither a file, a directory nor a symlink"
    with open(path, "rb") as fh:
        return Entry("file", mode, sha256=hashlib.sha256(fh.read()).hexdigest())


def _tree(root: Path) -> dict[str, Entry]:
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(directory, name)
            found[os.path.relpath(full, root)] = _entry(full)
    return found


def _differences(a: object, b: object, where: str = "") -> list[str]:
    """Where two parsed JSON documents differ, as ``<key path>: a != b`` lines."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            line
            for key in sorted(a.keys() | b.keys())
            for line in _differences(a.get(key), b.get(key), f"{where}.{key}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            line
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for line in _differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def assert_same_environment(a: Path, b: Path) -> None:
    """Every entry of ``a`` and ``b`` the same; what differs is listed, JSON by key."""
    ta, tb = _tree(a), _tree(b)
    assert len(ta) > 1000, f"only {len(ta)} entries in {a}"
    assert sorted(ta.keys() - tb.keys()) == [], "only where conda unbundle wrote"
    assert sorted(tb.keys() - ta.keys()) == [], "only where conda-unpack wrote"
    differ = []
    for path in sorted(ta):
        if ta[path] == tb[path]:
            continue
        differ.append(f"{path}: {ta[path]} != {tb[path]}")
        if path.startswith("conda-meta/") and path.endswith(".json"):
            documents = (json.loads((root / path).read_bytes()) for root in (a, b))
            differ += [f"  {line}" for line in _differences(*documents)[:5]]
    assert not differ, f"conda unbundle != conda-unpack ({a} vs {b}):\n" + "\n".join(differ[:30])
    for root in (a, b):
        checked, stale = stale_pycs(root)
        assert checked > 100 and not stale, f"{root}: stale pycs {stale[:5]}"


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_same_environment_at_a_path_with_space_and_non_ascii(
    fmt, source_env, conda_isolation, tmp_path, bare
):
    bundle = _bundle(source_env, tmp_path / f"env.{fmt}", conda_isolation)
    target = tmp_path / "parity ünï côde" / "my env"
    by_conda, without = unpacked_both_ways(bundle, fmt, target, conda_isolation, bare)
    assert_same_environment(by_conda, without)


def test_same_environment_longer_than_the_source_prefix(
    short_source_env, conda_isolation, tmp_path, bare
):
    bundle = _bundle(short_source_env, tmp_path / "env.tar.gz", conda_isolation)
    target = tmp_path / ("l" * (200 - len(str(tmp_path)) - 1))
    assert len(str(target)) > len(str(short_source_env)) + 100
    by_conda, without = unpacked_both_ways(bundle, "tar.gz", target, conda_isolation, bare)
    assert_same_environment(by_conda, without)
