"""Benchmark ``conda bundle`` / ``conda unbundle`` against GNU tar + zstd and conda-pack.

Usage (from the repository root, with the development virtualenv)::

    .venv/bin/python bench/run.py          # both envs, tmpfs + disk -> docs/performance.md
    .venv/bin/python bench/run.py --quick  # small versions -> bench/.cache/performance-quick.md

Two envs (bench/config.py): ``big`` (big files dominate) and ``small`` (300,000+ files of
about 3 KB). Each is measured with archives and targets on tmpfs (the CPU decides) and on
disk. Then the plugin's import cost, and the CPU per step of the small-files env
(bench/profiling.py). Envs are built on the first run and cached under bench/.cache
(see bench/buildenv.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Import bench modules as ``bench.*`` only: the script's own directory must not shadow
# top-level modules (``profile``, ``config``, ...).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

REQUIREMENTS = ROOT / "bench" / "requirements.txt"
ONLY = ("gnu", "bundle-zst", "bundle-gz", "sh", "conda-pack-zst", "conda-pack-gz")
TOOLS = ("/usr/bin/time", "tar", "zstd", "gzip", "gcc", "objcopy", "patchelf", "strip")
TMPFS_DIR = Path("/dev/shm/envbundle-bench")
TMPFS_HEADROOM = 2 << 30
"""Memory left free beyond what the tmpfs pass needs (an env + archives)."""


def ensure_requirements() -> None:
    """Install bench/requirements.txt into this interpreter's environment if needed."""
    try:
        ok = version("conda-pack") == "0.9.2" and bool(version("psutil"))
    except PackageNotFoundError:
        ok = False
    if not ok:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)]
        subprocess.run(cmd, check=True)


