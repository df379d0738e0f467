"""Pre-flight checks: a bundle that cannot work at the target is refused before any write.

Each refusal is one message with the numbers (needed against found), and the target's
parent directory is exactly as it was. Machine facts come from conda's own virtual
packages, which honour conda's overrides (``CONDA_OVERRIDE_GLIBC``, ``CONDA_OVERRIDE_OSX``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import zstandard

from conda_envbundle import _compat, inspect, unbundle
from conda_envbundle.archive.members import REGULAR
from conda_envbundle.archive.tar import END_OF_ARCHIVE, member_header
from conda_envbundle.exceptions import IncompatibleTargetError, TargetExistsError
from conda_envbundle.manifest import MANIFEST_PATH
from conda_envbundle.unbundling.preflight import space_needed

from .support.cli import CondaProcess, assert_clean_error
from .support.crafted import Bundle, dump, tree


@pytest.fixture
def no_cuda(monkeypatch):
    """Tell conda there is no CUDA: its detection spawns a process and is not what we test."""
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "")


def _with_platform(base: Bundle, path: Path, **platform: str) -> Path:
    bundle = base.copy()
    bundle.manifest["platform"].update(platform)
    return bundle.write(path)


def _refused(bundle: Path, target: Path, error: type, *fragments: str, force: bool = False):
    """Unbundle; assert the exact refusal and that the target's parent did not change."""
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    before = tree(parent)
    with pytest.raises(error) as info:
        unbundle(str(bundle), str(target), force=force)
    assert type(info.value) is error
    for fragment in fragments:
        assert fragment in str(info.value)
    assert tree(parent) == before
    return info.value


def test_other_platform_is_refused(small_bundle_data, conda_env, tmp_path):
    bundle = _with_platform(small_bundle_data, tmp_path / "b.tar.zst", subdir="osx-arm64")
    host = _compat.native_subdir()
    _refused(
        bundle,
        tmp_path / "env",
        IncompatibleTargetError,
        f"This bundle is for osx-arm64, but this machine is {host}.",
    )


def test_conda_override_glibc_reaches_the_virtual_packages(monkeypatch, no_cuda):
    monkeypatch.setenv("CONDA_OVERRIDE_GLIBC", "2.5")
    assert _compat.virtual_package_versions()["__glibc"] == "2.5"


def test_glibc_too_old_is_refused(small_bundle_data, conda_env, no_cuda, monkeypatch, tmp_path):
    bundle = _with_platform(small_bundle_data, tmp_path / "b.tar.zst", glibc="2.17")
    monkeypatch.setenv("CONDA_OVERRIDE_GLIBC", "2.5")
    _refused(
        bundle,
        tmp_path / "env",
        IncompatibleTargetError,
        "needs glibc 2.17 or newer; this machine has glibc 2.5.",
    )
    monkeypatch.setenv("CONDA_OVERRIDE_GLIBC", "")  # conda's way to say: no glibc (musl)
    _refused(bundle, tmp_path / "env", IncompatibleTargetError, "this machine has no glibc")
    monkeypatch.setenv("CONDA_OVERRIDE_GLIBC", "2.17")
    assert unbundle(str(bundle), str(tmp_path / "env")).files


def test_glibc_refusal_through_the_cli(small_bundle_data, conda_isolation, tmp_path):
    bundle = _with_platform(small_bundle_data, tmp_path / "b.tar.zst", glibc="2.28")
    env = {**conda_isolation.env, "CONDA_OVERRIDE_GLIBC": "2.17", "CONDA_OVERRIDE_CUDA": ""}
    proc = CondaProcess(env)("unbundle", bundle, "-p", tmp_path / "env")
    assert_clean_error(proc, "IncompatibleTargetError", "needs glibc 2.28", "has glibc 2.17")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.zst"]


def test_macos_minimum(small_bundle_data, conda_env, no_cuda, monkeypatch, tmp_path):
    from conda.base.context import reset_context

    bundle = small_bundle_data.copy()
    bundle.manifest["platform"].update(subdir="noarch", osx="10.13")
    bundle = bundle.write(tmp_path / "b.tar.zst")
    _refused(
        bundle,
        tmp_path / "env",
        IncompatibleTargetError,
        "needs macOS 10.13 or newer, but this machine has no macOS",
    )
    # conda reports __osx where its subdir is osx-*; the override sets the version
    monkeypatch.setenv("CONDA_SUBDIR", "osx-64")
    monkeypatch.setenv("CONDA_OVERRIDE_OSX", "10.9")
    reset_context()
    _refused(
        bundle,
        tmp_path / "env",
        IncompatibleTargetError,
        "needs macOS 10.13 or newer; this machine has macOS 10.9.",
    )
    monkeypatch.setenv("CONDA_OVERRIDE_OSX", "10.15")
    assert unbundle(str(bundle), str(tmp_path / "env")).files


def test_target_longer_than_the_placeholders_is_refused(small_bundle_data, conda_env, tmp_path):
    bundle = small_bundle_data.copy().write(tmp_path / "b.tar.zst")
    target = tmp_path / ("d" * 120) / ("e" * 120) / "env"
    length = len(str(target).encode())
    assert length > 255
    _refused(
        bundle,
        target,
        IncompatibleTargetError,
        f"The target path is {length} bytes long",
        "a prefix of at most 255 bytes",
    )


