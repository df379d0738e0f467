"""``--dest-prefix``: a bundle relocated at bundle time, to work at one path unpacked.

Every prefix rule is applied now: the inventory hashes the relocated bytes and the
manifest's rules name the new path (so the tree stays relocatable from there). Files
too large to hold are relocated a second time as they are written (:func:`rewritten`);
the ``.py`` files relocation changes get fresh pycs, compiled by the environment's own
python as if at the new path.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor

from .. import scan
from ..exceptions import EnvBundleError
from ..manifest import FILE, PrefixRule
from ..relocation.bytecode import environment_python, recompile
from ..relocation.prefix import relocated_bytes, worker_count
from ..relocation.rules import pairs, python_unsafe, resolve
from .items import Item
from .pycs import links_of


def retarget(
    items: list[Item], prefix: str, dest: str, subdir: str, threads: int, mtime: int
) -> None:
    """Relocate ``items`` of the environment at ``prefix`` to ``dest`` as shipped; the
    pycs of rewritten sources are compiled again with the bundle's timestamp ``mtime``."""
    relocated = _relocate(items, prefix, dest, subdir, threads)
    recompile_relocated(items, relocated, prefix, dest, mtime)


def rewritten(item: Item, data: bytes, subdir: str) -> bytes:
    """The bytes of a file relocated at bundle time, as the inventory hashed them.

    ``data`` holds the placeholder of ``item.rewrite_from``; the item's own rule holds
    the destination.
    """
    rule, dest = item.rewrite_from, item.entry.prefix
    if rule is None or dest is None:
        raise ValueError(f"{item.entry.path!r} is not relocated at bundle time.")
    return relocated_bytes(data, rule, dest.placeholder, subdir, item.entry.path)


def _relocate(
    items: list[Item], prefix: str, dest: str, subdir: str, threads: int
) -> dict[str, bytes]:
    """Relocate every rule to ``dest`` now (``--dest-prefix``); the bytes change as shipped.

    Returns the new bytes of the ``.py`` files rewritten (their pycs must follow).
    """

    def one(ruled: tuple[Item, PrefixRule]) -> tuple[str, bytes] | None:
        item, rule = ruled
        content = item.content
        if content is not None:
            data = relocated_bytes(content, rule, dest, subdir, item.entry.path)
            item.content = data
        else:
            with open(item.source_file(prefix), "rb") as fh:
                data = relocated_bytes(fh.read(), rule, dest, subdir, item.entry.path)
            item.rewrite_from = rule
        facts = scan.scan_bytes([data], None)
        item.entry.size, item.entry.sha256 = facts.size, facts.sha256
        item.entry.prefix = PrefixRule(dest, rule.mode)
        return (item.entry.path, data) if item.entry.path.endswith(".py") else None

    ruled = [(item, item.entry.prefix) for item in items if item.entry.prefix]
    if python_unsafe(dest) and any(item.entry.path.endswith(".py") for item, _ in ruled):
        raise EnvBundleError(
            f"This environment's python sources hold its path in string literals, and "
            f"{dest!r} would break them (a quote, backslash or control character). "
            "Choose another --dest-prefix."
        )
    with ThreadPoolExecutor(max_workers=worker_count(threads)) as pool:
        return dict(found for found in pool.map(one, ruled) if found)


def recompile_relocated(
    items: list[Item], relocated: dict[str, bytes], prefix: str, dest: str, mtime: int
) -> None:
    """Ship fresh pycs for the ``.py`` files that ``--dest-prefix`` rewrote.

    ``relocated`` holds their new bytes by path. They are compiled by the environment's
    own python as if at ``dest``, with the bundle's timestamp, so the output stays
    reproducible; a pyc this python does not compile (another cache tag) is left as is.
    """
    files = {item.entry.path: item for item in items if item.entry.kind == FILE}
    links = links_of(items)
    jobs = [(src, pyc) for src, pyc in pairs(files, links) if resolve(src, links) in relocated]
    python = environment_python(prefix)
    if not jobs or python is None:
        return
    with tempfile.TemporaryDirectory(prefix="envbundle-pyc-") as work:
        for source, _ in jobs:
            path = os.path.join(work, source)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(relocated[resolve(source, links)])
            os.utime(path, (mtime, mtime))
        recompile(python, work, dest, jobs)
        for source, pyc in jobs:
            compiled = os.path.join(work, pyc)
            if os.path.exists(compiled):
                with open(compiled, "rb") as fh:
                    _ship(files[pyc], fh.read())
                files[resolve(source, links)].mtime = mtime


def _ship(item: Item, content: bytes) -> None:
    """Ship ``content`` for ``item`` from memory instead of its file."""
    item.content = content
    item.source = None
    item.rewrite_from = None
    item.verify = False
    item.entry.size = len(content)
    item.entry.sha256 = hashlib.sha256(content).hexdigest()
