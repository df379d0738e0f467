"""Every container format round-trips, streams, and gives reproducible bytes."""

from __future__ import annotations

import filecmp
import os
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from .support.envs import CONDA
from .support.verify import assert_env_runs

PLACEHOLDER_MARK = "_h_env_placehold"
FORMATS = ["tar.zst", "tar.gz", "tar.bz2", "tar.xz", "zip", "tar", "dir"]


def _bundle(conda_cli, env: Path, out: Path, *args: str) -> Path:
    stdout, stderr, rc = conda_cli("bundle", "-p", env, "-o", out, *args)
    assert rc == 0, stdout + stderr
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips(fmt, source_env, conda_env, conda_cli, tmp_path):
    name = "bundle-dir" if fmt == "dir" else f"bundle.{fmt}"
    bundle = _bundle(conda_cli, source_env, tmp_path / name, "--format", fmt)
    if fmt == "dir":
        assert (bundle / "conda-meta/envbundle/manifest.json").is_file()
    target = tmp_path / "relocated env"
    out, err, rc = conda_cli("unbundle", bundle, "-p", target)
    assert rc == 0, out + err
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])


def test_format_is_detected_from_content_not_name(
    source_bundle_small, conda_env, conda_cli, tmp_path
):
    disguised = tmp_path / "bundle.zip"
    shutil.copy(source_bundle_small, disguised)
    _, _, rc = conda_cli("unbundle", disguised, "-p", tmp_path / "env")
    assert rc == 0
    assert (tmp_path / "env/bin/foo").is_file()


@pytest.mark.parametrize("fmt", ["tar.zst", "tar.gz"])
def test_stdout_to_stdin_pipeline(fmt, source_env, conda_isolation, tmp_path):
    target = tmp_path / "piped"
    pipeline = (
        f"'{CONDA}' bundle -p '{source_env}' -o - --format {fmt} | "
        f"'{CONDA}' unbundle - -p '{target}'"
    )
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", pipeline],
        env=conda_isolation.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Bundled" in proc.stderr
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])


def _same(a: Path, b: Path) -> bool:
    if a.is_dir():
        compare = filecmp.dircmp(a, b)
        if compare.left_only or compare.right_only or compare.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(a, b, compare.common_files, shallow=False)
        return not mismatch and not errors and all(_same(a / d, b / d) for d in compare.common_dirs)
    return a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_bundling_twice_gives_identical_bytes(fmt, source_env, conda_env, conda_cli, tmp_path):
    first = _bundle(conda_cli, source_env, tmp_path / "one", "--format", fmt)
    second = _bundle(conda_cli, source_env, tmp_path / "two", "--format", fmt, "-j", "1")
    assert _same(first, second)


def test_thread_count_and_level_are_honoured(source_env, conda_env, conda_cli, tmp_path):
    fast = _bundle(conda_cli, source_env, tmp_path / "l1.tar.zst", "--compress-level", "1")
    small = _bundle(conda_cli, source_env, tmp_path / "l19.tar.zst", "--compress-level", "19")
    assert small.stat().st_size < fast.stat().st_size
    from conda_envbundle.exceptions import EnvBundleError

    _, _, exc = conda_cli(
        "bundle",
        "-p",
        source_env,
        "-o",
        tmp_path / "x.tar.gz",
        "--compress-level",
        "12",
        raises=EnvBundleError,
    )
    assert "0 to 9" in str(exc.value)
    assert not (tmp_path / "x.tar.gz").exists()


