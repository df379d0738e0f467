"""The test environments are real, shaped like conda-forge's, run where they are, and the
checker can fail."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from .support.condapkg import PLACEHOLDER_MARKER
from .support.cpython import ABS_RPATH_PYTHON_SPEC, ABS_RPATH_TAG, CPYTHON, STDLIB
from .support.envs import (
    CONDA,
    CONFIG_VAR,
    EXT_SUFFIX,
    SOURCE_SPECS,
    MakeEnv,
    add_editable_install,
    create_env,
    pip_install_tool,
    pycs_of_prefix_files,
    site_packages,
)
from .support.isolation import Isolation
from .support.packages import CASE_PAIR, EMPTY_DIR, FOOPY_PTH, KERNEL_JSON, READ_ONLY_FILE
from .support.proc import run
from .support.verify import (
    CLEAN_ENV,
    _check_shared_libraries,
    assert_env_runs,
    assert_same_packages,
)

_DYNAMIC_PATH = re.compile(r"\((RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[(.*)\]")


def _relocate_text_only(src: Path, dst: Path) -> None:
    """Copy an env and rewrite its prefix in text files only (binaries keep the old one)."""
    shutil.copytree(src, dst, symlinks=True)
    old, new = os.fsencode(src), os.fsencode(dst)
    for path in dst.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if old in data and b"\0" not in data:
                path.write_bytes(data.replace(old, new))


def test_env_runs_in_place(make_env: MakeEnv) -> None:
    # Not source_env: its long path makes conda itself write `#!/usr/bin/env python3.12`
    # shebangs there, which only work with the env on PATH.
    prefix = make_env()
    assert_env_runs(prefix, forbidden=[PLACEHOLDER_MARKER])


def test_source_env_packages(source_env: Path, conda_isolation: Isolation) -> None:
    listed = json.loads(run([CONDA, "list", "--json", "-p", source_env], env=conda_isolation.env))
    by_channel = {(p["name"], p["channel"] == "pypi") for p in listed}
    pip_installed = {("bartool", True), ("barext", True)}
    assert by_channel == {(name, False) for name in SOURCE_SPECS} | pip_installed
    assert_same_packages(source_env, source_env, env=conda_isolation.env)


def test_source_env_has_unmanaged_prefix_files(source_env: Path) -> None:
    managed = {
        f
        for record in (source_env / "conda-meta").glob("*.json")
        for f in json.loads(record.read_text())["files"]
    }
    unmanaged = ("bin/bartool", "bin/barext", "bin/unmanaged-tool")
    for rel in (*unmanaged, "share/foo-post/installed-at.txt"):
        assert rel not in managed
        assert os.fsencode(source_env) in (source_env / rel).read_bytes(), rel


@pytest.mark.parametrize("specs", [["python", "foopy", "foo-data", "foo-post"], ["foo"]])
def test_env_runs_at_a_long_path(
    tmp_path: Path, channel: Path, conda_isolation: Isolation, specs: list[str]
) -> None:
    base = tmp_path / "dïr with späces"
    prefix = base / ("x" * (200 - len(str(base)) - 1))
    assert len(str(prefix)) == 200
    create_env(prefix, channel, specs, conda_isolation.env)
    assert_env_runs(prefix, forbidden=[PLACEHOLDER_MARKER])


def test_checker_fails_on_a_copied_env(source_env: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(source_env, copy, symlinks=True)
    with pytest.raises(AssertionError, match=r"bin/foo\nexit status 2"):
        assert_env_runs(copy, forbidden=[])


def test_checker_fails_when_only_text_was_relocated(source_env: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    _relocate_text_only(source_env, copy)
    with pytest.raises(AssertionError, match=r"bin/foo\nexit status 2"):
        assert_env_runs(copy, forbidden=[str(source_env)])
    outside = re.escape(f"copy/bin/foo: {source_env}/lib/libfoo.so.1")
    with pytest.raises(AssertionError, match=outside):
        _check_shared_libraries(copy)


def test_checker_fails_on_a_foreign_libfoo(
    source_env: Path, make_env: MakeEnv, tmp_path: Path
) -> None:
    prefix = make_env(["foo"], pip_tool=False, unmanaged_binary=False, pkgs_dir=tmp_path / "pkgs")
    libfoo = prefix / "lib/libfoo.so.1.2.3"
    libfoo.unlink()
    shutil.copy2(source_env / "lib/libfoo.so.1.2.3", libfoo)
    with pytest.raises(AssertionError, match=r"bin/foo\nexit status 3"):
        assert_env_runs(prefix, forbidden=[])


def test_checker_finds_forbidden_strings(make_env: MakeEnv) -> None:
    prefix = make_env()
    with pytest.raises(AssertionError, match=r"bin/unmanaged-tool: "):
        assert_env_runs(prefix, forbidden=[str(prefix)])


@pytest.mark.parametrize("kind", ["pep660", "egg-link"])
def test_editable_install(make_env: MakeEnv, kind: str) -> None:
    prefix = make_env(["python"], pip_tool=False, unmanaged_binary=False)
    marker = add_editable_install(prefix, kind)
    assert marker.is_relative_to(site_packages(prefix))
    assert "/some/src" in marker.read_text()


# --------------------------------------------------------------------------------------------
# The shapes conda-forge environments have (issue 10): each one is in the source env.
# --------------------------------------------------------------------------------------------


def _records(prefix: Path) -> dict[str, dict]:
    """The env's conda-meta records by package name."""
    found = (json.loads(p.read_text()) for p in (prefix / "conda-meta").glob("*.json"))
    return {record["name"]: record for record in found}