def _huge_bundle(path: Path, size: int) -> Path:
    """A bundle whose manifest declares one file of ``size`` bytes.

    Its data is never read (the space check refuses first), so the archive stops after
    that member's header, like the first bytes of a real bundle of that size.
    """
    from conda_envbundle import __version__

    manifest = {
        "format": "conda-envbundle",
        "version": 1,
        "created_by": {"tool": __version__, "conda": "24.7.1"},
        "source": {"name": "huge", "site_packages": None},
        "platform": {"subdir": _compat.native_subdir()},
        "prefix_limit": None,
        "packages": [],
        "files": [
            {"path": "huge", "kind": "file", "mode": 0o644, "size": size, "sha256": "0" * 64}
        ],
        "unrelocated": [],
    }
    body = dump(manifest)
    data = member_header(MANIFEST_PATH, REGULAR, mode=0o644, size=len(body)) + body
    data += b"\0" * (-len(body) % 512) + member_header("huge", REGULAR, mode=0o644, size=size)
    path.write_bytes(zstandard.ZstdCompressor().compress(data + END_OF_ARCHIVE))
    return path


def test_not_enough_space_is_refused_with_the_numbers(conda_env, tmp_path):
    fs = os.statvfs(tmp_path)
    size = fs.f_blocks * fs.f_frsize + (1 << 40)  # more than the whole filesystem
    bundle = _huge_bundle(tmp_path / "huge.tar.zst", size)
    target = tmp_path / "new" / "env"
    needed, _ = space_needed(inspect(str(bundle)), fs.f_frsize, str(target))
    assert needed > -(-size // fs.f_frsize) * fs.f_frsize  # the file, and the kept manifest
    _refused(
        bundle,
        target,
        IncompatibleTargetError,
        f"({needed} bytes) of free space at {tmp_path};",
        "are free. Free some space or choose another path.",
    )


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(options)`` mounts a fresh tmpfs under ``tmp_path`` for this test."""
    mounts = []

    def mount(options: str) -> Path:
        point = tmp_path / f"fs{len(mounts)}"
        point.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {proc.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", str(point)], check=True)


def test_small_filesystem_is_refused_exactly(small_bundle_data, conda_env, tmpfs):
    tiny_fs = tmpfs("size=64k")
    bundle = small_bundle_data.copy()
    path = bundle.write(tiny_fs.parent / "b.tar.zst")
    fs = os.statvfs(tiny_fs)
    needed, _ = space_needed(_manifest_of(bundle), fs.f_frsize, str(tiny_fs / "env"))
    free = fs.f_bfree * fs.f_frsize
    assert free == 64 * 1024 < needed
    _refused(
        path,
        tiny_fs / "env",
        IncompatibleTargetError,
        f"needs {_human(needed)} ({needed} bytes) of free space at {tiny_fs}; "
        f"only 64 KB ({free} bytes) are free.",
    )


def test_too_few_inodes_is_refused_exactly(small_bundle_data, conda_env, tmpfs):
    tiny_fs = tmpfs("size=4m,nr_inodes=20")
    bundle = small_bundle_data.copy()
    bundle.members = [m for m in bundle.members if len(m.data) < 4096]
    path = bundle.honest().write(tiny_fs.parent / "b.tar.zst")
    favail = os.statvfs(tiny_fs).f_favail
    assert favail < len(bundle.members)
    _refused(
        path,
        tiny_fs / "env",
        IncompatibleTargetError,
        # every member, and the kept manifest with its directory
        f"needs {len(bundle.members) + 2} files at {tiny_fs}; the filesystem has room for only "
        f"{favail} more.",
    )


def _manifest_of(bundle: Bundle):
    from conda_envbundle.manifest import Manifest

    return Manifest.from_bytes(bundle.sealed_manifest())


def _human(count: int) -> str:
    from conda.utils import human_bytes

    return human_bytes(count)


@pytest.fixture
def outer_env(small_bundle_data, conda_env, tmp_path) -> Path:
    """A real environment (unbundled) for nesting tests."""
    bundle = small_bundle_data.copy().write(tmp_path / "b.tar.zst")
    outer = tmp_path / "outer"
    unbundle(str(bundle), str(outer))
    return outer


def test_target_inside_another_environment_is_refused(outer_env, tmp_path):
    bundle = tmp_path / "b.tar.zst"
    _refused(
        bundle,
        outer_env / "lib" / "nested",
        IncompatibleTargetError,
        f"is inside the conda environment {outer_env}.",
        f"or {outer_env / 'envs' / 'nested'}.",
    )
    (tmp_path / "link").symlink_to(outer_env / "share")
    _refused(bundle, tmp_path / "link" / "env", IncompatibleTargetError, "inside the conda")


def test_envs_directory_of_an_environment_is_allowed(outer_env, tmp_path):
    target = outer_env / "envs" / "named"
    unbundle(str(tmp_path / "b.tar.zst"), str(target))
    assert _compat.is_conda_environment(str(target))


def test_existing_target_is_refused_before_any_write(small_bundle_data, conda_env, tmp_path):
    bundle = small_bundle_data.copy().write(tmp_path / "b.tar.zst")
    (tmp_path / "file").write_text("mine")
    _refused(bundle, tmp_path / "file", TargetExistsError, "already exists", "--force")
    _refused(bundle, tmp_path / "file", TargetExistsError, "is not a conda environment", force=True)


def test_conda_root_environment_is_never_replaced(
    small_bundle_data, conda_env, monkeypatch, tmp_path
):
    from conda.base.context import reset_context

    bundle = small_bundle_data.copy().write(tmp_path / "b.tar.zst")
    root = tmp_path / "root"
    unbundle(str(bundle), str(root))
    monkeypatch.setenv("CONDA_ROOT_PREFIX", str(root))
    reset_context()
    _refused(bundle, root, TargetExistsError, "is the environment conda runs from", force=True)
