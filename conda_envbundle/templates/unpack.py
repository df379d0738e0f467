"""conda-unpack: finish an environment extracted from a conda-envbundle bundle, without conda.

Shipped inside every bundle as ``bin/.conda-unpack.py`` and started by
``bin/conda-unpack`` with the environment's own python. It rewrites every prefix the
manifest lists to where the environment now is, by the same rules ``conda unbundle``
applies with conda's code (text: plain replacement and runnable shebangs; binary:
NUL-padded replacement inside C strings), then records the new place so the
environment can be moved and unpacked again. Standard library only; Python >= 3.6.
It applies the path checks of ``conda unbundle``: nothing outside the environment, and
nothing through a symlink, is ever read for rewriting or written.
"""

import os
import sys

# The environment's python cannot load its own extension modules (those of hashlib and
# json) from a path that is not valid UTF-8: say so before importing them.
if __name__ == "__main__":
    try:
        os.fsencode(os.path.abspath(__file__)).decode("utf-8")
    except UnicodeDecodeError:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        sys.stderr.write(
            f"conda-unpack: {root!r} is not valid UTF-8, which prefix rewriting needs. Move "
            "the environment to another path and run conda-unpack again.\n"
        )
        sys.exit(1)

import argparse
import contextlib
import functools
import hashlib
import json
import platform
import py_compile
import re
import subprocess
import tempfile

# What conda unbundle applies too; a bundle carries that module's source in place of this
# import (bundling/standalone.py), so this file needs nothing but the standard library.
from conda_envbundle.relocation.rules import (
    CHECKSUM_KEY,
    JOURNAL,
    MANIFEST_PATH,
    PYC_HEADER_SIZE,
    compile_pyc,
    encode_record,
    fix_shebang,
    is_record_path,
    json_unsafe,
    pairs,
    paths_of,
    python_unsafe,
    refresh_record,
    remember_shipped,
    resolve,
    source_mtime,
)

TEMP_PREFIX = ".conda-unpack-"

# conda unbundle rewrites prefixes with conda.core.portability, which cannot be imported
# here: what follows copies it for POSIX (tests/unit/test_unpack_rules.py compares the
# two, tests/test_unpack_parity.py the environments both make).
ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
MAX_SHEBANG_LENGTH = 127
SHEBANG_REGEX = rb"^(#!(?:[ ]*)(/(?:\\ |[^ \n\r\t])*)(.*))$"


class UnpackError(Exception):
    """A problem the user can act on; printed without a traceback."""


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_point_shebang(executable):
    """conda's generate_shebang_for_entry_point: plain when it fits and has no space, else
    the /bin/sh exec trampoline. (conda counts characters, not bytes.)"""
    shebang = "#!" + executable + "\n"
    if len(shebang) > MAX_SHEBANG_LENGTH or " " in executable:
        return f"#!/bin/sh\n'''exec' \"{executable}\" \"$0\" \"$@\" #'''\n"
    return shebang


def long_shebang(data):
    """conda's replace_long_shebang of a text file: /usr/bin/env when too long or spaced."""
    match = re.match(SHEBANG_REGEX, data, re.MULTILINE)
    if match:
        whole, executable, options = match.groups()
        prefix, name = executable.decode("utf-8").rsplit("/", 1)
        if len(whole) > MAX_SHEBANG_LENGTH or "\\ " in prefix:
            new = "#!/usr/bin/env " + name + options.decode("utf-8")
            data = data.replace(whole, new.encode("utf-8"))
    return data


def replace_text(data, old, new):
    """conda's replace_prefix of a text file: spaces in a shebang's new prefix escaped (so
    that fix_shebang chooses a form that runs), every other occurrence replaced as is."""
    for encoding in ENCODINGS:
        newline = data.find(b"\n")
        if newline > -1:
            first, rest = data[:newline], data[newline:]
            shebang = ("#!" + old).encode(encoding)
            if shebang in first:
                escaped = ("#!" + new).replace(" ", "\\ ").encode(encoding)
                data = first.replace(shebang, escaped) + rest
        data = data.replace(old.encode(encoding), new.encode(encoding))
    return data


def replace_binary(data, old, new):
    """conda's replace_prefix of a binary file: ``old`` replaced inside NUL-terminated
    strings, each padded with NULs to its length, in each of conda's encodings."""
    for encoding in ENCODINGS:
        zero = "\0".encode(encoding)
        search, replacement = old.encode(encoding), new.encode(encoding)
        pattern = re.compile(
            re.escape(search) + b"(?:(?!(?:" + zero + b")).)*" + zero, flags=re.DOTALL
        )
        data = pattern.sub(functools.partial(nul_padded, search, replacement), data)
    return data


