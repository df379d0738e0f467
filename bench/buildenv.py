"""Build a benchmark environment once and cache it under ``bench/.cache/env-<key>``.

Steps: download the pinned wheels; convert them, CPython 3.11, the synthetic packages, the
many-small-files packages and the test-suite fixture packages into a local channel (in
parallel, staged on tmpfs where there is one); ``conda create`` the
environment from it with the real conda CLI (package cache kept beside it, so files are
hardlinked as on a user's machine); ``pip install`` one unmanaged wheel with the env's own
pip; check the env works; record its composition in ``complete.json``.

The env is built in place (conda writes absolute paths); a directory without
``complete.json`` is an interrupted build and is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.support.envs import create_env
from tests.support.isolation import conda_env_vars
from tests.support.packages import BUILDERS

from . import channel as channel_mod
from .config import CACHE, PY_VERSION, UNMANAGED_WHEEL, Profile
from .envstats import describe
from .pythonpkg import build_python
from .smallfiles import build_small
from .synthetic import build_synthetic
from .wheel2conda import convert_wheel
from .wheels import download

STAMP = "complete.json"
TMPFS = Path("/dev/shm")


@dataclass(frozen=True)
class BenchEnv:
    """A built benchmark environment and the conda settings it was created with."""

    profile: Profile
    directory: Path
    stats: dict[str, int]

    @property
    def prefix(self) -> Path:
        """The environment."""
        return self.directory / "env"

    @property
    def pkgs_dir(self) -> Path:
        """The package cache the environment's files are hardlinked with."""
        return self.directory / "conda" / "pkgs"

    def conda_env(self) -> dict[str, str]:
        """Environment variables for conda processes (isolated home, this package cache)."""
        return conda_env_vars(self.directory / "conda")


def smoke_test(prefix: Path, profile: Profile, *, activated: bool = False) -> None:
    """Fail unless the env's python, a synthetic binary, the pip-installed tool and (small-files
    env) a relocated ``-config`` script work.

    They run with a clean environment; ``activated`` puts the env's ``bin`` first on PATH.
    """
    path = f"{prefix}/bin:/usr/bin:/bin" if activated else "/usr/bin:/bin"
    clean = {"PATH": path, "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    code = f"import sys, {', '.join(profile.smoke_imports)}; print(sys.prefix)"
    checks = [
        [str(prefix / "bin" / f"python{PY_VERSION}"), "-c", code],
        [str(prefix / "bin" / "synth000")],
        [str(prefix / "bin" / "tabulate"), "--help"],
    ]
    for cmd in checks:
        proc = subprocess.run(cmd, env=clean, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["no output"]
            name = os.path.basename(cmd[0])
            raise RuntimeError(f"bin/{name} exit {proc.returncode}: {lines[-1]}")
    reports = [(checks[0], "python reports sys.prefix")]
    if profile.small_packages > 1:  # a text prefix file of a small-files package
        reports.append(([str(prefix / "bin" / "small001-config"), "--prefix"], "small001-config"))
    for cmd, what in reports:
        out = subprocess.run(cmd, env=clean, capture_output=True, text=True, check=True)
        if out.stdout.strip() != str(prefix):
            raise RuntimeError(f"{what} {out.stdout.strip()}, expected {prefix}")


def _timed(label: str, func: Callable[[], object]) -> object:
    started = time.monotonic()
    result = func()
    print(f"  {label}: {time.monotonic() - started:.1f} s", flush=True)
    return result


def _build_packages(profile: Profile, build_root: Path, channel: Path) -> None:
    """Write every package of the profile into ``channel`` (two processes per core)."""
    wheels = download([*profile.pins()])
    for builder in BUILDERS:  # foo, foo-data, foo-post, foopy: tiny
        builder(build_root, channel)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        jobs = [pool.submit(build_python, build_root, channel, flavour=profile.python)]
        for wheel in sorted(wheels, key=lambda w: w.stat().st_size, reverse=True):
            jobs.append(pool.submit(convert_wheel, wheel, build_root, channel))
        for index in range(profile.synthetic):
            jobs.append(pool.submit(build_synthetic, build_root, channel, index, profile.blob_mib))
        for index in range(profile.small_packages):
            files = profile.small_files
            jobs.append(pool.submit(build_small, build_root, channel, index, files))
        for job in jobs:
            job.result()


def _staging_root(directory: Path) -> Path:
    """Where packages are staged: a fresh directory on tmpfs if there is one (writing and
    deleting 300,000 small files is much faster there), else inside ``directory``."""
    if TMPFS.is_dir() and os.access(TMPFS, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="envbundle-bench-build-", dir=TMPFS))
    root = directory / "build"
    root.mkdir(parents=True)
    return root


def _pip_install_unmanaged(prefix: Path) -> None:
    """Install :data:`UNMANAGED_WHEEL` with the env's own pip (files conda does not track)."""
    (wheel,) = download([UNMANAGED_WHEEL])
    cmd = [str(prefix / "bin" / f"python{PY_VERSION}"), "-m", "pip", "install", "-q"]
    cmd += ["--no-index", "--no-deps", "--no-cache-dir", "--disable-pip-version-check", str(wheel)]
    cmd += ["--root-user-action", "ignore"]
    subprocess.run(cmd, check=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})


def _prune(profile: Profile) -> None:
    """Remove cached envs of this profile built by other builder versions."""
    for stale in CACHE.glob(f"env-{profile.name}-*"):
        # env-small-<key> must not match env-small-quick-<key>
        if stale != profile.directory and stale.name.rpartition("-")[0] == f"env-{profile.name}":
            print(f"removing stale cache {stale}", flush=True)
            shutil.rmtree(stale)


def build_env(profile: Profile) -> BenchEnv:
    """Build the profile's env (see module docstring); return it."""
    directory = profile.directory
    _prune(profile)
    if directory.exists():
        shutil.rmtree(directory)
    print(f"building the {profile.name} benchmark env in {directory}", flush=True)
    started = time.monotonic()
    directory.mkdir(parents=True)
    build_root, channel = _staging_root(directory), directory / "channel"
    try:
        _timed("packages", lambda: _build_packages(profile, build_root, channel))
    finally:
        shutil.rmtree(build_root)
    names = _timed("index", lambda: channel_mod.write_repodata(channel))
    env = BenchEnv(profile, directory, {})
    prefix = env.prefix
    _timed("conda create", lambda: create_env(prefix, channel, sorted(names), env.conda_env()))
    _timed("pip install", lambda: _pip_install_unmanaged(prefix))
    _timed("smoke test", lambda: smoke_test(prefix, profile))
    shutil.rmtree(channel)  # the package cache has everything the benchmark needs
    stats = _timed("describe", lambda: describe(prefix))
    stats["build_seconds"] = round(time.monotonic() - started)
    (directory / STAMP).write_text(json.dumps(stats, indent=1))
    print(f"built in {stats['build_seconds']} s", flush=True)
    return BenchEnv(profile, directory, stats)


def ensure_env(profile: Profile) -> BenchEnv:
    """The cached env of ``profile``, built first if missing or incomplete."""
    stamp = profile.directory / STAMP
    if stamp.is_file():
        return BenchEnv(profile, profile.directory, json.loads(stamp.read_text()))
    return build_env(profile)
