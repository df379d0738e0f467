"""Bounded memory on hostile input: what a bundle makes conda unbundle parse is capped by
its cost, and the cap is checked while the bytes arrive, before anything is parsed.

The peaks are measured on the real ``conda unbundle`` in a child process (its own
``ru_maxrss``); a memory bound is a fact about the program, not a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from conda_envbundle.budget import MAX_PARSE_COST, ParseBudget
from conda_envbundle.exceptions import BundleFormatError, EnvBundleError
from conda_envbundle.manifest import Manifest
from conda_envbundle.relocation.rules import is_record_path

from .support.crafted import Bundle
from .support.envs import CONDA

# conda itself takes about 50 MB; without the caps these bundles took 1.7 GB and 850 MB
PEAK_BOUND = 300 << 20


# Linux counts what a child held when it was forked (a copy of its parent) in its peak, and
# pytest's process grows as the suite runs: a small python in between does the forking.
_MEASURE = """\
import os, subprocess, sys
with open(sys.argv[1], "wb") as sink:
    proc = subprocess.Popen(sys.argv[2:], stdout=sink, stderr=sink)
    _, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024)
"""


def _measured(args: list[object], env: dict[str, str], tmp_path: Path) -> tuple[int, str, int]:
    """Run the real conda; its exit status, its output, and its peak resident memory."""
    out = tmp_path / "output.txt"
    argv = [sys.executable, "-I", "-c", _MEASURE, out, CONDA, *args]
    facts = subprocess.run(list(map(str, argv)), env=env, capture_output=True, check=True)
    returncode, peak = map(int, facts.stdout.split())
    return returncode, out.read_text(errors="replace"), peak


def _flood(size: int) -> bytes:
    """``{},`` repeated: the densest JSON there is, 27 bytes of memory per byte parsed."""
    return b'{"files":[' + b"{}," * (size // 3) + b"{}]}"


def test_manifest_flood_is_refused_before_parsing(small_bundle_data, conda_process, tmp_path):
    bundle = small_bundle_data.copy()
    bundle.manifest_bytes = _flood(64 << 20)
    path = bundle.write(tmp_path / "flood.tar.zst")
    assert path.stat().st_size < 100_000  # a small file that asks for gigabytes
    for mode in (["-p", tmp_path / "env"], ["--verify"], ["--list"]):
        rc, output, peak = _measured(["unbundle", path, *mode], conda_process.env, tmp_path)
        assert rc == BundleFormatError.return_code, output
        assert "memory to read" in output and "Traceback" not in output, output
        assert peak < PEAK_BOUND, (mode, peak)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flood.tar.zst", "output.txt"]


def test_record_flood_is_refused_within_bounded_memory(small_bundle_data, conda_process, tmp_path):
    bundle = small_bundle_data.copy()
    record = next(m for m in bundle.members if is_record_path(m.path))
    record.data = _flood(32 << 20)
    path = bundle.honest().write(tmp_path / "record.tar.zst")
    rc, output, peak = _measured(
        ["unbundle", path, "-p", tmp_path / "env"], conda_process.env, tmp_path
    )
    assert rc == BundleFormatError.return_code, output
    assert f"{record.path} in the bundle would take more than" in output, output
    assert peak < PEAK_BOUND, peak
    assert not (tmp_path / "env").exists()


# Shapes of JSON that cost the most memory per byte, each about 1 MB
_SHAPES = {
    "empty objects": b"[" + b"{}," * 300_000 + b"{}]",
    "empty lists": b"[" + b"[]," * 300_000 + b"[]]",
    "nested lists": b"[" + b"[[]]," * 200_000 + b"[]]",
    "small ints": b"[" + b"1," * 500_000 + b"1]",
    "large ints": b"[" + b"1000," * 200_000 + b"1]",
    "huge ints": b"[" + b"1234567890123456789012345678901," * 30_000 + b"1]",
    "floats": b"[" + b"0.5," * 250_000 + b"1]",
    "short strings": b"[" + b'"a",' * 250_000 + b'"b"]',
    "one key objects": b"[" + b'{"a":0},' * 120_000 + b"{}]",
    "unique keys": b"{" + b",".join(b'"%d":0' % i for i in range(100_000)) + b"}",
    "unique keys to objects": b"{" + b",".join(b'"%d":{}' % i for i in range(100_000)) + b"}",
    "non-ascii text": json.dumps(["\u00e9\u4e2d" * 20] * 20_000, ensure_ascii=False).encode(),
    "one emoji widens all": json.dumps(["\U0001f600"] + ["a" * 50] * 20_000).encode(),
    "escaped surrogate pairs": b'["' + b"\\ud83d\\ude00" * 80_000 + b'"]',
}


@pytest.mark.parametrize("shape", _SHAPES)
def test_estimated_cost_bounds_what_parsing_takes(shape):
    """The estimate is an upper bound of what json.loads really allocates."""
    raw = _SHAPES[shape]
    budget = ParseBudget("test", BundleFormatError)
    for start in range(0, len(raw), 1 << 16):
        budget.add(raw[start : start + (1 << 16)])
    tracemalloc.start()
    try:
        parsed = json.loads(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del parsed
    assert budget.cost >= peak, (budget.cost, peak)


def test_a_real_manifest_is_far_below_the_cap(source_bundle):
    from conda_envbundle import inspect

    manifest = inspect(str(source_bundle))
    budget = ParseBudget("test", BundleFormatError)
    budget.add(b"".join(manifest.to_stream()[1]))
    per_file = budget.cost / len(manifest.files)
    # about 1.5 kB per file: several hundred thousand files fit under the cap
    assert MAX_PARSE_COST / per_file > 400_000, per_file


def test_bundle_side_refuses_a_manifest_unbundle_would_refuse():
    """conda bundle never writes a manifest that conda unbundle would refuse to parse."""
    nothing: dict[str, str] = {}
    manifest = Manifest("env", "linux-64", "24.7.1", "1", packages=[nothing] * 6_000_000)
    with pytest.raises(EnvBundleError, match="conda unbundle would refuse it") as info:
        manifest.to_stream()
    assert type(info.value) is EnvBundleError


def test_hostile_bundle_shapes_stay_refused(small_bundle_data, conda_env, tmp_path):
    """Floods inside every part of the manifest are refused the same way."""
    from conda_envbundle import verify

    for key in ("packages", "unrelocated", "source"):
        bundle: Bundle = small_bundle_data.copy()
        sealed = json.loads(bundle.sealed_manifest())
        head = json.dumps({k: v for k, v in sealed.items() if k != key}).encode()[:-1]
        bundle.manifest_bytes = head + b',"' + key.encode() + b'":[' + b"[]," * 6_000_000 + b"[]]}"
        path = bundle.write(tmp_path / f"{key}.tar.zst")
        with pytest.raises(BundleFormatError, match="memory to read"):
            verify(str(path))