def test_members_are_normalised(source_env, conda_env, conda_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    bundle = _bundle(conda_cli, source_env, tmp_path / "b.tar")
    with tarfile.open(bundle) as tar:
        members = tar.getmembers()
        expected = _expected_mtimes(tar, members, 1234567890)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert {m.name: m.mtime for m in members} == expected
    assert any(mtime != 1234567890 for mtime in expected.values())  # the env has pycs
    names = [m.name for m in members]
    assert names[0] == "conda-meta/envbundle/manifest.json"
    assert names[1:] == sorted(names[1:])


def test_same_packages_elsewhere_give_identical_bundles(
    channel, conda_isolation, conda_env, conda_cli, tmp_path
):
    specs = ["python", "foo", "foo-data"]
    envs = []
    for where in ("a", "b/much/longer/place"):
        env = dict(conda_isolation.env, CONDA_ENVS_DIRS=str(tmp_path / where / "envs"))
        prefix = tmp_path / where / "envs" / "same"
        subprocess.run(
            [
                CONDA,
                "create",
                "--offline",
                "--override-channels",
                "-c",
                channel.as_uri(),
                "-n",
                "same",
                "--yes",
                "--quiet",
                *specs,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        envs.append(prefix)
    # conda-meta/history records when each env was created; give both the same history.
    shutil.copy(envs[0] / "conda-meta/history", envs[1] / "conda-meta/history")
    first = _bundle(conda_cli, envs[0], tmp_path / "a.tar.zst")
    second = _bundle(conda_cli, envs[1], tmp_path / "b.tar.zst")
    assert first.read_bytes() == second.read_bytes()


def test_make_env_at_two_paths_is_not_trivially_equal(make_env, conda_env, conda_cli, tmp_path):
    # Control for the test above: unmanaged files holding the path do change the bundle.
    env = make_env(["python", "foo"], pip_tool=True, unmanaged_binary=False)
    other = tmp_path / "moved-copy"
    _, _, rc = conda_cli("unbundle", _bundle(conda_cli, env, tmp_path / "x.tar.zst"), "-p", other)
    assert rc == 0
    os.remove(other / "conda-meta/envbundle/manifest.json")
    again = _bundle(conda_cli, other, tmp_path / "y.tar.zst")
    assert again.read_bytes() != (tmp_path / "x.tar.zst").read_bytes()


def test_dir_bundle_files_carry_the_one_mtime(
    source_env, conda_env, conda_cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1500000000")
    from .support.bytecode import stale_pycs

    out = _bundle(conda_cli, source_env, tmp_path / "d", "--format", "dir")
    pycs = out.rglob("__pycache__/*.pyc")
    own = {pyc.parent.parent / f"{pyc.name.split('.', 1)[0]}.py" for pyc in pycs}
    stamps = {p.lstat().st_mtime for p in set(out.rglob("*")) - own} | {out.stat().st_mtime}
    assert stamps == {1500000000}
    checked, stale = stale_pycs(out)  # .py files keep the time their pycs expect
    assert checked >= 100 and not stale


def test_platform_comes_from_the_packages(make_env, conda_env, conda_cli, tmp_path):
    import json

    from conda_envbundle.exceptions import IncompatibleTargetError

    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    record = next((env / "conda-meta").glob("foo-*.json"))
    data = json.loads(record.read_text())
    data["subdir"] = "linux-aarch64"
    record.write_text(json.dumps(data))
    bundle = _bundle(conda_cli, env, tmp_path / "arm.tar")
    import conda_envbundle

    assert conda_envbundle.inspect(str(bundle)).subdir == "linux-aarch64"
    _, _, exc = conda_cli("unbundle", bundle, "-p", tmp_path / "t", raises=IncompatibleTargetError)
    assert "for linux-aarch64, but this machine is linux-64" in str(exc.value)


def _expected_mtimes(tar: tarfile.TarFile, members: list, epoch: int) -> dict[str, int]:
    """Every member at ``epoch``, except each ``.py`` whose shipped timestamp-based pyc
    expects its own mtime (and the same size as shipped)."""
    expected = {m.name: epoch for m in members}
    sizes = {m.name: m.size for m in members if m.isfile()}
    for member in members:
        directory, _, name = member.name.rpartition("/")
        if not (member.isfile() and name.endswith(".pyc") and directory.endswith("__pycache__")):
            continue
        source = f"{directory[: -len('__pycache__')]}{name.split('.', 1)[0]}.py"
        flags, mtime, size = struct.unpack("<III", tar.extractfile(member).read(16)[4:16])
        if source in sizes and flags == 0 and size == sizes[source]:
            expected[source] = mtime
    return expected
