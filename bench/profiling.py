"""Profile ``conda bundle`` and ``conda unbundle`` in-process on a benchmark env.

Usage (from the repository root)::

    .venv/bin/python bench/profiling.py                  # CPU per step, small-files env
    .venv/bin/python bench/profiling.py --quick --env big
    .venv/bin/python bench/profiling.py --cprofile --top 40 --format tar.gz

Both run the real CLI (``conda.cli.main.main``) in this process, with the bundle and the
target on tmpfs (``/dev/shm``) when there is one, so the CPU and not the disk decides.

- Default: CPU-seconds and microseconds per file of each step (bench/stepprofile.py, a
  sampling profiler that reads every thread's CPU clock), plus reference costs (GNU tar +
  zstd, Python loops that only lstat, read or hash). ``--json FILE`` saves them for the
  report (bench/run.py does this for docs/performance.md).
- ``--cprofile``: cProfile tables of the main thread and of every thread started while
  profiling (the product's worker pools), merged; raw stats are saved as
  ``bench/.cache/profile-{bundle,unbundle}[-workers].prof`` (``python -m pstats``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Import bench modules as ``bench.*`` only: the script's own directory must not shadow
# top-level modules (``profile``, ``config``, ...).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
TMPFS = Path("/dev/shm")


class ThreadProfiles:
    """cProfile for the calling thread and for every thread started while active."""

    def __init__(self) -> None:
        self.main = cProfile.Profile()
        self.workers: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_in_thread(self, frame, event, arg) -> None:
        sys.setprofile(None)
        profiler = cProfile.Profile()
        with self._lock:
            self.workers.append(profiler)
        profiler.enable()

    def __enter__(self) -> ThreadProfiles:
        threading.setprofile(self._start_in_thread)
        self.main.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        self.main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]


def _table(stats: pstats.Stats, sort: str, top: int) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(top)
    return out.getvalue()


def profile_call(name: str, call: Callable[[], object], top: int, cache: Path) -> None:
    """Run ``call`` under :class:`ThreadProfiles`; print and save its statistics."""
    started = time.perf_counter()
    with ThreadProfiles() as profiles:
        call()
    wall = time.perf_counter() - started
    print(f"\n===== {name}: {wall:.2f} s wall (in-process, no conda startup) =====")
    main = pstats.Stats(profiles.main)
    main.dump_stats(cache / f"profile-{name}.prof")
    print(f"--- main thread, top {top} by cumulative time ---")
    print(_table(main, "cumulative", top))
    print(f"--- main thread, top {top} by own time ---")
    print(_table(main, "tottime", top))
    if profiles.workers:
        workers = pstats.Stats(profiles.workers[0])
        for profiler in profiles.workers[1:]:
            workers.add(profiler)
        workers.dump_stats(cache / f"profile-{name}-workers.prof")
        print(f"--- {len(profiles.workers)} worker threads merged, top {top} by own time ---")
        print(_table(workers, "tottime", top))


def _conda(*args: str) -> Callable[[], object]:
    """``conda *args`` through conda's CLI entry point, in this process; fails on exit != 0."""

    def call() -> None:
        from conda.cli.main import main

        code = main(*args)
        if code:
            raise SystemExit(f"conda {' '.join(args)}: exit {code}")

    return call


def _work_dir(cache: Path) -> Path:
    parent = TMPFS if TMPFS.is_dir() and os.access(TMPFS, os.W_OK) else cache
    return Path(tempfile.mkdtemp(prefix="envbundle-bench-profile-", dir=parent))


def _steps(bench_env, fmt: str, work: Path, out: Path | None) -> None:
    from bench import stepprofile

    files = bench_env.stats["files"] + bench_env.stats["symlinks"]
    bundle, target = work / f"bundle.{fmt}", work / "target"
    prefix = str(bench_env.prefix)
    profiles = []
    for args in (
        ["bundle", "-p", prefix, "-o", str(bundle)],
        ["unbundle", str(bundle), "-p", str(target)],
    ):
        os.sync()
        profile = stepprofile.profile_conda(args, files)
        profiles.append(profile)
        print(stepprofile.render_text(profile), flush=True)
    refs = stepprofile.references(bench_env.prefix, work)
    print(stepprofile.render_references(refs, files))
    if out:
        data = {
            "env": bench_env.profile.name,
            "files": files,
            "profiles": [asdict(p) for p in profiles],
            "references": [asdict(r) for r in refs],
        }
        out.write_text(json.dumps(data, indent=1))


def main() -> int:
    """Profile bundle then unbundle of the cached env."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=("big", "small"), default="small", help="which env")
    parser.add_argument("--quick", action="store_true", help="the env's quick profile")
    parser.add_argument("--cprofile", action="store_true", help="cProfile tables instead")
    parser.add_argument("--top", type=int, default=25, help="rows per cProfile table")
    parser.add_argument("--format", default="tar.zst", help="bundle format (tar.zst, tar.gz)")
    parser.add_argument("--json", type=Path, help="save the step profile here")
    args = parser.parse_args()

    from bench.buildenv import ensure_env
    from bench.config import CACHE, PROFILES

    bench_env = ensure_env(PROFILES[args.env + ("-quick" if args.quick else "")])
    os.environ.update(bench_env.conda_env())
    for name in ("CONDA_PREFIX", "CONDA_DEFAULT_ENV"):
        os.environ.pop(name, None)
    work = _work_dir(CACHE)
    try:
        if args.cprofile:
            bundle, target = work / f"bundle.{args.format}", work / "target"
            prefix = str(bench_env.prefix)
            os.sync()
            profile_call(
                "bundle", _conda("bundle", "-p", prefix, "-o", str(bundle)), args.top, CACHE
            )
            os.sync()
            profile_call(
                "unbundle", _conda("unbundle", str(bundle), "-p", str(target)), args.top, CACHE
            )
        else:
            _steps(bench_env, args.format, work, args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
