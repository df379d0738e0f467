"""A file at a URL as a seekable file made of range requests.

The first request asks for the first :data:`FIRST_WINDOW` bytes, where a bundle's manifest
is (``--info`` usually reads no more), the next one for the rest. Later requests must find
the same file (the backend sends the first answer's validator: ``If-Range``/``If-Match``),
else reading stops. A server without range requests is read as one stream. Nothing is ever
held whole: at most :data:`KEEP` bytes stay behind the reader, so that zipfile's short
steps back to each member's header cost no request.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any, Protocol

from .exceptions import DownloadError

FIRST_WINDOW = 4 << 20
CHUNK = 1 << 20
KEEP = 2 << 20
SKIP = 1 << 20  # a seek forward by less than this reads on rather than asking again


@dataclass
class Body:
    """One answer to a (range) request: its bytes from ``start`` on."""

    stream: Any  # read(n) -> bytes, close()
    start: int
    end: int | None  # offset after its last byte; None: until the connection ends
    total: int | None  # the whole file's size, when said
    validator: str | None  # what later requests send, to get the same file
    ranged: bool  # False: the server sent the whole file instead of a range


class Backend(Protocol):
    """Where the bytes come from: each ``open`` is one request, for the bytes from
    ``start`` to ``stop`` (None: to the end), of the file ``validator`` names (None: any)."""

    errors: tuple[type[BaseException], ...]  # what reading a body may raise

    def open(self, start: int, stop: int | None, validator: str | None) -> Body: ...


class RemoteFile(io.RawIOBase):
    """A bundle at a URL as a read-only, seekable file (see the module's docstring)."""

    def __init__(self, name: str, backend: Backend) -> None:
        super().__init__()
        self.name = name  # what messages show (no credentials), and zipfile's too
        self._backend = backend
        self._pos = 0
        self._window = bytearray()  # the bytes [_start, _start + len) last read
        self._start = 0
        self._body: Body | None = None
        self._size: int | None = None
        self._validator: str | None = None
        self._ranged = True
        self._first = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos}.get(whence)
        self._pos = max(0, (self._known_size() if base is None else base) + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        parts = []  # whole reads, as from a file: zipfile unpacks headers from them
        while size > 0:
            offset = self._pos - self._start
            if not 0 <= offset < len(self._window):
                if not self._fill():
                    break
                offset = self._pos - self._start
            data = bytes(self._window[offset : offset + size])
            self._pos += len(data)
            size -= len(data)
            parts.append(data)
        return b"".join(parts)

    def close(self) -> None:
        if self._body is not None:
            self._body.stream.close()
            self._body = None
        super().close()

    def _known_size(self) -> int:
        if self._size is None and self._body is None:
            self._open_at(0, keep=False)
        if self._size is None:
            raise DownloadError(
                f"{self.name} does not say how large it is, which reading a zip bundle needs. "
                "Download it first, or use a tar bundle."
            )
        return self._size

    def _fill(self) -> bool:
        """Bring the bytes at the read position into the window; False at the end."""
        if self._size is not None and self._pos >= self._size:
            return False
        end = self._start + len(self._window)
        if self._body is None or not end <= self._pos <= end + SKIP:
            self._open_at(self._pos, keep=False)
        while self._start + len(self._window) <= self._pos:
            if not self._next_chunk():
                return False
        return True

    def _next_chunk(self) -> bool:
        """Append the next bytes of the file to the window; False at the end of the file."""
        at = self._start + len(self._window)
        if self._size is not None and at >= self._size:
            return False
        body = self._body
        if body is None or (body.end is not None and at >= body.end):
            body = self._open_at(at, keep=True)  # the first window is used up
        want = CHUNK if body.end is None else min(CHUNK, body.end - at)
        try:
            chunk = body.stream.read(want)
        except self._backend.errors as exc:
            raise dropped(self.name, at, exc) from None
        if not chunk:
            if body.end is not None or (self._size is not None and at < self._size):
                raise DownloadError(
                    f"The download of {self.name} ended after {at:,} of "
                    f"{body.end or self._size:,} bytes: the connection dropped or the server "
                    "sent less than it announced. Nothing was changed; try again."
                )
            self._size = at  # a stream of unknown length ends where the file does
            return False
        self._window += chunk
        if len(self._window) > KEEP + CHUNK:
            del self._window[: len(self._window) - KEEP]
            self._start = at + len(chunk) - KEEP
        return True

    def _open_at(self, start: int, *, keep: bool) -> Body:
        """A request for the bytes from ``start`` on; ``keep``: they follow the window."""
        if not self._ranged:
            raise DownloadError(
                f"{self.name}: the server does not answer range requests, so the bundle can "
                "only be read from start to end (a zip bundle cannot). Download it first."
            )
        if self._body is not None:
            self._body.stream.close()
            self._body = None
        first, self._first = self._first and start == 0, False
        body = self._backend.open(start, FIRST_WINDOW if first else None, self._validator)
        if body.ranged is False:
            self._ranged = False
        elif self._size is not None and body.total not in (None, self._size):
            body.stream.close()
            raise changed(self.name)
        self._size = body.total if body.total is not None else self._size
        self._validator = self._validator or body.validator
        self._body = body
        if not keep:
            self._window, self._start = bytearray(), start
        return body


def changed(name: str) -> DownloadError:
    """The error for a file replaced between two requests."""
    return DownloadError(
        f"{name} changed on the server while it was being read. Nothing was changed; try "
        "again once it is complete."
    )


def dropped(name: str, at: int, exc: BaseException) -> DownloadError:
    """The error for a body that failed at offset ``at``."""
    return DownloadError(
        f"The download of {name} failed after {at:,} bytes ({reason(exc)}). Nothing was "
        "changed; try again."
    )


def reason(exc: BaseException) -> str:
    """What went wrong, in a few words, without URLs (they may carry credentials)."""
    text = str(exc) or type(exc).__name__
    for pattern, label in _REASONS:
        found = re.search(pattern, text)
        if found:
            return label + found[0].strip().rstrip(",:")
    return re.sub(r"\w+://\S+|url: \S+", "<url>", text)[:200]


# the words that matter in what requests, urllib3, ssl and boto3 say, which is long
_REASONS = (
    (r"\[SSL[^\]]*\][^'\"()]*", "TLS failed: "),
    (r"\[Errno -?\d+\] [^'\")]+", ""),
    (r"Connection broken: [^'\")(]+", ""),
    (r"(Read|Connect) timed out", ""),
)
