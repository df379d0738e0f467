"""Timestamp pycs: which source a pyc checks, the mtime it expects, compiling again."""

from __future__ import annotations

import os
import py_compile
import sys
from pathlib import Path

from conda_envbundle.relocation.bytecode import recompile
from conda_envbundle.relocation.rules import (
    PYC_HEADER_SIZE,
    expected_source,
    pairs,
    python_unsafe,
    source_mtime,
    source_of,
)

MTIME = 1_600_000_000


def _compiled(tmp_path: Path, text: bytes) -> tuple[Path, Path]:
    src = tmp_path / "pkg" / "mod.py"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(text)
    os.utime(src, (MTIME, MTIME))
    pyc = Path(
        py_compile.compile(str(src), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    )
    return src, pyc


def test_source_of_a_cached_pyc():
    assert source_of("lib/pkg/__pycache__/mod.cpython-312.pyc") == "lib/pkg/mod.py"
    assert source_of("lib/pkg/__pycache__/mod.cpython-312.opt-1.pyc") == "lib/pkg/mod.py"
    assert source_of("lib/pkg/mod.pyc") is None
    assert source_of("lib/pkg/__pycache__/mod.txt") is None


def test_pairs_need_both_files():
    paths = ["a/__pycache__/m.cpython-312.pyc", "a/m.py", "b/__pycache__/n.cpython-312.pyc"]
    assert pairs(paths) == [("a/m.py", "a/__pycache__/m.cpython-312.pyc")]


def test_a_real_pyc_names_its_sources_mtime_and_size(tmp_path):
    src, pyc = _compiled(tmp_path, b"x = 1\n")
    header = pyc.read_bytes()[:PYC_HEADER_SIZE]
    assert expected_source(header) == (MTIME, src.stat().st_size)
    assert source_mtime(header, src.stat().st_size) == MTIME
    assert source_mtime(header, src.stat().st_size + 1) is None  # another source: no time


def test_hash_based_pycs_expect_no_time(tmp_path):
    src = tmp_path / "h.py"
    src.write_bytes(b"y = 2\n")
    mode = py_compile.PycInvalidationMode.CHECKED_HASH
    pyc = Path(py_compile.compile(str(src), invalidation_mode=mode))
    assert expected_source(pyc.read_bytes()[:PYC_HEADER_SIZE]) is None


def test_recompile_writes_a_pyc_for_the_new_source(tmp_path):
    src, pyc = _compiled(tmp_path, b"x = 1\n")
    src.write_bytes(b"x = 'relocated'\n")
    os.utime(src, (MTIME + 60, MTIME + 60))
    jobs = [(str(src.relative_to(tmp_path)), str(pyc.relative_to(tmp_path)))]
    recompile(sys.executable, str(tmp_path), "/shown/root", jobs)
    header = pyc.read_bytes()[:PYC_HEADER_SIZE]
    # the source gets back the mtime of the pyc it replaces: the new pyc is reproducible
    assert expected_source(header) == (MTIME, src.stat().st_size)
    assert int(src.stat().st_mtime) == MTIME
    assert b"/shown/root/pkg/mod.py" in pyc.read_bytes()


def test_paths_that_break_python_literals():
    assert python_unsafe("/srv/it's") and python_unsafe("/srv/a\\b") and python_unsafe("/a\nb")
    assert not python_unsafe("/srv/my env/ünï")
