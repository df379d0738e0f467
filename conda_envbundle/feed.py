"""A generator run in its own thread, a bounded number of items ahead of its consumer.

Used where one side of a pipeline releases the GIL (reading files, hashing, zstd) and
the other has Python work to do: both then run at once instead of taking turns.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL = 0.1


class _Done:
    """The producer finished."""


class _Failed:
    """The producer raised; the consumer raises the same exception in its place."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Feed(Generic[T]):
    """Iterate over what ``produce()`` yields, produced in a thread up to ``depth`` ahead.

    Use as a context manager: leaving it stops the thread, also when the consumer
    stops early or fails.
    """

    def __init__(self, produce: Callable[[], Iterator[T]], depth: int, name: str) -> None:
        self._produce = produce
        self._queue: queue.Queue[T | _Done | _Failed] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Feed[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the producer and wait for its thread."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=_POLL)
        if self._thread.ident is not None:
            self._thread.join()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def _run(self) -> None:
        items = self._produce()
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_Done())
        except BaseException as exc:  # raised again in the consumer's thread
            self._put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _put(self, item: T | _Done | _Failed) -> bool:
        """Queue ``item``; False when the consumer has gone."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False
