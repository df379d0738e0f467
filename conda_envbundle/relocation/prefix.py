"""Prefix rewriting with conda's own code, plus shebangs that work without activation."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

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
from ..exceptions import RelocationError
from ..manifest import BINARY, FileEntry, PrefixRule
from ..progress import SILENT, Progress


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
    except Exception as exc:  # conda's private _PaddingError is not a CondaError
        if type(exc).__name__ != "_PaddingError":
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
    except Exception as exc:  # conda's private _PaddingError is not a CondaError
        if type(exc).__name__ != "_PaddingError":
            raise
        raise RelocationError(_too_long(path, placeholder)) from exc


def _too_long(path: str, placeholder: str) -> str:
    return (
        f"Cannot relocate {path}: the new prefix is longer than the "
        f"{len(placeholder.encode())} bytes its binary strings can hold."
    )


# The /bin/sh exec trampolines that conda (quoted interpreter) and pip/distlib (unquoted)
# write when a shebang would be too long or contain spaces.
_TRAMPOLINE = re.compile(
    rb"#!/bin/sh\n'''exec' (?:\"(?P<quoted>[^\"\n]+)\"|(?P<bare>[^\n]+?)) \"\$0\" \"\$@\""
    rb"(?: #'''\n|\n' '''\n)"
)


def fix_shebang(data: bytes, new_prefix: str) -> bytes:
    """Make a script whose interpreter is in the environment run with no activation.

    The kernel reads at most 127 bytes of a shebang and splits it at spaces. A python
    interpreter that does not fit gets conda's ``/bin/sh`` exec trampoline (regenerated
    when the script already had one, as pip's unquoted form breaks on spaces); other
    interpreters get conda's ``/usr/bin/env`` form, the best a non-python script can have.
    """
    if not data.startswith(b"#!"):
        return data
    trampoline = _TRAMPOLINE.match(data)
    if trampoline:
        executable = os.fsdecode(trampoline["quoted"] or trampoline["bare"])
        rest = data[trampoline.end() :]
    else:
        end = data.find(b"\n")
        match = re.match(SHEBANG_REGEX, data if end < 0 else data[:end])
        if not match:
            return data
        _, exe, options = match.groups()
        if options.strip():
            return replace_long_shebang(FileMode.text, data)
        executable = os.fsdecode(exe).replace("\\ ", " ")
        rest = data[end + 1 :] if end >= 0 else b""
    if not executable.startswith(new_prefix.rstrip("/") + "/"):
        return data
    if not os.path.basename(executable).startswith("python"):
        return replace_long_shebang(FileMode.text, data)
    return os.fsencode(generate_shebang_for_entry_point(executable)) + rest
