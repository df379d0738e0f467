"""Feels like conda: --dry-run, --info, --list, settings, progress, exit codes, the API."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

import pytest

import conda_envbundle
from conda_envbundle.archive.codecs import CODECS

from .support.envs import CONDA, add_editable_install
from .support.verify import assert_env_runs

PLACEHOLDER_MARK = "_h_env_placehold"


def _run(env: dict, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CONDA, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )


def test_bundle_dry_run_reports_and_writes_nothing(make_env, conda_isolation, tmp_path):
    env = make_env(["python", "foo"], pip_tool=False, unmanaged_binary=False)
    add_editable_install(env, "pep660")
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(
        conda_isolation.env,
        *("bundle", "-p", env, "-o", out / "x.tar.zst", "--dry-run", "--json"),
        "--ignore-editable",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["dry_run"] is True and data["size"] == 0 and data["sha256"] is None
    assert data["editables"] == ["edpkg"]
    assert data["packages"] == 2 and data["files"] > 900
    assert data["prefix_limit"] == 255
    human = _run(conda_isolation.env, "bundle", "-p", env, "-o", out / "x.tar.zst", "-d")
    assert human.returncode == 1  # as the real run: the editable install stops it
    assert "Would bundle 2 packages" in human.stdout
    assert "editable install (would stop the bundle): edpkg" in human.stdout
    assert list(out.iterdir()) == []


def test_unbundle_dry_run_checks_and_writes_nothing(source_bundle_small, conda_isolation, tmp_path):
    target = tmp_path / "t"
    proc = _run(conda_isolation.env, "unbundle", source_bundle_small, "-p", target, "-d", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["dry_run"] is True and data["prefix"] == str(target) and data["relocated"] > 0
    assert not target.exists()
    too_long = tmp_path / ("x" * 150) / ("x" * 150)
    proc = _run(conda_isolation.env, "unbundle", source_bundle_small, "-p", too_long, "-d")
    assert proc.returncode == 4 and "at most 255 bytes" in proc.stderr + proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_info_shows_the_manifest_without_extracting(source_bundle, conda_isolation, tmp_path):
    proc = _run(conda_isolation.env, "unbundle", source_bundle, "--info", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "linux-64" in text and "Contents:" in text and "up to" in text
    assert any(line.split()[:2] == ["foo", "1.2.3"] for line in text.splitlines())
    data = json.loads(
        _run(conda_isolation.env, "unbundle", source_bundle, "--info", "--json").stdout
    )
    names = {p["name"]: p for p in data["packages"]}
    assert names["python"]["version"] == "3.12.1" and names["foo"]["build"]
    assert data["subdir"] == "linux-64" and data["bundle_size"] == source_bundle.stat().st_size
    assert list(tmp_path.iterdir()) == []


def test_list_shows_every_file(source_bundle, conda_isolation):
    data = json.loads(
        _run(conda_isolation.env, "unbundle", source_bundle, "--list", "--json").stdout
    )
    paths = {f["path"]: f for f in data["files"]}
    assert paths["bin/foo"]["prefix"]["mode"] == "binary"
    assert paths["lib/libfoo.so"]["target"] == "libfoo.so.1"
    text = _run(conda_isolation.env, "unbundle", source_bundle, "--list").stdout
    assert "lib/libfoo.so  -> libfoo.so.1" in text
    assert "bin/foo-config" in text and "[prefix: text]" in text


def _magic_format(path: Path) -> str:
    head = path.read_bytes()[:512]
    for name, codec in CODECS.items():
        if head.startswith(codec.magic):
            return name
    return "zip" if head.startswith(b"PK") else "tar"


def test_settings_precedence(source_env, conda_isolation, tmp_path):
    condarc = tmp_path / "xdg" / "conda" / ".condarc"
    condarc.parent.mkdir(parents=True)
    condarc.write_text("plugins:\n  bundle_format: tar.bz2\n")
    env = {**conda_isolation.env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    def made(name: str, *extra: str, environ: dict) -> str:
        """The format of the bundle written under its default name (a name given with -o
        says its format itself), in a new directory ``name``."""
        (tmp_path / name).mkdir()
        proc = _run(environ, "bundle", "-p", source_env, *extra, cwd=tmp_path / name)
        assert proc.returncode == 0, proc.stderr
        (bundle,) = (tmp_path / name).iterdir()
        found = _magic_format(bundle)
        assert bundle.name == f"{source_env.name}.{found}"
        return found

    assert made("default", environ=conda_isolation.env) == "tar.zst"
    assert made("rc", environ=env) == "tar.bz2"
    env_var = {**env, "CONDA_PLUGINS_BUNDLE_FORMAT": "tar.gz"}
    assert made("envvar", environ=env_var) == "tar.gz"
    assert made("cli", "--format", "tar", environ=env_var) == "tar"
    bad_level = {**conda_isolation.env, "CONDA_PLUGINS_BUNDLE_ZSTD_LEVEL": "99"}
    proc = _run(bad_level, "bundle", "-p", source_env, "-o", tmp_path / "l.tar.zst")
    assert proc.returncode == 1 and "out of range for tar.zst (1 to 22)" in proc.stderr
    assert "CONDA_PLUGINS_BUNDLE_ZSTD_LEVEL" in proc.stderr


def _in_terminal(argv: list, env: dict) -> str:
    controller, terminal = pty.openpty()
    # a terminal of 100 x 30: tqdm draws nothing into a terminal without columns
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait()
    os.close(controller)
    assert proc.returncode == 0, b"".join(chunks)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_bars_only_for_a_person(
    source_env, source_bundle_small, conda_isolation, tmp_path
):
    env = conda_isolation.env
    shown = _in_terminal([CONDA, "bundle", "-p", source_env, "-o", tmp_path / "a.tar"], env)
    assert "Reading" in shown and "Writing" in shown and "100%" in shown
    quiet = _in_terminal([CONDA, "bundle", "-p", source_env, "-o", tmp_path / "b.tar", "-q"], env)
    assert "Reading" not in quiet and "Writing" not in quiet
    piped = _run(env, "bundle", "-p", source_env, "-o", tmp_path / "c.tar")
    # no bar into a pipe, a line per step instead (tests/test_progress_feedback.py)
    assert "Reading: done" in piped.stderr and "\r" not in piped.stdout + piped.stderr
    unbundle = _in_terminal([CONDA, "unbundle", source_bundle_small, "-p", tmp_path / "t"], env)
    assert "Relocating" in unbundle


def test_exit_codes_and_json_errors(source_bundle_small, conda_isolation, tmp_path):
    env = conda_isolation.env
    damaged = tmp_path / "bad.tar.zst"
    data = bytearray(source_bundle_small.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert _run(env, "unbundle", damaged, "-p", tmp_path / "x").returncode == 3
    too_long = tmp_path / ("y" * 150) / ("y" * 150)
    assert _run(env, "unbundle", source_bundle_small, "-p", too_long).returncode == 4
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "f").write_text("x")
    proc = _run(env, "unbundle", source_bundle_small, "-p", tmp_path / "z", "--json")
    assert proc.returncode == 5
    error = json.loads(proc.stdout)
    assert error["exception_name"] == "TargetExistsError" and "--force" in error["message"]


def test_python_api_round_trip(source_env, conda_env, tmp_path):
    result = conda_envbundle.bundle(str(source_env), str(tmp_path / "api.tar.gz"))
    assert result.format == "tar.gz" and result.size == (tmp_path / "api.tar.gz").stat().st_size
    manifest = conda_envbundle.inspect(result.output)
    assert {p["name"] for p in manifest.packages} >= {"python", "foo", "foopy"}
    assert conda_envbundle.verify(result.output).files == manifest.files
    done = conda_envbundle.unbundle(result.output, str(tmp_path / "api env"))
    assert done.prefix == str(tmp_path / "api env") and done.relocated > 0
    assert_env_runs(tmp_path / "api env", forbidden=[str(source_env), PLACEHOLDER_MARK])


@pytest.mark.parametrize("command", ["bundle", "unbundle"])
def test_help_documents_every_option(command, conda_isolation):
    text = _run(conda_isolation.env, command, "--help").stdout
    expected = {
        "bundle": [
            "--output",
            "--format",
            "--compress-level",
            "--threads",
            "--dest-prefix",
            "--exclude",
            "--include",
            "--ignore-editable",
            "--ignore-missing",
            "--sh-payload",
            "--dry-run",
            "--json",
            "--force",
        ],
        "unbundle": [
            "--force",
            "--yes",
            "--override-frozen",
            "--verify",
            "--info",
            "--list",
            "--dry-run",
            "--json",
            "--name",
            "--prefix",
        ],
    }[command]
    for option in expected:
        assert option in text, option
