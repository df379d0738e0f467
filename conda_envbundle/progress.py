"""Progress of the long steps (reading, writing, extracting, relocating) on conda's bars.

A :class:`Progress` counts units (bytes or files) from any thread and moves conda's bar
only when the shown percentage changes, so the hot paths pay almost nothing.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

from . import _compat


class Progress:
    """Units done out of ``total``; silent when no bar is given."""

    def __init__(self, bar=None, total: int = 0) -> None:
        self.bar = bar
        self.total = max(total, 1)
        self.done = 0
        self.shown = -1
        self.lock = threading.Lock()

    def advance(self, units: int) -> None:
        if self.bar is None:
            return
        with self.lock:
            self.done += units
            percent = min(100, self.done * 100 // self.total)
            if percent != self.shown:
                self.shown = percent
                self.bar.update_to(percent / 100)


SILENT = Progress()


def wanted(*, to_stdout: bool = False) -> bool:
    """Bars are drawn only for a person: not with -q or --json, not into pipes or files."""
    from conda.base.context import context

    return not (context.quiet or context.json or to_stdout) and sys.stdout.isatty()


@contextlib.contextmanager
def step(description: str, total: int, enabled: bool) -> Iterator[Progress]:
    """A progress bar for one step, finished when the step ends well."""
    if not enabled:
        yield SILENT
        return
    bar = _compat.progress_bar(f"{description:<11}")
    progress = Progress(bar, total)
    try:
        yield progress
        bar.update_to(1.0)
        bar.finish()
    finally:
        bar.close()
