"""Feedback on the long steps (reading, writing, extracting, relocating, verifying).

On a terminal each step draws a tqdm bar with its rate, elapsed and remaining time.
conda's own bars (``conda.reporters`` from 24.11, ``conda.common.io.ProgressBar`` before)
take only a fraction and draw a fixed ``percentage`` format, so they cannot show a rate
or an ETA; we draw with tqdm, the library conda draws with, in conda's ascii style.
Without a terminal (CI logs, files) each step prints one line when it ends.

Everything goes to standard error, so that standard output carries only results (and,
with ``-o -``, the bundle itself). A :class:`Progress` counts units from any thread and
moves the bar only every 1/500 of the total, so the hot paths pay almost nothing.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

# rate, elapsed and remaining time after conda's "{desc}{bar} | {percentage}%"
BAR_FORMAT = (
    "{desc}{bar} | {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
)
STEPS_PER_BAR = 500


class Progress:
    """Units done out of ``total``; silent when no bar is given."""

    def __init__(self, bar: Any = None, total: int = 0) -> None:
        self.bar = bar
        self.total = max(total, 1)
        self.pending = 0
        self.lock = threading.Lock()

    def advance(self, units: int) -> None:
        if self.bar is None:
            return
        with self.lock:
            self.pending += units
            if self.pending * STEPS_PER_BAR >= self.total:
                self.bar.update(self.pending)
                self.pending = 0


SILENT = Progress()


def wanted() -> bool:
    """Feedback is given unless -q or --json ask for none."""
    from conda.base.context import context

    return not (context.quiet or context.json)


def amount(units: int, unit: str) -> str:
    """``12.1 MB`` for bytes, ``1,695 entries`` for counts."""
    from conda.utils import human_bytes

    return human_bytes(units) if unit == "B" else f"{units:,} {unit}"


@contextlib.contextmanager
def step(description: str, total: int, enabled: bool, unit: str = "B") -> Iterator[Progress]:
    """Feedback on one step of ``total`` units (``B``: bytes), finished when it ends well."""
    if not enabled:
        yield SILENT
        return
    if not sys.stderr.isatty():
        started = time.monotonic()
        yield SILENT
        took = time.monotonic() - started
        print(f"{description}: done, {amount(total, unit)} in {took:.1f} s", file=sys.stderr)
        return
    bar = _bar(description, total, unit)
    progress = Progress(bar, total)
    try:
        yield progress
        if bar.n < total:  # the steps' counts need not add up to their total
            bar.update(total - bar.n)
    finally:
        bar.close()


def _bar(description: str, total: int, unit: str) -> Any:
    # conda's own dependency (no type stubs); imported only when a bar is drawn
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(
        desc=f"{description:<11}",
        total=total,
        unit=unit if unit == "B" else f" {unit}",
        unit_scale=unit == "B",
        unit_divisor=1024,  # as conda's human_bytes, which the summaries print
        bar_format=BAR_FORMAT,
        ascii=True,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.2,
    )
