"""conda bundle -> conda unbundle round trips: the relocated environment must run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .support.targets import KINDS, target_path
from .support.verify import assert_env_runs, assert_same_packages

PLACEHOLDER_MARK = "_h_env_placehold"


def _installed(path: str, noarch_python: bool) -> str:
    """conda 24.7 records noarch python paths as they are in the package."""
    if noarch_python and path.startswith("site-packages/"):
        return "lib/python3.12/" + path
    if noarch_python and path.startswith("python-scripts/"):
        return "bin/" + path.split("/", 1)[1]
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_relocated_environment_runs(
    kind, source_env, source_bundle, conda_env, conda_cli, tmp_path
):
    target = target_path(kind, tmp_path)
    if kind == "long":
        assert len(str(target)) == 200
    try:
        out, err, rc = conda_cli("unbundle", source_bundle, "-p", target)
        assert rc == 0, out + err
        assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])
        assert_same_packages(source_env, target)
    finally:
        if kind == "short":
            shutil.rmtree(target.parent, ignore_errors=True)


def test_records_describe_the_new_place(source_env, source_bundle, conda_env, conda_cli, tmp_path):
    target = tmp_path / "env"
    conda_cli("unbundle", source_bundle, "-p", target)
    from conda_envbundle.scan import scan_file

    for record_file in (target / "conda-meta").glob("*.json"):
        record = json.loads(record_file.read_text())
        assert record.get("extracted_package_dir", "") == ""
        assert record.get("package_tarball_full_path", "") == ""
        assert (record.get("link") or {}).get("source", "") == ""
        for item in record["paths_data"]["paths"]:
            if "sha256_in_prefix" in item:
                path = target / _installed(item["_path"], record.get("noarch") == "python")
                assert scan_file(str(path), None).sha256 == item["sha256_in_prefix"], path
    manifest = json.loads((target / "conda-meta/envbundle/manifest.json").read_text())
    rules = [f["prefix"] for f in manifest["files"] if "prefix" in f]
    assert rules and {r["placeholder"] for r in rules} == {str(target)}
    assert (target / "conda-meta" / "history").is_file()


def test_moved_twice_without_package_cache(
    source_env, source_bundle, conda_env, conda_cli, tmp_path
):
    first = tmp_path / "first-place" / ("a" * 60)
    conda_cli("unbundle", source_bundle, "-p", first)
    second_bundle = tmp_path / "again.tar.zst"
    out, err, rc = conda_cli("bundle", "-p", first, "-o", second_bundle)
    assert rc == 0, out + err
    assert "not in the package cache" in err
    second = tmp_path / "second" / "b"
    out, err, rc = conda_cli("unbundle", second_bundle, "-p", second)
    assert rc == 0, out + err
    assert_env_runs(second, forbidden=[str(source_env), str(first), PLACEHOLDER_MARK])


def test_registered_in_environments_txt(
    source_bundle_small, conda_env, conda_cli, monkeypatch, tmp_path
):
    # `conda env list` run as root reads every user's home, not $HOME: check the file
    # it reads for this user.
    from conda.base.context import reset_context
    from conda.core.envs_manager import get_user_environments_txt_file

    monkeypatch.setenv("CONDA_REGISTER_ENVS", "true")
    reset_context()
    target = tmp_path / "registered"
    conda_cli("unbundle", source_bundle_small, "-p", target)
    registered = Path(get_user_environments_txt_file()).read_text().splitlines()
    assert str(target) in registered


def test_unbundle_by_name_goes_to_envs_dir(source_bundle, conda_env, conda_cli):
    out, err, rc = conda_cli("unbundle", source_bundle, "-n", "named", "--json")
    assert rc == 0, out + err
    prefix = Path(json.loads(out)["prefix"])
    assert prefix == Path(os.environ["CONDA_ENVS_DIRS"]) / "named"
    out, _, _ = conda_cli("list", "-n", "named", "--json")
    assert {"python", "foo", "foopy"} <= {p["name"] for p in json.loads(out)}


def test_without_package_cache_limit_is_source_length(make_env, conda_env, conda_cli, tmp_path):
    pkgs = tmp_path / "own-pkgs"
    source = make_env(pkgs_dir=pkgs, unmanaged_binary=False)
    shutil.rmtree(pkgs)
    bundle = tmp_path / "nocache.tar.zst"
    out, err, rc = conda_cli("bundle", "-p", source, "-o", bundle)
    assert rc == 0, out + err
    limit = len(str(source).encode())
    assert f"at most {limit} bytes" in err
    fits = tmp_path / ("f" * (limit - len(str(tmp_path)) - 1))
    assert len(str(fits)) == limit
    conda_cli("unbundle", bundle, "-p", fits)
    assert_env_runs(fits, forbidden=[str(source), PLACEHOLDER_MARK])
    too_long = tmp_path / ("g" * (limit - len(str(tmp_path))))
    from conda_envbundle.exceptions import IncompatibleTargetError

    _, _, exc = conda_cli("unbundle", bundle, "-p", too_long, raises=IncompatibleTargetError)
    assert f"at most {limit} bytes" in str(exc.value)
    assert f"{limit + 1} bytes long" in str(exc.value)
    assert not too_long.exists()
    assert not [p for p in tmp_path.iterdir() if "envbundle" in p.name]


def test_json_output_describes_the_bundle(source_env, conda_env, conda_cli, tmp_path):
    out_file = tmp_path / "j.tar.zst"
    out, _, rc = conda_cli("bundle", "-p", source_env, "-o", out_file, "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["success"] is True
    assert data["output"] == str(out_file)
    assert data["size"] == out_file.stat().st_size
    from conda_envbundle.scan import scan_file

    assert data["sha256"] == scan_file(str(out_file), None).sha256
    assert data["packages"] >= 5


def test_exclude_and_include_apply_in_order(source_env, conda_env, conda_cli, tmp_path):
    out_file = tmp_path / "filtered.tar.zst"
    conda_cli(
        "bundle",
        "-p",
        source_env,
        "-o",
        out_file,
        "--exclude",
        "share/foo/*",
        "--include",
        "share/foo/three-times.txt",
    )
    import conda_envbundle

    paths = {f.path for f in conda_envbundle.inspect(str(out_file)).files}
    assert "share/foo/three-times.txt" in paths
    assert "share/foo/grüße.txt" not in paths
    assert "bin/foo" in paths


def test_warning_names_what_limits_target_paths(source_env, conda_env, conda_cli, tmp_path):
    _, err, rc = conda_cli("bundle", "-p", source_env, "-o", tmp_path / "w.tar")
    assert rc == 0
    limit = len(str(source_env).encode())
    assert f"Target paths can be at most {limit} bytes" in err
    assert "binaries not installed by conda (bin/unmanaged-tool)" in err
    assert "None" not in err and "package cache" not in err


def test_no_limit_warning_without_limiting_binaries(make_env, conda_env, conda_cli, tmp_path):
    env = make_env(["python", "foo"], pip_tool=True, unmanaged_binary=False)
    _, err, rc = conda_cli("bundle", "-p", env, "-o", tmp_path / "n.tar")
    assert rc == 0
    assert "Target paths can be at most" not in err


def test_package_file_changed_in_place_is_bundled_as_it_is(
    make_env, conda_env, conda_cli, tmp_path
):
    # Files that conda installed unchanged are hashed from conda's record and checked while
    # they are written; one edited since (same size, so the record looks plausible) must be
    # noticed and shipped as it now is, not refused and not shipped wrong.
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False, pkgs_dir=tmp_path / "pkgs")
    header = env / "include" / "foo.h"
    edited = header.read_bytes().replace(b"foo", b"FOO", 1)
    assert len(edited) == header.stat().st_size
    header.unlink()  # a new inode: the package cache keeps the original
    header.write_bytes(edited)
    bundle = tmp_path / "edited.tar"
    _, err, rc = conda_cli("bundle", "-p", env, "-o", bundle)
    assert rc == 0, err
    target = tmp_path / "t"
    conda_cli("unbundle", bundle, "-p", target)
    assert (target / "include" / "foo.h").read_bytes() == edited


def test_missing_pristine_copy_falls_back_to_the_installed_file(
    make_env, conda_env, conda_cli, tmp_path
):
    # One file gone from an otherwise intact package cache: that file is shipped as
    # installed (with the source path as its placeholder), the others stay pristine.
    pkgs = tmp_path / "pkgs"
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False, pkgs_dir=pkgs)
    (next(pkgs.glob("foo-1.2.3-*/")) / "etc" / "foo" / "foo.conf").unlink()
    bundle = tmp_path / "b.tar"
    out, err, rc = conda_cli("bundle", "-p", env, "-o", bundle)
    assert rc == 0, out + err
    target = tmp_path / "t"
    conda_cli("unbundle", bundle, "-p", target)
    assert f"{target}/share/foo" in (target / "etc" / "foo" / "foo.conf").read_text()
