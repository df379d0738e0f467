"""Hostile and damaged bundles: each refused with one clear error, nothing written anywhere.

Every case starts from the real bundle of a small environment (made by ``conda bundle``)
and changes it the way an attacker or a bad copy would. The archive is then written byte
by byte, with the project's tar header builder and zstandard.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conda_envbundle import unbundle, verify
from conda_envbundle.archive.members import DIRECTORY, REGULAR, SYMLINK
from conda_envbundle.archive.tar import (
    END_OF_ARCHIVE,
    GNU_LONGNAME,
    HARDLINK,
    PAX_LOCAL,
    member_header,
    padding,
)
from conda_envbundle.exceptions import BundleFormatError, ChecksumMismatchError
from conda_envbundle.manifest import MANIFEST_PATH
from conda_envbundle.relocation.rules import CHECKSUM_KEY

from .support.cli import assert_clean_error
from .support.crafted import Bundle, Raw, tree

CHARDEV, BLOCKDEV, FIFO, CONTIGUOUS = b"3", b"4", b"6", b"7"


@dataclass
class Ctx:
    """Where a case writes its bundle, and an absolute path outside everything."""

    out: Path
    outside: str


def _index(b: Bundle, path: str) -> int:
    return next(i for i, m in enumerate(b.members) if m.path == path)


def _member(b: Bundle, path: str) -> Raw:
    return b.members[_index(b, path)]


def _entry(b: Bundle, path: str) -> dict:
    return next(f for f in b.manifest["files"] if f["path"] == path)


def _add(b: Bundle, *raws: Raw) -> Bundle:
    """Append members and describe them honestly in the manifest."""
    b.members.extend(raws)
    return b.honest()


def _extended(kind: bytes, payload: bytes) -> bytes:
    """A pax or GNU extended header block carrying ``payload``."""
    header = member_header("././@LongLink", kind, mode=0o644, size=len(payload))
    return header + payload + padding(len(payload))


def _pax(**records: str) -> bytes:
    body = b""
    for key, value in records.items():
        line = f" {key}={value}\n".encode()
        length = len(line) + 1
        while len(str(length)) + len(line) != length:
            length = len(str(length)) + len(line)
        body += str(length).encode() + line
    return _extended(PAX_LOCAL, body)


# --- the cases: each mutates a copy of the small bundle and writes it to ctx.out ------------


def absolute_path_in_manifest(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw(ctx.outside, data=b"pwned")).write(ctx.out)


def absolute_path_in_archive_only(b: Bundle, ctx: Ctx) -> None:
    _member(b, "bin/foo").path = ctx.outside
    b.write(ctx.out)


def dotdot_in_manifest(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw("../evil", data=b"pwned")).write(ctx.out)


def dotdot_inside_path(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw("bin/../../evil", data=b"pwned")).write(ctx.out)


def dotdot_in_archive_only(b: Bundle, ctx: Ctx) -> None:
    _member(b, "bin/foo").path = "../../evil"
    b.write(ctx.out)


def pax_path_escapes(b: Bundle, ctx: Ctx) -> None:
    _member(b, "bin/foo").before = _pax(path="../../evil")
    b.write(ctx.out)


def gnu_longname_escapes(b: Bundle, ctx: Ctx) -> None:
    _member(b, "bin/foo").before = _extended(GNU_LONGNAME, ctx.outside.encode() + b"\0")
    b.write(ctx.out)


def symlink_absolute(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw("lib/evil", SYMLINK, link=ctx.outside)).write(ctx.out)


def symlink_climbs_out(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw("lib/evil", SYMLINK, link="../../outside")).write(ctx.out)


def symlink_dotdot_after_name(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw("lib/evil", SYMLINK, link="pkgconfig/../../..")).write(ctx.out)


def symlink_chain(b: Bundle, ctx: Ctx) -> None:
    # lib/hop -> lib (fine on its own); lib/out -> hop/../.. would leave through it
    _add(b, Raw("lib/hop", SYMLINK, link="."), Raw("lib/out", SYMLINK, link="hop/../..")).write(
        ctx.out
    )


def symlink_target_differs_in_archive(b: Bundle, ctx: Ctx) -> None:
    _member(b, "lib/libfoo.so").link = "../../../../etc/passwd"
    b.write(ctx.out)


def write_through_symlinked_dir(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw("lib/up", SYMLINK, link=".."), Raw("lib/up/evil", data=b"pwned")).write(ctx.out)


def hardlink_to_outside(b: Bundle, ctx: Ctx) -> None:
    raw = _member(b, "bin/foo")
    raw.kind, raw.link, raw.data = HARDLINK, ctx.outside, b""
    b.write(ctx.out)


def hardlink_to_later_member(b: Bundle, ctx: Ctx) -> None:
    raw = _member(b, "bin/foo")
    raw.kind, raw.link, raw.data = HARDLINK, "lib/libfoo.so.1.2.3", b""
    b.write(ctx.out)


def _special(kind: bytes) -> Callable[[Bundle, Ctx], None]:
    def build(b: Bundle, ctx: Ctx) -> None:
        raw = _member(b, "bin/foo")
        raw.kind, raw.data = kind, b""
        b.write(ctx.out)

    return build


def setuid_in_manifest(b: Bundle, ctx: Ctx) -> None:
    _member(b, "bin/foo").mode = 0o4755
    b.honest().write(ctx.out)


def setgid_in_header_only(b: Bundle, ctx: Ctx) -> None:
    _member(b, "bin/foo").mode = 0o2755
    b.write(ctx.out)


def member_not_in_manifest(b: Bundle, ctx: Ctx) -> None:
    b.members.append(Raw("bin/extra", data=b"unlisted"))
    b.write(ctx.out)


def manifest_file_missing(b: Bundle, ctx: Ctx) -> None:
    b.members.pop()
    b.write(ctx.out)


def duplicate_member(b: Bundle, ctx: Ctx) -> None:
    i = _index(b, "bin/foo")
    b.members.insert(i + 1, b.members[i])
    b.write(ctx.out)


def duplicate_in_manifest(b: Bundle, ctx: Ctx) -> None:
    i = _index(b, "bin/foo")
    b.members.insert(i + 1, b.members[i])
    b.honest().write(ctx.out)


def header_size_disagrees(b: Bundle, ctx: Ctx) -> None:
    raw = _member(b, "bin/foo")
    raw.size = len(raw.data) + 512
    raw.data += b"\0" * 512
    b.write(ctx.out)


def manifest_size_disagrees(b: Bundle, ctx: Ctx) -> None:
    _entry(b, "bin/foo")["size"] += 1
    b.write(ctx.out)


def content_changed(b: Bundle, ctx: Ctx) -> None:
    raw = _member(b, "bin/foo")
    raw.data = raw.data[:100] + bytes([raw.data[100] ^ 1]) + raw.data[101:]
    b.write(ctx.out)


def manifest_tampered(b: Bundle, ctx: Ctx) -> None:
    sealed = json.loads(b.sealed_manifest())
    _entry_in = next(f for f in sealed["files"] if f["path"] == "bin/foo")
    _entry_in["mode"] = 0o777
    b.manifest_bytes = json.dumps(sealed).encode()
    b.write(ctx.out)


def manifest_unsealed(b: Bundle, ctx: Ctx) -> None:
    sealed = json.loads(b.sealed_manifest())
    del sealed[CHECKSUM_KEY]
    b.manifest_bytes = json.dumps(sealed).encode()
    b.write(ctx.out)


def manifest_not_first(b: Bundle, ctx: Ctx) -> None:
    b.write(ctx.out, manifest_first=False)


def manifest_declared_huge(b: Bundle, ctx: Ctx) -> None:
    body = b.sealed_manifest()
    head = member_header(MANIFEST_PATH, REGULAR, mode=0o644, size=300 << 20)
    data = head + body + padding(len(body)) + END_OF_ARCHIVE
    ctx.out.write_bytes(zstandard.ZstdCompressor().compress(data))


def manifest_json_bomb(b: Bundle, ctx: Ctx) -> None:
    b.manifest_bytes = b"[" * 200_000 + b"]" * 200_000
    b.write(ctx.out)


def manifest_wrong_type(b: Bundle, ctx: Ctx) -> None:
    _entry(b, "bin/foo")["mode"] = "0755"
    b.write(ctx.out)


def prefix_rule_on_symlink(b: Bundle, ctx: Ctx) -> None:
    _entry(b, "lib/libfoo.so")["prefix"] = {"placeholder": "/opt/x", "mode": "text"}
    b.write(ctx.out)


def reserved_path(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw("conda-meta/envbundle/manifest.json", data=b"{}")).write(ctx.out)


def manifest_dir_symlink(b: Bundle, ctx: Ctx) -> None:
    # the kept manifest would be written through it, into bin/
    _add(b, Raw("conda-meta/envbundle", SYMLINK, link="../bin")).write(ctx.out)


def file_under_file(b: Bundle, ctx: Ctx) -> None:
    _add(b, Raw("bin/foo/evil", data=b"pwned")).write(ctx.out)


def unknown_kind_in_manifest(b: Bundle, ctx: Ctx) -> None:
    _entry(b, "bin/foo")["kind"] = "hardlink"
    b.write(ctx.out)


def kind_differs(b: Bundle, ctx: Ctx) -> None:
    raw = _member(b, "lib/libfoo.so")
    raw.kind, raw.link = REGULAR, ""
    b.write(ctx.out)


def data_after_end(b: Bundle, ctx: Ctx) -> None:
    b.write(ctx.out, tail=END_OF_ARCHIVE + b"#!/bin/sh\nrm -rf /\n".ljust(512, b"\0"))


def zeros_after_end(b: Bundle, ctx: Ctx) -> None:
    # 64 MiB of zeros compress to a few kB: a decompression bomb behind the archive
    b.write(ctx.out, tail=END_OF_ARCHIVE + b"\0" * (64 << 20))


def pax_header_flood(b: Bundle, ctx: Ctx) -> None:
    # 64 extended headers of almost 1 MiB each, all before one member
    _member(b, "bin/foo").before = _pax(comment="x" * ((1 << 20) - 64)) * 64
    b.write(ctx.out)


def zip_slip(b: Bundle, ctx: Ctx) -> None:
    b.write_zip(ctx.out, {"bin/foo": "../../evil"})


def zip_absolute(b: Bundle, ctx: Ctx) -> None:
    b.write_zip(ctx.out, {"bin/foo": ctx.outside})


def zip_symlink_escapes(b: Bundle, ctx: Ctx) -> None:
    _member(b, "lib/libfoo.so").link = ctx.outside
    b.write_zip(ctx.out)


def zip_extra_member(b: Bundle, ctx: Ctx) -> None:
    b.members.append(Raw("bin/extra", data=b"unlisted"))
    b.write_zip(ctx.out)


def not_a_tar(b: Bundle, ctx: Ctx) -> None:
    ctx.out.write_bytes(zstandard.ZstdCompressor().compress(b"MZ" + b"\x90" * 4000))


# (builder, error class, message fragment); the class must match exactly
CASES: dict[str, tuple[Callable[[Bundle, Ctx], None], type, str]] = {
    "absolute-path-in-manifest": (absolute_path_in_manifest, BundleFormatError, "unsafe path"),
    "absolute-path-in-archive": (
        absolute_path_in_archive_only,
        BundleFormatError,
        "where its manifest says 'bin/foo'",
    ),
    "dotdot-in-manifest": (dotdot_in_manifest, BundleFormatError, "unsafe path: '../evil'"),
    "dotdot-inside-path": (dotdot_inside_path, BundleFormatError, "unsafe path"),
    "dotdot-in-archive": (dotdot_in_archive_only, BundleFormatError, "holds '../../evil' where"),
    "pax-path-escapes": (pax_path_escapes, BundleFormatError, "holds '../../evil' where"),
    "gnu-longname-escapes": (gnu_longname_escapes, BundleFormatError, "a GNU long-name header"),
    "symlink-absolute": (
        symlink_absolute,
        BundleFormatError,
        "symlink 'lib/evil' pointing outside",
    ),
    "symlink-climbs-out": (symlink_climbs_out, BundleFormatError, "pointing outside"),
    "symlink-dotdot-after-name": (symlink_dotdot_after_name, BundleFormatError, "pointing outside"),
    "symlink-chain": (symlink_chain, BundleFormatError, "symlink 'lib/out' pointing outside"),
    "symlink-differs-in-archive": (
        symlink_target_differs_in_archive,
        BundleFormatError,
        "symlink 'lib/libfoo.so' in the bundle points outside it",
    ),
    "write-through-symlinked-dir": (
        write_through_symlinked_dir,
        BundleFormatError,
        "lists 'lib/up' as a symlink",
    ),
    "hardlink-to-outside": (hardlink_to_outside, BundleFormatError, "forbidden type"),
    "hardlink-to-later-member": (hardlink_to_later_member, BundleFormatError, "forbidden type"),
    "char-device": (_special(CHARDEV), BundleFormatError, "forbidden type"),
    "block-device": (_special(BLOCKDEV), BundleFormatError, "forbidden type"),
    "fifo": (_special(FIFO), BundleFormatError, "forbidden type"),
    "contiguous-file": (_special(CONTIGUOUS), BundleFormatError, "forbidden type"),
    "directory-in-place-of-file": (_special(DIRECTORY), BundleFormatError, "is not a file"),
    "setuid-in-manifest": (setuid_in_manifest, BundleFormatError, "mode 4755"),
    "setgid-in-header": (setgid_in_header_only, BundleFormatError, "setuid/setgid bits"),
    "member-not-in-manifest": (
        member_not_in_manifest,
        BundleFormatError,
        "holds 'bin/extra', which its manifest lacks",
    ),
    "manifest-file-missing": (manifest_file_missing, BundleFormatError, "is incomplete"),
    "duplicate-member": (duplicate_member, BundleFormatError, "where its manifest says"),
    "duplicate-in-manifest": (duplicate_in_manifest, BundleFormatError, "'bin/foo' twice"),
    "header-size-disagrees": (
        header_size_disagrees,
        BundleFormatError,
        "has 17008 bytes; its manifest says 16496",
    ),
    "manifest-size-disagrees": (
        manifest_size_disagrees,
        BundleFormatError,
        "has 16496 bytes; its manifest says 16497",
    ),
    "content-changed": (content_changed, ChecksumMismatchError, "bin/foo in the bundle does not"),
    "manifest-tampered": (
        manifest_tampered,
        ChecksumMismatchError,
        "manifest does not match its checksum",
    ),
    "manifest-unsealed": (manifest_unsealed, BundleFormatError, "manifest has no checksum"),
    "manifest-not-first": (manifest_not_first, BundleFormatError, "no manifest first"),
    "manifest-declared-huge": (manifest_declared_huge, BundleFormatError, "314572800 bytes"),
    "manifest-json-bomb": (manifest_json_bomb, BundleFormatError, "manifest is damaged"),
    "manifest-wrong-type": (manifest_wrong_type, BundleFormatError, "'mode' of 'bin/foo'"),
    "prefix-rule-on-symlink": (prefix_rule_on_symlink, BundleFormatError, "bad prefix rule"),
    "manifest-lists-itself": (reserved_path, BundleFormatError, "keeps its own files"),
    "manifest-dir-is-symlink": (
        manifest_dir_symlink,
        BundleFormatError,
        "lists 'conda-meta/envbundle', inside conda-meta/envbundle",
    ),
    "file-under-file": (file_under_file, BundleFormatError, "lists 'bin/foo' as a file"),
    "unknown-kind": (unknown_kind_in_manifest, BundleFormatError, "unknown kind 'hardlink'"),
    "kind-differs": (kind_differs, BundleFormatError, "'lib/libfoo.so' in the bundle is not a"),
    "data-after-end": (data_after_end, BundleFormatError, "data after its end"),
    "zeros-after-end": (zeros_after_end, BundleFormatError, "more data than its manifest"),
    "pax-header-flood": (pax_header_flood, BundleFormatError, "more data than its manifest"),
    "zip-slip": (zip_slip, BundleFormatError, "holds '../../evil' where"),
    "zip-absolute": (zip_absolute, BundleFormatError, "where its manifest says 'bin/foo'"),
    "zip-symlink-escapes": (zip_symlink_escapes, BundleFormatError, "points outside it"),
    "zip-extra-member": (zip_extra_member, BundleFormatError, "which its manifest lacks"),
    "not-a-tar": (not_a_tar, BundleFormatError, "tar header checksum is wrong"),
}


@pytest.fixture
def hostile(small_bundle_data, tmp_path):
    """Build one case into ``tmp_path/in``; the target goes to ``tmp_path/work/env``."""

    def build(name: str) -> tuple[Path, Path, str]:
        (tmp_path / "in").mkdir()
        (tmp_path / "work").mkdir()
        outside = str(tmp_path / "outside" / "evil")
        builder = CASES[name][0]
        bundle = tmp_path / "in" / "b.bundle"
        builder(small_bundle_data.copy(), Ctx(bundle, outside))
        return bundle, tmp_path / "work" / "env", outside

    return build


@pytest.mark.parametrize("name", CASES)
def test_hostile_bundle_is_refused_and_nothing_is_written(name, hostile, conda_env, tmp_path):
    bundle, target, outside = hostile(name)
    _, error, fragment = CASES[name]
    before = tree(tmp_path)
    with pytest.raises(BundleFormatError) as info:
        unbundle(str(bundle), str(target))
    assert type(info.value) is error, info.value
    assert fragment in str(info.value)
    assert tree(tmp_path) == before
    assert not Path(outside).parent.exists()
    with pytest.raises(error) as again:
        verify(str(bundle))
    assert str(again.value) == str(info.value)
    assert tree(tmp_path) == before


def test_untouched_copy_of_the_corpus_base_installs(small_bundle_data, conda_env, tmp_path):
    """The corpus base, rewritten without changes, is accepted: each case fails for its change."""
    bundle = small_bundle_data.copy().honest().write(tmp_path / "same.tar.zst")
    assert verify(str(bundle)).files
    result = unbundle(str(bundle), str(tmp_path / "env"))
    assert result.relocated > 0
    assert (tmp_path / "env" / "bin" / "foo").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env", "same.tar.zst"]


def test_verify_reads_everything_and_writes_nothing(source_bundle_small, conda_process, tmp_path):
    proc = conda_process("unbundle", "--verify", "--json", source_bundle_small, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["verified"] is True and report["files"] > 20
    assert list(tmp_path.iterdir()) == []


def test_hostile_bundle_through_the_cli(hostile, conda_process, tmp_path):
    bundle, target, _ = hostile("symlink-climbs-out")
    before = tree(tmp_path)
    proc = conda_process("unbundle", bundle, "-p", target)
    assert_clean_error(proc, "BundleFormatError", "pointing outside")
    proc = conda_process("unbundle", "--verify", bundle)
    assert_clean_error(proc, "BundleFormatError", "pointing outside")
    assert tree(tmp_path) == before


# --- damage: truncation and flipped bytes in a real bundle -----------------------------------


@pytest.fixture(scope="module")
def plain_tar(source_bundle_small) -> bytes:
    """The small bundle's tar stream, uncompressed: every offset is a known place."""
    compressed = source_bundle_small.read_bytes()
    return zstandard.ZstdDecompressor().decompressobj().decompress(compressed)


