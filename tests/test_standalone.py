"""Targets without conda: tar -x plus bin/conda-unpack, activation scripts, --dest-prefix."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .support.bare import bare_path, run_bare
from .support.envs import CONDA
from .support.verify import assert_env_runs

PLACEHOLDER_MARK = "_h_env_placehold"
GENERATED_MARK = "/conda-envbundle/generated/"


@pytest.fixture
def bare(tmp_path) -> str:
    return bare_path(tmp_path / "bare-bin")


def _untar(bundle: Path, target: Path, path: str) -> None:
    target.mkdir(parents=True)
    proc = run_bare(["tar", "--zstd", "-xf", bundle, "-C", target], path)
    assert proc.returncode == 0, proc.stderr


def _long(base: Path) -> Path:
    return base / ("l" * (200 - len(str(base)) - 1))


@pytest.mark.parametrize("where", ["with spaces/my env", "long"])
def test_tar_x_then_conda_unpack_runs(where, source_env, source_bundle, bare, tmp_path):
    target = _long(tmp_path) if where == "long" else tmp_path / where
    _untar(source_bundle, target, bare)
    proc = run_bare([target / "bin/conda-unpack", "--verify"], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "relocated to" in proc.stdout
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK, GENERATED_MARK])


def test_moved_again_and_unpacked_again(source_env, source_bundle, bare, tmp_path):
    # After a first unpack, binaries hold that path: a second move must not be longer.
    first = tmp_path / ("first-" + "x" * 40)
    _untar(source_bundle, first, bare)
    assert run_bare([first / "bin/conda-unpack", "-q"], bare).returncode == 0
    second = tmp_path / "second home" / "env"
    second.parent.mkdir()
    shutil.move(first, second)
    proc = run_bare([second / "bin/conda-unpack"], bare)
    assert proc.returncode == 0, proc.stderr
    assert_env_runs(second, forbidden=[str(source_env), str(first), PLACEHOLDER_MARK])
    again = run_bare([second / "bin/conda-unpack"], bare)
    assert "0 file(s) relocated" in again.stdout


def test_verify_finds_damage_before_touching_anything(source_bundle, bare, tmp_path):
    target = tmp_path / "env"
    _untar(source_bundle, target, bare)
    conf = target / "etc/foo/foo.conf"
    conf.write_text(conf.read_text() + "tampered\n")
    proc = run_bare([target / "bin/conda-unpack", "--verify"], bare)
    assert proc.returncode == 1
    assert "etc/foo/foo.conf" in proc.stderr and "Traceback" not in proc.stderr
    assert PLACEHOLDER_MARK in (target / "bin/foo-config").read_text()


def test_environment_without_python_says_what_to_do(source_bundle_small, bare, tmp_path):
    target = tmp_path / "env"
    _untar(source_bundle_small, target, bare)
    proc = run_bare([target / "bin/conda-unpack"], bare)
    assert proc.returncode == 1
    assert "no python" in proc.stderr and "--dest-prefix" in proc.stderr


ACTIVATE_CHECK = {
    "bash": ". '{p}/bin/activate' && {body}",
    "dash": ". '{p}/bin/activate' && {body}",
    "zsh": ". '{p}/bin/activate' && {body}",
    "fish": "source '{p}/bin/activate.fish'; and {body}",
}
BODY = {
    "sh": 'command -v foo; echo "$CONDA_PREFIX|$MY_SETTING|$FOO_DATA_DIR"; echo "$PKG_HOME"; '
    '. "$CONDA_PREFIX/bin/deactivate"; '
    'echo "after:${CONDA_PREFIX:-}|${MY_SETTING:-}|${PKG_HOME:-}|$PATH"',
    "fish": 'command -v foo; echo "$CONDA_PREFIX|$MY_SETTING"; echo "$PKG_HOME"; deactivate; '
    'echo "after:$CONDA_PREFIX|$MY_SETTING|$PKG_HOME|$PATH"',
}


@pytest.fixture(scope="module")
def env_with_vars(tmp_path_factory, channel, conda_isolation) -> Path:
    from .support.envs import create_env

    prefix = tmp_path_factory.mktemp("vars") / "env"
    create_env(prefix, channel, ["python", "foo", "foo-data"], conda_isolation.env)
    subprocess.run(
        [CONDA, "env", "config", "vars", "set", "-p", prefix, f"MY_SETTING=it's {prefix}/share"],
        env=conda_isolation.env,
        check=True,
        capture_output=True,
    )
    # the other place conda activate reads variables from: packages' env_vars.d files
    env_vars_d = prefix / "etc" / "conda" / "env_vars.d"
    env_vars_d.mkdir(parents=True)
    (env_vars_d / "pkg.json").write_text(json.dumps({"PKG_HOME": f"{prefix}/lib/pkg"}))
    bundle = tmp_path_factory.mktemp("vars-bundle") / "vars.tar.zst"
    subprocess.run(
        [CONDA, "bundle", "-p", prefix, "-o", bundle],
        env=conda_isolation.env,
        check=True,
        capture_output=True,
    )
    return bundle


@pytest.mark.parametrize("shell", ["bash", "dash", "zsh", "fish"])
def test_activate_and_deactivate_without_conda(shell, env_with_vars, bare, tmp_path):
    target = tmp_path / "act env"
    _untar(env_with_vars, target, bare)
    assert run_bare([target / "bin/conda-unpack", "-q"], bare).returncode == 0
    body = BODY["fish" if shell == "fish" else "sh"]
    script = ACTIVATE_CHECK[shell].format(p=target, body=body)
    proc = run_bare([shell, "-c", script], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == f"{target}/bin/foo"
    assert lines[1].startswith(f"{target}|it's {target}/share")
    if shell != "fish":
        assert lines[1] == f"{target}|it's {target}/share|{target}/share/foo-data"
    assert lines[2] == f"{target}/lib/pkg"
    assert lines[3] == f"after:|||{bare}"


def test_no_activation_scripts_when_env_has_conda(make_env, conda_env, conda_cli, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    # A minimal record of a "conda" package owning bin/activate, as conda's own does.
    record = {
        "name": "conda",
        "version": "24.7.1",
        "build": "py_0",
        "build_number": 0,
        "channel": "local",
        "subdir": "noarch",
        "fn": "conda-24.7.1-py_0.conda",
        "depends": [],
        "files": ["bin/activate"],
        "paths_data": {
            "paths_version": 1,
            "paths": [{"_path": "bin/activate", "path_type": "hardlink"}],
        },
    }
    (env / "conda-meta" / "conda-24.7.1-py_0.json").write_text(json.dumps(record))
    (env / "bin/activate").write_text("# conda's own\n")
    bundle = tmp_path / "c.tar"
    conda_cli("bundle", "-p", env, "-o", bundle)
    import conda_envbundle

    files = {f.path: f for f in conda_envbundle.inspect(str(bundle)).files}
    assert "bin/conda-unpack" in files
    assert "bin/activate.fish" not in files and "bin/deactivate" not in files
    assert files["bin/activate"].size == len("# conda's own\n")


@pytest.mark.parametrize("dest", ["short", "with spaces", "long"])
def test_dest_prefix_needs_no_unpack_step(dest, source_env, conda_process, bare, tmp_path):
    target = {
        "short": tmp_path / "app",
        "with spaces": tmp_path / "my app",
        "long": _long(tmp_path),
    }[dest]
    bundle = tmp_path / "dest.tar.zst"
    proc = conda_process("bundle", "-p", source_env, "-o", bundle, "--dest-prefix", target)
    assert proc.returncode == 0, proc.stderr
    _untar(bundle, target, bare)
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK, GENERATED_MARK])
    proc = run_bare(["sh", "-c", f". '{target}/bin/activate' && command -v foopy"], bare)
    assert proc.stdout.strip() == f"{target}/bin/foopy"


def test_conda_unpack_keeps_shipped_pyc_valid(source_bundle, bare, tmp_path):
    import struct

    target = tmp_path / "env"
    _untar(source_bundle, target, bare)
    assert run_bare([target / "bin/conda-unpack", "-q"], bare).returncode == 0
    pycs = list(target.glob("lib/python3.12/site-packages/foopy/__pycache__/*.pyc"))
    assert pycs
    for pyc in pycs:
        flags, mtime, _ = struct.unpack("<III", pyc.read_bytes()[4:16])
        source = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
        assert flags == 0 and int(source.stat().st_mtime) == mtime


def test_unzip_then_conda_unpack_runs(source_env, conda_process, bare, tmp_path):
    bundle = tmp_path / "env.zip"
    proc = conda_process("bundle", "-p", source_env, "-o", bundle)
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / "unzipped env"
    proc = run_bare(["unzip", "-q", bundle, "-d", target], bare)
    assert proc.returncode == 0, proc.stderr
    proc = run_bare([target / "bin/conda-unpack", "--verify"], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK, GENERATED_MARK])
