"""conda-pack's own test scenarios, ported to ``conda bundle`` / ``conda unbundle``.

conda-pack (github.com/conda/conda-pack) tests itself in ``conda_pack/tests/``: test_core.py,
test_cli.py and test_formats.py, on environments made by ``testing/setup_envs.sh``. Each test
here names, in its docstring, the conda-pack test whose scenario it runs, through
``conda bundle`` / ``conda unbundle`` and through the no-conda path users of conda-pack
know (``tar -x`` or ``unzip``, then ``bin/conda-unpack``, ``. bin/activate``). Where
conda-envbundle differs on purpose, the test asserts our behaviour and
docs/migrating-from-conda-pack.md says so.

Not ported, because nothing of ours corresponds: conda-pack's ``CondaEnv``/``File`` object
model (test_env_properties, test_file), test_errors_conda_missing (we run inside conda: no
``conda`` executable is looked up), test_parcel and test_format[squashfs] (no such formats;
``--format parcel`` is refused), test_format[zip, zip_symlinks=False] (zip bundles
always keep symlinks: ``--zip-symlinks`` is accepted and changes nothing), the
``zip_64=False`` half of test_zip64 (``--no-zip-64`` is refused), the Windows-only tests,
and test_prefixes.py (Windows
extended-length paths in conda-pack's own prefix replacement).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import conda_envbundle
from conda_envbundle.exceptions import EnvBundleError

from .support.bare import bare_path, run_bare
from .support.channel import write_repodata
from .support.cli import CondaProcess, assert_clean_error
from .support.condapkg import PackageSpec, placeholder_prefix, write_package
from .support.envs import CONDA, VENV_BIN, add_editable_install, create_env, site_packages
from .support.isolation import Isolation
from .support.proc import run
from .support.pydist import build_wheel, tool_module
from .support.verify import assert_env_runs

PLACEHOLDER_MARK = "_h_env_placehold"
GENERATED_MARK = "/conda-envbundle/generated/"
FORMATS = ["tar.gz", "tar.bz2", "tar.xz", "tar.zst", "zip", "tar", "dir", "sh"]
GENERATED = {
    "bin/conda-unpack",
    "bin/.conda-unpack.py",
    "bin/activate",
    "bin/deactivate",
    "bin/activate.fish",
    "conda-meta/envbundle/manifest.json",
}
"""What every bundle of an environment without conda adds to the environment's files."""
BLOCK = 512 * 2**10
"""conda-pack's test_formats fills each file with 512 KiB of random bytes."""
LARGE = 64 * 2**20
"""The largest file that is practical here: a real (not sparse) 64 MiB file, not 2 GiB."""

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _bundle(conda: CondaProcess, env: Path, out: Path, *args: object) -> Path:
    _ok(conda("bundle", "-p", env, "-o", out, *args))
    return out


def _paths(bundle: Path) -> dict[str, conda_envbundle.manifest.FileEntry]:
    """The bundle's entries by path, as its manifest lists them."""
    return {entry.path: entry for entry in conda_envbundle.inspect(str(bundle)).files}


def _tar_names(bundle: Path) -> set[str]:
    with tarfile.open(bundle) as tar:
        return {member.name for member in tar.getmembers() if not member.isdir()}


def _env_files(prefix: Path) -> set[str]:
    """Every file and symlink under ``prefix``, relative to it (directories left out)."""
    found = set()
    for root, dirs, files in os.walk(prefix):
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        found |= {os.path.relpath(os.path.join(root, n), prefix) for n in files + links}
    return found


def _filtered(paths: set[str], filters: list[tuple[str, str]]) -> set[str]:
    """conda-pack's (and our) filter rule: the last matching pattern decides."""
    kept = set()
    for path in paths:
        keep = True
        for action, pattern in filters:
            if fnmatch.fnmatchcase(path, pattern):
                keep = action == "include"
        if keep:
            kept.add(path)
    return kept


def _bare(directory: Path) -> str:
    """A PATH without python or conda, with the decompressors GNU tar calls for tar.*."""
    path = bare_path(directory)
    for tool in ("xz", "bzip2"):
        found = shutil.which(tool, path="/usr/bin:/bin")
        assert found, f"{tool} is needed to extract the bundles it compressed"
        if not (directory / tool).exists():
            (directory / tool).symlink_to(found)
    return path


def _extract(bundle: Path, fmt: str, target: Path, bare: str) -> None:
    """Unpack ``bundle`` as a user without conda would; the ``sh`` installer relocates too."""
    if fmt == "sh":
        _ok(run_bare(["sh", bundle, "-p", target], bare))
        return
    if fmt == "dir":
        _ok(run_bare(["cp", "-a", bundle, target], bare))
        return
    target.mkdir(parents=True)
    if fmt == "zip":
        _ok(run_bare(["unzip", "-q", bundle, "-d", target], bare))
    else:
        _ok(run_bare(["tar", "-xf", bundle, "-C", target], bare))


def _unpack(target: Path, bare: str) -> subprocess.CompletedProcess:
    return _ok(run_bare([target / "bin/conda-unpack"], bare))


def _stale_pycs(prefix: Path) -> list[str]:
    """Timestamp-based pycs under ``prefix`` whose recorded source mtime or size is not
    their ``.py``'s: python would ignore (or rewrite) them."""
    stale = []
    for pyc in prefix.rglob("__pycache__/*.pyc"):
        source = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
        header = pyc.read_bytes()[4:16]
        flags, mtime, size = (int.from_bytes(header[i : i + 4], "little") for i in (0, 4, 8))
        if source.is_file() and flags == 0:
            facts = source.stat()
            if (mtime, size) != (int(facts.st_mtime) & 0xFFFFFFFF, facts.st_size & 0xFFFFFFFF):
                stale.append(str(pyc.relative_to(prefix)))
    return sorted(stale)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def bare(tmp_path: Path) -> str:
    return _bare(tmp_path / "bare-bin")


@pytest.fixture(scope="module")
def conda(conda_isolation: Isolation) -> CondaProcess:
    return CondaProcess(conda_isolation.env)


