"""Valid bytecode after every documented path, and a python that writes nothing.

Each test follows one path the docs show, exactly as shown, on the session's source env
(python shipping its standard library's timestamp pycs, as conda-forge's does), then
checks every pyc against its source and runs python with bytecode writing allowed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .support.bare import bare_path, run_bare
from .support.bytecode import assert_bytecode_valid


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> str:
    return bare_path(tmp_path_factory.mktemp("bare-bin"))


@pytest.fixture(scope="module")
def zip_bundle(source_env, conda_isolation, tmp_path_factory) -> Path:
    return _bundle(source_env, conda_isolation, tmp_path_factory, "env.zip")


@pytest.fixture(scope="module")
def installer(source_env, conda_isolation, tmp_path_factory) -> Path:
    return _bundle(source_env, conda_isolation, tmp_path_factory, "env.sh")


def _bundle(source_env, conda_isolation, tmp_path_factory, name: str, *args: object) -> Path:
    from .support.cli import CondaProcess

    out = tmp_path_factory.mktemp("bc-bundles") / name
    proc = CondaProcess(conda_isolation.env)("bundle", "-p", source_env, "-o", out, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _ok(proc) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _untar(bundle: Path, target: Path, bare: str) -> None:
    target.mkdir(parents=True)
    _ok(run_bare(["tar", "-xf", bundle, "-C", target], bare))


def test_conda_unbundle(source_bundle, conda_process, tmp_path):
    target = tmp_path / "unbundled env"
    _ok(conda_process("unbundle", source_bundle, "-p", target))
    assert_bytecode_valid(target)


@pytest.mark.parametrize("verify", [[], ["--verify"]])
def test_tar_x_then_conda_unpack(verify, source_bundle, bare, tmp_path):
    target = tmp_path / "tar env"
    _untar(source_bundle, target, bare)
    _ok(run_bare([target / "bin/conda-unpack", *verify], bare))
    assert_bytecode_valid(target)


def test_unzip_then_conda_unpack(zip_bundle, bare, tmp_path):
    target = tmp_path / "zip env"
    _ok(run_bare(["unzip", "-q", zip_bundle, "-d", target], bare))
    _ok(run_bare([target / "bin/conda-unpack", "--verify"], bare))
    assert_bytecode_valid(target)


# As the docs show it (docs/migrating-from-conda-pack.md), then the active prefix is echoed.
ACTIVATE_THEN_UNPACK = {
    "bash": "source '{p}/bin/activate' && conda-unpack",
    "zsh": "source '{p}/bin/activate' && conda-unpack",
    "dash": ". '{p}/bin/activate' && conda-unpack",
    "fish": "source '{p}/bin/activate.fish'; and conda-unpack",
}


@pytest.mark.parametrize("shell", sorted(ACTIVATE_THEN_UNPACK))
def test_activate_first_then_conda_unpack_and_after_a_move(shell, source_bundle, bare, tmp_path):
    """conda-pack's documented order: activate, then conda-unpack; again after a move."""
    first = tmp_path / "first place"
    _untar(source_bundle, first, bare)
    # Binaries relocated once keep room for the path they took: the second is shorter.
    for target in (first, tmp_path / "2nd plâce"):
        if target != first:
            shutil.move(first, target)
        then = "; and" if shell == "fish" else " &&"
        script = ACTIVATE_THEN_UNPACK[shell].format(p=target) + f"{then} echo $CONDA_PREFIX"
        proc = run_bare([shell, "-c", script], bare)
        _ok(proc)
        assert proc.stdout.strip().splitlines()[-1] == str(target)
        assert_bytecode_valid(target)


def test_dest_prefix_tree_needs_nothing(source_env, conda_isolation, tmp_path_factory, bare):
    target = tmp_path_factory.mktemp("dest") / "opt app"
    bundle = _bundle(
        source_env, conda_isolation, tmp_path_factory, "d.tar", "--dest-prefix", target
    )
    _untar(bundle, target, bare)
    assert_bytecode_valid(target)


def test_dest_prefix_directory_format(source_env, conda_isolation, tmp_path_factory):
    target = tmp_path_factory.mktemp("dest-dir") / "app"
    args = ("--format", "dir", "--dest-prefix", target)
    made = _bundle(source_env, conda_isolation, tmp_path_factory, "tree", *args)
    shutil.move(made, target)
    assert_bytecode_valid(target)


