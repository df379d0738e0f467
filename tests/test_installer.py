"""The self-extracting .sh installer, run where there is only sh, tar and gzip."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .support.bare import bare_path, run_bare
from .support.verify import assert_env_runs

PLACEHOLDER_MARK = "_h_env_placehold"


@pytest.fixture(scope="module")
def installer(source_env, conda_isolation, tmp_path_factory) -> Path:
    from .support.cli import CondaProcess

    out = tmp_path_factory.mktemp("installer") / "install-env.sh"
    proc = CondaProcess(conda_isolation.env)("bundle", "-p", source_env, "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def bare(tmp_path) -> str:
    return bare_path(tmp_path / "bare-bin")


def _long(base: Path) -> Path:
    return base / ("l" * (200 - len(str(base)) - 1))


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("where", ["with spaces/env", "long"])
def test_installer_file_installs_a_running_env(shell, where, installer, source_env, bare, tmp_path):
    target = _long(tmp_path) if where == "long" else tmp_path / where
    proc = run_bare([shell, installer, "-p", target], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ready at {target}" in proc.stdout
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])
    assert not [p for p in target.parent.iterdir() if ".envbundle-" in p.name]
    assert target.stat().st_mode & 0o755 == 0o755


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_installer_works_through_a_pipe(shell, installer, source_env, bare, tmp_path):
    target = tmp_path / "piped env"
    script = f"cat '{installer}' | {shell} -s -- -p '{target}'"
    proc = run_bare(["sh", "-c", script], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])


def test_installer_is_raw_payload_not_base64(installer, source_bundle):
    # gzip default vs the zstd bundle: same order of size, not a third larger.
    assert installer.stat().st_size < source_bundle.stat().st_size * 1.3
    assert installer.read_bytes().count(b"\x1f\x8b\x08") >= 1


def test_help_list_and_verify(installer, bare):
    help_ = run_bare(["sh", installer, "--help"], bare)
    assert help_.returncode == 0 and "-p PREFIX" in help_.stdout
    listing = run_bare(["sh", installer, "--list"], bare)
    assert listing.returncode == 0
    names = {line.split()[0] for line in listing.stdout.splitlines()[1:]}
    assert {"python", "foo", "foopy", "foo-data", "foo-post"} <= names
    verify = run_bare(["sh", installer, "--verify"], bare)
    assert verify.returncode == 0 and "matches its sha256" in verify.stdout


def _damaged(installer: Path, tmp_path: Path) -> Path:
    data = bytearray(installer.read_bytes())
    data[-5000] ^= 0xFF
    bad = tmp_path / "bad.sh"
    bad.write_bytes(bytes(data))
    return bad


def test_damaged_installer_is_refused_and_leaves_nothing(installer, bare, tmp_path):
    bad = _damaged(installer, tmp_path)
    verify = run_bare(["sh", bad, "--verify"], bare)
    assert verify.returncode == 1 and "damaged" in verify.stderr
    target = tmp_path / "out" / "env"
    (tmp_path / "out").mkdir()
    proc = run_bare(["sh", bad, "-p", target], bare)
    assert proc.returncode == 1, proc.stdout
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("line", "value", "message"),
    [
        ("subdir", "osx-arm64", "this environment is for osx-arm64, but this machine is"),
        ("glibc_min", "9.99", "needs glibc 9.99 or newer; this machine has glibc"),
        ("limit", "20", "bytes long; this environment's binaries take at most 20"),
    ],
)
def test_preflight_refusals_in_shell(line, value, message, installer, bare, tmp_path):
    data = installer.read_bytes()
    start = data.index(f"\n{line}='".encode()) + len(line) + 3
    end = data.index(b"'", start)
    edited = tmp_path / "edited.sh"
    edited.write_bytes(data[:start] + value.encode() + data[end:])
    target = tmp_path / "target"
    proc = run_bare(["sh", edited, "-p", target], bare)
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr
    assert not target.exists()


def test_existing_target_needs_force(installer, bare, tmp_path):
    target = tmp_path / "env"
    assert run_bare(["sh", installer, "-p", target], bare).returncode == 0
    (target / "marker").write_text("old")
    again = run_bare(["sh", installer, "-p", target], bare)
    assert again.returncode == 1 and "-f" in again.stderr
    forced = run_bare(["sh", installer, "-p", target, "-f"], bare)
    assert forced.returncode == 0, forced.stderr
    assert not (target / "marker").exists()


def test_zstd_payload_and_conda_unbundle_reads_installers(
    source_env, conda_env, conda_cli, bare, tmp_path
):
    out = tmp_path / "z.sh"
    _, err, rc = conda_cli("bundle", "-p", source_env, "-o", out, "--sh-payload", "zstd")
    assert rc == 0, err
    target = tmp_path / "zenv"
    proc = run_bare(["sh", out, "-p", target], bare)
    assert proc.returncode == 0, proc.stderr
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])
    via_conda = tmp_path / "via conda"
    _, err, rc = conda_cli("unbundle", out, "-p", via_conda)
    assert rc == 0, err
    assert_env_runs(via_conda, forbidden=[str(source_env), PLACEHOLDER_MARK])


def test_dest_prefix_installer_for_env_without_python(make_env, conda_process, bare, tmp_path):
    env = make_env(["foo", "foo-data"], pip_tool=False, unmanaged_binary=False)
    dest = tmp_path / "opt" / "app"
    out = tmp_path / "app.sh"
    proc = conda_process("bundle", "-p", env, "-o", out, "--dest-prefix", dest)
    assert proc.returncode == 0, proc.stderr
    elsewhere = run_bare(["sh", out, "-p", tmp_path / "other"], bare)
    assert elsewhere.returncode == 1 and f"install it at {dest}" in elsewhere.stderr
    ok = run_bare(["sh", out, "-p", dest], bare)
    assert ok.returncode == 0, ok.stderr
    run = subprocess.run(["env", "-i", dest / "bin/foo"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == str(dest)
