"""What a JSON document from a bundle may cost to parse, checked before it is parsed."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .exceptions import EnvBundleError

# The most memory a JSON document from a bundle (its manifest, a conda-meta record) may
# cost to parse, estimated from its bytes before parsing: ``json.loads`` makes an object
# of up to about _TOKEN_COST bytes per container, key and item (a "{}," costs 27 times its
# size), and holds the decoded text (up to 4 bytes per character) beside the bytes.
# About 700,000 files of typical path length fit one manifest.
MAX_PARSE_COST = 1 << 30
# The largest manifest read at all; what it may cost to parse is bounded on its own
# (:class:`ParseBudget`), while it is read.
MAX_MANIFEST_SIZE = 256 << 20
_TOKEN_COST = 96
_TOKENS = (b"{", b"[", b",", b":")


class ParseBudget:
    """The estimated cost of parsing a JSON document, counted as its bytes arrive.

    ``add`` raises ``error(message)`` as soon as the estimate passes ``limit``, so a
    hostile document is refused after reading a small part of it, before any parsing.
    """

    def __init__(
        self,
        what: str,
        error: type[EnvBundleError],
        advice: str = "It is damaged or hostile.",
        limit: int = MAX_PARSE_COST,
    ) -> None:
        self.what = what
        self.error = error
        self.advice = advice
        self.limit = limit
        self.size = 0
        self.tokens = 0
        self.width = 1  # bytes per character of the decoded text

    @property
    def cost(self) -> int:
        # the bytes, their decoded text, and the strings parsed out of it
        return self.size * (2 + self.width) + self.tokens * _TOKEN_COST

    def add(self, chunk: bytes | bytearray) -> None:
        self.size += len(chunk)
        self.tokens += sum(chunk.count(token) for token in _TOKENS)
        if self.width < 4 and not chunk.isascii():
            self.width = 4 if re.search(rb"[\xf0-\xff]", chunk) else max(self.width, 2)
        if self.cost > self.limit:
            raise self.error(
                f"{self.what} would take more than {self.limit >> 20} MiB of memory to read "
                f"(estimated from its first {self.size} bytes). {self.advice}"
            )


def read_json(chunks: Iterable[bytes], budget: ParseBudget) -> bytearray:
    """The bytes of a JSON document, refused by ``budget`` before it is parsed."""
    data = bytearray()
    for chunk in chunks:
        budget.add(chunk)
        data += chunk
    return data
