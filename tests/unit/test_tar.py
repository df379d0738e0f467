"""The tar writer and reader against GNU tar, on real archives."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from conda_envbundle.archive.members import REGULAR, SYMLINK
from conda_envbundle.archive.tar import TarWriter
from conda_envbundle.archive.tarread import TarReader
from conda_envbundle.exceptions import BundleFormatError

LONG = "lib/" + "d" * 120 + "/ünïcødé/" + "f" * 110 + ".txt"


def _archive(entries) -> bytes:
    buf = io.BytesIO()
    writer = TarWriter(buf, mtime=1_700_000_000)
    for kind, path, payload in entries:
        if kind == "dir":
            writer.add_dir(path, 0o755)
        elif kind == "link":
            writer.add_symlink(path, payload)
        else:
            writer.add_file(path, 0o644, len(payload), [payload])
    writer.close()
    return buf.getvalue()


ENTRIES = [
    ("dir", "bin", None),
    ("file", "bin/tool", b"#!/bin/sh\necho hi\n"),
    ("file", LONG, b"x" * 5000),
    ("link", "lib/short", "../" + "t" * 150),
    ("file", "empty", b""),
]


def test_gnu_tar_extracts_what_we_write(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    archive.write_bytes(_archive(ENTRIES))
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xf", archive, "-C", out], check=True)
    assert (out / "bin/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (out / LONG).read_bytes() == b"x" * 5000
    assert (out / "lib/short").readlink() == Path("../" + "t" * 150)
    assert (out / "empty").read_bytes() == b""


def test_reader_reads_gnu_tar_pax_output(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / Path(LONG).parent).mkdir(parents=True)
    (tree / LONG).write_bytes(b"payload")
    (tree / "link").symlink_to("x" * 120)
    archive = tmp_path / "gnu.tar"
    subprocess.run(["tar", "--format=pax", "-cf", archive, "-C", tree, LONG, "link"], check=True)
    reader = TarReader(io.BytesIO(archive.read_bytes()))
    seen = {}
    for member in reader:
        data = b"".join(reader.read_data())
        seen[member.path] = (member.kind, data, member.link)
    assert seen[LONG] == (REGULAR, b"payload", "")
    assert seen["link"] == (SYMLINK, b"", "x" * 120)


def test_our_reader_round_trips_our_writer() -> None:
    reader = TarReader(io.BytesIO(_archive(ENTRIES)))
    paths = [(m.path, b"".join(reader.read_data())) for m in reader]
    assert paths == [(p, d if k == "file" else b"") for k, p, d in ENTRIES]


@pytest.mark.parametrize("cut", [100, 511, 512, 1000, 1536, 6000])
def test_truncated_archive_is_refused(cut: int) -> None:
    data = _archive(ENTRIES)[:cut]
    reader = TarReader(io.BytesIO(data))
    with pytest.raises(BundleFormatError, match="truncated"):
        for _ in reader:
            for _ in reader.read_data():
                pass


def test_damaged_header_is_refused() -> None:
    data = bytearray(_archive(ENTRIES))
    data[600] ^= 0xFF
    reader = TarReader(io.BytesIO(bytes(data)))
    with pytest.raises(BundleFormatError, match="checksum"):
        list(reader)


def test_gnu_format_is_refused(tmp_path: Path) -> None:
    """GNU tar's own format (long names in 'L' headers, old-GNU magic) is not read."""
    (tmp_path / LONG).parent.mkdir(parents=True)
    (tmp_path / LONG).write_bytes(b"payload")
    archive = tmp_path / "gnu.tar"
    subprocess.run(["tar", "--format=gnu", "-cf", archive, "-C", tmp_path, LONG], check=True)
    with pytest.raises(BundleFormatError, match="GNU"):
        list(TarReader(io.BytesIO(archive.read_bytes())))