def check_tools() -> None:
    """Fail early, with the Debian packages to install, if a command-line tool is missing."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"missing tools: {', '.join(missing)} "
            "(apt-get install time tar zstd gzip gcc binutils patchelf)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small versions of the envs")
    parser.add_argument(
        "--env", nargs="+", choices=("big", "small"), default=["big", "small"], help="envs"
    )
    parser.add_argument(
        "--storage",
        nargs="+",
        choices=("tmpfs", "disk"),
        help="where archives and targets go (default: both; with --quick: tmpfs only)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every measurement (default 1)"
    )
    parser.add_argument(
        "--key-rounds",
        type=int,
        default=2,
        help="rounds of GNU tar|zstd vs conda bundle tar.zst (and unpacks), alternating",
    )
    parser.add_argument("--report", type=Path, help="where to write the Markdown report")
    parser.add_argument(
        "--disk-dir", type=Path, help="runs directory on disk (default bench/.cache/runs)"
    )
    parser.add_argument(
        "--tmpfs-dir", type=Path, default=TMPFS_DIR, help=f"runs directory on tmpfs ({TMPFS_DIR})"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached envs")
    parser.add_argument("--no-profile", action="store_true", help="skip the CPU-per-step profile")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=ONLY,
        help="measure only these groups (the report then lacks the others)",
    )
    return parser.parse_args(argv)


def _warm(bench_env, runs: Path) -> tuple[int, float]:
    """Read the env and its package cache once; return the tar stream size and the time."""
    from bench.measure import run_measured

    print(f"warming the page cache ({bench_env.profile.name} env, package cache)", flush=True)
    runs.mkdir(parents=True, exist_ok=True)
    stream_log = runs / "tar-stream.log"
    warm = run_measured(f"tar -cf - -C '{bench_env.prefix}' . | wc -c", log=stream_log)
    tar_stream = int(stream_log.read_text().split()[0])
    warm_pkgs = run_measured(f"tar -cf - -C '{bench_env.pkgs_dir}' . | wc -c")
    stream_log.unlink()
    return tar_stream, warm.seconds + warm_pkgs.seconds


def _tmpfs_short(bench_env, tar_stream: int, runs: Path) -> str:
    """Why the tmpfs pass cannot run (not enough memory or tmpfs space), or ``""``."""
    import psutil

    need = bench_env.stats["bytes"] + tar_stream + TMPFS_HEADROOM  # target + archives
    free_mem = psutil.virtual_memory().available
    parent = runs.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        return f"{parent} is not a writable directory"
    free_fs = shutil.disk_usage(parent).free
    if min(free_mem, free_fs) < need:
        return (
            f"needs about {need / 2**30:.1f} GiB of memory and tmpfs space, "
            f"{free_mem / 2**30:.1f} GiB available, {free_fs / 2**30:.1f} GiB free on {parent}"
        )
    return ""


def _measure(bench_env, runs: Path, storage: str, args: argparse.Namespace, key_rounds: int):
    """One env on one storage: every group of the suite; the results."""
    from bench.config import CACHE
    from bench.suite import Suite

    print(f"measuring the {bench_env.profile.name} env, {storage} ({runs})", flush=True)
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    suite = Suite(bench_env, runs, args.repeat, on_disk=storage == "disk")
    wanted = set(args.only or ONLY)
    try:
        if {"gnu", "bundle-zst"} & wanted:
            suite.key_comparison("gnu" in wanted, "bundle-zst" in wanted, key_rounds)
        if "bundle-gz" in wanted:
            suite.bundle_gz()
        if "sh" in wanted:
            suite.installer()
        if "conda-pack-zst" in wanted:
            suite.conda_pack("tar.zst")
        if "conda-pack-gz" in wanted:
            suite.conda_pack("tar.gz")
    finally:
        for log in runs.glob("*.log"):
            shutil.copy2(log, CACHE / f"last-{bench_env.profile.name}-{storage}-{log.name}")
        shutil.rmtree(runs, ignore_errors=True)
    return suite.results


def _profile_steps(profile_name: str, quick: bool) -> dict | None:
    """bench/profiling.py's step profile of the small-files env, or None if it failed."""
    from bench.config import CACHE

    out = CACHE / f"steps-{profile_name}.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "profiling.py"),
        "--env",
        "small",
        "--json",
        str(out),
    ]
    print("profiling the small-files env (CPU per step)", flush=True)
    proc = subprocess.run(cmd + (["--quick"] if quick else []), check=False)
    if proc.returncode != 0 or not out.is_file():
        print(f"warning: the step profile failed (exit {proc.returncode})", flush=True)
        return None
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the envs, measure everything, write the report."""
    args = parse_args(argv)
    check_tools()
    ensure_requirements()
    from bench import importcost, report
    from bench.buildenv import build_env, ensure_env
    from bench.config import CACHE, PROFILES
    from bench.config import ROOT as REPO
    from bench.machine import describe_machine
    from bench.measure import run_measured
    from bench.suite import CONDA

    started = time.monotonic()
    load_start = os.getloadavg()[0]
    if load_start >= 1.0:
        print(f"warning: load average {load_start:.1f}: other processes will skew the times")
    suffix = "-quick" if args.quick else ""
    envs = [PROFILES[name + suffix] for name in args.env]
    runs_dirs = {"tmpfs": args.tmpfs_dir, "disk": args.disk_dir or CACHE / "runs"}
    storages = args.storage or (["tmpfs"] if args.quick else ["tmpfs", "disk"])
    runs_dirs = {s: runs_dirs[s] for s in ("tmpfs", "disk") if s in storages}
    key_rounds = max(args.key_rounds, args.repeat)
    for stale in CACHE.glob("last-*.log"):
        stale.unlink()

    env_runs = []
    for profile in envs:
        bench_env = build_env(profile) if args.rebuild else ensure_env(profile)
        tar_stream, warm = _warm(bench_env, runs_dirs.get("disk", CACHE / "runs"))
        env_run = report.EnvRun(bench_env, tar_stream, warm)
        for storage, runs in runs_dirs.items():
            short = _tmpfs_short(bench_env, tar_stream, runs) if storage == "tmpfs" else ""
            if short:
                print(f"skipping {storage}: {short}", flush=True)
                env_run.skipped[storage] = short
                continue
            env_run.passes[storage] = _measure(bench_env, runs, storage, args, key_rounds)
        env_runs.append(env_run)

    conda_env = env_runs[0].bench_env.conda_env()
    print("conda startup, plugin import cost", flush=True)
    startup = []
    for index in range(6):
        run = run_measured([str(CONDA), "--version"], env=conda_env)
        if index:  # the first run warms conda's modules
            startup.append(run.seconds)
    cost = importcost.measure(CONDA, conda_env)
    steps = None
    if "small" in args.env and not args.no_profile:
        steps = _profile_steps(PROFILES["small" + suffix].name, args.quick)

    bench_args = shlex.join(sys.argv[1:] if argv is None else argv)
    command = "make bench" + (f" BENCH_ARGS={shlex.quote(bench_args)}" if bench_args else "")
    ctx = report.Context(
        envs=env_runs,
        machine=describe_machine(CACHE, runs_dirs, CONDA, conda_env, REPO),
        startup=startup,
        command=command,
        total_seconds=time.monotonic() - started,
        repeat=args.repeat,
        key_rounds=key_rounds,
        load=(load_start, os.getloadavg()[0]),
        import_cost=cost,
        steps=steps,
    )
    default = CACHE / "performance-quick.md" if args.quick else REPO / "docs" / "performance.md"
    out = args.report or default
    report.write(out, ctx)
    raw = CACHE / f"results{suffix}.json"
    raw.write_text(
        json.dumps(
            {
                run.bench_env.profile.name: {
                    s: [asdict(r) for r in rs] for s, rs in run.passes.items()
                }
                for run in env_runs
            },
            indent=1,
        )
    )
    print(f"wrote {out} and {raw} in {(time.monotonic() - started) / 60:.1f} min")
    print(report.render(ctx, results_only=True))
    failed = any(r.error for run in env_runs for rs in run.passes.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
