"""conda-pack's spellings through the real ``conda bundle`` (issue 12, for people migrating).

Every conda-pack 0.9 option that means the same here is accepted under its conda-pack name;
every other one is refused with what to use instead (docs/migrating-from-conda-pack.md has
the table). Aliases are checked by their effect: the same bytes as our own spelling.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import conda_envbundle
from conda_envbundle.exceptions import EnvBundleError

from .support.cli import CondaProcess, assert_clean_error
from .support.envs import add_editable_install, create_env
from .support.isolation import Isolation

MAGIC = {
    "tar.gz": b"\x1f\x8b",
    "tar.bz2": b"BZh",
    "tar.xz": b"\xfd7zXZ\0",
    "tar.zst": b"\x28\xb5\x2f\xfd",
}


@pytest.fixture(scope="module")
def conda(conda_isolation: Isolation) -> CondaProcess:
    return CondaProcess(conda_isolation.env)


@pytest.fixture(scope="module")
def small(tmp_path_factory, channel: Path, conda_isolation: Isolation) -> Path:
    prefix = tmp_path_factory.mktemp("spellings") / "small"
    create_env(prefix, channel, ["foo", "foo-data"], conda_isolation.env)
    return prefix


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _usage_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Refused by the option parser (status 2), with what to use instead."""
    assert_clean_error(proc, *needles)
    assert proc.returncode == 2, proc.stderr


@pytest.mark.parametrize(
    "spelling", [["-j", "-1"], ["--n-threads", "-1"], ["--n-threads", "0"], ["-j", "0"]]
)
def test_all_cores_spellings(spelling, small, conda, tmp_path):
    """conda-pack's ``-j -1`` and ``--n-threads``: all cores, as our ``-j 0``; the bytes
    are those of one thread (bundles do not depend on the thread count)."""
    one = tmp_path / "one.tar.zst"
    _ok(conda("bundle", "-p", small, "-o", one, "-j", "1"))
    out = tmp_path / "all.tar.zst"
    proc = _ok(conda("bundle", "-p", small, "-o", out, "-v", *spelling))
    assert f"{os.cpu_count()} threads" in proc.stderr, proc.stderr
    assert out.read_bytes() == one.read_bytes()


def test_n_threads_is_threads(small, conda, tmp_path):
    proc = _ok(conda("bundle", "-p", small, "-o", tmp_path / "x.tar.gz", "-v", "--n-threads", "3"))
    assert "3 threads" in proc.stderr, proc.stderr


@pytest.mark.parametrize("count", ["-2", "-10"])
def test_other_negative_thread_counts_are_refused(count, small, conda, tmp_path):
    proc = conda("bundle", "-p", small, "-o", tmp_path / "x.tar.gz", "--n-threads", count)
    assert_clean_error(proc, f"0 or -1 for all cores, not {count}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("alias", "fmt"),
    [("tgz", "tar.gz"), ("tbz2", "tar.bz2"), ("txz", "tar.xz"), ("tzst", "tar.zst")],
)
def test_short_format_names(alias, fmt, small, conda, tmp_path):
    """``--format tgz`` is ``--format tar.gz``; a given --format wins over the name."""
    ours = tmp_path / f"ours.{fmt}"
    _ok(conda("bundle", "-p", small, "-o", ours, "--format", fmt, "--compress-level", "1"))
    theirs = tmp_path / "theirs.bin"
    _ok(conda("bundle", "-p", small, "-o", theirs, "--format", alias, "--compress-level", "1"))
    assert theirs.read_bytes().startswith(MAGIC[fmt])
    assert theirs.read_bytes() == ours.read_bytes()


def test_no_archive_is_dir(small, conda, tmp_path):
    out = tmp_path / "tree"
    _ok(conda("bundle", "-p", small, "-o", out, "--format", "no-archive"))
    assert (out / "conda-meta/envbundle/manifest.json").is_file()
    unbundled = tmp_path / "env"
    _ok(conda("unbundle", out, "-p", unbundled))
    assert (unbundled / "bin/foo").is_file()