def _refused(data: bytes, tmp_path: Path, name: str) -> BundleFormatError:
    """Unbundle ``data``; assert it is refused with nothing left behind; return the error."""
    work = tmp_path / name
    work.mkdir()
    (work / "b").write_bytes(data)
    with pytest.raises(BundleFormatError) as info:
        unbundle(str(work / "b"), str(work / "env"))
    assert sorted(p.name for p in work.iterdir()) == ["b"]
    return info.value


def _cuts(size: int, step: int, tail_step: int, *, blocks: bool = False) -> list[int]:
    """Offsets across the whole bundle, denser over its last kilobyte (the archive's end);
    with ``blocks``, also every 512-byte boundary (where tar headers and data meet)."""
    cuts = {1, 511, 513, *range(0, size, step), *range(size - 1100, size, tail_step)}
    return sorted(cuts | set(range(0, size, 512) if blocks else ()))


def _verify_refuses(data: bytes, tmp_path: Path) -> BundleFormatError:
    (tmp_path / "v").write_bytes(data)
    with pytest.raises(BundleFormatError) as info:
        verify(str(tmp_path / "v"))
    return info.value


def _truncated(error: BundleFormatError) -> bool:
    return "truncated" in str(error) or "not a bundle" in str(error)


def test_plain_tar_truncated_anywhere_is_refused(plain_tar, conda_env, tmp_path):
    for cut in _cuts(len(plain_tar), 1801, 37):
        error = _refused(plain_tar[:cut], tmp_path, f"cut{cut}")
        assert _truncated(error), (cut, error)
    for cut in _cuts(len(plain_tar), 997, 7, blocks=True):
        error = _verify_refuses(plain_tar[:cut], tmp_path)
        assert _truncated(error), (cut, error)


