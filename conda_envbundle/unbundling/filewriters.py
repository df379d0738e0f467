"""Small files written by a few threads while the extractor reads the next members.

Creating a file is several system calls (open, write, close) that release the GIL; on
fast disks they, not decompression or hashing, bound extraction when done one by one.
"""

from __future__ import annotations

import os
import queue
import threading

OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
# Files up to this size are handed over whole; larger ones are streamed by the caller.
SMALL_FILE = 256 << 10
THREADS = 2
# Files waiting to be written: at most QUEUED * SMALL_FILE bytes are held.
QUEUED = 16


class FileWriters:
    """Create new files (mode 0600) from a few threads; errors surface in the caller.

    An OSError in a writer is raised by the next :meth:`write`, or on leaving the
    context; its ``filename`` is the file that could not be written.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(QUEUED)
        self._error: OSError | None = None
        self._abandoned = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name="envbundle-write", daemon=True)
            for _ in range(THREADS)
        ]

    def __enter__(self) -> FileWriters:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self._abandoned.set()  # the extraction failed: writers drop what is left
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        if exc_type is None:
            self._raise()

    def write(self, path: str, data: bytes) -> None:
        """Create ``path`` (which must not exist) holding ``data``."""
        self._raise()
        self._queue.put((path, data))

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is not None or self._abandoned.is_set():
                continue
            path, data = job
            try:
                fd = os.open(path, OPEN_FLAGS, 0o600)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            except OSError as exc:
                if exc.filename is None:
                    exc.filename = path
                self._error = self._error or exc
