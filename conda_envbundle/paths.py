"""What a bundle member may be called, and where its symlinks may lead: one rule for
both ends (``conda bundle`` refuses to write what ``conda unbundle`` would refuse)."""

from __future__ import annotations

import posixpath
import re


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot name anything on a POSIX system, or None.

    JSON can carry lone surrogates; the only ones a file name can hold are those of
    undecodable bytes (U+DC80-U+DCFF, Python's ``surrogateescape``).
    """
    if "\0" in value:
        return "it holds a NUL character"
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return "it holds a lone surrogate, which no file name can"
    return None


def is_utf8(text: str) -> bool:
    """True for non-empty text that is valid UTF-8 without NUL, as conda's rewriting needs."""
    try:
        return bool(text) and "\0" not in text and bool(text.encode("utf-8"))
    except UnicodeEncodeError:
        return False


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a bundle member, or None; both ends apply this rule.

    A member path is a normalised relative POSIX path that stays inside its root, as
    text a file name can hold, without a backslash (a separator to Windows tools).
    """
    if not path or path == ".":
        return "it is empty"
    if path.startswith("/"):
        return "it is absolute"
    if "\\" in path:
        return "it holds a backslash"
    problem = text_problem(path)
    if problem:
        return problem
    if posixpath.normpath(path) != path or path.split("/")[0] == "..":
        return "it is not a normalised path inside the environment"
    return None


_ZIP_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


def zip_name_problem(name: str) -> str | None:
    """Why a zip member cannot be named ``name``, or None: the zip reader refuses these
    names and ``conda bundle`` refuses to write them into a zip.

    unzip drops or replaces control characters, and zip names are UTF-8 (or ASCII), which
    the undecodable bytes of a POSIX name are not.
    """
    if _ZIP_UNSAFE.search(name):
        return "it holds a control character or a backslash, which unzip changes"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8, which zip names must be"
    return None


def is_safe_relpath(path: str) -> bool:
    """True for a path :func:`path_problem` finds nothing wrong with."""
    return path_problem(path) is None


def link_stays_inside(link_path: str, target: str) -> bool:
    """True when a symlink at ``link_path`` pointing to ``target`` resolves inside the root.

    Only ``..`` components leading the target are allowed: a ``..`` after another
    component could climb out through a symlinked directory.
    """
    if not target or target.startswith("/") or text_problem(target):
        return False
    parts = [p for p in target.split("/") if p not in ("", ".")]
    ups = 0
    while ups < len(parts) and parts[ups] == "..":
        ups += 1
    if ".." in parts[ups:]:
        return False
    depth = link_path.count("/")
    return ups <= depth