def test_compressed_bundle_truncated_anywhere_is_refused(source_bundle_small, conda_env, tmp_path):
    data = source_bundle_small.read_bytes()
    # The last 4 bytes are zstd's own checksum of the content, which the manifest's
    # sha256s already cover: the stream reader of python-zstandard does not report a
    # cut there (see docs/security.md), so cuts stop before it.
    for cut in _cuts(len(data) - 4, 137, 41):
        error = _refused(data[:cut], tmp_path, f"cut{cut}")
        assert _truncated(error), (cut, error)
    for cut in _cuts(len(data) - 4, 11, 1):
        error = _verify_refuses(data[:cut], tmp_path)
        assert _truncated(error), (cut, error)


def test_flipped_byte_in_the_manifest_is_refused(plain_tar, conda_env, tmp_path):
    size = int(plain_tar[124:136].rstrip(b"\0"), 8)
    for offset in range(512, 512 + size, 23):
        data = bytearray(plain_tar)
        data[offset] ^= 0x01
        error = _refused(bytes(data), tmp_path, f"flip{offset}")
        assert "manifest" in str(error) or "not a conda-envbundle" in str(error), (offset, error)


def test_flipped_byte_in_file_data_is_refused(plain_tar, conda_env, tmp_path):
    foo = plain_tar.index(b"\x7fELF")  # bin/foo, the first file after the manifest
    for offset in range(foo, foo + 16496, 401):
        data = bytearray(plain_tar)
        data[offset] ^= 0x80
        error = _refused(bytes(data), tmp_path, f"flip{offset}")
        assert type(error) is ChecksumMismatchError, (offset, error)
        assert "bin/foo in the bundle does not match its checksum" in str(error)


