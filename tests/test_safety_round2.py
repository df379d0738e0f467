"""Safety, round two (issue 11): what a run removes, what --force replaces, deep trees,
mount points, the space relocation needs, and what killed bundle and installer runs leave.

Everything runs for real: ``conda unbundle``/``conda bundle`` processes, real tmpfs and
bind mounts (the tests need root for those and skip otherwise), GNU tar, sh, flock.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conda_envbundle import bundle, unbundle, verify
from conda_envbundle.archive.directory import DIR_BUNDLE_MARKER
from conda_envbundle.archive.members import DIRECTORY
from conda_envbundle.bundling.output import PART_MARK, is_dir_bundle
from conda_envbundle.exceptions import (
    BundleFormatError,
    EnvBundleError,
    IncompatibleTargetError,
    OutputExistsError,
    UnsupportedPathError,
)
from conda_envbundle.fstree import make_dirs, remove_tree
from conda_envbundle.manifest import MANIFEST_PATH, Manifest
from conda_envbundle.space import kept_manifest_size, space_needed
from conda_envbundle.unbundling.commit import STAGING_MARK
from conda_envbundle.unbundling.lock import LOCK_MARK

from .support.bare import bare_path
from .support.cli import assert_clean_error
from .support.crafted import Bundle, Raw, tree
from .support.envs import CONDA
from .test_atomic import assert_complete


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _start(args: list, env: dict, **extra) -> subprocess.Popen:
    return subprocess.Popen(
        [str(a) for a in args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **extra,
    )


def _wait_for(predicate, proc: subprocess.Popen) -> None:
    """Poll until ``predicate()`` holds; fail if the process ends first."""
    while not predicate():
        assert proc.poll() is None, "the process ended before the moment the test needs"
        time.sleep(0.002)


# --- 1. a failed unbundle removes only the empty directories it created ---------------------


def test_failed_unbundle_keeps_a_parent_another_run_filled(
    small_bundle_data, source_bundle_small, conda_env, tmp_path
):
    """B creates new/envs, A puts its environment there, B fails: A stays."""
    data = small_bundle_data.copy().write(tmp_path / "plain.tar", codec="tar").read_bytes()
    envs = tmp_path / "new" / "envs"
    b = subprocess.Popen(
        [str(CONDA), "unbundle", "-", "-p", str(envs / "B")],
        env=conda_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert b.stdin is not None and b.stdout is not None
    b.stdin.write(data[:-1536])  # all but the end: B creates new/envs and waits for more
    b.stdin.flush()
    _wait_for(lambda: envs.is_dir() and any(STAGING_MARK in n for n in os.listdir(envs)), b)
    unbundle(str(source_bundle_small), str(envs / "A"))  # A completes meanwhile
    b.stdin.close()  # B's bundle is cut short: B fails
    output = b.stdout.read().decode()
    assert b.wait() != 0
    assert "BundleFormatError" in output and "Traceback" not in output, output
    assert_complete(envs / "A")
    assert _names(envs) == ["A"]


def test_failed_unbundle_removes_the_empty_parents_it_created_only(
    small_bundle_data, conda_env, tmp_path
):
    bad = small_bundle_data.copy()
    last = next(m for m in reversed(bad.members) if m.data)
    last.data = last.data[:-1] + bytes([last.data[-1] ^ 1])
    path = bad.write(tmp_path / "bad.tar.zst")
    (tmp_path / "mine").mkdir()  # existed before: never removed, even empty
    with pytest.raises(BundleFormatError):
        unbundle(str(path), str(tmp_path / "mine" / "a" / "b" / "env"))
    assert _names(tmp_path) == ["bad.tar.zst", "mine"]
    assert _names(tmp_path / "mine") == []


# --- 2. --force replaces only our own output --------------------------------------------------


@pytest.fixture
def small_env(source_bundle_small, conda_env, tmp_path) -> Path:
    """A working environment made by conda unbundle (it keeps the bundle's manifest)."""
    env = tmp_path / "small-env"
    unbundle(str(source_bundle_small), str(env))
    return env


def test_force_dir_bundle_never_replaces_an_unbundled_environment(small_env, tmp_path):
    victim = tmp_path / "victim"
    shutil.copytree(small_env, victim, symlinks=True)
    assert (victim / MANIFEST_PATH).is_file()
    before = tree(victim)
    with pytest.raises(OutputExistsError, match="not a directory bundle written by conda bundle"):
        bundle(str(small_env), str(victim), fmt="dir", force=True)
    assert tree(victim) == before
    assert not [n for n in _names(tmp_path) if PART_MARK in n]


def test_env_unbundled_from_a_dir_bundle_is_not_a_dir_bundle(small_env, conda_env, tmp_path):
    out = tmp_path / "out-bundle"
    bundle(str(small_env), str(out), fmt="dir")
    assert is_dir_bundle(str(out))
    verify(str(out))  # the marker is no member of the bundle
    env = tmp_path / "from-dir"
    unbundle(str(out), str(env))
    assert not (env / DIR_BUNDLE_MARKER).exists()
    assert not is_dir_bundle(str(env))
    before = tree(env)
    with pytest.raises(OutputExistsError):
        bundle(str(small_env), str(env), fmt="dir", force=True)
    assert tree(env) == before
    # bundling that environment again ships no marker either
    again = tmp_path / "again-bundle"
    bundle(str(env), str(again), fmt="dir")
    unbundle(str(again), str(tmp_path / "e2"))  # binaries limit it to the source's length
    assert not (tmp_path / "e2" / DIR_BUNDLE_MARKER).exists()


def test_conda_created_environment_is_never_replaced(small_env, make_env, tmp_path):
    created = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    before = tree(created)
    with pytest.raises(OutputExistsError):
        bundle(str(small_env), str(created), fmt="dir", force=True)
    assert tree(created) == before


def test_force_replaces_our_dir_bundle_and_nothing_once_it_changed(small_env, tmp_path):
    out = tmp_path / "b"
    bundle(str(small_env), str(out), fmt="dir")
    (out / "stale").write_text("from the old bundle")  # an extra file the new one lacks
    bundle(str(small_env), str(out), fmt="dir", force=True)
    assert not (out / "stale").exists() and is_dir_bundle(str(out))
    verify(str(out))
    assert _names(tmp_path) == ["b", "small-env"]
    # someone ran conda-unpack in it (it rewrites the manifest): an environment now
    manifest = out / MANIFEST_PATH
    manifest.write_bytes(manifest.read_bytes().replace(b"}", b"} ", 1))
    before = tree(out)
    with pytest.raises(OutputExistsError):
        bundle(str(small_env), str(out), fmt="dir", force=True)
    assert tree(out) == before


def test_force_file_output_replaces_only_regular_files(small_env, tmp_path):
    fifo = tmp_path / "fifo.tar.zst"
    os.mkfifo(fifo)
    with pytest.raises(OutputExistsError, match="not a regular file"):
        bundle(str(small_env), str(fifo), force=True)
    assert fifo.is_fifo()
    directory = tmp_path / "d.tar.zst"
    directory.mkdir()
    with pytest.raises(OutputExistsError, match="is a directory"):
        bundle(str(small_env), str(directory), force=True)
    old = tmp_path / "old.tar.zst"
    old.write_text("an old bundle")
    bundle(str(small_env), str(old), force=True)
    verify(str(old))


def test_force_through_the_cli_over_an_environment(small_env, conda_process, tmp_path):
    proc = conda_process("bundle", "-p", small_env, "--format", "dir", "--force", "-o", small_env)
    assert_clean_error(proc, "OutputExistsError", "not a directory bundle")
    assert proc.returncode == 5
    assert_complete(small_env)


# --- 3. trees deeper than Python's recursion limit ---------------------------------------------

DEPTH = 1500


@pytest.fixture
def deep_tmp(tmp_path) -> Path:
    """``tmp_path``, emptied without recursion afterwards: pytest's own cleanup of old
    temporary directories uses ``shutil.rmtree``, which these trees would break."""
    yield tmp_path
    for child in tmp_path.iterdir():
        remove_tree(str(child))


def _deep_bundle(base: Bundle, with_dirs: bool) -> Bundle:
    """``base`` plus a chain of DEPTH directories ``d/d/...`` holding one file."""
    deep = base.copy()
    path = "d"
    for _ in range(DEPTH - 1):
        if with_dirs:
            deep.members.append(Raw(path, DIRECTORY, mode=0o755))
        path += "/d"
    if with_dirs:
        deep.members.append(Raw(path, DIRECTORY, mode=0o755))
    deep.members.append(Raw(f"{path}/bottom", data=b"at the bottom\n"))
    return deep.honest()


def _depth(root: Path) -> int:
    """How many ``d`` levels there are under ``root`` (without recursion)."""
    depth = 0
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while "d" in os.listdir(fd):
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            depth += 1
        assert os.listdir(fd) == ["bottom"]
    finally:
        os.close(fd)
    return depth


@pytest.mark.parametrize("with_dirs", [True, False], ids=["dir-entries", "files-only"])
def test_deep_tree_unbundles_replaces_and_unbundles_again(
    small_bundle_data, conda_env, deep_tmp, with_dirs
):
    path = _deep_bundle(small_bundle_data, with_dirs).write(deep_tmp / "deep.tar.zst")
    target = deep_tmp / "env"
    unbundle(str(path), str(target))
    assert _depth(target) == DEPTH
    (target / "marker").write_text("old")
    unbundle(str(path), str(target), force=True)  # the old deep tree is removed
    assert _depth(target) == DEPTH and not (target / "marker").exists()
    assert _names(deep_tmp) == ["deep.tar.zst", "env"]
    unbundle(str(path), str(target), force=True)
    assert _depth(target) == DEPTH


def test_deep_leftover_of_an_interrupted_swap_is_removed(source_bundle_small, conda_env, deep_tmp):
    """A run killed while it removed a deep old environment left it in its staging
    directory: the next run removes it."""
    target = deep_tmp / "env"
    dead = deep_tmp / f".env{STAGING_MARK}k1ll3d00"
    make_dirs(str(dead) + "/d" * DEPTH)
    Path(str(dead) + "/d" * DEPTH, "bottom").write_text("half removed")
    unbundle(str(source_bundle_small), str(target))
    assert_complete(target)
    assert _names(deep_tmp) == ["env"]


def test_deep_parent_of_the_target(small_bundle_data, conda_env, deep_tmp):
    """1,200 missing parents: created, and on failure removed again, without recursion."""
    plain = small_bundle_data.copy()
    for member in plain.members:
        member.extra = {}  # no prefix rules: any path length will do
    good = plain.honest().write(deep_tmp / "plain.tar.zst")
    last = next(m for m in reversed(plain.members) if m.data)
    last.data = last.data[:-1] + bytes([last.data[-1] ^ 1])
    bad = plain.write(deep_tmp / "bad.tar.zst")
    target = Path(str(deep_tmp / "p") + "/p" * 1200, "env")
    with pytest.raises(BundleFormatError):
        unbundle(str(bad), str(target))
    assert _names(deep_tmp) == ["bad.tar.zst", "plain.tar.zst"]
    unbundle(str(good), str(target))
    assert_complete(target)


# --- 4. a mount point as the target --------------------------------------------------------------


def _mount(args: list[str], point: Path) -> None:
    proc = subprocess.run(["mount", *args, str(point)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"mounting needs root (CAP_SYS_ADMIN): {proc.stderr.strip()}")


@pytest.fixture
def mounted(tmp_path):
    """``mounted(args)``: a fresh mount point under ``tmp_path``, unmounted afterwards."""
    points: list[Path] = []

    def mount(*args: str) -> Path:
        point = tmp_path / f"mnt{len(points)}"
        point.mkdir()
        _mount(list(args), point)
        points.append(point)
        return point

    yield mount
    for point in reversed(points):
        subprocess.run(["umount", str(point)], check=True)


def test_empty_mount_point_is_refused_before_any_write(source_bundle_small, conda_env, mounted):
    point = mounted("-t", "tmpfs", "-o", "size=8m", "tmpfs")
    before = tree(point.parent)
    with pytest.raises(IncompatibleTargetError) as info:
        unbundle(str(source_bundle_small), str(point))
    assert f"{point} is a mount point" in str(info.value)
    assert f"such as {point / 'NAME'}" in str(info.value)
    assert tree(point.parent) == before and _names(point) == []
    unbundle(str(source_bundle_small), str(point / "env"))  # what the message says works
    assert_complete(point / "env")
    with pytest.raises(IncompatibleTargetError, match="is a mount point"):
        unbundle(str(source_bundle_small), str(point), force=True)


def test_bind_mount_of_the_same_filesystem_is_refused(source_bundle_small, conda_env, mounted):
    origin = mounted("-t", "tmpfs", "-o", "size=8m", "tmpfs")
    (origin / "inner").mkdir()
    bound = mounted("--bind", str(origin / "inner"))
    with pytest.raises(IncompatibleTargetError, match="is a mount point"):
        unbundle(str(source_bundle_small), str(bound))
    assert _names(bound) == []


def test_mount_point_refusal_through_the_cli(source_bundle_small, conda_process, mounted):
    point = mounted("-t", "tmpfs", "-o", "size=8m", "tmpfs")
    proc = conda_process("unbundle", source_bundle_small, "-p", point)
    assert_clean_error(proc, "IncompatibleTargetError", "is a mount point")
    assert proc.returncode == 4
    assert _names(point) == []


# --- 5. free space for the kept manifest and for relocation --------------------------------------

PLACEHOLDER = "/pp"


def _growing_bundle(base: Bundle, copies: int) -> Bundle:
    """A text file with ``copies`` occurrences of a short placeholder: relocated to a long
    target, it grows by (len(target) - 3) bytes per occurrence."""
    grown = base.copy()
    text = (PLACEHOLDER + "\n").encode() * copies
    rule = {"prefix": {"placeholder": PLACEHOLDER, "mode": "text"}}
    grown.members.append(Raw("share/grows.txt", data=text, extra=rule))
    return grown.honest()


def _free(point: Path) -> int:
    fs = os.statvfs(point)
    return fs.f_bfree * fs.f_frsize


def _shipped(manifest: Manifest, block: int) -> int:
    """What the files alone take, as the pre-flight counted before."""
    return sum(-(-f.size // block) * block if f.kind == "file" else block for f in manifest.files)


def test_relocation_growth_is_counted(small_bundle_data, conda_env, mounted, tmp_path):
    point = mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs")
    path = _growing_bundle(small_bundle_data, 40_000).write(tmp_path / "grows.tar.zst")
    target = point / ("t" * 100)
    manifest = Manifest.from_bytes(_manifest_bytes(path))
    block = os.statvfs(point).f_frsize
    assert _shipped(manifest, block) + kept_manifest_size(manifest, str(target)) < _free(point)
    with pytest.raises(IncompatibleTargetError, match="of free space at"):
        unbundle(str(path), str(target))
    assert _names(point) == []
    # where the target is not longer than the placeholder, nothing grows and it fits
    fits = _growing_bundle(small_bundle_data, 40_000)
    fits.members[-1].extra = {"prefix": {"placeholder": "/" + "q" * 120, "mode": "text"}}
    fits.members[-1].data = ("/" + "q" * 120 + "\n").encode() * 2000
    small = fits.honest().write(tmp_path / "fits.tar.zst")
    unbundle(str(small), str(target))
    assert (target / "share" / "grows.txt").read_bytes() == (str(target) + "\n").encode() * 2000


def test_kept_manifest_is_counted(small_bundle_data, conda_env, mounted, tmp_path):
    point = mounted("-t", "tmpfs", "-o", "size=512k", "tmpfs")
    padded = small_bundle_data.copy()
    padded.manifest["packages"] = [
        {"name": f"pad{i}", "version": "1", "build": "0", "channel": "x" * 200} for i in range(3000)
    ]
    path = padded.write(tmp_path / "padded.tar.zst")
    manifest = Manifest.from_bytes(_manifest_bytes(path))
    block = os.statvfs(point).f_frsize
    target = point / "env"
    assert _shipped(manifest, block) < _free(point)  # the files alone would fit
    needed, _ = space_needed(manifest, block, str(target))
    assert needed > _free(point)
    with pytest.raises(IncompatibleTargetError, match=f"\\({needed} bytes\\) of free space"):
        unbundle(str(path), str(target))
    assert _names(point) == []


def test_space_estimate_holds_what_unbundle_writes(source_bundle, conda_env, tmp_path):
    """The estimate is an upper bound of the real environment (same block rounding)."""
    target = tmp_path / ("long-" * 30)
    unbundle(str(source_bundle), str(target))
    block = os.statvfs(tmp_path).f_frsize
    used = 0
    for parent, dirs, files in os.walk(target):
        used += block * len(dirs)
        for name in files:
            st = os.lstat(os.path.join(parent, name))
            used += block if stat.S_ISLNK(st.st_mode) else -(-st.st_size // block) * block
    kept = Manifest.from_bytes((target / MANIFEST_PATH).read_bytes())
    assert (target / MANIFEST_PATH).stat().st_size <= kept_manifest_size(kept, str(target))
    needed, _ = space_needed(
        Manifest.from_bytes(_manifest_bytes(source_bundle)), block, str(target)
    )
    assert used <= needed


def _manifest_bytes(path: Path) -> bytes:
    from conda_envbundle.archive import open_reader

    with open_reader(str(path), MANIFEST_PATH) as reader:
        next(iter(reader))
        return b"".join(reader.read_data())


# --- 6. killed bundle runs and killed installers -----------------------------------------------


def _parts(directory: Path) -> list[str]:
    return [n for n in _names(directory) if PART_MARK in n and n.endswith(".part")]


def _hold_flock(path: Path) -> subprocess.Popen:
    """Another process holding flock on ``path`` until its stdin closes."""
    code = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\nsys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_dead_parts_are_removed_and_live_ones_kept(small_env, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "b.tar.zst"
    dead_file = out_dir / f".b.tar.zst{PART_MARK}dead0001.part"
    dead_file.write_bytes(b"half a bundle")
    dead_dir = out_dir / f".b.tar.zst{PART_MARK}dead0002.part"
    (dead_dir / "lib").mkdir(parents=True)
    live = out_dir / f".b.tar.zst{PART_MARK}live0003.part"
    live.write_bytes(b"another run is writing this")
    theirs = out_dir / ".b.tar.zst.mine.part"  # not our name: never touched
    theirs.write_text("keep")
    other = out_dir / f".c.tar.zst{PART_MARK}dead0004.part"  # another output's
    other.write_text("keep")
    holder = _hold_flock(live)
    try:
        bundle(str(small_env), str(out))
        assert _names(out_dir) == sorted([out.name, live.name, theirs.name, other.name])
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    verify(str(out))
    bundle(str(small_env), str(out), force=True)  # now nobody holds it: a dead run's
    assert _names(out_dir) == sorted([out.name, theirs.name, other.name])


def _bundle_args(source: Path, out: Path, fmt: str) -> list:
    return [CONDA, "bundle", "-p", source, "-o", out, "--format", fmt, "--force"]


def _snapshot(out: Path) -> object:
    """A file bundle's sha256, or every path of a directory bundle with its content."""
    if out.is_dir():
        return tree(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", ["tar.gz", "dir"])
def test_sigkill_bundle_at_any_moment(fmt, source_env, conda_isolation, tmp_path):
    """Bundles are reproducible, so "the old bundle or the complete new one" is: the same."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / ("b.tar.gz" if fmt == "tar.gz" else "b-bundle")
    env = conda_isolation.env
    proc = _start(_bundle_args(source_env, out, fmt), env)
    _wait_for(lambda: bool(_parts(out_dir)), proc)
    seen = time.monotonic()
    assert proc.wait() == 0
    working = time.monotonic() - seen
    verify(str(out))
    complete = _snapshot(out)
    for round_ in range(4):
        proc = _start(_bundle_args(source_env, out, fmt), env)
        while proc.poll() is None and not _parts(out_dir):
            time.sleep(0.001)
        time.sleep(rng.uniform(0, working * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        context = f"seed {seed}, round {round_}, returncode {proc.returncode}"
        assert _snapshot(out) == complete, context
        assert len(_parts(out_dir)) <= 1, context
    assert _start(_bundle_args(source_env, out, fmt), env).wait() == 0
    assert _snapshot(out) == complete
    assert _names(out_dir) == [out.name]


@pytest.fixture(scope="module")
def installer_sh(source_env, conda_isolation, tmp_path_factory) -> Path:
    from .support.cli import CondaProcess

    out = tmp_path_factory.mktemp("installer") / "install-env.sh"
    proc = CondaProcess(conda_isolation.env)("bundle", "-p", source_env, "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


def _bare_with(directory: Path, tool: str) -> str:
    """The bare PATH (no python, no conda) plus ``tool`` (flock on Linux, perl on macOS)."""
    path = bare_path(directory)
    found = shutil.which(tool)
    assert found, f"{tool} is not installed"
    if not Path(path, tool).exists():
        Path(path, tool).symlink_to(found)
    return path


@pytest.fixture
def locking_path(tmp_path) -> str:
    return _bare_with(tmp_path / "bare-bin", "flock")


def _install(installer: Path, target: Path, path: str, *extra: str) -> subprocess.Popen:
    argv = ["/usr/bin/env", "-i", f"PATH={path}", "HOME=/nonexistent", "sh", str(installer)]
    return subprocess.Popen(
        [*argv, "-p", str(target), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group: sh, tar, gzip and python die together
    )


def _installed(target: Path) -> bool:
    return (target / "bin" / "python3").exists() and (target / MANIFEST_PATH).is_file()


def test_sigkill_installer_at_any_moment(installer_sh, locking_path, tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    parent = tmp_path / "envs"
    parent.mkdir()
    target = parent / "env"
    proc = _install(installer_sh, target, locking_path)
    _wait_for(lambda: any(STAGING_MARK in n for n in os.listdir(parent)), proc)
    seen = time.monotonic()
    assert proc.wait() == 0, proc.stdout.read() if proc.stdout else ""
    working = time.monotonic() - seen
    (target / "marker").write_text("old")
    for round_ in range(5):
        proc = _install(installer_sh, target, locking_path, "-f")
        while proc.poll() is None and not any(STAGING_MARK in n for n in os.listdir(parent)):
            time.sleep(0.001)
        time.sleep(rng.uniform(0, working * 1.1))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        context = f"seed {seed}, round {round_}, returncode {proc.returncode}"
        rest = [n for n in _names(parent) if n not in ("env", f".env{LOCK_MARK}")]
        assert len(rest) <= 2 and all(n.startswith(".env.envbundle-") for n in rest), context
        if not target.exists():  # killed between the two renames: the next run puts it back
            assert any("-replaced-" in n for n in rest), context
        else:
            assert _installed(target), context
    proc = _install(installer_sh, target, locking_path, "-f")
    assert proc.wait() == 0, proc.stdout.read() if proc.stdout else ""
    assert _installed(target) and not (target / "marker").exists()
    assert _names(parent) == ["env"]


def test_installer_takes_the_unbundle_lock_and_unbundle_cleans_its_leftovers(
    installer_sh, locking_path, source_bundle, conda_env, tmp_path
):
    target = tmp_path / "env"
    dead = tmp_path / ".env.envbundle-staging-00123400"  # what a killed installer leaves
    (dead / "lib").mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    try:
        for path in (locking_path, _bare_with(tmp_path / "perl-bin", "perl")):
            busy = _install(installer_sh, target, path)
            output = busy.communicate()[0]
            assert busy.returncode == 1 and "is writing" in output, output
            assert dead.exists() and not target.exists()  # nothing touched while locked
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    unbundle(str(source_bundle), str(target))
    assert _names(tmp_path) == ["bare-bin", "env", "perl-bin"]


_LOCK_HOLDER = (
    "import sys\nfrom conda_envbundle.unbundling.lock import target_lock\n"
    "with target_lock(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n"
)


def test_installer_repairs_a_dead_two_rename_swap(installer_sh, locking_path, tmp_path):
    target = tmp_path / "env"
    assert _install(installer_sh, target, locking_path).wait() == 0
    (target / "marker").write_text("old")
    aside = tmp_path / ".env.envbundle-replaced-00999900"
    aside.mkdir()
    target.rename(aside / "env")  # killed between the two renames of a -f replace
    proc = _install(installer_sh, target, locking_path)
    output = proc.communicate()[0]
    assert proc.returncode == 1 and "already exists" in output, output  # the old one is back
    assert (target / "marker").read_text() == "old"
    assert _names(tmp_path) == ["bare-bin", "env"]


@pytest.mark.parametrize("fmt", ["dir", "tar"])
def test_deep_environment_bundles_and_unbundles(fmt, make_env, conda_env, deep_tmp):
    """The bundle side too: walking, writing and reading a directory bundle DEPTH deep."""
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    bottom = str(env) + "/d" * DEPTH
    make_dirs(bottom)
    Path(bottom, "bottom").write_text("at the bottom\n")
    out = deep_tmp / f"deep.{fmt}"
    bundle(str(env), str(out), fmt=fmt)
    target = deep_tmp / "env"
    unbundle(str(out), str(target))
    assert _depth(target) == DEPTH
    remove_tree(str(env / "d"))


# --- 7. round three: what an attack on the above found ------------------------------------------


def _run(installer: Path, target: Path, path: str, *extra: str) -> tuple[int, str]:
    proc = _install(installer, target, path, *extra)
    output = proc.communicate()[0]
    return proc.returncode, output


def test_installer_refuses_a_symlink_to_an_empty_directory(installer_sh, locking_path, tmp_path):
    empty = tmp_path / "realempty"
    empty.mkdir()
    link = tmp_path / "link"
    link.symlink_to("realempty")
    for extra, message in (((), "already exists"), (("-f",), "is not a conda environment")):
        rc, output = _run(installer_sh, link, locking_path, *extra)
        assert rc == 1 and message in output, output
    assert _names(empty) == [] and link.is_symlink()


def test_installer_refuses_a_mount_point(installer_sh, locking_path, mounted):
    empty = mounted("-t", "tmpfs", "-o", "size=64m", "tmpfs")
    origin = mounted("-t", "tmpfs", "-o", "size=64m", "tmpfs")
    (origin / "inner").mkdir()
    bound = mounted("--bind", str(origin / "inner"))  # the same file system as its source
    for point in (empty, bound):
        for extra in ((), ("-f",)):
            rc, output = _run(installer_sh, point, locking_path, *extra)
            assert rc == 1 and f"{point} is a mount point" in output, output
            assert f"such as {point}/NAME" in output
        assert _names(point) == []
    rc, output = _run(installer_sh, empty / "env", locking_path)  # what the message says works
    assert rc == 0, output
    assert _installed(empty / "env")


def _needed_kb(output: str) -> int:
    found = re.search(r"needs (\d+) kB", output)
    assert found, output
    return int(found.group(1))


def test_installer_counts_blocks_and_inodes_like_conda_unbundle(
    installer_sh, locking_path, mounted
):
    manifest = Manifest.from_bytes(_manifest_bytes(installer_sh))
    needed, inodes = space_needed(manifest, 4096, "/mnt/" + "x" * 30)
    # more than the files' bytes alone (what the installer used to count), less than needed
    size = (manifest.total_size + needed) // 2 // 4096 * 4096
    assert manifest.total_size + 1024 < size < needed
    point = mounted("-t", "tmpfs", "-o", f"size={size}", "tmpfs")
    rc, output = _run(installer_sh, point / "env", locking_path)
    assert rc == 1 and f"of free space at {point}" in output, output
    assert _needed_kb(output) * 1024 >= space_needed(manifest, 4096, str(point / "env"))[0]
    assert _names(point) == []
    few = mounted("-t", "tmpfs", "-o", f"size=256m,nr_inodes={inodes // 2}", "tmpfs")
    rc, output = _run(installer_sh, few / "env", locking_path)
    assert rc == 1 and f"needs {inodes} files at {few}" in output, output
    assert _names(few) == []


def _without_preflight(installer: Path, out: Path) -> Path:
    """The installer with its space and inode estimates at 0 (the header's sha256 is
    checked by --verify, not on install), so that tar meets the full disk."""
    data = installer.read_bytes()
    for line in (b"space", b"entries"):
        data = re.sub(rb"\n" + line + rb"='\d+'\n", b"\n" + line + b"='0'\n", data, count=1)
    out.write_bytes(data)
    return out


@pytest.mark.parametrize("options", ["size=4m", "size=256m,nr_inodes=300"])
def test_installer_says_the_disk_is_full(options, installer_sh, locking_path, mounted, tmp_path):
    blind = _without_preflight(installer_sh, tmp_path / "blind.sh")
    point = mounted("-t", "tmpfs", "-o", options, "tmpfs")
    rc, output = _run(blind, point / "env", locking_path)
    assert rc == 1 and f"no space left at {point}" in output, output
    assert "damaged" not in output
    assert _names(point) == []


def test_installer_refuses_a_name_too_long_for_its_hidden_names(
    installer_sh, locking_path, tmp_path
):
    rc, output = _run(installer_sh, tmp_path / ("l" * 240), locking_path)
    assert rc == 1, output
    assert "is 240 bytes long" in output and "Choose a name of at most 226 bytes" in output
    assert _names(tmp_path) == ["bare-bin"]


def test_installer_suggests_a_command_safe_to_paste(installer_sh, locking_path, tmp_path):
    marker = tmp_path / "PWNED"
    target = tmp_path / f"z $(touch {marker})"
    rc, output = _run(installer_sh, target, locking_path)
    assert rc == 0, output
    (line,) = (line for line in output.splitlines() if "activate it with: . " in line)
    # the suggested command, with printf in place of ".": what the shell makes of its word
    pasted = "printf %s " + line.split("activate it with: . ", 1)[1]
    proc = subprocess.run(["sh", "-c", pasted], capture_output=True, text=True, check=True)
    assert proc.stdout == f"{target}/bin/activate"
    assert not marker.exists()


def _nobody(argv: list, path: str) -> subprocess.CompletedProcess:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("running as another user needs root and setpriv")
    drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    env = ["/usr/bin/env", "-i", f"PATH={path}", "HOME=/nonexistent"]
    return subprocess.run([*drop, *env, *map(str, argv)], capture_output=True, text=True)


@pytest.fixture
def open_tmp():
    """A directory any user may write in (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="envbundle-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def read_only_installer(make_env, conda_isolation, open_tmp) -> Path:
    """An installer of an environment that ships a read-only directory (0555) of
    read-only files (0444), one of which conda-unpack relocates."""
    from .support.cli import CondaProcess

    env = make_env(["python"], pip_tool=False, unmanaged_binary=False)
    locked = env / "share" / "locked"
    locked.mkdir(parents=True)
    (locked / "where.txt").write_text(f"prefix {env}\n")
    (locked / "plain.txt").write_text("nothing to relocate\n")
    for path in (*locked.iterdir(), locked):
        path.chmod(0o555 if path == locked else 0o444)
    out = open_tmp / "locked.sh"
    proc = CondaProcess(conda_isolation.env)("bundle", "-p", env, "-o", out)
    assert proc.returncode == 0, proc.stderr
    out.chmod(0o644)
    return out


def test_installer_as_a_user_removes_read_only_directories(read_only_installer, open_tmp):
    path = _bare_with(open_tmp / "bin", "flock")
    parent = open_tmp / "envs"
    parent.mkdir(mode=0o777)
    parent.chmod(0o777)
    target = parent / "env"
    first = _nobody(["sh", read_only_installer, "-p", target], path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (target / "share" / "locked" / "where.txt").read_text() == f"prefix {target}\n"
    assert stat.S_IMODE((target / "share" / "locked").stat().st_mode) == 0o555
    # what a killed run of this user left: its staging directory, read-only directory inside
    dead = parent / ".env.envbundle-staging-00000001"
    shutil.copytree(target / "share", dead / "share", symlinks=True)
    subprocess.run(["chown", "-R", "nobody:nogroup", str(dead)], check=True)
    again = _nobody(["sh", read_only_installer, "-p", target, "-f"], path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Permission denied" not in again.stderr
    # the old environment (read-only directory and all) and the dead run's leftover are gone
    assert _names(parent) == ["env"]
    assert (target / "share" / "locked" / "where.txt").read_text() == f"prefix {target}\n"


def test_unbundle_refuses_a_name_too_long_for_its_hidden_names(
    source_bundle_small, conda_env, tmp_path
):
    with pytest.raises(IncompatibleTargetError) as info:
        unbundle(str(source_bundle_small), str(tmp_path / ("l" * 240)))
    assert "is 240 bytes long" in str(info.value)
    assert "Choose a name of at most 226 bytes" in str(info.value)
    assert _names(tmp_path) == []


def test_bundle_refuses_an_output_name_too_long_for_its_part(make_env, monkeypatch, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    long_env = env.rename(tmp_path / ("e" * 245))
    work = tmp_path / "out"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(EnvBundleError) as info:
        bundle(str(long_env))  # no -o: the output is named after the environment
    assert "is 253 bytes long" in str(info.value)
    assert "at most 230 bytes with -o" in str(info.value)
    assert _names(work) == []


def _odd_env(make_env, names: list[bytes]) -> Path:
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    odd = env / "share" / "odd"
    odd.mkdir()
    for name in names:
        Path(os.fsdecode(os.fsencode(odd) + b"/" + name)).write_bytes(name)
    return env


ZIP_UNFIT = {"not-utf8": b"\xff\xfebad", "newline": b"new\nline", "tab": b"tab\there"}


@pytest.mark.parametrize("name", ZIP_UNFIT)
def test_zip_refuses_names_it_cannot_carry_and_tar_keeps_them(name, make_env, conda_env, tmp_path):
    raw = ZIP_UNFIT[name]
    env = _odd_env(make_env, [raw])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsupportedPathError) as info:
        bundle(str(env), str(out / "e.zip"))
    assert repr("share/odd/" + os.fsdecode(raw)) in str(info.value)
    assert _names(out) == []
    # tar carries the name exactly: conda unbundle and GNU tar both write it
    tar = bundle(str(env), str(out / "e.tar")).output
    unbundle(tar, str(tmp_path / "env"))
    untarred = tmp_path / "untarred"
    untarred.mkdir()
    subprocess.run(["tar", "-xf", tar, "-C", untarred], check=True)
    for root in (tmp_path / "env", untarred):
        assert os.listdir(os.fsencode(root / "share" / "odd")) == [raw]


def test_every_naming_problem_is_reported_at_once(make_env, tmp_path):
    env = _odd_env(make_env, [b"back\\slash", b"new\nline"])
    (env / "share" / "odd" / "out").symlink_to("/etc/passwd")
    for fmt, found in (("tar", ["back\\\\slash"]), ("zip", ["back\\\\slash", "new\\nline"])):
        with pytest.raises(UnsupportedPathError) as info:
            bundle(str(env), str(tmp_path / f"e.{fmt}"))
        message = str(info.value)
        assert all(name in message for name in found), message
        assert "share/odd/out" in message and "point outside the environment" in message
    assert not list(tmp_path.glob("e.*"))


# pax numbers GNU tar refuses (exit 2) and the largest it takes, as the attack tried them
PAX_NUMBERS = [
    ("mtime", b"99999999999999999999.5"),
    ("mtime", b"9223372036854775807.5"),
    ("atime", b"-9223372036854775809"),
    ("ctime", b"-9223372036854775808"),
    ("uid", b"99999999999"),
    ("uid", b"4294967295"),
    ("gid", b"4294967296"),
    ("size", b"9" * 5000),
]


@pytest.mark.parametrize(("key", "value"), PAX_NUMBERS, ids=lambda v: str(v)[:24])
def test_pax_numbers_are_read_as_gnu_tar_reads_them(key, value, small_bundle_data, tmp_path):
    from .test_archive_fidelity import FOO, _before, _pax

    crafted = small_bundle_data.copy()
    _before(crafted, FOO, _pax((key, value)))
    path = crafted.write(tmp_path / "b.tar", codec="tar")
    (tmp_path / "out").mkdir()
    gnu = subprocess.run(["tar", "-xf", path, "-C", tmp_path / "out"], capture_output=True)
    if gnu.returncode == 0:
        verify(str(path))
    else:
        assert gnu.returncode == 2 and b"out of range" in gnu.stderr, gnu.stderr
        with pytest.raises(BundleFormatError, match=f"whose '{key}' is out of the range"):
            verify(str(path))