def nul_padded(search, replacement, match):
    """One NUL-terminated string with ``search`` replaced, padded to its length."""
    found = match.group()
    padding = (len(search) - len(replacement)) * found.count(search)
    if padding < 0:
        raise UnpackError("a binary file cannot take a prefix that long.")
    return found.replace(search, replacement) + b"\0" * padding


def relocated(data, rule, olds, prefix):
    """``data`` with every path of ``olds`` replaced by ``prefix`` by the rule's mode."""
    if rule["mode"] == "binary":
        for old in olds:
            data = replace_binary(data, old, prefix)
        return data
    for old in olds:
        data = replace_text(data, old, prefix)
    return fix_shebang(data, prefix, SHEBANG_REGEX, entry_point_shebang, long_shebang)


def write_atomically(path, data):
    """Replace ``path`` by a new file (a running binary cannot be rewritten in place)."""
    mode = os.stat(path).st_mode & 0o7777 if os.path.lexists(path) else 0o644
    with writable(os.path.dirname(path)) as directory:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise


@contextlib.contextmanager
def writable(directory):
    """``directory``, made writable for the owner while in use if it was read-only (a
    package's read-only directory: replacing a file in it needs write permission)."""
    mode = os.stat(directory).st_mode & 0o7777
    if not os.access(directory, os.W_OK):
        os.chmod(directory, mode | 0o700)
    try:
        yield directory
    finally:
        if os.stat(directory).st_mode & 0o7777 != mode:
            os.chmod(directory, mode)


def inside(root, path):
    """``path`` under ``root``, refused unless it is relative, normalised and reached
    through no symlink (a hostile manifest must not make us rewrite a file elsewhere)."""
    if not isinstance(path, str) or not path:
        raise UnpackError(f"the manifest lists a path {path!r}: the copy is damaged.")
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or "\0" in path or {"", ".", ".."} & set(parts):
        raise UnpackError(f"the manifest lists an unsafe path {path!r}: the copy is damaged.")
    real_root = os.path.realpath(root)
    full = os.path.join(root, native(path))
    parent = os.path.realpath(os.path.dirname(full))
    if parent != real_root and not parent.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnpackError(f"{path!r} lies outside the environment through a symlink.")
    return full


def native(path):
    """A manifest path (UTF-8 text) as this python spells file names: the same bytes on
    disk whatever the locale (Python 3.6 in the C locale spells them as ASCII)."""
    return os.fsdecode(path.encode("utf-8", "surrogateescape"))


def regular_file(root, path):
    """``inside``, and a regular file (not a symlink) where the manifest says a file is."""
    full = inside(root, path)
    if os.path.islink(full) or not os.path.isfile(full):
        raise UnpackError(f"{path!r} is not a regular file here: the copy is damaged.")
    return full


def utf8_text(path):
    """``path`` as the UTF-8 text its bytes spell (:func:`native` the other way): the
    prefix that files must hold, whatever the locale."""
    try:
        return os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return path


def plan(manifest, prefix, previous):
    """The entries to rewrite: those whose recorded prefix is not where the environment now
    is, and all of them after an interrupted run (``previous``: where it was going)."""
    try:
        prefix.encode("utf-8")
    except UnicodeEncodeError:
        raise UnpackError(
            f"{prefix!r} is not valid UTF-8, which prefix rewriting needs. Move the "
            "environment to another path and run conda-unpack again."
        ) from None
    ruled = [f for f in manifest["files"] if f.get("prefix")]
    todo = [f for f in ruled if {f["prefix"]["placeholder"], previous} - {prefix, None}]
    for entry in todo:
        if entry.get("kind") != "file":
            raise UnpackError(f"{entry.get('path')!r} has a prefix rule but is not a file.")
    binaries = [f["prefix"]["placeholder"] for f in todo if f["prefix"]["mode"] == "binary"]
    if binaries and previous:
        binaries.append(previous)
    limit = min((len(p.encode()) for p in binaries), default=None)
    if limit is not None and len(prefix.encode()) > limit:
        raise UnpackError(
            f"This environment is at a path of {len(prefix.encode())} bytes, but its binaries "
            f"can take at most {limit}. Move it to a shorter path and run conda-unpack again."
        )
    if json_unsafe(prefix) and any(is_record_path(f["path"]) for f in todo):
        raise UnpackError(
            f"{prefix!r} would break conda-meta records that hold the environment's path (a "
            "quote, backslash or control character). Move it to another path and run "
            "conda-unpack again."
        )
    if python_unsafe(prefix) and any(f["path"].endswith(".py") for f in todo):
        raise UnpackError(
            f"{prefix!r} would break python sources that hold the environment's path (a "
            "quote, backslash or control character). Move it to another path and run "
            "conda-unpack again."
        )
    return todo


