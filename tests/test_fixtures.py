"""The test environments are real, run where they are, and the checker can fail."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from .support.condapkg import PLACEHOLDER_MARKER
from .support.envs import (
    CONDA,
    SOURCE_SPECS,
    MakeEnv,
    add_editable_install,
    create_env,
    site_packages,
)
from .support.isolation import Isolation
from .support.proc import run
from .support.verify import _check_shared_libraries, assert_env_runs, assert_same_packages


def _relocate_text_only(src: Path, dst: Path) -> None:
    """Copy an env and rewrite its prefix in text files only (binaries keep the old one)."""
    shutil.copytree(src, dst, symlinks=True)
    old, new = os.fsencode(src), os.fsencode(dst)
    for path in dst.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if old in data and b"\0" not in data:
                path.write_bytes(data.replace(old, new))


def test_env_runs_in_place(make_env: MakeEnv) -> None:
    # Not source_env: its long path makes conda itself write `#!/usr/bin/env python3.12`
    # shebangs there, which only work with the env on PATH.
    prefix = make_env()
    assert_env_runs(prefix, forbidden=[PLACEHOLDER_MARKER])


def test_source_env_packages(source_env: Path, conda_isolation: Isolation) -> None:
    listed = json.loads(run([CONDA, "list", "--json", "-p", source_env], env=conda_isolation.env))
    by_channel = {(p["name"], p["channel"] == "pypi") for p in listed}
    assert by_channel == {(name, False) for name in SOURCE_SPECS} | {("bartool", True)}
    assert_same_packages(source_env, source_env, env=conda_isolation.env)


def test_source_env_has_unmanaged_prefix_files(source_env: Path) -> None:
    managed = {
        f
        for record in (source_env / "conda-meta").glob("*.json")
        for f in json.loads(record.read_text())["files"]
    }
    for rel in ("bin/bartool", "bin/unmanaged-tool", "share/foo-post/installed-at.txt"):
        assert rel not in managed
        assert os.fsencode(source_env) in (source_env / rel).read_bytes(), rel


@pytest.mark.parametrize("specs", [["python", "foopy", "foo-data", "foo-post"], ["foo"]])
def test_env_runs_at_a_long_path(
    tmp_path: Path, channel: Path, conda_isolation: Isolation, specs: list[str]
) -> None:
    base = tmp_path / "dïr with späces"
    prefix = base / ("x" * (200 - len(str(base)) - 1))
    assert len(str(prefix)) == 200
    create_env(prefix, channel, specs, conda_isolation.env)
    assert_env_runs(prefix, forbidden=[PLACEHOLDER_MARKER])


def test_checker_fails_on_a_copied_env(source_env: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(source_env, copy, symlinks=True)
    with pytest.raises(AssertionError, match=r"bin/foo\nexit status 2"):
        assert_env_runs(copy, forbidden=[])


def test_checker_fails_when_only_text_was_relocated(source_env: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    _relocate_text_only(source_env, copy)
    with pytest.raises(AssertionError, match=r"bin/foo\nexit status 2"):
        assert_env_runs(copy, forbidden=[str(source_env)])
    outside = re.escape(f"copy/bin/foo: {source_env}/lib/libfoo.so.1")
    with pytest.raises(AssertionError, match=outside):
        _check_shared_libraries(copy)


def test_checker_fails_on_a_foreign_libfoo(
    source_env: Path, make_env: MakeEnv, tmp_path: Path
) -> None:
    prefix = make_env(["foo"], pip_tool=False, unmanaged_binary=False, pkgs_dir=tmp_path / "pkgs")
    libfoo = prefix / "lib/libfoo.so.1.2.3"
    libfoo.unlink()
    shutil.copy2(source_env / "lib/libfoo.so.1.2.3", libfoo)
    with pytest.raises(AssertionError, match=r"bin/foo\nexit status 3"):
        assert_env_runs(prefix, forbidden=[])


def test_checker_finds_forbidden_strings(make_env: MakeEnv) -> None:
    prefix = make_env()
    with pytest.raises(AssertionError, match=r"bin/unmanaged-tool: "):
        assert_env_runs(prefix, forbidden=[str(prefix)])


@pytest.mark.parametrize("kind", ["pep660", "egg-link"])
def test_editable_install(make_env: MakeEnv, kind: str) -> None:
    prefix = make_env(["python"], pip_tool=False, unmanaged_binary=False)
    marker = add_editable_install(prefix, kind)
    assert marker.is_relative_to(site_packages(prefix))
    assert "/some/src" in marker.read_text()