def _decoded(data: bytes) -> bytes | None:
    """What zstd makes of ``data`` (None if it refuses it)."""
    try:
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except zstandard.ZstdError:
        return None


def test_flipped_byte_in_compressed_bundle_is_refused(source_bundle_small, conda_env, tmp_path):
    data = source_bundle_small.read_bytes()
    original = _decoded(data)
    checked = 0
    for offset in range(0, len(data), 89):
        damaged = bytearray(data)
        damaged[offset] ^= 0x10
        # Some bits of a zstd stream are unused or do not change what it decodes to: such a
        # flip damages nothing, and the bundle rightly unpacks to the same environment.
        if _decoded(bytes(damaged)) == original:
            continue
        _refused(bytes(damaged), tmp_path, f"flip{offset}")
        checked += 1
    assert checked > len(data) // 89 // 2


# --- property: whatever the member sequence, all or nothing, never outside -------------------

# Mostly harmless choices, so that about half the sequences install; the rest are hostile.
_PATHS = ["a", "a/b", "a/b/c", "c", "d", "a/e", "l", "l/x", "../x", "/x", "a/../b", "a/"]
_LINKS = ["a", "a/b", "c", ".", "../c", "..", "../..", "/etc", "a/../..", ""]
_MODES = [0o644, 0o644, 0o755, 0o755, 0o1777, 0o4755, 0o2755]


