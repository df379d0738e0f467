"""Profile ``conda_envbundle.api.bundle()`` and ``unbundle()`` in-process on a benchmark env.

Usage (from the repository root)::

    .venv/bin/python bench/profiling.py            # the full env (built if not cached)
    .venv/bin/python bench/profiling.py --quick --top 40 --format tar.gz

cProfile sees one thread: the main thread is profiled, and so is every thread started
while profiling (the product's worker pools), each with its own profiler; the report shows
the main thread and the merged worker threads separately. Raw stats are saved as
``bench/.cache/profile-{bundle,unbundle}[-workers].prof`` (open with ``python -m pstats``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Import bench modules as ``bench.*`` only: the script's own directory must not shadow
# top-level modules (``profile``, ``config``, ...).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))


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


def main() -> int:
    """Profile bundle then unbundle of the cached env."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small env")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--format", default="tar.zst", help="bundle format (tar.zst, tar.gz)")
    args = parser.parse_args()

    from bench.buildenv import ensure_env
    from bench.config import CACHE, PROFILES

    bench_env = ensure_env(PROFILES["quick" if args.quick else "full"])
    os.environ.update(bench_env.conda_env())
    for name in ("CONDA_PREFIX", "CONDA_DEFAULT_ENV"):
        os.environ.pop(name, None)
    from conda.base.context import reset_context

    reset_context()
    from conda_envbundle import api

    work = CACHE / "profile-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bundle, target = work / f"bundle.{args.format}", work / "target"
    try:
        os.sync()
        profile_call(
            "bundle", lambda: api.bundle(str(bench_env.prefix), str(bundle)), args.top, CACHE
        )
        os.sync()
        profile_call("unbundle", lambda: api.unbundle(str(bundle), str(target)), args.top, CACHE)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
