"""The rules that ``conda unbundle`` and the no-conda ``bin/conda-unpack`` apply alike.

Both sides import this module: the package directly, and every bundle's
``bin/.conda-unpack.py``, which runs with the environment's own python where this package
cannot be imported, carries its source spliced in (bundling/standalone.py);
relocation/bytecode.py runs it in that python too, to compile pycs. Hence: standard
library only, Python >= 3.6 (annotations are strings, never evaluated), no conda. Where the
conda side uses conda's own code, a rule takes it as an argument and the unpacker passes
its standard-library copy. tests/test_unpack_parity.py proves that both give the same
environment; tests/unit/test_unpack_rules.py compares the copies with conda's code.
"""

import importlib.util
import io
import json
import os
import posixpath
import py_compile
import re
import struct
from collections.abc import Callable, Iterable

MANIFEST_DIR = "conda-meta/envbundle"
MANIFEST_PATH = MANIFEST_DIR + "/manifest.json"
# conda-unpack's own state, never a bundle member: written before the first file is
# rewritten and removed after the last, so a run that was killed (or failed) leaves it,
# naming where it was moving the environment.
JOURNAL = MANIFEST_DIR + "/unpack-journal.json"
# The manifest's own checksum: sha256 of its canonical JSON without this key.
CHECKSUM_KEY = "manifest_sha256"
RECORD_DIR = "conda-meta"
PYC_HEADER_SIZE = 16
_SIZE_MASK = 0xFFFFFFFF

# The /bin/sh exec trampolines that conda (quoted interpreter) and pip/distlib (unquoted)
# write when a shebang would be too long or contain spaces.
TRAMPOLINE = re.compile(
    rb"#!/bin/sh\n'''exec' (?:\"(?P<quoted>[^\"\n]+)\"|(?P<bare>[^\n]+?)) \"\$0\" \"\$@\""
    rb"(?: #'''\n|\n' '''\n)"
)


