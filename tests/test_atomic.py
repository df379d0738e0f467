"""All or nothing: the target is its old self or the complete new environment, whatever happens.

Failures, a second unbundle of the same target, and SIGKILL at random moments of a real
``conda unbundle`` process: afterwards the target is either as it was or complete, at
most one hidden directory of the dead run is left, and the next run removes it.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conda_envbundle import unbundle
from conda_envbundle.exceptions import ChecksumMismatchError, TargetBusyError, TargetExistsError
from conda_envbundle.manifest import FILE, MANIFEST_PATH, SYMLINK, Manifest
from conda_envbundle.renames import exchange
from conda_envbundle.unbundling.commit import (
    BACKUP_MARK,
    STAGING_MARK,
    _swap_by_renames,
    leftovers,
)
from conda_envbundle.unbundling.lock import LOCK_MARK, lock_path

from .support.crafted import tree
from .support.envs import CONDA


def assert_complete(target: Path) -> None:
    """Every entry of the environment's kept manifest is there, with its final content."""
    manifest = Manifest.from_bytes((target / MANIFEST_PATH).read_bytes())
    for entry in manifest.files:
        path = target / entry.path
        if entry.kind == FILE:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256, path
        elif entry.kind == SYMLINK:
            assert os.readlink(path) == entry.target, path
        else:
            assert path.is_dir() and not path.is_symlink(), path
    assert (target / "conda-meta" / "history").is_file()


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _damaged_copy(bundle_data, path: Path) -> Path:
    """The small bundle with its last file's content changed: it fails at the very end."""
    bundle = bundle_data.copy()
    last = next(m for m in reversed(bundle.members) if m.data)
    last.data = last.data[:-1] + bytes([last.data[-1] ^ 1])
    return bundle.write(path)


def test_failed_force_keeps_the_old_environment(
    small_bundle_data, source_bundle_small, conda_env, tmp_path
):
    env = tmp_path / "env"
    unbundle(str(source_bundle_small), str(env))
    (env / "marker").write_text("old")
    bad = _damaged_copy(small_bundle_data, tmp_path / "bad.tar.zst")
    before = tree(tmp_path)
    with pytest.raises(ChecksumMismatchError):
        unbundle(str(bad), str(env), force=True)
    assert tree(tmp_path) == before
    unbundle(str(source_bundle_small), str(env), force=True)
    assert not (env / "marker").exists()
    assert_complete(env)
    assert _names(tmp_path) == ["bad.tar.zst", "env"]


def test_only_complete_environments_are_registered(
    small_bundle_data, source_bundle_small, conda_env, monkeypatch, tmp_path
):
    from conda.base.context import reset_context

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CONDA_REGISTER_ENVS", "true")
    reset_context()
    listing = home / ".conda" / "environments.txt"
    target = tmp_path / "env"
    bad = _damaged_copy(small_bundle_data, tmp_path / "bad.tar.zst")
    with pytest.raises(ChecksumMismatchError):
        unbundle(str(bad), str(target))
    assert not target.exists()
    assert not listing.exists() or str(target) not in listing.read_text().split()
    unbundle(str(source_bundle_small), str(target))
    assert str(target) in listing.read_text().split()