# --------------------------------------------------------------------------------------------
# The environment of conda-pack's test_formats (files, symlinks to files and directories, an
# empty directory, nested names with spaces) plus its activate_scripts environment
# (etc/conda/activate.d and deactivate.d), in a real env with python, compiled code and a
# noarch entry point; and read-only, executable and symlink-chain cases.
# --------------------------------------------------------------------------------------------

TREE = "share/tree"
ACTIVATE_D = {
    "etc/conda/activate.d/conda_pack_test_activate.sh": "export CONDAPACK_ACTIVATED=1\n",
    "etc/conda/deactivate.d/conda_pack_test_deactivate.sh": "unset CONDAPACK_ACTIVATED\n",
}


def _add_tree(prefix: Path) -> None:
    tree = prefix / TREE
    (tree / "empty_dir").mkdir(parents=True)
    (tree / "dir").mkdir()
    for rel in ("dir/one", "dir/two", "file"):
        (tree / rel).write_bytes(os.urandom(BLOCK))
    nested = tree / "somedir" / "nested dir"
    nested.mkdir(parents=True)
    (nested / "from_bytes").write_bytes(b"foo bar")
    for link, target in [
        ("link_to_empty_dir", "empty_dir"),
        ("link_to_dir", "dir"),
        ("link_to_file", "file"),
        ("link_to_link_to_dir", "link_to_dir"),
        ("libx.so", "libx.so.1"),
        ("libx.so.1", "libx.so.1.2.3"),
        ("dir/up_to_file", "../file"),
    ]:
        (tree / link).symlink_to(target)
    (tree / "libx.so.1.2.3").write_bytes(b"\x7fnot really ELF\0")
    (tree / "read-only.txt").write_text("read only\n")
    (tree / "read-only-with-prefix.txt").write_text(f"data in {prefix}/share/tree\n")
    for rel in ("read-only.txt", "read-only-with-prefix.txt"):
        (tree / rel).chmod(0o444)
    tool = prefix / "bin" / "tree-tool"
    tool.write_text("#!/bin/sh\necho tree-tool ok\n")
    tool.chmod(0o755)
    for rel, text in ACTIVATE_D.items():
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (prefix / rel).write_text(text)


def _assert_tree(target: Path, source: Path, copies: bool = False) -> None:
    """conda-pack's check(): the tree, its links and contents, plus modes, as in the source.

    With ``copies`` (zip), symlinks to files are copies of their targets
    (bundling/launchers.py); symlinks to directories stay symlinks.
    """
    tree, original = target / TREE, source / TREE
    assert (tree / "empty_dir").is_dir() and not (tree / "empty_dir").is_symlink()
    for rel in ("dir/one", "dir/two", "file", "somedir/nested dir/from_bytes"):
        assert (tree / rel).read_bytes() == (original / rel).read_bytes(), rel
    links = {
        "link_to_empty_dir": "empty_dir",
        "link_to_dir": "dir",
        "link_to_file": "file",
        "link_to_link_to_dir": "link_to_dir",
        "libx.so": "libx.so.1",
        "libx.so.1": "libx.so.1.2.3",
        "dir/up_to_file": "../file",
    }
    for link, link_target in links.items():
        if copies and not (original / link).is_dir():
            assert not (tree / link).is_symlink(), link
            assert (tree / link).read_bytes() == (original / link).read_bytes(), link
            continue
        assert (tree / link).is_symlink() and os.readlink(tree / link) == link_target, link
    assert sorted(p.name for p in (tree / "link_to_link_to_dir").iterdir()) == [
        "one",
        "two",
        "up_to_file",
    ]
    assert (tree / "libx.so").read_bytes() == b"\x7fnot really ELF\0"
    assert (tree / "read-only-with-prefix.txt").read_text() == f"data in {target}/share/tree\n"
    for rel in ("read-only.txt", "read-only-with-prefix.txt"):
        assert (tree / rel).stat().st_mode & 0o777 == 0o444, rel
    assert (tree / "file").stat().st_mode & 0o777 == 0o644
    tool = target / "bin" / "tree-tool"
    assert tool.stat().st_mode & 0o777 == 0o755
    assert subprocess.run([tool], capture_output=True, text=True).stdout == "tree-tool ok\n"


@pytest.fixture(scope="module")
def tree_env(tmp_path_factory, channel: Path, conda_isolation: Isolation) -> Path:
    prefix = tmp_path_factory.mktemp("condapack") / "tree env"
    create_env(prefix, channel, ["python", "foo", "foo-data", "foopy"], conda_isolation.env)
    _add_tree(prefix)
    setting = f"CONDAPACK_HOME={prefix}/share"
    run([CONDA, "env", "config", "vars", "set", "-p", prefix, setting], env=conda_isolation.env)
    return prefix


@pytest.fixture(scope="module")
def tree_bundle(tree_env: Path, conda: CondaProcess, tmp_path_factory) -> Callable[[str], Path]:
    """``tree_bundle(fmt)``: the tree env bundled in ``fmt`` (made once per module).

    Compressed with two threads (conda-pack's test_format_parallel); xz at level 1, only
    to keep the suite fast.
    """
    out_dir = tmp_path_factory.mktemp("tree-bundles")
    made: dict[str, Path] = {}

    def get(fmt: str) -> Path:
        if fmt not in made:
            args: list[object] = ["--format", fmt]
            args += ["-j", "2"] if fmt not in ("tar", "dir") else []
            args += ["--compress-level", "1"] if fmt == "tar.xz" else []
            name = "tree-dir" if fmt == "dir" else f"tree.{fmt}"
            made[fmt] = _bundle(conda, tree_env, out_dir / name, *args)
        return made[fmt]

    return get