def _prefix_files(record: dict) -> dict[str, str]:
    """Path → ``file_mode`` of a record's prefix files."""
    entries = record["paths_data"]["paths"]
    return {e["_path"]: e["file_mode"] for e in entries if "prefix_placeholder" in e}


def _dynamic_paths(path: Path) -> list[tuple[str, str]]:
    """The ELF file's (``RPATH``|``RUNPATH``, value) entries."""
    return _DYNAMIC_PATH.findall(run(["readelf", "-d", path]))


def _stale_pycs(prefix: Path) -> tuple[int, set[str]]:
    """How many ``__pycache__/*.pyc`` there are, and the ones not valid for their source:
    not timestamp-based, or another mtime or size recorded than the ``.py`` has."""
    pycs = list(prefix.glob("**/__pycache__/*.pyc"))
    stale = set()
    for pyc in pycs:
        flags, mtime, size = struct.unpack("<III", pyc.read_bytes()[4:16])
        source = (pyc.parent.parent / pyc.name.split(".")[0]).with_suffix(".py").stat()
        if flags or (mtime, size) != (int(source.st_mtime), source.st_size):
            stale.add(str(pyc.relative_to(prefix)))
    return len(pycs), stale


def test_python_ships_valid_stdlib_bytecode(source_env: Path) -> None:
    count, stale = _stale_pycs(source_env)
    shipped = [f for f in _records(source_env)["python"]["files"] if f.endswith(".pyc")]
    assert len(shipped) > 500 and count > len(shipped)  # and the noarch and pip ones
    # Exactly the pycs of the .py files conda rewrites at install are stale, as in an env of
    # conda-forge's python: _sysconfigdata_*.py and python-config.py.
    assert stale == pycs_of_prefix_files(source_env)
    assert sorted(Path(p).name.split(".")[0] for p in stale) == [
        "_sysconfigdata__linux_x86_64-linux-gnu",
        "python-config",
    ]
    # The sources keep the mtime of the build, not the install's.
    mtimes = [int((root / STDLIB / "os.py").stat().st_mtime) for root in (source_env, CPYTHON)]
    assert mtimes[0] == mtimes[1]


def test_python_finds_libpython_through_origin(source_env: Path) -> None:
    python = _records(source_env)["python"]
    assert not python["build"].endswith(ABS_RPATH_TAG)  # plain `python` solves to this one
    assert _dynamic_paths(source_env / "bin/python3.12") == [("RUNPATH", "$ORIGIN/../lib")]
    text = {rel for rel, mode in _prefix_files(python).items() if mode == "text"}
    (sysconfigdata,) = {rel for rel in text if Path(rel).name.startswith("_sysconfigdata_")}
    for rel in ("bin/python3.12-config", "lib/pkgconfig/python-3.12.pc", sysconfigdata):
        assert rel in text
        assert os.fsencode(f"{source_env}/lib") in (source_env / rel).read_bytes(), rel
    pc_lines = (source_env / "lib/pkgconfig/python-3.12-embed.pc").read_text().splitlines()
    assert f"prefix={source_env}" in pc_lines


