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

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import py_compile
import re
import struct
import subprocess
import sys
import tempfile

MANIFEST = os.path.join("conda-meta", "envbundle", "manifest.json")
# Written before the first file is rewritten and removed after the last: a run that was
# killed (or failed) leaves it, naming where it was moving the environment, so the next
# run knows that some files hold that path instead of the recorded one.
JOURNAL = os.path.join("conda-meta", "envbundle", "unpack-journal.json")
TEMP_PREFIX = ".conda-unpack-"
CHECKSUM_KEY = "manifest_sha256"
MAX_SHEBANG = 127
TRAMPOLINE = re.compile(
    rb"#!/bin/sh\n'''exec' (?:\"(?P<quoted>[^\"\n]+)\"|(?P<bare>[^\n]+?)) \"\$0\" \"\$@\""
    rb"(?: #'''\n|\n' '''\n)"
)


class UnpackError(Exception):
    """A problem the user can act on; printed without a traceback."""


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def trampoline(executable):
    """conda's /bin/sh exec trampoline for a python interpreter path."""
    return f"#!/bin/sh\n'''exec' \"{executable}\" \"$0\" \"$@\" #'''\n"


def shebang_line(exe, options=b""):
    """A first line that starts ``exe`` without PATH: plain when it fits the kernel's limit
    and has no spaces, else the trampoline (python) or /usr/bin/env (anything else)."""
    plain = b"#!" + os.fsencode(exe) + options + b"\n"
    if len(plain) <= MAX_SHEBANG and " " not in exe:
        return plain
    name = os.path.basename(exe)
    if name.startswith("python") and not options.strip():
        return os.fsencode(trampoline(exe))
    return b"#!/usr/bin/env " + os.fsencode(name) + options + b"\n"


def replace_text(data, old, new):
    """Replace ``old`` by ``new``; a shebang into the environment stays runnable."""
    old_b, new_b = os.fsencode(old), os.fsencode(new)
    first, _, rest = data.partition(b"\n")
    if first.startswith(b"#!" + old_b):
        exe_tail, options = re.match(rb"(\S*)(.*)", first[2 + len(old_b) :]).groups()
        return shebang_line(new + os.fsdecode(exe_tail), options) + rest.replace(old_b, new_b)
    data = data.replace(old_b, new_b)
    found = TRAMPOLINE.match(data)
    if found:
        exe = os.fsdecode(found.group("quoted") or found.group("bare"))
        if exe.startswith(new.rstrip("/") + "/"):
            return shebang_line(exe) + data[found.end() :]
    return data


def replace_binary(data, old, new):
    """Replace ``old`` inside NUL-terminated strings, padding with NULs to the same length."""
    old_b, new_b = old.encode(), new.encode()
    if len(new_b) > len(old_b):
        raise UnpackError(f"a binary file cannot take a prefix longer than {len(old_b)} bytes")
    pattern = re.compile(re.escape(old_b) + rb"[^\0]*\0", re.DOTALL)

    def pad(match):
        text = match.group()
        count = text.count(old_b)
        return text.replace(old_b, new_b) + b"\0" * ((len(old_b) - len(new_b)) * count)

    return pattern.sub(pad, data)


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
    full = os.path.join(root, path)
    parent = os.path.realpath(os.path.dirname(full))
    if parent != real_root and not parent.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnpackError(f"{path!r} lies outside the environment through a symlink.")
    return full


def regular_file(root, path):
    """``inside``, and a regular file (not a symlink) where the manifest says a file is."""
    full = inside(root, path)
    if os.path.islink(full) or not os.path.isfile(full):
        raise UnpackError(f"{path!r} is not a regular file here: the copy is damaged.")
    return full