# --------------------------------------------------------------------------------------------
# test_formats.py
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_both_ways(fmt, tree_env, tree_bundle, conda, bare, tmp_path):
    """Ports conda-pack test_formats.py::test_format and ::test_format_parallel.

    Every format (``dir`` is conda-pack's ``no-archive``; ``sh`` is ours), with files, an
    empty directory, symlinks to files and directories and a nested name with a space, read
    by ``conda unbundle`` and by ``tar -x``/``unzip``/``cp -a``/``sh`` + ``bin/conda-unpack``.
    zip bundles hold copies of the files symlinks point to (conda-pack's default: another
    unzip than Info-ZIP's writes a symlink as a text file) and keep symlinks to
    directories (conda-pack's ``--zip-symlinks`` for them). tests/test_formats.py
    runs the environments ``conda unbundle`` makes of every format; here tar.bz2 and tar.xz,
    the same tar stream as tar.gz through a slower codec, go through the no-conda path only.
    """
    bundle = tree_bundle(fmt)
    forbidden = [str(tree_env), PLACEHOLDER_MARK, GENERATED_MARK]
    if fmt not in ("tar.bz2", "tar.xz"):
        unbundled = tmp_path / "unbundled env"
        _ok(conda("unbundle", bundle, "-p", unbundled))
        _assert_tree(unbundled, tree_env, copies=fmt == "zip")
    extracted = tmp_path / "extracted env"
    _extract(bundle, fmt, extracted, bare)
    if fmt != "sh":
        _unpack(extracted, bare)
    _assert_tree(extracted, tree_env, copies=fmt == "zip")
    assert_env_runs(extracted, forbidden=forbidden)


@pytest.mark.parametrize("fmt", ["tar.gz", "sh"])
def test_reproducible_whatever_the_thread_count(fmt, tree_env, tree_bundle, conda, tmp_path):
    """Ports conda-pack test_core.py::test_reproducible (tar.gz, one and two threads).

    Stronger than conda-pack's (which compares two runs with the same thread count): one
    thread and two threads give the same bytes. Every format twice: tests/test_formats.py.
    """
    again = _bundle(conda, tree_env, tmp_path / f"again.{fmt}", "-j", "1")
    assert again.read_bytes() == tree_bundle(fmt).read_bytes()


def test_thread_counts(small_env, conda, tmp_path):
    """Ports conda-pack test_formats.py::test_n_threads.

    conda-pack: ``-j -1`` means all cores, 0 and other negative numbers are refused.
    conda-envbundle: ``-j -1`` too, and ``-j 0`` (the default); other negative numbers are
    refused. tests/test_condapack_spellings.py checks that -1 uses every core.
    """
    for count in ("-1", "0", "40"):
        out = _bundle(conda, small_env, tmp_path / f"j{count}.tar.gz", "-j", count)
        assert tarfile.is_tarfile(out)
    for count in ("-2", "-10"):
        proc = conda("bundle", "-p", small_env, "-o", tmp_path / "neg.tar.gz", "-j", count)
        assert_clean_error(proc, "The thread count (-j) is a number of threads, or 0 or -1")
    assert not (tmp_path / "neg.tar.gz").exists()