def verify(root, manifest):
    bad = [
        f["path"]
        for f in manifest["files"]
        if f["kind"] == "file" and sha256_of(regular_file(root, f["path"])) != f["sha256"]
    ]
    if bad:
        raise UnpackError(
            f"{len(bad)} file(s) do not match the manifest, e.g. {', '.join(bad[:3])}: "
            "the copy is damaged."
        )


def relocate(root, manifest, prefix, previous):
    """Rewrite every listed prefix; returns the new sha256 of each rewritten file."""
    hashes = {}
    # Every path is checked before the first file is rewritten.
    checked = [(e, regular_file(root, e["path"])) for e in plan(manifest, prefix, previous)]
    if previous is not None:
        remove_temporaries(root, [path for _, path in checked])
    if checked:
        write_atomically(inside(root, JOURNAL), json.dumps({"to": prefix}).encode())
    for entry, path in checked:
        rule = entry["prefix"]
        with open(path, "rb") as fh:
            data = fh.read()
        # The longer first: one path may begin with the other.
        olds = sorted({rule["placeholder"], previous} - {None, prefix}, key=len, reverse=True)
        new = relocated(data, rule, olds, prefix)
        if new != data:
            write_atomically(path, new)
            if rule["mode"] == "binary":
                resign([path])
        hashes[entry["path"]] = hashlib.sha256(new).hexdigest()
    return hashes


def read_journal(root):
    """Where an interrupted run was moving the environment to, or None."""
    try:
        with open(inside(root, JOURNAL)) as fh:
            journal = json.load(fh)
    except FileNotFoundError:
        return None
    to = journal.get("to") if isinstance(journal, dict) else None
    # its path is replaced like a prefix: "" or "/" would rewrite every byte or slash
    if not isinstance(to, str) or to == "/" or to != os.path.normpath(to) or to[:1] != "/":
        raise UnpackError(f"{JOURNAL} is damaged: extract the bundle again.")
    return to


def remove_temporaries(root, paths):
    """Temporary files an interrupted run left beside the files it was rewriting."""
    metadata = [os.path.dirname(inside(root, JOURNAL)), inside(root, "conda-meta")]
    for directory in {os.path.dirname(path) for path in paths} | set(metadata):
        for name in os.listdir(directory):
            if name.startswith(TEMP_PREFIX):
                os.unlink(os.path.join(directory, name))


def update_records(root, manifest, hashes):
    """Keep conda-meta records true after the rewrite (rules.refresh_record, given the
    sha256 of every file as it now is); adds the rewritten records to ``hashes``."""
    final = {f["path"]: f["sha256"] for f in manifest["files"] if f["kind"] == "file"}
    final.update(hashes)
    site_packages = manifest["source"].get("site_packages")
    for path in sorted(p for p in final if is_record_path(p)):
        full = regular_file(root, path)
        with open(full, "rb") as fh:
            record = json.loads(fh.read().decode("utf-8"))
        if not isinstance(record, dict) or paths_of(record) is None:
            raise UnpackError(f"{path} is not a conda package record: the copy is damaged.")
        if refresh_record(record, final, site_packages):
            write_atomically(full, encode_record(record))
            hashes[path] = final[path] = sha256_of(full)


def record_new_place(root, manifest, prefix, hashes):
    """The kept manifest as true for the environment at ``prefix``, for the next move."""
    origin = manifest.get("origin") or {"manifest": manifest[CHECKSUM_KEY], "shipped": {}}
    for entry in manifest["files"]:
        sha256, size = entry.get("sha256"), entry.get("size")
        if entry["path"] in hashes and sha256 != hashes[entry["path"]]:
            sha256 = hashes[entry["path"]]
            size = os.path.getsize(inside(root, entry["path"]))
        remember_shipped(origin["shipped"], entry, sha256, size, prefix)
        if sha256 != entry.get("sha256"):
            entry["sha256"], entry["size"] = sha256, size
        if entry.get("prefix"):
            entry["prefix"]["placeholder"] = prefix
    if origin["shipped"]:
        manifest["origin"] = origin
    binaries = [f["prefix"]["placeholder"] for f in manifest["files"] if binary_rule(f)]
    manifest["prefix_limit"] = min((len(p.encode()) for p in binaries), default=None)
    manifest[CHECKSUM_KEY] = checksum(manifest)
    sealed = json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"
    write_atomically(os.path.join(root, MANIFEST_PATH), sealed.encode())


