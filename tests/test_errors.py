"""User errors: one clear message, no traceback, no output file, no target."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conda_envbundle.exceptions import (
    BundleFormatError,
    MissingFilesError,
    OutputExistsError,
    SourceEnvironmentError,
    TargetExistsError,
)

from .support.cli import assert_clean_error
from .support.envs import add_editable_install


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("kind", ["pep660", "egg-link"])
def test_editable_install_is_refused_by_name(kind, make_env, conda_process, tmp_path):
    env = make_env(pip_tool=False, unmanaged_binary=False)
    add_editable_install(env, kind)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = conda_process("bundle", "-p", env, "-o", out_dir / "e.tar.zst")
    assert_clean_error(proc, "edpkg", "--ignore-editable")
    assert _leftovers(out_dir) == []
    proc = conda_process("bundle", "-p", env, "-o", out_dir / "e.tar.zst", "--ignore-editable")
    assert proc.returncode == 0, proc.stderr
    assert _leftovers(out_dir) == ["e.tar.zst"]
    import conda_envbundle

    shipped = [f.path for f in conda_envbundle.inspect(str(out_dir / "e.tar.zst")).files]
    assert not [p for p in shipped if "edpkg" in p]


def test_missing_managed_file_is_refused_by_name(make_env, conda_env, conda_cli, tmp_path):
    env = make_env(pip_tool=False, unmanaged_binary=False)
    (env / "share/foo/three-times.txt").unlink()
    out = tmp_path / "m.tar.zst"
    _, _, exc = conda_cli("bundle", "-p", env, "-o", out, raises=MissingFilesError)
    assert "foo: share/foo/three-times.txt" in str(exc.value)
    assert not out.exists()
    _, _, rc = conda_cli("bundle", "-p", env, "-o", out, "--ignore-missing")
    assert rc == 0 and out.exists()


def test_existing_output_needs_force(source_env, conda_env, conda_cli, tmp_path):
    out = tmp_path / "x.tar.zst"
    out.write_bytes(b"precious")
    _, _, exc = conda_cli("bundle", "-p", source_env, "-o", out, raises=OutputExistsError)
    assert "--force" in str(exc.value)
    assert out.read_bytes() == b"precious"
    _, _, rc = conda_cli("bundle", "-p", source_env, "-o", out, "--force")
    assert rc == 0 and out.read_bytes() != b"precious"
    assert _leftovers(tmp_path) == ["x.tar.zst"]


def test_no_environment_named_and_none_active(conda_env, conda_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, _, exc = conda_cli("bundle", raises=SourceEnvironmentError)
    assert "-n NAME or -p PATH" in str(exc.value)
    assert _leftovers(tmp_path) == []


def test_not_an_environment(conda_process, tmp_path):
    (tmp_path / "plain").mkdir()
    proc = conda_process("bundle", "-p", tmp_path / "plain", "-o", tmp_path / "p.tar.zst")
    assert_clean_error(proc, "is not a conda environment")
    assert _leftovers(tmp_path) == ["plain"]


def test_unknown_environment_name(conda_process, tmp_path):
    proc = conda_process("bundle", "-n", "no-such-env", "-o", tmp_path / "p.tar.zst")
    assert_clean_error(proc, "no-such-env")
    assert _leftovers(tmp_path) == []


def test_existing_target_needs_force_and_force_replaces_env(
    source_bundle_small, conda_env, conda_cli, tmp_path
):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    _, _, exc = conda_cli("unbundle", source_bundle_small, "-p", target, raises=TargetExistsError)
    assert "--force" in str(exc.value)
    _, _, exc = conda_cli(
        "unbundle", source_bundle_small, "-p", target, "--force", raises=TargetExistsError
    )
    assert "not a conda environment" in str(exc.value)
    assert _leftovers(target) == ["keep.txt"]
    assert _leftovers(tmp_path) == ["target"]
    env = tmp_path / "env"
    conda_cli("unbundle", source_bundle_small, "-p", env)
    (env / "stale-file").write_text("old")
    _, _, rc = conda_cli("unbundle", source_bundle_small, "-p", env, "--force", "--yes")
    assert rc == 0
    assert not (env / "stale-file").exists()
    assert (env / "conda-meta" / "history").is_file()
    assert _leftovers(tmp_path) == ["env", "target"]


def test_damaged_bundle_leaves_no_target(source_bundle_small, conda_process, tmp_path):
    data = bytearray(source_bundle_small.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.zst"
    bad.write_bytes(bytes(data))
    proc = conda_process("unbundle", bad, "-p", tmp_path / "new" / "env")
    assert_clean_error(proc, "damaged")
    assert _leftovers(tmp_path) == ["bad.tar.zst"]


def test_truncated_bundle_leaves_no_target(source_bundle_small, conda_env, conda_cli, tmp_path):
    data = source_bundle_small.read_bytes()
    bad = tmp_path / "cut.tar.zst"
    bad.write_bytes(data[: len(data) * 2 // 3])
    conda_cli("unbundle", bad, "-p", tmp_path / "env", raises=BundleFormatError)
    assert _leftovers(tmp_path) == ["cut.tar.zst"]


def test_not_a_bundle(conda_process, tmp_path):
    junk = tmp_path / "junk.tar.zst"
    junk.write_bytes(os.urandom(4096))
    proc = conda_process("unbundle", junk, "-p", tmp_path / "env")
    assert_clean_error(proc, "not a bundle")
    proc = conda_process("unbundle", tmp_path / "absent.tar.zst", "-p", tmp_path / "env")
    assert_clean_error(proc, "does not exist")
    assert _leftovers(tmp_path) == ["junk.tar.zst"]


def test_unbundle_needs_a_target(source_bundle_small, conda_process):
    proc = conda_process("unbundle", source_bundle_small)
    assert_clean_error(proc, "-n NAME or -p PATH")


def test_subcommands_are_listed(conda_process):
    proc = conda_process("--help")
    assert "bundle" in proc.stdout and "unbundle" in proc.stdout
    assert "Error while loading" not in proc.stderr


def test_force_never_replaces_a_directory_that_is_not_a_bundle(
    source_bundle_small, conda_env, conda_cli, make_env, tmp_path
):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    _, _, exc = conda_cli(
        "bundle", "-p", env, "--format", "dir", "-o", precious, "--force", raises=OutputExistsError
    )
    assert "not a directory bundle" in str(exc.value)
    assert (precious / "thesis.tex").read_text() == "years of work"
    bundle = tmp_path / "bundle-dir"
    conda_cli("bundle", "-p", env, "--format", "dir", "-o", bundle)
    _, _, rc = conda_cli("bundle", "-p", env, "--format", "dir", "-o", bundle, "--force")
    assert rc == 0 and (bundle / "conda-meta/envbundle/manifest.json").is_file()


def test_unbundled_root_has_the_umask_permissions(
    source_bundle_small, conda_env, conda_cli, tmp_path
):
    old = os.umask(0o022)
    try:
        conda_cli("unbundle", source_bundle_small, "-p", tmp_path / "env")
    finally:
        os.umask(old)
    assert (tmp_path / "env").stat().st_mode & 0o777 == 0o755
