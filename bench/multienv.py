"""Several environments in one bundle against one bundle each (issue 16).

Two pairs of real environments, measured with the real CLI, median of ``--runs``: bundle
bytes, seconds and peak RSS, unbundle seconds and peak RSS, and the disk the installed
environments take (``du``, a hardlinked file counted once).

- default, the test channel: ``train`` and ``serve`` share python (a repackaged CPython 3.12)
  and ``foo``; each has packages the other lacks (``train``: foopy and two pip-installed tools;
  ``serve``: foo-data and foo-post). Fast, and the same code as the big pair.
- ``--big``: the cached big benchmark env (bench/buildenv.py, only read) as ``train``, and
  ``serve``, a ``conda create --clone`` of it made under ``--work`` in which ``conda install``
  puts numpy's previous release (from bench/delta.py's channel): they share python and every
  other package.

    python -m bench.multienv [--runs 3] [--work DIR] [--out DIR]
    python -m bench.multienv --big [--runs 3] [--work DIR] [--out /dev/shm/DIR]

``--work`` holds the source environments, ``--out`` (default: ``--work``) the bundles and the
unbundled environments. Prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.measure import Run, run_measured
from tests.support.channel import build_channel, default_cache_root
from tests.support.envs import CONDA, create_env, pip_install_tool
from tests.support.isolation import conda_env_vars

TRAIN = ["python", "foo", "foopy"]
SERVE = ["python", "foo", "foo-data", "foo-post"]
MIB = 1 << 20


def _conda(env: dict[str, str], *args: object) -> Run:
    run = run_measured([str(CONDA), *map(str, args)], env=env)
    if run.returncode != 0:
        raise RuntimeError(f"conda {args[0]} failed (exit {run.returncode}):\n{run.output}")
    return run


def _timed(
    runs: int, step: Callable[[], list[Run]], reset: Callable[[], None]
) -> tuple[float, int]:
    """Median seconds of ``step`` (its runs summed) over ``runs`` runs, ``reset`` before each;
    the largest peak RSS of any of its runs."""
    seconds, peak = [], 0
    for _ in range(runs):
        reset()
        done = step()
        seconds.append(sum(run.seconds for run in done))
        peak = max(peak, *(run.peak_rss for run in done))
    return statistics.median(seconds), peak


def _du(*paths: Path) -> int:
    out = subprocess.run(["du", "-scb", *map(str, paths)], check=True, capture_output=True)
    return int(out.stdout.split()[-2])


def _clear(*paths: Path) -> Callable[[], None]:
    def clear() -> None:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    return clear


def _probe(prefix: Path, code: str) -> str:
    """What the environment's python prints for ``code``, run with no activation."""
    clean = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [str(prefix / "bin" / "python"), "-c", code]
    return subprocess.run(cmd, env=clean, check=True, capture_output=True, text=True).stdout.strip()


def _installed(prefixes: list[Path], code: str) -> tuple[int, str]:
    """The disk the unbundled ``prefixes`` take and what ``code`` prints in each; then they
    are removed (tmpfs is memory)."""
    seen = " / ".join(_probe(prefix, code) for prefix in prefixes)
    disk = _du(*prefixes)
    _clear(*prefixes)()
    return disk, seen


