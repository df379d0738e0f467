"""Benchmark ``conda bundle`` / ``conda unbundle`` against GNU tar + zstd and conda-pack.

Usage (from the repository root, with the development virtualenv)::

    .venv/bin/python bench/run.py            # full env -> docs/performance.md
    .venv/bin/python bench/run.py --quick    # small env -> bench/.cache/performance-quick.md

The env is built on the first run and cached under bench/.cache (see bench/buildenv.py).
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
ONLY = ("gnu", "bundle-zst", "bundle-gz", "conda-pack-zst", "conda-pack-gz")
TOOLS = ("/usr/bin/time", "tar", "zstd", "gzip", "gcc", "objcopy", "patchelf", "strip")


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
    parser.add_argument("--quick", action="store_true", help="small env (seconds)")
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
        "--runs-dir",
        type=Path,
        help="where archives and unpacked envs go (default bench/.cache/runs; e.g. a "
        "directory in /dev/shm takes the disk out of the measurement)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached env")
    parser.add_argument(
        "--all",
        action="store_true",
        help="also unpack conda-pack's tar.zst (its tar.gz, the documented way, always is)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=ONLY,
        help="measure only these pairs (the report then lacks the others)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the env, measure everything, write the report."""
    args = parse_args(argv)
    check_tools()
    ensure_requirements()
    from bench import report
    from bench.buildenv import build_env, ensure_env
    from bench.config import CACHE, PROFILES
    from bench.config import ROOT as REPO
    from bench.machine import describe_machine
    from bench.measure import run_measured
    from bench.suite import CONDA, Suite

    started = time.monotonic()
    load_start = os.getloadavg()[0]
    if load_start >= 1.0:
        print(f"warning: load average {load_start:.1f}: other processes will skew the times")
    profile = PROFILES["quick" if args.quick else "full"]
    repeat = args.repeat
    key_rounds = max(args.key_rounds, repeat)
    bench_env = build_env(profile) if args.rebuild else ensure_env(profile)
    conda_env = bench_env.conda_env()
    runs = args.runs_dir or CACHE / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)

    print("warming the page cache (env, package cache)", flush=True)
    stream_log = runs / "tar-stream.log"
    warm = run_measured(f"tar -cf - -C '{bench_env.prefix}' . | wc -c", log=stream_log)
    tar_stream = int(stream_log.read_text().split()[0])
    warm_pkgs = run_measured(f"tar -cf - -C '{bench_env.pkgs_dir}' . | wc -c")

    print("conda startup", flush=True)
    startup = []
    for index in range(6):
        run = run_measured([str(CONDA), "--version"], env=conda_env)
        if index:  # the first run warms conda's modules
            startup.append(run.seconds)

    print("measuring", flush=True)
    suite = Suite(bench_env, runs, repeat)
    wanted = set(args.only or ONLY)
    if {"gnu", "bundle-zst"} & wanted:
        suite.key_comparison("gnu" in wanted, "bundle-zst" in wanted, key_rounds)
    if "bundle-gz" in wanted:
        suite.bundle_gz()
    if "conda-pack-zst" in wanted:
        suite.conda_pack("tar.zst", unpack=args.all)
    if "conda-pack-gz" in wanted:
        suite.conda_pack("tar.gz")
    results = suite.results

    bench_args = shlex.join(sys.argv[1:] if argv is None else argv)
    command = "make bench" + (f" BENCH_ARGS={shlex.quote(bench_args)}" if bench_args else "")
    ctx = report.Context(
        bench_env=bench_env,
        machine=describe_machine(CACHE, runs, CONDA, conda_env, REPO),
        startup=startup,
        tar_stream=tar_stream,
        warm_seconds=warm.seconds + warm_pkgs.seconds,
        command=command,
        total_seconds=time.monotonic() - started,
        repeat=repeat,
        key_rounds=key_rounds,
        load=(load_start, os.getloadavg()[0]),
    )
    default = CACHE / "performance-quick.md" if args.quick else REPO / "docs" / "performance.md"
    out = args.report or default
    report.write(out, ctx, results)
    raw = CACHE / f"results-{profile.name}.json"
    raw.write_text(json.dumps([asdict(r) for r in results], indent=1))
    for stale in CACHE.glob(f"last-{profile.name}-*.log"):
        stale.unlink()
    for log in runs.glob("*.log"):
        shutil.copy2(log, CACHE / f"last-{profile.name}-{log.name}")
    shutil.rmtree(runs)
    print(f"wrote {out} and {raw} in {(time.monotonic() - started) / 60:.1f} min")
    print(report.render(ctx, results).split("## Results")[1].split("## Method")[0])
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