def test_abs_rpath_python_runs_only_where_conda_put_it(make_env: MakeEnv, tmp_path: Path) -> None:
    prefix = make_env([ABS_RPATH_PYTHON_SPEC, "foopy"], pip_tool=False, unmanaged_binary=False)
    python = _records(prefix)["python"]
    assert python["build"].endswith(ABS_RPATH_TAG)
    assert _prefix_files(python)["bin/python3.12"] == "binary"
    assert _dynamic_paths(prefix / "bin/python3.12") == [("RUNPATH", f"{prefix}/lib")]
    assert_env_runs(prefix, forbidden=[PLACEHOLDER_MARKER])
    moved = prefix.rename(tmp_path / "moved")
    missing = re.escape("libpython3.12.so.1.0: cannot open shared object file")
    with pytest.raises(AssertionError, match=missing):
        assert_env_runs(moved, forbidden=[])


def test_foo_finds_libfoo_only_through_absolute_paths(source_env: Path) -> None:
    prefix_files = _prefix_files(_records(source_env)["foo"])
    for exe, tag in (("bin/foo", "RPATH"), ("bin/foo-runpath", "RUNPATH")):
        assert prefix_files[exe] == "binary"
        assert _dynamic_paths(source_env / exe) == [(tag, f"{source_env}/lib")]


def test_noarch_python_shapes(source_env: Path) -> None:
    foopy = _records(source_env)["foopy"]
    kinds = {e["_path"]: e["path_type"] for e in foopy["paths_data"]["paths"]}
    sp = f"{STDLIB}/site-packages"
    compiled_at_link = {
        f"{sp}/foopy/__pycache__/{name}.cpython-312.pyc" for name in ("__init__", "cli", "kernel")
    } | {f"{sp}/foopy_extra_dir/__pycache__/foopy_extra.cpython-312.pyc"}
    assert {path for path, kind in kinds.items() if kind == "pyc_file"} == compiled_at_link
    assert kinds["bin/foopy"] == "unix_python_entry_point"
    assert (source_env / sp / FOOPY_PTH).read_text() == "foopy_extra_dir\n"
    assert _prefix_files(foopy) == {KERNEL_JSON: "text"}
    argv = json.loads((source_env / KERNEL_JSON).read_text())["argv"]
    assert argv[0] == f"{source_env}/bin/python"


def test_file_shapes(source_env: Path) -> None:
    lib = source_env / "lib"
    chain = [os.readlink(lib / name) for name in ("libfoo.so", "libfoo.so.1")]
    assert chain == ["libfoo.so.1", "libfoo.so.1.2.3"]
    assert stat.S_ISREG((lib / "libfoo.so.1.2.3").lstat().st_mode)
    assert stat.S_IMODE((source_env / READ_ONLY_FILE).stat().st_mode) == 0o444
    foo_text = _prefix_files(_records(source_env)["foo"])
    for rel in ("share/foo/with space.txt", "share/foo/grüße.txt"):
        assert foo_text[rel] == "text"
        assert str(source_env) in (source_env / rel).read_text(encoding="utf-8")
    upper, lower = (source_env / rel for rel in CASE_PAIR)
    assert upper.read_bytes() != lower.read_bytes()
    assert set(CASE_PAIR) <= set(_records(source_env)["foo-data"]["files"])
    # The post-link script made it: conda records no directory.
    assert os.listdir(source_env / EMPTY_DIR) == []
    recorded = {f for record in _records(source_env).values() for f in record["files"]}
    assert not any(f.startswith(f"{EMPTY_DIR}/") for f in recorded)


def test_activation_shapes(source_env: Path, conda_isolation: Isolation) -> None:
    script = source_env / "etc/conda/activate.d/foo-data.sh"
    assert script.read_text() == f'export FOO_DATA_DIR="{source_env}/share/foo-data"\n'
    state = json.loads((source_env / "conda-meta/state").read_text())
    assert state == {"env_vars": dict([CONFIG_VAR])}
    cmd = [CONDA, "env", "config", "vars", "list", "-p", source_env, "--json"]
    assert json.loads(run(cmd, env=conda_isolation.env)) == dict([CONFIG_VAR])


def test_pip_installed_compiled_extension(source_env: Path) -> None:
    sp = site_packages(source_env)
    dist_info = sp / "barext-1.0.dist-info"
    assert (dist_info / "INSTALLER").read_text() == "pip\n"
    assert "Tag: cp312-cp312-linux_x86_64\n" in (dist_info / "WHEEL").read_text()
    assert (sp / "barext" / f"_speedup{EXT_SUFFIX}").read_bytes()[:4] == b"\x7fELF"
    assert f"barext/_speedup{EXT_SUFFIX}" in (dist_info / "RECORD").read_text()
    assert "from barext.cli import main" in (source_env / "bin/barext").read_text()