def plan(manifest, prefix, previous):
    """The entries to rewrite: those whose recorded prefix is not where the environment now
    is, and all of them after an interrupted run (``previous``: where it was going)."""
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
    unsafe = any(c in "'\"\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in prefix)
    if unsafe and any(f["path"].endswith(".py") for f in todo):
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
        new = data
        # The longer first: one path may begin with the other.
        for old in sorted({rule["placeholder"], previous} - {None, prefix}, key=len, reverse=True):
            replace = replace_binary if rule["mode"] == "binary" else replace_text
            new = replace(new, old, prefix)
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
    if not isinstance(journal, dict) or not isinstance(journal.get("to"), str):
        raise UnpackError(f"{JOURNAL} is damaged: extract the bundle again.")
    return journal["to"]


def remove_temporaries(root, paths):
    """Temporary files an interrupted run left beside the files it was rewriting."""
    metadata = [os.path.dirname(inside(root, JOURNAL)), inside(root, "conda-meta")]
    for directory in {os.path.dirname(path) for path in paths} | set(metadata):
        for name in os.listdir(directory):
            if name.startswith(TEMP_PREFIX):
                os.unlink(os.path.join(directory, name))


def installed_path(path, noarch_python, site_packages):
    if noarch_python and site_packages and path.startswith("site-packages/"):
        return site_packages + path[len("site-packages") :]
    if noarch_python and path.startswith("python-scripts/"):
        return "bin" + path[len("python-scripts") :]
    return path


def update_records(root, hashes, site_packages):
    """Keep ``sha256_in_prefix`` in conda-meta true after the rewrite."""
    meta = os.path.join(root, "conda-meta")
    for name in sorted(os.listdir(meta)):
        if not name.endswith(".json"):
            continue
        path = regular_file(root, "conda-meta/" + name)
        with open(path) as fh:
            record = json.load(fh)
        noarch = record.get("noarch") == "python"
        changed = False
        for item in (record.get("paths_data") or {}).get("paths") or []:
            where = installed_path(item.get("_path", ""), noarch, site_packages)
            if where in hashes and "sha256_in_prefix" in item:
                item["sha256_in_prefix"] = hashes[where]
                changed = True
        if changed:
            write_atomically(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
            hashes["conda-meta/" + name] = sha256_of(path)


def record_new_place(root, manifest, prefix, hashes):
    for entry in manifest["files"]:
        if entry["path"] in hashes:
            entry["sha256"] = hashes[entry["path"]]
            entry["size"] = os.path.getsize(os.path.join(root, entry["path"]))
        if entry.get("prefix"):
            entry["prefix"]["placeholder"] = prefix
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    manifest[CHECKSUM_KEY] = hashlib.sha256(canonical).hexdigest()
    sealed = json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"
    write_atomically(os.path.join(root, MANIFEST), sealed.encode())


def resolve(path, links):
    """``path`` with the manifest's symlinks (path -> target) followed."""
    for _ in range(40):
        if path not in links:
            break
        path = os.path.normpath(os.path.join(os.path.dirname(path), links[path]))
    return path


def pyc_pairs(manifest):
    """(source, pyc) for every shipped ``__pycache__`` pyc whose ``.py`` is shipped too (a
    source can be a symlink: python checks the file it points to)."""
    files = {f["path"] for f in manifest["files"] if f["kind"] == "file"}
    sources = files | {f["path"] for f in manifest["files"] if f["kind"] == "symlink"}
    found = []
    for path in sorted(files):
        directory, _, name = path.rpartition("/")
        if name.endswith(".pyc") and directory.rpartition("/")[2] == "__pycache__":
            source = directory[: -len("__pycache__")] + name.split(".", 1)[0] + ".py"
            if source in sources:
                found.append((source, path))
    return found


def links_of(manifest):
    return {f["path"]: f["target"] for f in manifest["files"] if f["kind"] == "symlink"}


def recompile(root, manifest, hashes, shown_root):
    """Compile again the pycs of the ``.py`` files just rewritten (their pycs are stale);
    only those of this python's own cache tag and optimization level."""
    links = links_of(manifest)
    for source, pyc in pyc_pairs(manifest):
        if resolve(source, links) not in hashes:
            continue
        regular_file(root, resolve(source, links))
        src, cfile = inside(root, source), regular_file(root, pyc)
        for opt in ("", 1, 2):
            if importlib.util.cache_from_source(src, optimization=opt) == cfile:
                options = {"optimize": opt or 0, "doraise": True}
                if hasattr(py_compile, "PycInvalidationMode"):
                    options["invalidation_mode"] = py_compile.PycInvalidationMode.TIMESTAMP
                with writable(os.path.dirname(cfile)):
                    py_compile.compile(src, cfile, os.path.join(shown_root, source), **options)
                hashes[pyc] = sha256_of(cfile)


def match_sources_to_pyc(root, manifest):
    """Give each .py the mtime its shipped timestamp-based .pyc expects (a copy that lost
    the bundle's timestamps would make every .pyc look stale)."""
    links = links_of(manifest)
    for source, pyc in pyc_pairs(manifest):
        source, pyc = regular_file(root, resolve(source, links)), regular_file(root, pyc)
        with open(pyc, "rb") as fh:
            header = fh.read(16)
        if len(header) == 16:
            flags, mtime, size = struct.unpack("<III", header[4:16])
            if flags == 0 and os.path.getsize(source) & 0xFFFFFFFF == size:
                os.utime(source, (mtime, mtime))


def check_sealed(manifest):
    """The kept manifest must match its own checksum."""
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    if manifest.get(CHECKSUM_KEY) != hashlib.sha256(canonical).hexdigest():
        raise UnpackError(f"{MANIFEST} does not match its checksum: the copy is damaged.")


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
    prefix = os.path.abspath(args.prefix) if args.prefix else root
    try:
        with open(inside(root, MANIFEST)) as fh:
            manifest = json.load(fh)
        check_sealed(manifest)
        if args.verify:
            verify(root, manifest)
        previous = read_journal(root)
        hashes = relocate(root, manifest, prefix, previous)
        relocated = len(hashes)
        recompile(root, manifest, hashes, prefix)
        match_sources_to_pyc(root, manifest)
        if hashes:
            update_records(root, hashes, manifest.get("source", {}).get("site_packages"))
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
        print(f"conda-unpack: {relocated} file(s) relocated to {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
