"""Each shipped ``.py`` with the mtime its shipped timestamp-based ``.pyc`` expects.

Python checks a pyc against its source's size and mtime, and compiles again (writing
into the environment) when they differ; the time comes from the pyc's own bytes, so the
bundle stays reproducible.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..manifest import FILE, SYMLINK
from ..relocation.prefix import worker_count
from ..relocation.rules import PYC_HEADER_SIZE, pairs, resolve, source_mtime
from .items import Item


def match_source_mtimes(items: list[Item], prefix: str) -> None:
    """Give each shipped ``.py`` the mtime its shipped timestamp-based ``.pyc`` expects
    (for a symlinked source, the file it points to)."""
    files = {item.entry.path: item for item in items if item.entry.kind == FILE}
    links = links_of(items)
    found = [(files.get(resolve(src, links)), files[pyc]) for src, pyc in pairs(files, links)]
    todo = [(source, pyc) for source, pyc in found if source is not None]
    # Tens of thousands of 16-byte reads in a large environment: opening files waits on
    # the disk and releases the GIL, so a few threads overlap them.
    with ThreadPoolExecutor(max_workers=worker_count(0)) as pool:
        headers = pool.map(lambda pair: pair[1].head(prefix, PYC_HEADER_SIZE), todo)
        for (source, _), header in zip(todo, headers, strict=True):
            if source.mtime is None:
                source.mtime = source_mtime(header, source.entry.size)


def links_of(items: list[Item]) -> dict[str, str]:
    return {item.entry.path: item.entry.link_target for item in items if item.entry.kind == SYMLINK}
