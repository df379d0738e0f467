"""Several environments in one bundle against one bundle each (issue 16).

Two real environments from the test channel share python (a repackaged CPython 3.12) and
``foo``; each has packages the other lacks (``train``: foopy and two pip-installed tools;
``serve``: foo-data and foo-post). Measured with the real CLI, median of ``--runs``:
bundle bytes and seconds, unbundle seconds, and the disk the installed environments take
(``du``, a hardlinked file counted once).

    python -m bench.multienv [--runs 3] [--work DIR]

Prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.channel import build_channel, default_cache_root
from tests.support.envs import CONDA, create_env, pip_install_tool
from tests.support.isolation import conda_env_vars

TRAIN = ["python", "foo", "foopy"]
SERVE = ["python", "foo", "foo-data", "foo-post"]


def _conda(env: dict[str, str], *args: object) -> None:
    subprocess.run([str(CONDA), *map(str, args)], env=env, check=True, capture_output=True)


def _timed(runs: int, step: Callable[[], None], reset: Callable[[], None]) -> float:
    """Median seconds of ``step`` over ``runs`` runs, ``reset`` before each."""
    seconds = []
    for _ in range(runs):
        reset()
        started = time.monotonic()
        step()
        seconds.append(time.monotonic() - started)
    return statistics.median(seconds)


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


def measure(work: Path, runs: int) -> list[tuple[str, str, str]]:
    env = conda_env_vars(work / "conda")
    channel = build_channel(default_cache_root())
    train, serve = work / "src" / "train", work / "src" / "serve"
    create_env(train, channel, TRAIN, env)
    pip_install_tool(train, work / "wheels")
    create_env(serve, channel, SERVE, env)
    out = work / "out"
    out.mkdir()
    both, one, two = out / "both.tar.zst", out / "train.tar.zst", out / "serve.tar.zst"
    multi_pack = _timed(
        runs, lambda: _conda(env, "bundle", "-p", train, "-p", serve, "-o", both), _clear(both)
    )

    def separately() -> None:
        _conda(env, "bundle", "-p", train, "-o", one)
        _conda(env, "bundle", "-p", serve, "-o", two)

    single_pack = _timed(runs, separately, _clear(one, two))
    envs, apart = work / "envs", work / "apart"
    multi_unpack = _timed(
        runs, lambda: _conda(env, "unbundle", both, "--all", "--envs-dir", envs), _clear(envs)
    )

    def unpack_separately() -> None:
        _conda(env, "unbundle", one, "-p", apart / "train")
        _conda(env, "unbundle", two, "-p", apart / "serve")

    single_unpack = _timed(runs, unpack_separately, _clear(apart))
    sizes = (both.stat().st_size, one.stat().st_size + two.stat().st_size)
    disks = (_du(envs / "train", envs / "serve"), _du(apart / "train", apart / "serve"))
    mib = 1 << 20
    return [
        ("bundle size", f"{sizes[0] / mib:.1f} MiB", f"{sizes[1] / mib:.1f} MiB"),
        ("conda bundle", f"{multi_pack:.2f} s", f"{single_pack:.2f} s"),
        ("conda unbundle", f"{multi_unpack:.2f} s (--all)", f"{single_unpack:.2f} s"),
        ("installed, on disk", f"{disks[0] / mib:.1f} MiB", f"{disks[1] / mib:.1f} MiB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, help="a directory on the disk to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work, prefix="multienv-") as work:
        rows = measure(Path(work), args.runs)
    print("| | one bundle of both | a bundle each |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