@st.composite
def _raws(draw) -> Raw:
    kind = draw(st.sampled_from([REGULAR] * 4 + [DIRECTORY] * 2 + [SYMLINK] * 2 + [HARDLINK, FIFO]))
    junk = draw(st.integers(0, 19)) == 0  # data behind a header that has none
    data = draw(st.binary(max_size=700)) if kind == REGULAR or junk else b""
    link = draw(st.sampled_from(_LINKS)) if kind in (SYMLINK, HARDLINK) else ""
    return Raw(draw(st.sampled_from(_PATHS)), kind, data, draw(st.sampled_from(_MODES)), link)


@st.composite
def _bundles(draw, base: Bundle) -> tuple[Bundle, str]:
    """Members, and a manifest describing them honestly or after one slip."""
    members = draw(st.lists(_raws(), max_size=6, unique_by=lambda m: m.path))
    described = [replace(m) for m in members]
    slip = draw(st.sampled_from(["none"] * 6 + ["drop", "extra", "data", "order", "dup"]))
    if slip == "drop" and described:
        described.pop(draw(st.integers(0, len(described) - 1)))
    elif slip == "extra":
        described.append(draw(_raws()))
    elif slip == "dup" and members:
        members.append(members[0])
    elif slip == "data" and described:
        described[-1].data += b"!"
    elif slip == "order":
        described.reverse()
    bundle = Bundle(dict(base.manifest), described).honest()
    bundle.members = members
    return bundle, draw(st.sampled_from(["zst", "tar"]))