# --------------------------------------------------------------------------------------------
# test_core.py: round trip, activation, dest-prefix, filters
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_roundtrip_in_conda_pack_order(shell, tree_env, tree_bundle, bare, tmp_path):
    """Ports conda-pack test_core.py::test_roundtrip.

    A bundle has only relative members; ``bin/conda-unpack --help`` works; then conda-pack's
    documented steps, as docs/migrating-from-conda-pack.md shows them (``source`` in bash,
    ``.`` in dash): ``mkdir -p`` and ``tar -xzf`` into the target, then
    ``source bin/activate && conda-unpack``, then ``. bin/deactivate``.
    We differ on purpose: ``conda-unpack`` prints one line saying what it relocated;
    entry points find the environment's python relative to themselves (not
    ``#!/usr/bin/env python``), and
    ``bin/pythonX.Y-config`` is relocated too (conda-pack leaves ``bin/python*`` alone);
    ``conda-unpack`` has no ``--version``.
    """
    bundle = tree_bundle("tar.gz")
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert names and not [n for n in names if n.startswith("/") or ".." in n.split("/")]
    assert _paths(bundle)["bin/python3.12-config"].prefix is not None
    target = tmp_path / "opt" / "myenv"
    source = "source" if shell == "bash" else "."
    script = (
        f"mkdir -p '{target}' && tar -xzf '{bundle}' -C '{target}' && "
        f"'{target}/bin/conda-unpack' --help | head -n 1 && "
        f"{source} '{target}/bin/activate' && conda-unpack && "
        f". '{target}/bin/deactivate' && echo Done"
    )
    proc = run_bare([shell, "-c", script], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    relocated = rf"conda-unpack: \d+ file\(s\) relocated to {re.escape(str(target))}"
    expected = rf"usage: conda-unpack .*\n{relocated}\nDone\n"
    assert re.fullmatch(expected, proc.stdout), proc.stdout + proc.stderr
    assert run_bare([target / "bin/conda-unpack", "--version"], bare).returncode == 2
    assert (target / "bin/foopy").read_text().startswith("#!/bin/sh\n'''':")
    assert str(target) in (target / "bin/python3.12-config").read_text()
    assert _stale_pycs(target) == []
    assert_env_runs(target, forbidden=[str(tree_env), PLACEHOLDER_MARK, GENERATED_MARK])


ACTIVATE_CHECK = (
    ". '{p}/bin/activate' && test $CONDAPACK_ACTIVATED -eq 1 && "
    "test \"$CONDAPACK_HOME\" = '{p}/share' && "
    ". '{p}/bin/deactivate' && test ! $CONDAPACK_ACTIVATED && "
    'test -z "${{CONDAPACK_HOME:-}}" && echo Done'
)


@pytest.mark.parametrize("unpacked", [False, True], ids=["as-extracted", "after-conda-unpack"])
@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_activate(shell, unpacked, tree_bundle, bare, tmp_path):
    """Ports conda-pack test_core.py::test_activate (bash; dash too).

    conda-pack runs ``bin/activate`` straight after extraction, without ``conda-unpack``:
    scripts in ``etc/conda/activate.d`` and ``deactivate.d`` run, and (ours only) the
    variables of ``conda env config vars``, holding the new path, are set and unset. Both
    orders must work.
    """
    target = tmp_path / "act env"
    _extract(tree_bundle("tar.gz"), "tar.gz", target, bare)
    if unpacked:
        _unpack(target, bare)
    proc = run_bare([shell, "-c", ACTIVATE_CHECK.format(p=target)], bare)
    assert proc.returncode == 0 and proc.stdout == "Done\n", proc.stdout + proc.stderr


def test_activate_fish(tree_bundle, bare, tmp_path):
    """Ports conda-pack test_core.py::test_activate (its fish part): straight after
    extraction, ``source bin/activate.fish`` puts the environment's ``python`` first on
    PATH; ``deactivate`` works."""
    target = tmp_path / "fish env"
    _extract(tree_bundle("tar.gz"), "tar.gz", target, bare)
    script = (
        f"source '{target}/bin/activate.fish'; and "
        "python -c 'import sys; print(sys.executable)'; and deactivate; and echo Done"
    )
    proc = run_bare(["fish", "-c", script], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == f"{target}/bin/python\nDone\n"


def test_dest_prefix(source_env, conda, tmp_path):
    """Ports conda-pack test_core.py::test_dest_prefix.

    With ``--dest-prefix /foo/bar/baz/biz`` every file that held the source path holds the
    destination instead (scripts), in the bundle itself; entry points of conda and of pip
    (and python scripts) hold no path at all: they find their python relative to themselves.
    We differ on purpose: the bundle keeps ``bin/conda-unpack``, so it can still be moved
    (tests/test_standalone.py runs such bundles in place); binaries then take paths up to the
    length of the destination, as ``conda unbundle`` says before writing anything.
    """
    dest = "/foo/bar/baz/biz"
    bundle = _bundle(conda, source_env, tmp_path / "dest.tar", "--dest-prefix", dest)
    src = os.fsencode(source_env)
    with tarfile.open(bundle) as tar:
        assert "bin/conda-unpack" in tar.getnames()
        for rel in ("bin/foopy", "bin/bartool", "bin/foo-config", "bin/foo-py"):
            member = tar.extractfile(rel)
            assert member is not None, rel
            data = member.read()
            assert src not in data and PLACEHOLDER_MARK.encode() not in data, rel
            launcher = data.startswith(b"#!/bin/sh\n'''':")
            assert launcher if rel != "bin/foo-config" else dest.encode() in data, rel
    elsewhere = tmp_path / "elsewhere"
    proc = conda("unbundle", bundle, "-p", elsewhere)
    assert_clean_error(proc, f"at most {len(dest)} bytes")
    assert not elsewhere.exists()


def test_include_exclude(source_env, conda, tmp_path):
    """Ports conda-pack test_core.py::test_include_exclude.

    ``--exclude '*.pyc'`` drops every pyc, ``--include '*.pyc'`` after it puts them all back,
    and re-including one file of an excluded directory adds exactly that file.
    """
    sp = "lib/python3.12/site-packages"

    def shipped(name: str, *filters: str) -> set[str]:
        return _tar_names(_bundle(conda, source_env, tmp_path / f"{name}.tar", *filters))

    everything = shipped("all")
    no_pyc = shipped("no-pyc", "--exclude", "*.pyc")
    assert {p for p in everything if p.endswith(".pyc")}
    assert no_pyc == {p for p in everything if not p.endswith(".pyc")}
    assert shipped("back", "--exclude", "*.pyc", "--include", "*.pyc") == everything
    dir_out = shipped("dir-out", "--exclude", f"{sp}/foopy/*")
    one_back = shipped("one-back", "--exclude", f"{sp}/foopy/*", "--include", f"{sp}/foopy/cli.py")
    assert one_back - dir_out == {f"{sp}/foopy/cli.py"}
    assert dir_out <= one_back


def test_pack_with_filters_ships_exactly_the_filtered_files(source_env, conda, bare, tmp_path):
    """Ports conda-pack test_core.py::test_pack and test_cli.py::test_parse_include_exclude.

    The bundle holds the environment's files after the filters, in the order given, plus
    only what makes it work without conda. conda-pack adds ``conda-unpack``,
    ``conda_unpack_progress.py`` and the activation scripts; we add ``bin/conda-unpack``,
    ``bin/.conda-unpack.py``, the activation scripts and the manifest.
    """
    sp = "lib/python3.12/site-packages"
    filters = [("exclude", "*.py"), ("exclude", "*.pyc"), ("include", f"{sp}/foopy/*")]
    args = [f"--{action}={pattern}" for action, pattern in filters]
    bundle = _bundle(conda, source_env, tmp_path / "filtered.tar", *args)
    expected = _filtered(_env_files(source_env), filters)
    assert _tar_names(bundle) - expected == GENERATED
    assert expected <= _tar_names(bundle)
    assert f"{sp}/foopy/cli.py" in expected and f"{sp}/bartool/__init__.py" not in expected
    # Order matters: the same patterns the other way round keep other files.
    reordered = [filters[2], filters[0], filters[1]]
    args = [f"--{action}={pattern}" for action, pattern in reordered]
    other = _bundle(conda, source_env, tmp_path / "reordered.tar", *args)
    assert _tar_names(other) - GENERATED == _filtered(_env_files(source_env), reordered)
    assert f"{sp}/foopy/cli.py" not in _tar_names(other)
    # What was kept lands as it was filtered (python itself, without its *.py, cannot run).
    target = tmp_path / "filtered env"
    _ok(conda("unbundle", bundle, "-p", target))
    assert _env_files(target) == expected | GENERATED
    proc = run_bare([target / "bin/foo"], bare)
    assert proc.stdout == f"{target}\n", proc.stderr


# --------------------------------------------------------------------------------------------
# test_core.py: environments conda-pack refuses or warns about
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_env(tmp_path_factory, channel: Path, conda_isolation: Isolation) -> Path:
    """conda-pack's ``nopython`` environment: compiled code and data, no python."""
    prefix = tmp_path_factory.mktemp("condapack-small") / "small"
    create_env(prefix, channel, ["foo", "foo-data"], conda_isolation.env)
    return prefix


def test_works_with_no_python(small_env, conda, bare, tmp_path):
    """Ports conda-pack test_core.py::test_works_with_no_python.

    conda-pack collects such an environment, but its ``conda-unpack`` then needs some
    ``python`` on PATH. Ours cannot run there at all and says what to do instead:
    ``conda unbundle`` or ``--dest-prefix``, both of which give a working environment.
    """
    bundle = _bundle(conda, small_env, tmp_path / "nopython.tar.gz")
    unbundled = tmp_path / "unbundled"
    _ok(conda("unbundle", bundle, "-p", unbundled))
    assert_env_runs(unbundled, forbidden=[str(small_env), PLACEHOLDER_MARK, GENERATED_MARK])
    extracted = tmp_path / "extracted"
    _extract(bundle, "tar.gz", extracted, bare)
    proc = run_bare([extracted / "bin/conda-unpack"], bare)
    assert proc.returncode == 1 and "--dest-prefix" in proc.stderr, proc.stderr
    dest = tmp_path / "at dest"
    fixed = _bundle(conda, small_env, tmp_path / "fixed.tar.gz", "--dest-prefix", dest)
    _extract(fixed, "tar.gz", dest, bare)
    assert_env_runs(dest, forbidden=[str(small_env), PLACEHOLDER_MARK, GENERATED_MARK])


def test_missing_files(make_env, conda, bare, tmp_path):
    """Ports conda-pack test_core.py::test_missing_files and ::test_missing_files_ignored.

    Files a package installed are gone: the bundle is refused, naming the package and the
    files; ``--ignore-missing`` (conda-pack: ``--ignore-missing-files``) bundles the rest.
    """
    env = make_env(["python", "foo"], pip_tool=False, unmanaged_binary=False)
    gone = ["share/foo/three-times.txt", "include/foo.h"]
    for rel in gone:
        (env / rel).unlink()
    out = tmp_path / "missing.tar.gz"
    proc = conda("bundle", "-p", env, "-o", out)
    assert_clean_error(proc, "MissingFilesError", "foo: ", *gone, "--ignore-missing")
    assert not out.exists()
    _bundle(conda, env, out, "--ignore-missing")
    assert not set(gone) & set(_paths(out))
    target = tmp_path / "env"
    _extract(out, "tar.gz", target, bare)
    _unpack(target, bare)
    _assert_env_runs_without(target, env, gone)
    unbundled = tmp_path / "unbundled"
    _ok(conda("unbundle", out, "-p", unbundled))
    _assert_env_runs_without(unbundled, env, gone)


def _assert_env_runs_without(target: Path, source: Path, gone: list[str]) -> None:
    """The env's programs run; the files that were missing stay missing."""
    for rel in gone:
        assert not (target / rel).exists(), rel
    for argv in (["bin/foo"], ["bin/python3.12", "-c", "import sys; print(sys.prefix)"]):
        proc = subprocess.run(
            ["env", "-i", target / argv[0], *argv[1:]], capture_output=True, text=True
        )
        assert proc.stdout == f"{target}\n", proc.stderr
    assert str(source) not in (target / "bin/foo-config").read_text()


def test_missing_package_cache(make_env, conda, bare, tmp_path):
    """Ports conda-pack test_core.py::test_missing_package_cache and
    test_cli.py::test_cli_warnings.

    Packages gone from the package cache: the bundle is made, with a warning naming them,
    printed as a message (not a Python ``UserWarning``), and works both ways. One package
    has binary prefix files (foo), the other only text ones (foo-data). conda-pack can also
    refuse (``on_missing_cache="raise"``): we have no such option.
    """
    pkgs = tmp_path / "own-pkgs"
    env = make_env(
        ["python", "foo", "foo-data"], pip_tool=False, unmanaged_binary=False, pkgs_dir=pkgs
    )
    for name in ("foo", "foo-data"):
        for cached in pkgs.glob(f"{name}-[0-9]*"):
            shutil.rmtree(cached) if cached.is_dir() else cached.unlink()
    out = tmp_path / "uncached.tar.gz"
    proc = _ok(conda("bundle", "-p", env, "-o", out))
    assert "UserWarning" not in proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "package cache" in line]
    assert warning and "foo" in warning[0], proc.stderr
    report = json.loads(
        _ok(conda("bundle", "-p", env, "-o", tmp_path / "dry.tar", "-d", "--json")).stdout
    )
    assert sorted(report["uncached"]) == ["foo", "foo-data"]
    target = tmp_path / "env"
    _extract(out, "tar.gz", target, bare)
    _unpack(target, bare)
    assert_env_runs(target, forbidden=[str(env), PLACEHOLDER_MARK, GENERATED_MARK])
    # docs/getting-started.md: the warning names every package not in the cache.
    assert "foo-data" in proc.stderr, proc.stderr


def test_editable_packages(make_env, conda, bare, tmp_path):
    """Ports conda-pack test_core.py::test_errors_editable_packages and
    ::test_ignore_errors_editable_packages.

    conda-pack's environment has a ``setup.py develop`` install and conda files pip removed:
    refused; with ``--ignore-editable`` (conda-pack: ``--ignore-editable-packages``) and
    ``--ignore-missing`` both, the rest is bundled and works.
    """
    env = make_env(["python", "foo"], pip_tool=False, unmanaged_binary=False)
    add_editable_install(env, "egg-link")
    (env / "share/foo/three-times.txt").unlink()
    out = tmp_path / "editable.tar.gz"
    assert_clean_error(conda("bundle", "-p", env, "-o", out), "edpkg", "--ignore-editable")
    proc = conda("bundle", "-p", env, "-o", out, "--ignore-editable")
    assert_clean_error(proc, "share/foo/three-times.txt", "--ignore-missing")
    assert not out.exists()
    _bundle(conda, env, out, "--ignore-editable", "--ignore-missing")
    shipped = _paths(out)
    assert not [p for p in shipped if "edpkg" in p]
    # shared by every ``setup.py develop`` install: shipped as it is (the migration guide)
    assert "lib/python3.12/site-packages/easy-install.pth" in shipped
    target = tmp_path / "env"
    _extract(out, "tar.gz", target, bare)
    _unpack(target, bare)
    check = "import importlib.util as u, sys; print(sys.prefix, u.find_spec('edpkg'))"
    proc = run_bare([target / "bin/python3.12", "-c", check], bare)
    assert proc.stdout == f"{target} None\n", proc.stdout + proc.stderr


def test_pip_overwrote_a_conda_package(make_env, conda, tmp_path):
    """Ports conda-pack test_core.py::test_errors_pip_overwrites.

    ``pip install`` replaced a conda package (foopy 0.1.0 by foopy 0.2.0): pip removed the
    files conda installed, so conda's record no longer matches the environment. conda-pack
    refuses naming pip and the package; we refuse naming the package and its missing files.
    """
    env = make_env(["python", "foopy"], pip_tool=False, unmanaged_binary=False)
    files: dict[str, str | bytes] = {
        "foopy/__init__.py": '"""foopy from pip."""\n',
        "foopy/cli.py": tool_module("foopy"),
    }
    wheel = build_wheel(tmp_path / "wheels", "foopy", "0.2.0", files, {"foopy": "foopy.cli:main"})
    cmd = [VENV_BIN / "python", "-m", "pip", "--python", env / "bin/python3.12", "--isolated"]
    cmd += ["install", "--no-index", "--no-deps", "--disable-pip-version-check", wheel]
    run(cmd, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert (site_packages(env) / "foopy-0.2.0.dist-info").is_dir()
    out = tmp_path / "overwritten.tar.gz"
    proc = conda("bundle", "-p", env, "-o", out)
    assert_clean_error(proc, "foopy: ", "foopy-0.1.0.dist-info", "--ignore-missing")
    assert not out.exists()


def test_pip_and_conda_files_are_told_apart(source_env, source_bundle, bare, tmp_path):
    """Ports conda-pack test_core.py::test_loaded_file_properties.

    A pip entry point (bartool) and a conda noarch entry point (foopy, written by conda at
    link time) carried the source path only in their shebangs: they ship with a launcher
    that finds their python relative to themselves, and need no prefix rule; a conda file
    with a build-time placeholder is shipped pristine; a conda module without any path is
    shipped as it is.
    """
    files = _paths(source_bundle)
    for script in ("bin/bartool", "bin/foopy"):
        assert files[script].prefix is None, script
    placeholder = files["bin/foo-config"].prefix
    assert placeholder is not None and PLACEHOLDER_MARK in placeholder.placeholder
    assert files["lib/python3.12/site-packages/foopy/cli.py"].prefix is None
    target = tmp_path / "env"
    _extract(source_bundle, "tar.zst", target, bare)
    _unpack(target, bare)
    for tool in ("bartool", "foopy"):
        proc = run_bare([target / "bin" / tool], bare)
        assert proc.stdout == f"{target}\n{tool} ok\n", proc.stderr


def test_unmanaged_conda_files_of_the_environment(small_env, conda, tmp_path):
    """Ports conda-pack test_core.py::test_load_environment_ignores.

    Empty ``bin/activate``, ``bin/deactivate`` and ``bin/conda`` no package installed
    (conda-pack's ``basic_python`` fixture touches them). Both tools ship their own
    activation scripts instead; conda-pack leaves ``bin/conda`` out, we differ on purpose
    and ship it as it is, like any other file not installed by conda.
    """
    env = tmp_path / "env"
    shutil.copytree(small_env, env, symlinks=True)
    for name in ("activate", "deactivate", "conda"):
        (env / "bin" / name).touch()
    bundle = _bundle(conda, env, tmp_path / "touched.tar")
    files = _paths(bundle)
    assert files["bin/conda"].size == 0
    with tarfile.open(bundle) as tar:
        for name in ("activate", "deactivate"):
            member = tar.extractfile(f"bin/{name}")
            assert member is not None and b"_ENVBUNDLE_ACTIVE" in member.read(), name


# --------------------------------------------------------------------------------------------
# test_core.py::test_pack_with_conda: an environment with a package named conda, owning
# bin/conda, bin/activate and bin/deactivate (conda's own activation).
# --------------------------------------------------------------------------------------------

FAKE_CONDA = {
    "bin/conda": '#!/bin/sh\n# stands in for conda: says which environment it is in\necho "@P@"\n',
    "bin/activate": 'CONDA_PREFIX="@P@"; export CONDA_PREFIX; PATH="@P@/bin:$PATH"; export PATH\n',
    "bin/deactivate": "unset CONDA_PREFIX\n",
}


@pytest.fixture(scope="module")
def conda_env_with_conda(tmp_path_factory, channel: Path, conda_isolation: Isolation) -> Path:
    work = tmp_path_factory.mktemp("fake-conda")
    build = placeholder_prefix(work / "build", "conda")
    for rel, text in FAKE_CONDA.items():
        (build / rel).parent.mkdir(parents=True, exist_ok=True)
        (build / rel).write_text(text.replace("@P@", str(build)))
        (build / rel).chmod(0o755 if rel == "bin/conda" else 0o644)
    own_channel = work / "channel"
    write_package(build, PackageSpec("conda", "24.7.1", depends=["python"]), own_channel)
    write_repodata(own_channel)
    prefix = work / "has_conda"
    channels = ["-c", own_channel.as_uri(), "-c", channel.as_uri()]
    cmd = [str(CONDA), "create", "--offline", "--override-channels", *channels, "-p", str(prefix)]
    run([*cmd, "--yes", "--quiet", "conda", "python"], env=conda_isolation.env)
    return prefix


@pytest.mark.parametrize("fix_dest", [False, True], ids=["conda-unpack", "dest-prefix"])
def test_pack_with_conda(fix_dest, conda_env_with_conda, conda, bare, tmp_path):
    """Ports conda-pack test_core.py::test_pack_with_conda.

    The environment's own ``bin/conda``, ``bin/activate`` and ``bin/deactivate`` are shipped,
    and no activation scripts of ours are added. conda-pack replaces conda's activate unless
    ``--dest-prefix`` is given; we always ship conda's own. After extraction and
    ``conda-unpack`` (or at the ``--dest-prefix``), activating with conda's script makes
    the packaged ``conda`` report its new place; the conda-meta records hold no paths of
    the source machine's package cache.
    """
    target = tmp_path / "output"
    args: list[object] = ["--dest-prefix", target] if fix_dest else []
    bundle = _bundle(conda, conda_env_with_conda, tmp_path / "has_conda.tar", *args)
    assert "bin/activate.fish" not in _paths(bundle)
    _extract(bundle, "tar", target, bare)
    if not fix_dest:
        _unpack(target, bare)
    for rel in FAKE_CONDA:
        assert (target / rel).read_text() == FAKE_CONDA[rel].replace("@P@", str(target)), rel
    script = f"unset CONDA_PREFIX; . '{target}/bin/activate' && echo $CONDA_PREFIX && conda"
    proc = run_bare(["bash", "-c", script], bare)
    assert proc.stdout == f"{target}\n{target}\n", proc.stdout + proc.stderr
    for record in (target / "conda-meta").glob("*.json"):
        data = json.loads(record.read_text())
        for key in ("extracted_package_dir", "package_tarball_full_path"):
            assert data.get(key, "") == "", (record.name, key)
        assert (data.get("link") or {}).get("source", "") == "", record.name


# --------------------------------------------------------------------------------------------
# Large files and many files (test_core.py::test_zip64)
# --------------------------------------------------------------------------------------------


def _copy_env(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def test_large_file_round_trips_exactly(small_env, conda, bare, tmp_path):
    """Ports the large-file side of conda-pack test_core.py::test_zip64 (a 2 GiB file is
    too slow here: a real, not sparse, 64 MiB file of random bytes stands for it).

    Its size and bytes come back exactly through ``conda unbundle`` (tar.zst) and through
    ``unzip`` (zip).
    """
    env = _copy_env(small_env, tmp_path / "large")
    with (env / "share/large.bin").open("wb") as fh:
        for _ in range(LARGE // 2**20):
            fh.write(os.urandom(2**20))
    expected = _sha256(env / "share/large.bin")
    targets = []
    for fmt in ("tar.zst", "zip"):
        bundle = _bundle(conda, env, tmp_path / f"large.{fmt}", "--compress-level", "1")
        target = tmp_path / f"from {fmt}"
        if fmt == "zip":
            _extract(bundle, fmt, target, bare)
        else:
            _ok(conda("unbundle", bundle, "-p", target))
        targets.append(target)
    for target in targets:
        big = target / "share/large.bin"
        assert big.stat().st_size == LARGE and _sha256(big) == expected, target


def test_zip64(small_env, conda, tmp_path):
    """Ports conda-pack test_core.py::test_zip64: more than 65,535 entries need ZIP64
    records. conda-pack writes them unless ``--no-zip-64``; we write them where needed (no
    option). Info-ZIP's ``unzip`` and ``conda unbundle --verify`` read every entry back.
    """
    env = _copy_env(small_env, tmp_path / "many")
    many = env / "share/many"
    many.mkdir()
    count = (1 << 16) + 1
    for i in range(count):
        (many / f"foo{i}").write_bytes(b"0")
    bundle = _bundle(conda, env, tmp_path / "many.zip", "--compress-level", "0")
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
    assert len([n for n in names if n.startswith("share/many/foo")]) == count
    tail = bundle.read_bytes()[-(1 << 16) :]
    assert b"PK\x06\x06" in tail and b"PK\x06\x07" in tail  # the ZIP64 end records
    listed = run(["unzip", "-Z1", bundle]).splitlines()
    assert len([n for n in listed if n.startswith("share/many/foo")]) == count
    _ok(conda("unbundle", "--verify", bundle))


# --------------------------------------------------------------------------------------------
# test_cli.py and the error cases of test_core.py
# --------------------------------------------------------------------------------------------


def test_help(conda):
    """Ports conda-pack test_cli.py::test_help."""
    proc = _ok(conda("bundle", "-h"))
    assert proc.stdout.startswith("usage: conda bundle") and proc.stderr == ""


def test_version_is_not_an_option(conda):
    """Ports conda-pack test_cli.py::test_version. We differ on purpose: no ``--version``
    (conda-envbundle is a conda plugin; conda lists its version), and the refusal says so."""
    proc = conda("bundle", "--version")
    assert proc.returncode == 2 and "--version is conda-pack's" in proc.stderr
    assert "conda list -n base conda-envbundle" in proc.stderr


def test_cli_roundtrip(small_env, conda, tmp_path):
    """Ports conda-pack test_cli.py::test_cli_roundtrip: a tar bundle, a summary on
    stdout, on stderr only a line per step, as with no terminal (bars only when a person
    watches: tests in tests/test_progress_feedback.py)."""
    out = tmp_path / "small.tar"
    proc = _ok(conda("bundle", "-p", small_env, "-o", out))
    assert tarfile.is_tarfile(out)
    assert proc.stdout.startswith("Bundled 2 packages") and str(out) in proc.stdout
    steps = [line.split(":")[0] for line in proc.stderr.splitlines()]
    assert steps == ["Reading", "Writing"], proc.stderr


def test_quiet_still_prints_the_summary(small_env, conda, tmp_path):
    """Ports conda-pack test_cli.py::test_quiet. We differ on purpose: ``-q`` is conda's
    option, which hides progress bars; the two-line summary is still printed (``--json``
    gives machine-readable output instead)."""
    out = tmp_path / "small.tar"
    proc = _ok(conda("bundle", "-p", small_env, "-o", out, "-q"))
    assert tarfile.is_tarfile(out)
    assert proc.stdout.startswith("Bundled 2 packages") and len(proc.stdout.splitlines()) == 2
    assert proc.stderr == ""


def test_cli_exceptions(conda, tmp_path):
    """Ports conda-pack test_cli.py::test_cli_exceptions."""
    proc = conda("bundle", "-p", "not_a_real_path", "-o", tmp_path / "x.tar", cwd=tmp_path)
    assert_clean_error(proc, "SourceEnvironmentError", "not_a_real_path")
    assert proc.returncode == 1
    proc = conda("bundle", "-foo", "-bar")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "usage: conda" in proc.stderr and "unrecognized arguments: -foo -bar" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_keyboard_interrupt(tree_env, conda_isolation, tmp_path):
    """Ports conda-pack test_cli.py::test_keyboard_interrupt: Ctrl-C while bundling stops
    with status 1 and conda's one-line ``CondaError: KeyboardInterrupt`` (conda-pack:
    ``Interrupted``), no traceback and no output file (nor temporary file)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # xz at its default level: slow enough to be interrupted while writing.
    argv = [CONDA, "bundle", "-p", tree_env, "-o", out_dir / "env.tar.xz", "-j", "1"]
    proc = subprocess.Popen(
        argv, env=conda_isolation.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    while not any(out_dir.iterdir()) and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the bundle was finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "KeyboardInterrupt" in stderr, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert list(out_dir.iterdir()) == []


def test_named_environment_and_relative_prefix(source_bundle_small, conda, tmp_path):
    """Ports conda-pack test_core.py::test_name_to_prefix and ::test_from_prefix.

    ``-n NAME`` finds an environment in conda's envs directories and refuses an unknown
    name; ``-p`` takes a relative path; a missing path, and a directory that is not an
    environment, are refused.
    """
    _ok(conda("unbundle", source_bundle_small, "-n", "condapack-named"))
    _ok(conda("bundle", "-n", "condapack-named", "-o", tmp_path / "named.tar"))
    assert "conda-meta/history" in _tar_names(tmp_path / "named.tar")
    assert_clean_error(
        conda("bundle", "-n", "no-such-env", "-o", tmp_path / "x.tar"), "no-such-env"
    )
    env = tmp_path / "envs" / "rel"
    _ok(conda("unbundle", source_bundle_small, "-p", env))
    _ok(conda("bundle", "-p", "rel", "-o", "../relative.tar", cwd=env.parent))
    assert tarfile.is_tarfile(tmp_path / "relative.tar")
    missing = conda("bundle", "-p", tmp_path / "this_path_doesnt_exist", "-o", tmp_path / "m.tar")
    assert_clean_error(missing, "this_path_doesnt_exist", "is not a conda environment")
    assert_clean_error(
        conda("bundle", "-p", tmp_path / "envs", "-o", tmp_path / "m.tar"),
        "is not a conda environment",
    )
    assert not (tmp_path / "m.tar").exists()


def test_pack_exceptions(small_env, conda, conda_env, tmp_path):
    """Ports conda-pack test_core.py::test_pack_exceptions: a name and a prefix together
    are refused by conda-pack; conda bundle reads them as two environments (a bundle of
    several, docs/several-environments.md), each of which must exist. An unknown filter
    kind is refused by the Python API."""
    proc = conda("bundle", "-p", small_env, "-n", "small", "-o", tmp_path / "x.tar")
    assert_clean_error(proc, "Could not find conda environment: small")
    with pytest.raises(EnvBundleError, match="foo"):
        conda_envbundle.bundle(
            str(small_env), str(tmp_path / "x.tar"), filters=[("exclude", "*.py"), ("foo", "*")]
        )
    assert list(tmp_path.iterdir()) == []


def test_output_and_format(small_env, conda, tmp_path):
    """Ports conda-pack test_core.py::test_output_and_format.

    The format follows the output name (the short ``.tgz``-style names too), and an output
    name with an unknown extension is refused; ``--format`` wins over the name; an unknown
    ``--format`` (parcel included) is refused. We differ on purpose: the default name is
    ``<env>.tar.zst`` (conda-pack: ``.tar.gz``).
    """
    magic = {
        "tar.gz": b"\x1f\x8b",
        "tar.bz2": b"BZh",
        "tar.xz": b"\xfd7zXZ\0",
        "tar.zst": b"\x28\xb5\x2f\xfd",
        "zip": b"PK\x03\x04",
        "sh": b"#!/bin/sh",
    }
    names = {"tgz": "tar.gz", "tbz2": "tar.bz2", "txz": "tar.xz", "tzst": "tar.zst"}
    names |= {"zip": "zip", "sh": "sh"}
    for ext, fmt in names.items():
        out = _bundle(conda, small_env, tmp_path / f"small.{ext}")
        assert out.read_bytes().startswith(magic[fmt]), ext
    assert tarfile.is_tarfile(_bundle(conda, small_env, tmp_path / "small.tar"))
    forced = _bundle(conda, small_env, tmp_path / "foo.zip", "--format", "tar.gz")
    assert forced.read_bytes().startswith(magic["tar.gz"])
    unknown = conda("bundle", "-p", small_env, "-o", tmp_path / "small.bar")
    assert_clean_error(unknown, "small.bar ends in no bundle extension", "--format")
    assert not (tmp_path / "small.bar").exists()
    forced = _bundle(conda, small_env, tmp_path / "small.bar", "--format", "tgz")
    assert forced.read_bytes().startswith(magic["tar.gz"])
    (tmp_path / "cwd").mkdir()
    _ok(conda("bundle", "-p", small_env, "-q", cwd=tmp_path / "cwd"))
    assert (tmp_path / "cwd/small.tar.zst").read_bytes().startswith(magic["tar.zst"])
    for fmt in ("foo", "parcel"):
        proc = conda("bundle", "-p", small_env, "--format", fmt, "-o", tmp_path / "x")
        assert proc.returncode == 2 and f"invalid choice: '{fmt}'" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_force(small_env, conda, tmp_path):
    """Ports conda-pack test_core.py::test_force, ::test_errors_when_target_directory_not_
    exists_and_not_force and ::test_creates_directories_if_missing_and_force.

    An existing output is kept unless ``--force``. We differ on purpose: a missing output
    directory is refused even with ``--force`` (conda-pack creates it).
    """
    out = tmp_path / "small.tar"
    out.write_bytes(b"")
    assert_clean_error(conda("bundle", "-p", small_env, "-o", out), "--force")
    assert out.read_bytes() == b""
    _bundle(conda, small_env, out, "--force")
    assert tarfile.is_tarfile(out)
    nested = tmp_path / "not_a_real_directory" / "env.tar.gz"
    for extra in ([], ["--force"]):
        proc = conda("bundle", "-p", small_env, "-o", nested, *extra)
        assert_clean_error(proc, "not_a_real_directory", "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.tar"]
