"""The manifest's bytes: compact, key-sorted JSON, encoded a chunk of entries at a time
(a manifest lists every file), and sealed with the sha256 of everything else."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .budget import ParseBudget
from .exceptions import BundleFormatError, ChecksumMismatchError, EnvBundleError
from .relocation.rules import CHECKSUM_KEY

_JSON_CHUNK = 2048


def _compact(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _as_is(item: Any) -> Any:
    return item


def list_pieces(items: list[Any], to_json: Callable[[Any], Any]) -> Iterator[bytes]:
    """``_compact(items)`` in pieces, encoding a chunk at a time: a manifest lists every
    file, and its entries as JSON objects all at once take several times its size."""
    yield b"["
    for start in range(0, len(items), _JSON_CHUNK):
        chunk = _compact([to_json(item) for item in items[start : start + _JSON_CHUNK]])
        yield (b"," if start else b"") + chunk[1:-1]
    yield b"]"


def _object_pieces(data: dict[str, Any], files: Iterable[bytes]) -> Iterator[bytes]:
    """``_compact(data)`` with the key ``files`` given as already encoded pieces."""
    yield b"{"
    for index, key in enumerate(sorted({*data, "files"})):
        yield (b"," if index else b"") + _compact(key) + b":"
        if key == "files":
            yield from files
        else:
            yield _compact(data[key])
    yield b"}"


def sealed_stream(
    head: dict[str, Any], files: Callable[[], Iterable[bytes]]
) -> tuple[int, Iterator[bytes]]:
    """The manifest as a bundle carries it, sealed with :data:`CHECKSUM_KEY`, as
    ``(size, pieces)``: the same bytes as compact, key-sorted ``json.dumps`` of the whole.

    ``files()`` gives the encoded file list, and is called twice.
    """
    digest = hashlib.sha256()
    size = 0
    # conda unbundle refuses a manifest that costs too much to parse: never write one
    budget = ParseBudget(
        "The manifest of this environment",
        EnvBundleError,
        "conda unbundle would refuse it. Leave files out with --exclude.",
    )
    for piece in _object_pieces(head, files()):
        digest.update(piece)
        budget.add(piece)
        size += len(piece)
    sealed = {**head, CHECKSUM_KEY: digest.hexdigest()}
    # the sealed head differs from the unsealed one by the checksum key; the files do not
    size += sum(map(len, _object_pieces(sealed, []))) - sum(map(len, _object_pieces(head, [])))

    def pieces() -> Iterator[bytes]:
        yield from _object_pieces(sealed, files())
        yield b"\n"

    return size + 1, pieces()


def seal_of(head: dict[str, Any], files: Iterable[bytes]) -> str:
    """The checksum :func:`sealed_stream` seals ``head`` and ``files`` with."""
    digest = hashlib.sha256()
    for piece in _object_pieces(head, files):
        digest.update(piece)
    return digest.hexdigest()


def checksum(data: dict[str, Any]) -> str:
    """sha256 of ``data`` as compact, key-sorted JSON, leaving out the checksum key."""
    head = {k: v for k, v in data.items() if k not in (CHECKSUM_KEY, "files")}
    files = data.get("files")
    if not isinstance(files, list):
        return hashlib.sha256(
            _compact({**head, "files": files} if "files" in data else head)
        ).hexdigest()
    return seal_of(head, list_pieces(files, _as_is))


def verify_checksum(data: dict[str, Any]) -> None:
    claimed = data.get(CHECKSUM_KEY)
    if not isinstance(claimed, str):
        raise BundleFormatError(
            "The bundle's manifest has no checksum: it is damaged, or was not made by "
            "conda bundle. Make the bundle again."
        )
    if claimed != checksum(data):
        raise ChecksumMismatchError(
            "The bundle's manifest does not match its checksum: the bundle is damaged. "
            "Copy it again from its source."
        )