# --------------------------------------------------------------------------------------------
# The checker runs python as a user does, and fails when a shape is broken.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def breakable_env(
    tmp_path_factory: pytest.TempPathFactory, channel: Path, conda_isolation: Isolation
) -> Path:
    """An env like the source env, with its own package cache: tests may change its files
    (and restore them)."""
    base = tmp_path_factory.mktemp("breakable")
    env = {**conda_isolation.env, "CONDA_PKGS_DIRS": str(base / "pkgs")}
    create_env(base / "env", channel, SOURCE_SPECS, env)
    pip_install_tool(base / "env", base / "wheels")
    return base / "env"


def test_checker_lets_python_write_bytecode(breakable_env: Path) -> None:
    assert not any(arg.startswith("PYTHONDONTWRITEBYTECODE") for arg in CLEAN_ENV)
    pyc = breakable_env / STDLIB / "json/__pycache__/decoder.cpython-312.pyc"
    pyc.unlink()
    assert_env_runs(breakable_env, forbidden=[PLACEHOLDER_MARKER])
    assert pyc.is_file()  # written again by the env's python, importing json
    assert str(pyc.relative_to(breakable_env)) not in _stale_pycs(breakable_env)[1]


def test_stale_pyc_is_seen(breakable_env: Path) -> None:
    source = breakable_env / STDLIB / "json/scanner.py"
    times = source.stat()
    os.utime(source, ns=(times.st_atime_ns, times.st_mtime_ns + 10**9))
    try:
        stale = _stale_pycs(breakable_env)[1]
    finally:
        os.utime(source, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert f"{STDLIB}/json/__pycache__/scanner.cpython-312.pyc" in stale


def _replace(path: Path, data: bytes) -> Callable[[], None]:
    """Give ``path`` new content (a new inode); return what restores the old one."""
    old, mode = path.read_bytes(), stat.S_IMODE(path.stat().st_mode)
    path.unlink()
    path.write_bytes(data)

    def restore() -> None:
        path.unlink()
        path.write_bytes(old)
        path.chmod(mode)

    return restore


def _break_kernel(prefix: Path) -> Callable[[], None]:
    spec = prefix / KERNEL_JSON
    return _replace(spec, spec.read_bytes().replace(os.fsencode(prefix), b"/nonexistent"))


def _break_sysconfigdata(prefix: Path) -> Callable[[], None]:
    (path,) = prefix.glob(f"{STDLIB}/_sysconfigdata_*.py")
    return _replace(path, path.read_bytes().replace(os.fsencode(prefix), b"/elsewhere"))


def _remove(rel: str) -> Callable[[Path], Callable[[], None]]:
    """A breaker that moves ``rel`` aside (a new name python does not look for)."""

    def remove(prefix: Path) -> Callable[[], None]:
        path = prefix / rel
        aside = path.rename(path.with_name(path.name + ".moved"))

        def restore() -> None:
            aside.rename(path)

        return restore

    return remove


def _break_mode(prefix: Path) -> Callable[[], None]:
    path = prefix / READ_ONLY_FILE
    path.chmod(0o644)
    return lambda: path.chmod(0o444)


def _fill_empty_dir(prefix: Path) -> Callable[[], None]:
    path = prefix / EMPTY_DIR / "not-empty"
    path.write_text("")
    return path.unlink


def _merge_case_pair(prefix: Path) -> Callable[[], None]:
    upper, lower = (prefix / rel for rel in CASE_PAIR)
    return _replace(lower, upper.read_bytes())


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (_break_kernel, r"/nonexistent/bin/python -m foopy.kernel"),
        (_break_sysconfigdata, r"stdout: '.*\\n/elsewhere/lib\\n'"),
        (_remove(f"{STDLIB}/site-packages/{FOOPY_PTH}"), r"No module named .+foopy_extra"),
        (
            _remove(f"{STDLIB}/site-packages/barext/_speedup{EXT_SUFFIX}"),
            r"bin/barext\nexit status 1.*No module named .+barext._speedup",
        ),
        (_break_mode, r"read-only.txt: mode 644, expected 444"),
        (_fill_empty_dir, r"var/empty: \['not-empty'\], expected an empty directory"),
        (_merge_case_pair, r"have the same content"),
    ],
)
def test_checker_fails_on_a_broken_shape(
    breakable_env: Path, breaker: Callable[[Path], Callable[[], None]], message: str
) -> None:
    restore = breaker(breakable_env)
    try:
        with pytest.raises(AssertionError, match=re.compile(message, re.DOTALL)):
            assert_env_runs(breakable_env, forbidden=[])
    finally:
        restore()
    assert_env_runs(breakable_env, forbidden=[])