def _hold_lock(target: Path) -> subprocess.Popen:
    """Another process holding the target's lock until its stdin closes."""
    code = (
        "import sys\nfrom conda_envbundle.unbundling.lock import target_lock\n"
        "with target_lock(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_second_unbundle_of_a_target_fails_fast(source_bundle_small, conda_env, tmp_path):
    target = tmp_path / "env"
    holder = _hold_lock(target)
    try:
        with pytest.raises(TargetBusyError) as info:
            unbundle(str(source_bundle_small), str(target))
        message = str(info.value)
        assert f"Another conda unbundle (pid {holder.pid}) is writing {target}" in message
        assert "Wait for it to finish" in message
        assert _names(tmp_path) == [f".env{LOCK_MARK}"]
    finally:
        holder.stdin.close()
        holder.wait()
    assert _names(tmp_path) == []  # the holder removed its lock file
    unbundle(str(source_bundle_small), str(target))
    assert_complete(target)
    assert _names(tmp_path) == ["env"]


def test_stale_lock_file_does_not_block(source_bundle_small, conda_env, tmp_path):
    target = tmp_path / "env"
    Path(lock_path(str(target))).write_text("12345\n")  # left by a killed run; nobody holds it
    unbundle(str(source_bundle_small), str(target))
    assert_complete(target)
    assert _names(tmp_path) == ["env"]


def test_concurrent_unbundles_of_one_target(source_bundle_small, conda_process, tmp_path):
    target = tmp_path / "env"
    runs = [
        subprocess.Popen(
            [str(CONDA), "unbundle", str(source_bundle_small), "-p", str(target)],
            env=conda_process.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate()[0] for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes[0] == 0 and codes[1] != 0, outputs
    loser = next(out for run, out in zip(runs, outputs, strict=True) if run.returncode)
    assert "TargetBusyError" in loser or "TargetExistsError" in loser, loser
    assert "Traceback" not in loser
    assert_complete(target)
    assert _names(tmp_path) == ["env"]


def test_leftovers_of_dead_runs_are_removed(source_bundle_small, conda_env, tmp_path):
    target = tmp_path / "env"
    dead = [tmp_path / f".env{STAGING_MARK}ab12cd34", tmp_path / f".env{BACKUP_MARK}zz_9yy88"]
    for directory in dead:
        (directory / "lib").mkdir(parents=True)
        (directory / "lib" / "half-written").write_bytes(b"x" * 100)
    other = tmp_path / f".other{STAGING_MARK}ab12cd34"  # another target's: not ours to remove
    other.mkdir()
    assert leftovers(str(target)) == sorted(map(str, dead))
    unbundle(str(source_bundle_small), str(target))
    assert_complete(target)
    assert _names(tmp_path) == [other.name, "env"]


def test_dead_two_rename_swap_is_repaired(source_bundle_small, conda_env, tmp_path):
    """A run killed between the two renames of the fallback swap left no target."""
    target = tmp_path / "env"
    unbundle(str(source_bundle_small), str(target))
    (target / "marker").write_text("old")
    old = tree(target)
    backup = tmp_path / f".env{BACKUP_MARK}k1ll3d00"
    backup.mkdir()
    target.rename(backup / "env")
    with pytest.raises(TargetExistsError):  # the old environment is back, so: --force
        unbundle(str(source_bundle_small), str(target))
    assert tree(target) == old
    assert _names(tmp_path) == ["env"]


def test_exchange_and_its_fallback_swap_two_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for directory in (a, b):
        directory.mkdir()
        (directory / "name").write_text(directory.name)
    assert exchange(str(a), str(b))  # Linux renameat2 on this filesystem
    assert (a / "name").read_text() == "b" and (b / "name").read_text() == "a"
    _swap_by_renames(str(a), str(b))  # staging a, target b: the old b ends up in a/env
    assert (b / "name").read_text() == "b" and (a / "env" / "name").read_text() == "a"
    assert _names(tmp_path) == ["a", "b"]


# --- SIGKILL at random moments ---------------------------------------------------------------


def _start(bundle: Path, target: Path, env: dict, force: bool) -> subprocess.Popen:
    args = [str(CONDA), "unbundle", str(bundle), "-p", str(target)]
    return subprocess.Popen(
        args + (["--force", "--yes"] if force else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _staging_seen(parent: Path) -> bool:
    return any(STAGING_MARK in name for name in os.listdir(parent))


def _run_until_staging(proc: subprocess.Popen, parent: Path) -> float:
    """Wait until the run has made its staging directory (or ended); returns when."""
    while proc.poll() is None and not _staging_seen(parent):
        time.sleep(0.0005)
    return time.monotonic()


def _registered(home: Path, target: Path) -> bool:
    listing = home / ".conda" / "environments.txt"
    return listing.exists() and str(target) in listing.read_text().split()


def test_sigkill_at_any_moment_is_all_or_nothing(source_bundle, conda_isolation, tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    home = tmp_path / "home"
    home.mkdir()
    env = {**conda_isolation.env, "HOME": str(home), "CONDA_REGISTER_ENVS": "true"}
    parent = tmp_path / "envs"
    parent.mkdir()
    target = parent / "env"
    # Calibrate: how long does a run take once its staging directory exists?
    proc = _start(source_bundle, target, env, force=False)
    seen = _run_until_staging(proc, parent)
    assert proc.wait() == 0
    working = time.monotonic() - seen
    assert_complete(target)
    for round_ in range(6):
        force = round_ % 2 == 0
        if force:
            if not target.exists():
                assert _start(source_bundle, target, env, force=False).wait() == 0
            (target / "marker").write_text(str(round_))
            before = tree(target)
        elif target.exists():
            shutil.rmtree(target)
        (home / ".conda" / "environments.txt").write_text("")  # this round registers anew
        proc = _start(source_bundle, target, env, force)
        if round_ == 1:
            time.sleep(rng.uniform(0.1, 0.5))  # before staging: conda starting, pre-flight
        else:
            _run_until_staging(proc, parent)
            time.sleep(rng.uniform(0, working * 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        context = f"seed {seed}, round {round_}, returncode {proc.returncode}"
        if force and (target / "marker").exists():
            assert tree(target) == before, context
        elif target.exists():
            assert not (target / "marker").exists(), context
            assert_complete(target)
        else:
            assert not force, context
        if _registered(home, target):
            assert_complete(target)
        rest = [n for n in _names(parent) if n not in ("env", f".env{LOCK_MARK}")]
        assert len(rest) <= 1 and all(n.startswith(".env.envbundle-") for n in rest), context
    proc = _start(source_bundle, target, env, force=True)
    assert proc.wait() == 0
    assert_complete(target)
    assert _registered(home, target)
    assert _names(parent) == ["env"]