def python_unsafe(path: "str") -> "bool":
    """True when ``path`` cannot stand inside a python string literal as written: python
    sources that hold the environment's path would no longer compile."""
    return any(c in "'\"\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in path)


def json_unsafe(text: "str") -> "bool":
    """True when ``text`` cannot stand in JSON text unescaped (a quote, a backslash, a
    control character): a prefix rewritten into a record as text would break it."""
    return any(c in '"\\' or ord(c) < 0x20 for c in text)


# --- conda-meta records ---------------------------------------------------------------


def installed_path(path: "str", noarch_python: "bool", site_packages: "str | None") -> "str":
    """Where a record's path lives in the environment.

    conda (24.7 at least) records ``paths_data`` of noarch python packages with their
    package-relative paths; this is conda's ``get_python_noarch_target_path`` on POSIX.
    """
    if not (noarch_python and site_packages):
        return path
    if path.startswith("site-packages/"):
        return site_packages + path[len("site-packages") :]
    if path.startswith("python-scripts/"):
        return "bin" + path[len("python-scripts") :]
    return path


def is_record_path(path: "str") -> "bool":
    """True for ``conda-meta/<name>-<version>-<build>.json``, conda's package records."""
    head, _, name = path.rpartition("/")
    return head == RECORD_DIR and name.endswith(".json")


def paths_of(record: "dict") -> "list | None":
    """The record's ``paths_data.paths`` ([] if it has none); None when malformed."""
    data = record.get("paths_data") or {}
    paths = (data.get("paths") or []) if isinstance(data, dict) else None
    if not isinstance(paths, list):
        return None
    ok = all(isinstance(i, dict) and isinstance(i.get("_path", ""), str) for i in paths)
    return paths if ok else None


def refresh_record(record: "dict", hashes: "dict[str, str]", site_packages: "str | None") -> "bool":
    """Set ``sha256_in_prefix`` of the record's files from ``hashes`` (the sha256 of every
    file as it now is, by path); True if anything changed."""
    noarch_python = record.get("noarch") == "python" or record.get("package_type") == (
        "noarch_python"
    )
    dirty = False
    for item in paths_of(record) or []:
        path = installed_path(item.get("_path", ""), noarch_python, site_packages)
        tracked = "sha256_in_prefix" in item or item.get("prefix_placeholder")
        if path in hashes and tracked and item.get("sha256_in_prefix") != hashes[path]:
            item["sha256_in_prefix"] = hashes[path]
            dirty = True
    return dirty


def encode_record(record: "dict") -> "bytes":
    """A record as conda writes it (indented, keys sorted).

    Encoded through a buffer rather than ``json.dumps``, which gathers every token of the
    output in a list first: for a package of ten thousand files, several times its size.
    """
    buffer = io.StringIO()
    for chunk in json.JSONEncoder(indent=2, sort_keys=True).iterencode(record):
        buffer.write(chunk)
    buffer.write("\n")
    return buffer.getvalue().encode()


# --- the kept manifest ------------------------------------------------------------------


def remember_shipped(
    shipped: "dict", entry: "dict", sha256: "str | None", size: "int | None", placeholder: "str"
) -> None:
    """Before ``entry`` (a manifest entry as JSON) takes the ``sha256`` and ``size`` its
    file now has and the ``placeholder`` of where the environment now is, note in
    ``shipped`` what the bundle shipped, once: from it the kept manifest's ``origin``
    rebuilds the bundle's manifest, the base of a delta (see the lineage module)."""
    rule = entry.get("prefix")
    moved = rule is not None and rule["placeholder"] != placeholder
    same = entry.get("sha256") == sha256 and entry.get("size") == size
    if entry["path"] in shipped or (same and not moved):
        return
    item = {"sha256": entry["sha256"], "size": entry["size"]}
    if rule:
        item["prefix"] = dict(rule)
    shipped[entry["path"]] = item


# --- shebangs -------------------------------------------------------------------------


def fix_shebang(
    data: "bytes",
    new_prefix: "str",
    shebang_regex: "bytes",
    entry_point_shebang: "Callable[[str], str]",
    long_shebang: "Callable[[bytes], bytes]",
) -> "bytes":
    """Make a script whose interpreter is in the environment run with no activation.

    The kernel reads at most 127 bytes of a shebang and splits it at spaces. A python
    interpreter that does not fit gets conda's ``/bin/sh`` exec trampoline (regenerated
    when the script already had one, as pip's unquoted form breaks on spaces); other
    interpreters get conda's ``/usr/bin/env`` form, the best a non-python script can have.
    conda's pieces come as arguments: ``shebang_regex`` (``SHEBANG_REGEX``),
    ``entry_point_shebang`` (``generate_shebang_for_entry_point``) and ``long_shebang``
    (``replace_long_shebang`` of a text file).
    """
    if not data.startswith(b"#!"):
        return data
    trampoline = TRAMPOLINE.match(data)
    if trampoline:
        executable = _text(trampoline.group("quoted") or trampoline.group("bare"))
        rest = data[trampoline.end() :]
    else:
        end = data.find(b"\n")
        match = re.match(shebang_regex, data if end < 0 else data[:end])
        if not match:
            return data
        _, exe, options = match.groups()
        if options.strip():
            return long_shebang(data)
        executable = _text(exe).replace("\\ ", " ")
        rest = data[end + 1 :] if end >= 0 else b""
    if not executable.startswith(new_prefix.rstrip("/") + "/"):
        return data
    if not os.path.basename(executable).startswith("python"):
        return long_shebang(data)
    return entry_point_shebang(executable).encode("utf-8", "surrogateescape") + rest


def _text(path: "bytes") -> "str":
    """A path in a file, as the UTF-8 text prefixes are written in (not the locale's
    file-name encoding: ASCII for Python 3.6 in the C locale, Latin-1 in a Latin-1 one)."""
    return path.decode("utf-8", "surrogateescape")


# --- timestamp-based pycs and the sources they check ----------------------------------
# Such a pyc records its source's mtime and size; where they differ python compiles the
# source again on import, and rewrites the pyc if it may write there. So each ``.py``
# gets the mtime its pyc expects, and a ``.py`` that relocation changes gets its pyc
# compiled again, by the environment's own python.


def source_of(pyc: "str") -> "str | None":
    """``pkg/mod.py`` for ``pkg/__pycache__/mod.<tag>[.opt-N].pyc``; None for other paths."""
    directory, _, name = pyc.rpartition("/")
    if not name.endswith(".pyc") or directory.rpartition("/")[2] != "__pycache__":
        return None
    parent = directory[: -len("__pycache__")]
    return parent + name.split(".", 1)[0] + ".py"


def expected_source(header: "bytes") -> "tuple[int, int] | None":
    """The (mtime, size) a timestamp-based pyc expects of its source; None otherwise."""
    if len(header) < PYC_HEADER_SIZE:
        return None
    flags, mtime, size = struct.unpack("<III", header[4:PYC_HEADER_SIZE])
    return (mtime, size) if flags == 0 else None


def source_mtime(header: "bytes", source_size: "int") -> "int | None":
    """The mtime to give a source of ``source_size`` bytes so the pyc stays valid."""
    expected = expected_source(header)
    if expected is None or expected[1] != source_size & _SIZE_MASK:
        return None
    return expected[0]


def resolve(path: "str", links: "dict[str, str]") -> "str":
    """``path`` with the symlinks of ``links`` (path -> target) followed."""
    for _ in range(40):
        target = links.get(path)
        if target is None:
            break
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return path


def pairs(paths: "Iterable[str]", links: "Iterable[str]" = ()) -> "list[tuple[str, str]]":
    """``(source, pyc)`` for every pyc among ``paths`` whose source is among them too, or
    among ``links`` (a source can be a symlink: python checks what it points to)."""
    present = set(paths)
    sources = present | set(links)
    found = []
    for path in sorted(present):
        source = source_of(path)
        if source in sources:
            found.append((source, path))
    return found


def compile_pyc(source: "str", pyc: "str", shown: "str") -> "bool":
    """Compile ``source`` to ``pyc`` as a timestamp pyc when ``pyc`` is this python's own
    (its cache tag and optimization level); tracebacks name ``shown``. True if compiled.

    The source first gets back the mtime that the pyc it replaces recorded: the new pyc
    then does not depend on when this runs, and both ways of unpacking give its bytes.
    """
    invalidation = getattr(py_compile, "PycInvalidationMode", None)  # python >= 3.7
    timestamp = {"invalidation_mode": invalidation.TIMESTAMP} if invalidation else {}
    for tag, level in (("", 0), (1, 1), (2, 2)):
        if importlib.util.cache_from_source(source, optimization=tag) == pyc:
            _restore_source_mtime(source, pyc)
            py_compile.compile(source, pyc, shown, doraise=True, optimize=level, **timestamp)
            return True
    return False


def _restore_source_mtime(source: "str", pyc: "str") -> None:
    try:
        with open(pyc, "rb") as fh:
            expected = expected_source(fh.read(PYC_HEADER_SIZE))
    except FileNotFoundError:
        return
    if expected is not None:
        os.utime(source, (expected[0], expected[0]))
