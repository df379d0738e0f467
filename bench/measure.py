"""Run one command (or shell pipeline) and measure wall time and peak RSS of its process tree.

Peak RSS is the larger of

- the sum of the RSS of every process in the tree, sampled every 50 ms with psutil (what
  a pipeline like ``tar | zstd`` holds at once), and
- the largest ``ru_maxrss`` of any single process of the tree, exact, as reported by GNU
  ``/usr/bin/time -f %M``, which wraps the command. Not ``wait4`` of a child of this
  process: on Linux a child's ``ru_maxrss`` starts at the high-water RSS of the process
  that forked it (kept across ``exec``), i.e. this Python process's peak.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.05
GNU_TIME = "/usr/bin/time"


@dataclass
class Run:
    """The outcome of one measured command."""

    seconds: float
    peak_rss: int
    """Bytes."""
    returncode: int
    output: str
    """Last lines of stdout + stderr (for error reports)."""


class _TreeSampler(threading.Thread):
    """Sample the summed RSS of a process and its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop_event.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                procs = []
            for proc in procs:
                with contextlib.suppress(
                    psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied
                ):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_measured(
    cmd: list[str] | str, *, env: dict[str, str] | None = None, log: Path | None = None
) -> Run:
    """Run ``cmd`` (a string runs through ``sh -c``) to completion and measure it."""
    argv = ["sh", "-c", cmd] if isinstance(cmd, str) else cmd
    log = log or Path(os.devnull)
    with tempfile.NamedTemporaryFile("r", prefix="maxrss-", suffix=".txt") as maxrss:
        timed = [GNU_TIME, "-f", "%M", "-o", maxrss.name, *argv]
        with log.open("wb") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(timed, env=env, stdout=out, stderr=subprocess.STDOUT)
            sampler = _TreeSampler(proc.pid)
            sampler.start()
            returncode = proc.wait()
            seconds = time.perf_counter() - started
            sampler.stop()
        lines = maxrss.read().split()
    tail = ""
    if log.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    single = int(lines[-1]) * 1024 if lines and lines[-1].isdigit() else 0
    return Run(seconds, max(sampler.peak, single), returncode, tail)
