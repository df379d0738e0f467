"""The no-conda unpack step and bytecode under hostile conditions found by an attack:
killed halfway, paths that break python sources, symlinked sources, read-only directories,
an exported CDPATH."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .support.bare import bare_path, run_bare
from .support.bytecode import assert_bytecode_valid
from .support.envs import PYTHON, site_packages


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> str:
    return bare_path(tmp_path_factory.mktemp("bare-bin"))


def _ok(proc) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _untar(bundle: Path, target: Path, bare: str) -> None:
    target.mkdir(parents=True)
    _ok(run_bare(["tar", "-xf", bundle, "-C", target], bare))


def _holding(root: Path, needle: str) -> list[str]:
    """Files under ``root`` (pycs and the unpack journal aside) that contain ``needle``."""
    found = []
    for path in root.rglob("*"):
        regular = path.is_file() and not path.is_symlink() and path.suffix != ".pyc"
        if regular and needle.encode() in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return [p for p in found if p != "conda-meta/history"]


def test_killed_conda_unpack_then_moved_then_rerun(source_bundle, bare, tmp_path):
    """A run killed halfway leaves files holding the path it was moving to; after a move,
    the next run must rewrite those too, not report success with them left behind."""
    first = tmp_path / "first"
    _untar(source_bundle, first, bare)
    journal = first / "conda-meta/envbundle/unpack-journal.json"
    # strace kills it at its 10th rename: the journal and a few files written, then death.
    kill = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename"]
    kill += ["-e", "inject=rename:signal=SIGKILL:when=10"]
    proc = subprocess.run([*kill, first / "bin/conda-unpack"], capture_output=True, text=True)
    assert proc.returncode != 0 and journal.exists(), proc.stderr
    assert _holding(first, str(first)), "some files were rewritten before the kill"
    second = tmp_path / "2nd"
    shutil.move(first, second)
    _ok(run_bare([second / "bin/conda-unpack"], bare))
    assert not journal.exists() and not (second / journal.relative_to(first)).exists()
    assert _holding(second, str(first)) == []
    assert not list(second.rglob(".conda-unpack-*"))
    assert_bytecode_valid(second)


@pytest.mark.parametrize("name", ["q'x", 'q"x', "q\\x", "q\nx"])
def test_paths_that_break_python_sources_are_refused(
    name, source_bundle, conda_process, bare, tmp_path
):
    target = tmp_path / name
    proc = conda_process("unbundle", source_bundle, "-p", target)
    assert proc.returncode == 4 and "would break them" in proc.stderr, proc.stderr
    assert not target.exists()
    _untar(source_bundle, target, bare)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file() and not p.is_symlink()}
    proc = run_bare([target / "bin/conda-unpack"], bare)
    assert proc.returncode == 1 and "would break python sources" in proc.stderr
    after = {p: p.read_bytes() for p in target.rglob("*") if p.is_file() and not p.is_symlink()}
    assert after == before  # refused before the first rewrite


def test_dest_prefix_that_breaks_python_sources_is_refused(source_env, conda_process, tmp_path):
    out = tmp_path / "b.tar"
    proc = conda_process("bundle", "-p", source_env, "-o", out, "--dest-prefix", "/opt/a'b")
    assert proc.returncode == 1 and "Choose another --dest-prefix" in proc.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def tricky_bundle(tmp_path_factory, channel, conda_isolation) -> Path:
    """An env with a relocated source reached through a symlink (each with its pyc), and a
    read-only package directory holding a relocated source and its pyc."""
    from .support.cli import CondaProcess
    from .support.envs import create_env, pip_install_tool

    prefix = tmp_path_factory.mktemp("tricky") / "env"
    create_env(prefix, channel, ["python", "foopy"], conda_isolation.env)
    pip_install_tool(prefix, tmp_path_factory.mktemp("wheels"))
    sp = site_packages(prefix)
    (sp / "atk").mkdir()
    (sp / "atk/__init__.py").write_text("")
    (sp / "atk/real.py").write_text(f"HOME = {str(prefix / 'share')!r}\n")
    (sp / "atk/linked.py").symlink_to("real.py")
    (sp / "atkro").mkdir()
    (sp / "atkro/__init__.py").write_text(f"HOME = {str(prefix)!r}\n")
    compile_ = [prefix / "bin" / PYTHON, "-m", "compileall", "-q", sp / "atk", sp / "atkro"]
    subprocess.run(compile_, check=True, env={"PATH": "/usr/bin:/bin"})
    for path in [*(sp / "atkro").rglob("*"), sp / "atkro"]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    out = tmp_path_factory.mktemp("tricky-bundle") / "tricky.tar"
    proc = CondaProcess(conda_isolation.env)("bundle", "-p", prefix, "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


IMPORT_TRICKS = "import atk.linked, atkro; print(atk.linked.HOME, atkro.HOME)"


def _tricks_at(target: Path) -> None:
    assert_bytecode_valid(target)
    proc = run_bare([target / "bin/python3", "-c", IMPORT_TRICKS], "/usr/bin:/bin")
    _ok(proc)
    assert proc.stdout.split() == [str(target / "share"), str(target)]
    assert_bytecode_valid(target)  # and importing them wrote nothing


def test_symlinked_and_read_only_sources_by_conda_unbundle(tricky_bundle, conda_process, tmp_path):
    target = tmp_path / "unbundled"
    _ok(conda_process("unbundle", tricky_bundle, "-p", target))
    _tricks_at(target)


@pytest.fixture
def user_home():
    """A directory ``nobody`` owns and can reach (pytest's own are root's, mode 0700)."""
    home = Path(tempfile.mkdtemp(prefix="envbundle-user-", dir="/tmp"))
    shutil.chown(home, "nobody", "nogroup")
    yield home
    subprocess.run(["chmod", "-R", "u+w", home], check=True)
    shutil.rmtree(home)


def test_symlinked_and_read_only_sources_by_conda_unpack_as_a_user(tricky_bundle, user_home):
    """Not root: a read-only directory is really read-only (root writes anyway)."""
    bundle = user_home / "tricky.tar"
    shutil.copy(tricky_bundle, bundle)
    target = user_home / "env"
    user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    untar = f"mkdir '{target}' && tar -xf '{bundle}' -C '{target}'"
    _ok(subprocess.run([*user, "sh", "-c", untar], capture_output=True, text=True))
    _ok(subprocess.run([*user, target / "bin/conda-unpack"], capture_output=True, text=True))
    assert oct((site_packages(target) / "atkro").stat().st_mode & 0o777) == oct(0o555)
    _tricks_at(target)


def test_cdpath_does_not_mislead_activate_or_conda_unpack(source_bundle, bare, tmp_path):
    target = tmp_path / "env"
    _untar(source_bundle, target, bare)
    (tmp_path / "decoy/env/bin").mkdir(parents=True)
    cdpath = {"CDPATH": f".:{tmp_path / 'decoy'}"}
    _ok(run_bare(["bin/conda-unpack"], bare, cwd=target, **cdpath))
    for shell in ("bash", "dash", "zsh"):
        script = '. bin/activate && printf "%s\\n" "$CONDA_PREFIX"'
        proc = run_bare([shell, "-c", script], bare, cwd=target, **cdpath)
        _ok(proc)
        assert proc.stdout == f"{target}\n", shell