def binary_rule(entry):
    return bool(entry.get("prefix")) and entry["prefix"]["mode"] == "binary"


def links_of(manifest):
    return {f["path"]: f["target"] for f in manifest["files"] if f["kind"] == "symlink"}


def pyc_pairs(manifest):
    files = [f["path"] for f in manifest["files"] if f["kind"] == "file"]
    return pairs(files, links_of(manifest))


def recompile(root, manifest, hashes, shown_root):
    """Compile again the pycs of the ``.py`` files just rewritten (their pycs are stale);
    only those of this python's own cache tag and optimization level."""
    links = links_of(manifest)
    for source, pyc in pyc_pairs(manifest):
        if resolve(source, links) not in hashes:
            continue
        regular_file(root, resolve(source, links))
        src, cfile = inside(root, source), regular_file(root, pyc)
        with writable(os.path.dirname(cfile)):
            if compile_pyc(src, cfile, os.path.join(shown_root, source)):
                hashes[pyc] = sha256_of(cfile)


def match_sources_to_pyc(root, manifest):
    """Give each .py the mtime its shipped timestamp-based .pyc expects (a copy that lost
    the bundle's timestamps would make every .pyc look stale)."""
    links = links_of(manifest)
    for source, pyc in pyc_pairs(manifest):
        source, pyc = regular_file(root, resolve(source, links)), regular_file(root, pyc)
        with open(pyc, "rb") as fh:
            mtime = source_mtime(fh.read(PYC_HEADER_SIZE), os.path.getsize(source))
        if mtime is not None:
            os.utime(source, (mtime, mtime))


def checksum(manifest):
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def check_sealed(manifest):
    """The kept manifest must match its own checksum."""
    if manifest.get(CHECKSUM_KEY) != checksum(manifest):
        raise UnpackError(f"{MANIFEST_PATH} does not match its checksum: the copy is damaged.")


def resign(paths):
    """On Apple silicon a rewritten binary must be signed again, as conda does."""
    if sys.platform == "darwin" and platform.machine() == "arm64":
        for path in paths:
            subprocess.run(["/usr/bin/codesign", "-s", "-", "-f", path], capture_output=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="conda-unpack",
        description="Make this environment work where it now is (after tar -x or a move).",
    )
    parser.add_argument(
        "--verify", action="store_true", help="check every file against the manifest's sha256 first"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    parser.add_argument(
        "--prefix",
        help="relocate for this path instead of where the environment is now "
        "(for installers that move it into place afterwards)",
    )
    args = parser.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shown = os.path.abspath(args.prefix) if args.prefix else root
    prefix = utf8_text(shown)
    try:
        with open(inside(root, MANIFEST_PATH)) as fh:
            manifest = json.load(fh)
        check_sealed(manifest)
        if "delta" in manifest:
            raise UnpackError(
                "this is a delta bundle: it holds only what changed. Apply it to the "
                "environment it was made for with conda unbundle."
            )
        if args.verify:
            verify(root, manifest)
        previous = read_journal(root)
        hashes = relocate(root, manifest, prefix, previous)
        relocated = len(hashes)
        recompile(root, manifest, hashes, prefix)
        match_sources_to_pyc(root, manifest)
        if hashes:
            update_records(root, manifest, hashes)
            record_new_place(root, manifest, prefix, hashes)
        if hashes or previous is not None:
            os.unlink(inside(root, JOURNAL))
    except (UnpackError, OSError, ValueError, py_compile.PyCompileError) as exc:
        sys.stderr.write(f"conda-unpack: {exc}\n")
        return 1
    except (KeyError, TypeError, AttributeError) as exc:
        sys.stderr.write(f"conda-unpack: the kept manifest is damaged ({exc!r}).\n")
        return 1
    if not args.quiet:
        print(f"conda-unpack: {relocated} file(s) relocated to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
