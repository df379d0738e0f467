"""The threads of the pipeline: the feed ahead of its consumer, and the file writers."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from conda_envbundle.feed import Feed
from conda_envbundle.unbundling.filewriters import FileWriters


def test_feed_yields_everything_in_order():
    with Feed(lambda: iter(range(1000)), 3, "t") as feed:
        assert list(feed) == list(range(1000))


def test_feed_raises_the_producers_error_in_the_consumer():
    def produce():
        yield 1
        raise ValueError("broken source")

    with Feed(produce, 3, "t") as feed, pytest.raises(ValueError, match="broken source"):
        list(feed)


def test_feed_stops_its_producer_when_the_consumer_leaves_early():
    closed = threading.Event()

    def produce():
        try:
            yield from range(10**9)
        finally:
            closed.set()

    with Feed(produce, 2, "t") as feed:
        assert next(iter(feed)) == 0
    assert closed.is_set()
    assert not any(t.name == "t" for t in threading.enumerate())


def test_writers_create_new_private_files(tmp_path):
    paths = [str(tmp_path / f"f{i}") for i in range(500)]
    with FileWriters() as writers:
        for index, path in enumerate(paths):
            writers.write(path, str(index).encode() * index)
    for index, path in enumerate(paths):
        with open(path, "rb") as fh:
            assert fh.read() == str(index).encode() * index
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("case", ["no parent", "exists"])
def test_writer_errors_name_the_file(tmp_path, case):
    target = tmp_path / ("missing/f" if case == "no parent" else "f")
    if case == "exists":
        target.write_bytes(b"old")
    with pytest.raises(OSError) as caught, FileWriters() as writers:
        writers.write(str(target), b"new")
    assert caught.value.filename == str(target)
    if case == "exists":
        assert target.read_bytes() == b"old"