def compare(
    env: dict[str, str], sources: dict[str, Path], out: Path, runs: int, code: str
) -> list[tuple[str, str, str]]:
    """One bundle of ``sources`` (name -> prefix whose last part is the name) against a
    bundle each; ``code`` is run by each unbundled environment's python."""
    out.mkdir()
    both = out / "both.tar.zst"
    singles = {name: out / f"{name}.tar.zst" for name in sources}
    prefixes = [arg for prefix in sources.values() for arg in ("-p", prefix)]
    multi_pack = _timed(runs, lambda: [_conda(env, "bundle", *prefixes, "-o", both)], _clear(both))
    single_pack = _timed(
        runs,
        lambda: [_conda(env, "bundle", "-p", sources[n], "-o", singles[n]) for n in sources],
        _clear(*singles.values()),
    )
    sizes = (both.stat().st_size, sum(path.stat().st_size for path in singles.values()))
    envs, apart = out / "envs", out / "apart"
    multi_unpack = _timed(
        runs, lambda: [_conda(env, "unbundle", both, "--all", "--envs-dir", envs)], _clear(envs)
    )
    multi_disk, multi_seen = _installed([envs / name for name in sources], code)
    single_unpack = _timed(
        runs,
        lambda: [_conda(env, "unbundle", singles[n], "-p", apart / n) for n in sources],
        _clear(apart),
    )
    single_disk, single_seen = _installed([apart / name for name in sources], code)
    return [
        ("bundle size", f"{sizes[0] / MIB:.1f} MiB", f"{sizes[1] / MIB:.1f} MiB"),
        ("conda bundle", f"{multi_pack[0]:.2f} s", f"{single_pack[0]:.2f} s"),
        ("conda bundle, peak RSS", f"{multi_pack[1] / MIB:.0f} MiB", _rss(single_pack)),
        ("conda unbundle", f"{multi_unpack[0]:.2f} s (--all)", f"{single_unpack[0]:.2f} s"),
        ("conda unbundle, peak RSS", f"{multi_unpack[1] / MIB:.0f} MiB", _rss(single_unpack)),
        ("installed, on disk", f"{multi_disk / MIB:.1f} MiB", f"{single_disk / MIB:.1f} MiB"),
        (f"`python -c '{code}'` ({' / '.join(sources)})", multi_seen, single_seen),
    ]


def _rss(timing: tuple[float, int]) -> str:
    return f"{timing[1] / MIB:.0f} MiB (the larger run)"


def small_pair(work: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """The test-channel pair, created under ``work``; conda's settings."""
    env = conda_env_vars(work / "conda")
    channel = build_channel(default_cache_root())
    train, serve = work / "src" / "train", work / "src" / "serve"
    create_env(train, channel, TRAIN, env)
    pip_install_tool(train, work / "wheels")
    create_env(serve, channel, SERVE, env)
    return env, {"train": train, "serve": serve}


def big_pair(work: Path, out: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """The big benchmark env (as ``train``, through a symlink: its directory is ``env``) and
    its clone with numpy's previous release (``serve``, under ``work``); conda's settings."""
    from bench.buildenv import ensure_env
    from bench.config import PROFILES
    from bench.delta import BUMPS, ensure_source

    bench_env = ensure_env(PROFILES["big"])
    bump = BUMPS["big"]
    channel = ensure_source(bench_env, bump).channel
    env = conda_env_vars(work / "conda")
    # the benchmark env's package cache is only read: the clone hardlinks from it
    env["CONDA_PKGS_DIRS"] = f"{env['CONDA_PKGS_DIRS']},{bench_env.pkgs_dir}"
    serve = work / "serve"
    _conda(env, "create", "--offline", "--yes", "--quiet", "--clone", bench_env.prefix, "-p", serve)
    install = ["install", "--offline", "--override-channels", "-c", channel.as_uri()]
    _conda(env, *install, "-p", serve, "--yes", "--quiet", f"{bump.package}={bump.old}")
    train = out / "src" / "train"
    train.parent.mkdir(parents=True)
    train.symlink_to(bench_env.prefix)
    os.sync()  # the clone's writes do not land in the first timed run
    return env, {"train": train, "serve": serve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, help="a directory on the disk to measure")
    parser.add_argument("--out", type=Path, help="where bundles and unbundled envs go")
    parser.add_argument("--big", action="store_true", help="the big benchmark env and a clone")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(dir=args.work, prefix="multienv-") as work,
        tempfile.TemporaryDirectory(dir=args.out or args.work, prefix="multienv-") as out,
    ):
        if args.big:  # the one package the two differ in
            pair, code = big_pair(Path(work), Path(out)), "import numpy; print(numpy.__version__)"
        else:
            pair, code = small_pair(Path(work)), "import platform; print(platform.python_version())"
        rows = compare(*pair, Path(out) / "runs", args.runs, code)
    print("| | one bundle of both | a bundle each |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
