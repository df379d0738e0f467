"""Prefix rewriting with conda's own code, plus shebangs that work without activation.

The no-conda unpacker (templates/unpack.py) cannot use conda: it has its own copy of
conda's replacement (text: plain replacement in conda's encodings; binary: NUL-padded
replacement inside C strings) and shares the shebang rule (rules.fix_shebang).
tests/test_unpack_parity.py proves that both relocate alike.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from conda.core.portability import (
    SHEBANG_REGEX,
    generate_shebang_for_entry_point,
    replace_long_shebang,
    replace_prefix,
    update_prefix,
)
from conda.exceptions import BinaryPrefixReplacementError
from conda.models.enums import FileMode

from .. import scan
from .._compat import is_padding_error
from ..exceptions import RelocationError
from ..manifest import BINARY, FileEntry, PrefixRule
from ..progress import SILENT, Progress
from . import rules


def relocate_files(
    root: str,
    entries: list[FileEntry],
    new_prefix: str,
    subdir: str,
    threads: int = 0,
    relocating: Progress = SILENT,
) -> dict[str, str]:
    """Rewrite every entry's prefix rule under ``root``; returns new sha256 by path."""

    def one(ruled: tuple[str, PrefixRule]) -> tuple[str, str]:
        path, rule = ruled
        full = os.path.join(root, path)
        if rule.mode == BINARY:
            relocate_binary(full, rule.placeholder, new_prefix, subdir)
        else:
            relocate_text(full, rule.placeholder, new_prefix, subdir)
        relocating.advance(1)
        return path, scan.scan_file(full, None).sha256

    workers = worker_count(threads)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, [(e.path, e.prefix) for e in entries if e.prefix]))


def worker_count(threads: int) -> int:
    """Threads for file work that mostly waits on the disk: ``threads``, or a few more than
    the cores (at most 8) when 0."""
    return threads or min(8, (os.cpu_count() or 1) + 2)


def relocated_text(data: bytes, placeholder: str, new_prefix: str, subdir: str) -> bytes:
    """A text file's bytes with ``placeholder`` replaced and a shebang that runs as is."""
    new = replace_prefix(FileMode.text, data, placeholder, new_prefix, subdir)
    return fix_shebang(new, new_prefix)


def relocated_binary(
    data: bytes, placeholder: str, new_prefix: str, subdir: str, name: str
) -> bytes:
    """A binary file's bytes with ``placeholder`` replaced inside NUL-terminated strings."""
    if len(new_prefix.encode()) > len(placeholder.encode()):
        raise RelocationError(_too_long(name, placeholder))
    try:
        return replace_prefix(FileMode.binary, data, placeholder, new_prefix, subdir)
    except Exception as exc:
        if not is_padding_error(exc):
            raise
        raise RelocationError(_too_long(name, placeholder)) from exc


def relocated_bytes(
    data: bytes, rule: PrefixRule, new_prefix: str, subdir: str, name: str
) -> bytes:
    """``data`` relocated from ``rule.placeholder`` to ``new_prefix`` by the rule's mode."""
    if rule.mode == BINARY:
        return relocated_binary(data, rule.placeholder, new_prefix, subdir, name)
    return relocated_text(data, rule.placeholder, new_prefix, subdir)


def relocate_text(path: str, placeholder: str, new_prefix: str, subdir: str) -> None:
    """Replace ``placeholder`` in a text file and make its shebang run without activation."""
    with open(path, "rb") as fh:
        data = fh.read()
    new = relocated_text(data, placeholder, new_prefix, subdir)
    if new != data:
        with open(path, "wb") as fh:
            fh.write(new)


def relocate_binary(path: str, placeholder: str, new_prefix: str, subdir: str) -> None:
    """Replace ``placeholder`` in NUL-terminated strings, padding to the same length."""
    if len(new_prefix.encode()) > len(placeholder.encode()):
        raise RelocationError(_too_long(path, placeholder))
    try:
        update_prefix(path, new_prefix, placeholder, FileMode.binary, subdir=subdir)
    except BinaryPrefixReplacementError as exc:
        raise RelocationError(f"Cannot relocate {path}: {exc}") from exc
    except Exception as exc:
        if not is_padding_error(exc):
            raise
        raise RelocationError(_too_long(path, placeholder)) from exc


def _too_long(path: str, placeholder: str) -> str:
    return (
        f"Cannot relocate {path}: the new prefix is longer than the "
        f"{len(placeholder.encode())} bytes its binary strings can hold."
    )


def fix_shebang(data: bytes, new_prefix: str) -> bytes:
    """Make a script whose interpreter is in the environment run with no activation, by
    the shared rule (:func:`.rules.fix_shebang`) with conda's own shebang code."""
    return rules.fix_shebang(
        data,
        new_prefix,
        SHEBANG_REGEX,
        generate_shebang_for_entry_point,
        partial(replace_long_shebang, FileMode.text),
    )
