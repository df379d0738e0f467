"""What makes a bundle work where it is extracted, with no unpack step.

Engines such as Spark (``spark.archives``), YARN and Kubernetes jobs unpack a bundle at a
path nobody knows in advance and run no unpack step. Two things would break there:

- A script whose shebang names the build machine's python fails ("bad interpreter"), or
  runs another environment's python where that path exists. Every script whose
  interpreter is a python of the environment ships with a POSIX sh launcher instead,
  which finds that python relative to its own location (through symlinks to the script
  too). The shebang itself cannot be relative: the kernel would resolve it against the
  working directory. The launcher holds no path, so it works after every move as well:
  ``conda unbundle`` and ``bin/conda-unpack`` leave it as it is (relocation/rules.py
  rewrites only interpreters inside the old prefix); the script needs a prefix rule only
  when the rest of it holds the prefix.
- unzip implementations other than Info-ZIP's (Java's, which Spark and Hadoop use) write
  a symlink member as a small file holding the link's target. A zip bundle therefore
  holds, in place of each symlink to a file, a copy of that file, as conda-pack does by
  default. A symlink to a directory stays a symlink: copying the tree would hold it twice
  (conda-forge's ``lib/python3.1 -> python3.1x`` would double the standard library).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re

from .. import scan
from ..manifest import FILE, SYMLINK, TEXT, FileEntry, PrefixRule
from ..relocation.rules import TRAMPOLINE, resolve
from .items import Item

# The launcher: valid sh and valid python. sh runs the line ``'''': ...`` (the word ``:``,
# a no-op) and what follows until ``exec``; python reads all of it as one string
# literal and goes on with the script. ``p`` follows symlinks to the script, so a link
# to an entry point placed elsewhere (``~/bin/tool``) still finds the environment.
# No external command runs unless the script was called through a symlink.
LAUNCHER = """#!/bin/sh
'''': "conda-envbundle: run the environment's python that lies relative to this script"
p=$0
case $p in */*) ;; *) p=./$p ;; esac
while [ -h "$p" ]; do
  l=$(readlink -- "$p")
  case $l in /*) p=$l ;; *) p=${p%/*}/$l ;; esac
done
exec "${p%/*}/@PYTHON@"@OPTIONS@ "$0" "$@"
'''
"""
# What may stand unquoted in the launcher: no shell expansion, no end of the string.
_SAFE_PATH = re.compile(r"[A-Za-z0-9._+/-]+\Z")
_SAFE_OPTION = re.compile(r"-[A-Za-z0-9]+\Z")
# A PEP 263 declaration is read on a script's first two lines only; moved lower, one
# of another encoding than python's default (UTF-8) would no longer hold.
_CODING = re.compile(rb"[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_UTF8 = {b"utf-8", b"utf8", b"utf_8"}
_HEAD = 4096


def relative_launchers(items: list[Item | None], prefix: str) -> None:
    """Give each python script of the environment a launcher that finds its python
    relative to itself (see the module's docstring).

    Runs before conda's records are made, so their ``sha256_in_prefix`` describe the
    bytes shipped.
    """
    present = {item.entry.path for item in items if item is not None}
    for item in items:
        rule = item.entry.prefix if item is not None else None
        if item is not None and rule is not None and _may_be_script(item.entry):
            _relaunch(item, rule, prefix, present)


def _may_be_script(entry: FileEntry) -> bool:
    """An executable text file that holds the environment's path: its shebang may name
    the environment's python. A ``.py`` module outside ``bin/`` keeps its bytes, which
    its shipped ``.pyc`` checks."""
    if entry.kind != FILE or entry.prefix is None or entry.prefix.mode != TEXT:
        return False
    if not entry.mode & 0o111:
        return False
    return entry.path.startswith("bin/") or not entry.path.endswith(".py")


def _relaunch(item: Item, rule: PrefixRule, prefix: str, present: set[str]) -> None:
    if not item.head(prefix, _HEAD).startswith(b"#!"):
        return
    data = item.content
    if data is None:
        with open(item.source_file(prefix), "rb") as fh:
            data = fh.read()
    new = launched(data, rule.placeholder, item.entry.path, present)
    if new is None:
        return
    facts = scan.scan_bytes([new], None)
    item.content = new
    item.source = None
    item.verify = False
    item.entry.size, item.entry.sha256 = facts.size, facts.sha256
    if rule.placeholder.encode() not in new:
        item.entry.prefix = None


def launched(data: bytes, placeholder: str, path: str, present: set[str]) -> bytes | None:
    """The script at ``path`` with a launcher in place of its shebang, when the shebang
    names a python of the environment (a path under ``placeholder`` among ``present``);
    None when it does not, or when the launcher cannot stand in for it."""
    found = _interpreter(data)
    if found is None:
        return None
    executable, options, rest = found
    inside = executable.removeprefix(placeholder.rstrip("/") + "/")
    if (
        inside == executable
        or inside not in present
        or inside != posixpath.normpath(inside)
        or not posixpath.basename(inside).startswith("python")
        or not all(_SAFE_OPTION.match(option) for option in options)
        or not _default_coding(rest)
    ):
        return None
    relative = posixpath.relpath(inside, posixpath.dirname(path) or ".")
    if not _SAFE_PATH.match(relative):
        return None
    text = LAUNCHER.replace("@PYTHON@", relative).replace(
        "@OPTIONS@", "".join(f" {o}" for o in options)
    )
    return text.encode() + rest


def _default_coding(rest: bytes) -> bool:
    """True unless the script's second line declares an encoding other than UTF-8."""
    coding = _CODING.match(rest.split(b"\n", 1)[0])
    return coding is None or coding.group(1).lower() in _UTF8


def _interpreter(data: bytes) -> tuple[str, list[str], bytes] | None:
    """``(interpreter, options, rest of the script)`` of a shebang line or of a conda or
    pip ``/bin/sh`` exec trampoline; None for anything else."""
    trampoline = TRAMPOLINE.match(data)
    if trampoline:
        executable = trampoline.group("quoted") or trampoline.group("bare")
        return executable.decode("utf-8", "surrogateescape"), [], data[trampoline.end() :]
    end = data.find(b"\n")
    if not data.startswith(b"#!") or end < 0:
        return None
    words = data[2:end].decode("utf-8", "surrogateescape").split()
    # Linux passes whatever follows the interpreter as one argument: a line with more
    # than one option is left as it is.
    if not 1 <= len(words) <= 2:
        return None
    return words[0], words[1:], data[end + 1 :]


def copies_for_links(items: list[Item]) -> list[Item]:
    """``items`` with each symlink to a file of the bundle replaced by a copy of that
    file (for a zip bundle: see the module's docstring)."""
    links = {
        item.entry.path: item.entry.link_target for item in items if item.entry.kind == SYMLINK
    }
    files = {item.entry.path: item for item in items if item.entry.kind == FILE}
    copied = []
    for item in items:
        target = files.get(resolve(item.entry.path, links)) if item.entry.path in links else None
        if target is not None:
            # Bytes read at the link's own path are the target's: the same file is opened.
            entry = dataclasses.replace(target.entry, path=item.entry.path)
            item = dataclasses.replace(target, entry=entry)
        copied.append(item)
    return copied