def _expected_tree(bundle: Bundle) -> dict[str, str]:
    """What a successful unbundle must create: the manifest's entries and their parents."""
    expected = {"conda-meta": "dir", "conda-meta/envbundle": "dir"}
    for entry in bundle.manifest["files"]:
        parts = entry["path"].split("/")
        for i in range(1, len(parts)):
            expected["/".join(parts[:i])] = "dir"
        if entry["kind"] == "file":
            expected[entry["path"]] = entry["sha256"]
        elif entry["kind"] == "symlink":
            expected[entry["path"]] = "-> " + entry["target"]
        else:
            expected[entry["path"]] = "dir"
    return expected


@settings(
    max_examples=300,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_member_sequence_is_all_or_nothing(data, small_bundle_data, conda_env, tmp_path):
    bundle, codec = data.draw(_bundles(small_bundle_data))
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    source = bundle.write(work / "b", codec=codec)
    before = tree(work)
    target = work / "env"
    try:
        unbundle(str(source), str(target))
    except BundleFormatError as exc:
        event(f"refused: {type(exc).__name__}")
        assert tree(work) == before
        return
    event("installed")
    after = tree(work)
    assert {p for p in after if not p.startswith("env/") and p != "env"} == set(before)
    created = tree(target)
    assert created.pop("conda-meta/envbundle/manifest.json")
    assert created == _expected_tree(bundle)