@pytest.mark.parametrize("name", ["small.bar", "small", "small.tar.zst.bak"])
def test_unknown_output_extension_is_refused(name, small, conda, tmp_path):
    """As conda-pack does, instead of writing tar.zst under a name that says otherwise; the
    Python API refuses too."""
    proc = conda("bundle", "-p", small, "-o", tmp_path / name)
    assert_clean_error(proc, "ends in no bundle extension", ".tar.zst", ".tgz", "--format")
    assert proc.returncode == 1
    with pytest.raises(EnvBundleError, match="--format"):
        conda_envbundle.bundle(str(small), str(tmp_path / name))
    assert list(tmp_path.iterdir()) == []
    _ok(conda("bundle", "-p", small, "-o", tmp_path / name, "--format", "tar"))
    assert (tmp_path / name).read_bytes()[257:262] == b"ustar"


def test_ignore_spellings(make_env, conda, tmp_path):
    """``--ignore-editable-packages`` and ``--ignore-missing-files`` do what
    ``--ignore-editable`` and ``--ignore-missing`` do: the same bundle."""
    env = make_env(["python", "foo"], pip_tool=False, unmanaged_binary=False)
    add_editable_install(env, "pep660")
    (env / "share/foo/three-times.txt").unlink()
    theirs = tmp_path / "theirs.tar"
    proc = conda("bundle", "-p", env, "-o", theirs, "--ignore-editable-packages")
    assert_clean_error(proc, "share/foo/three-times.txt")
    proc = conda("bundle", "-p", env, "-o", theirs, "--ignore-missing-files")
    assert_clean_error(proc, "--ignore-editable")
    assert not theirs.exists()
    both = ("--ignore-editable-packages", "--ignore-missing-files")
    _ok(conda("bundle", "-p", env, "-o", theirs, *both))
    ours = tmp_path / "ours.tar"
    _ok(conda("bundle", "-p", env, "-o", ours, "--ignore-editable", "--ignore-missing"))
    assert theirs.read_bytes() == ours.read_bytes()
    paths = {entry.path for entry in conda_envbundle.inspect(str(theirs)).files}
    assert "share/foo/three-times.txt" not in paths and "bin/foo" in paths


def test_zip_symlinks_is_what_zip_bundles_do(small, conda, tmp_path):
    ours = tmp_path / "ours.zip"
    _ok(conda("bundle", "-p", small, "-o", ours))
    theirs = tmp_path / "theirs.zip"
    _ok(conda("bundle", "-p", small, "-o", theirs, "--zip-symlinks"))
    assert theirs.read_bytes() == ours.read_bytes()


@pytest.mark.parametrize(
    ("args", "instead"),
    [
        (["--arcroot", "env"], "a bundle has no root directory"),
        (["--parcel-root", "/opt/cloudera/parcels"], "--dest-prefix /opt/cloudera/parcels/"),
        (["--parcel-name", "x"], "writes no parcels"),
        (["--parcel-version", "1"], "writes no parcels"),
        (["--parcel-distro", "el7"], "writes no parcels"),
        (["--no-zip-64"], "ZIP64 records only where the archive needs them"),
        (["--version"], "conda list -n base conda-envbundle"),
    ],
)
def test_conda_pack_only_options_say_what_to_use(args, instead, small, conda, tmp_path):
    proc = conda("bundle", "-p", small, "-o", tmp_path / "x.tar", *args)
    _usage_error(proc, f"{args[0]} is conda-pack's", instead)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args", [["-d", "/opt/app"], ["-o", "x.tar", "-d", "/opt/app"], ["-d", "/opt/app", "-q"]]
)
def test_conda_pack_dash_d_is_dest_prefix_here(args, small, conda, tmp_path):
    proc = conda("bundle", "-p", small, *args, cwd=tmp_path)
    _usage_error(proc, "unrecognized arguments: /opt/app", "--dest-prefix PATH")
    assert list(tmp_path.iterdir()) == []


def test_a_stray_word_without_dash_d_is_only_unrecognized(small, conda, tmp_path):
    proc = conda("bundle", "-p", small, "myenv", cwd=tmp_path)
    _usage_error(proc, "unrecognized arguments: myenv")
    assert "conda-pack" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