def test_directory_format_copied_then_conda_unpack(
    source_env, conda_isolation, tmp_path_factory, bare
):
    tree = _bundle(source_env, conda_isolation, tmp_path_factory, "tree", "--format", "dir")
    target = tmp_path_factory.mktemp("copied") / "env"
    _ok(run_bare(["cp", "-a", tree, target], bare))
    _ok(run_bare([target / "bin/conda-unpack"], bare))
    assert_bytecode_valid(target)


@pytest.mark.parametrize("how", ["file", "pipe"])
def test_installer(how, installer, bare, tmp_path):
    target = tmp_path / "installed env"
    if how == "file":
        _ok(run_bare(["sh", installer, "-p", target], bare))
    else:
        _ok(run_bare(["sh", "-c", f"cat '{installer}' | sh -s -- -p '{target}'"], bare))
    assert_bytecode_valid(target)


def test_conda_unpack_compiles_only_what_it_rewrote(source_bundle, bare, tmp_path):
    """The unpack step writes no bytecode of its own: the only pycs that change are those
    of sources it relocated, compiled again."""
    import json

    target = tmp_path / "env"
    _untar(source_bundle, target, bare)
    before = {p: p.read_bytes() for p in target.rglob("__pycache__/*.pyc")}
    _ok(run_bare([target / "bin/conda-unpack", "--verify"], bare))
    after = {p: p.read_bytes() for p in target.rglob("__pycache__/*.pyc")}
    assert after.keys() == before.keys()
    manifest = json.loads((target / "conda-meta/envbundle/manifest.json").read_text())
    rewritten = {f["path"][: -len(".py")] for f in manifest["files"] if f.get("prefix")}
    changed = {p for p in after if after[p] != before[p]}
    assert changed, "the env has relocated sources with pycs (_sysconfigdata)"
    for pyc in changed:
        stem = pyc.parent.parent / pyc.name.split(".", 1)[0]
        assert str(stem.relative_to(target)) in rewritten, pyc


def test_uncached_text_only_package_is_named(make_env, conda_process, tmp_path):
    """docs/faq.md: conda bundle warns and names packages missing from the package cache."""
    import json

    pkgs = tmp_path / "pkgs"
    env = make_env(["foo-data"], pip_tool=False, unmanaged_binary=False, pkgs_dir=pkgs)
    shutil.rmtree(pkgs)
    proc = conda_process("bundle", "-p", env, "-o", tmp_path / "b.tar", "--json")
    _ok(proc)
    report = json.loads(proc.stdout)
    assert report["uncached"] == ["foo-data"]
    assert report["warnings"][0].startswith(
        "1 package(s) are not in the package cache (foo-data): their files"
    )


def test_conda_unpack_with_libpython_behind_an_absolute_rpath(
    make_env, conda_process, bare, tmp_path
):
    """python finds libpython only through the path its binary was built with (the
    placeholder): it cannot start from the extracted tree until conda-unpack has run."""
    from .support.bytecode import run_python, stale_pycs
    from .support.cpython import ABS_RPATH_PYTHON_SPEC

    env = make_env([ABS_RPATH_PYTHON_SPEC, "foopy"], pip_tool=False, unmanaged_binary=False)
    bundle = tmp_path / "abs.tar.gz"
    _ok(conda_process("bundle", "-p", env, "-o", bundle))
    target = tmp_path / "abs target"
    _untar(bundle, target, bare)
    assert run_python(target, "-c", "pass").returncode != 0  # the hard case is real
    _ok(run_bare([target / "bin/conda-unpack"], bare))
    proc = run_python(target, "-c", "import sys, foopy.cli; print(sys.prefix)")
    _ok(proc)
    assert proc.stdout.strip() == str(target)
    checked, stale = stale_pycs(target)
    assert checked >= 100 and not stale


@pytest.mark.parametrize("container", ["tar", "zip"])
def test_pycs_valid_straight_out_of_the_archive(
    container, source_bundle, zip_bundle, bare, tmp_path
):
    """The archive itself carries each .py's mtime (zip: to the second), so an engine that
    extracts and runs no unpack step (Spark, plain tar -x) meets valid bytecode."""
    from .support.bytecode import stale_pycs

    target = tmp_path / "extracted"
    if container == "tar":
        _untar(source_bundle, target, bare)
    else:
        _ok(run_bare(["unzip", "-q", zip_bundle, "-d", target], bare))
    checked, stale = stale_pycs(target)
    assert checked >= 100 and not stale, stale[:5]
