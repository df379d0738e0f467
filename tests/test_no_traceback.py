"""Never a traceback, on either side; and conda bundle writes only bundles it can read back.

Every failure must be one of our errors with its documented exit status. The cases are
hostile bundles and hostile environments made here: text JSON can carry but no file name
can, conda-meta records that are no records, every single-byte flip of small tar.gz and
zip bundles, unreadable files, full and read-only filesystems, closed pipes, names with
backslashes, special files, and environments reached through a symlink.
"""

from __future__ import annotations

import contextlib
import inspect as pyinspect
import io
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conda_envbundle import bundle, exceptions, inspect, unbundle, verify
from conda_envbundle.archive.codecs import compressing
from conda_envbundle.exceptions import (
    BundleFormatError,
    EnvBundleError,
    FileChangedError,
    IncompatibleTargetError,
    UnsafeLinkError,
    UnsupportedPathError,
)
from conda_envbundle.manifest import MANIFEST_PATH
from conda_envbundle.paths import path_problem
from conda_envbundle.relocation.rules import is_record_path

from .support.cli import assert_clean_error
from .support.crafted import Bundle, Raw, ZipEntry, raw_zip, tree, zip_entries
from .support.envs import CONDA
from .support.verify import scanned_bytes

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="mounts filesystems and drops capabilities")
DOCUMENTED_CODES = {0, 1} | {
    cls.return_code
    for _, cls in pyinspect.getmembers(exceptions, pyinspect.isclass)
    if issubclass(cls, EnvBundleError) and isinstance(cls.return_code, int)
}


def _no_traceback(proc: subprocess.CompletedProcess) -> None:
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert "unexpected error" not in output.lower(), output
    assert proc.returncode in DOCUMENTED_CODES, (proc.returncode, output)


# --- unbundle side: text no file name can hold, and manifest fields of the wrong shape -----


def _entry(b: Bundle, path: str) -> dict:
    return next(f for f in b.manifest["files"] if f["path"] == path)


def _with_link(b: Bundle, target: str) -> None:
    b.members.append(Raw("bin/link", b"2", link="foo"))
    b.honest()
    _entry(b, "bin/link")["target"] = target


def _placeholder(b: Bundle, value: str) -> None:
    next(f for f in b.manifest["files"] if "prefix" in f)["prefix"]["placeholder"] = value


def _raw_manifest_edit(old: bytes, new: bytes):
    def edit(b: Bundle) -> None:
        b.manifest_bytes = b.sealed_manifest().replace(old, new, 1)

    return edit


MANIFEST_CASES = {
    "lone surrogate in a path": (
        lambda b: (b.members.append(Raw("bin/x", data=b"x")), b.honest(), _fix_path(b)),
        "lone surrogate",
    ),
    "lone surrogate in a symlink target": (lambda b: _with_link(b, "\ud800"), "pointing outside"),
    "lone surrogate in a placeholder": (lambda b: _placeholder(b, "/opt/\udfff"), "prefix rule"),
    "NUL in a placeholder": (lambda b: _placeholder(b, "/opt/\0"), "prefix rule"),
    "lone surrogate in the source name": (
        lambda b: b.manifest["source"].update(name="\ud800"),
        "source name is not valid text",
    ),
    "package name not text": (
        lambda b: b.manifest["packages"][0].update(name=["x"]),
        "package name is not a short string",
    ),
    "package not an object": (lambda b: b.manifest["packages"].append(7), "not an object"),
    "glibc of 5000 digits": (
        lambda b: b.manifest["platform"].update(glibc="9" * 5000),
        "glibc requirement is not a short string",
    ),
    "glibc not a version": (
        lambda b: b.manifest["platform"].update(glibc="2.17; rm -rf /"),
        "is not a version",
    ),
    "glibc with a huge part": (
        lambda b: b.manifest["platform"].update(glibc="2." + "9" * 40),
        "is not a version",
    ),
    "platform not an object": (lambda b: b.manifest.update(platform=[]), "not an object"),
    "unrelocated not objects": (lambda b: b.manifest.update(unrelocated=[1]), "unrelocated"),
    "non-UTF-8 bytes in a path": (
        _raw_manifest_edit(b'"bin/foo"', b'"bin/f\xffo"'),
        "manifest is damaged",
    ),
}


def _fix_path(b: Bundle) -> None:
    _entry(b, "bin/x")["path"] = "bin/\ud800"


@pytest.mark.parametrize("name", MANIFEST_CASES)
def test_manifest_text_and_shape(name, small_bundle_data, conda_env, tmp_path):
    edit, fragment = MANIFEST_CASES[name]
    b = small_bundle_data.copy()
    edit(b)
    path = b.write(tmp_path / "b.tar.zst")
    for read in (verify, inspect):
        with pytest.raises(BundleFormatError) as info:
            read(str(path))
        assert fragment in str(info.value)
    with pytest.raises(BundleFormatError):
        unbundle(str(path), str(tmp_path / "env"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.zst"]


def test_undecodable_names_still_travel(small_bundle_data, conda_env, conda_process, tmp_path):
    """Bytes that are not UTF-8 in a file name are legal (surrogate-escaped): they
    install, and --list prints them under a strict UTF-8 terminal without failing."""
    b = small_bundle_data.copy()
    b.members.append(Raw("share/caf\udce9", data=b"latin-1 name"))
    path = b.honest().write(tmp_path / "b.tar.zst")
    unbundle(str(path), str(tmp_path / "env"))
    assert (tmp_path / "env" / "share" / "caf\udce9").read_bytes() == b"latin-1 name"
    env = {**conda_process.env, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}
    listed = ""
    for what in ("--list", "--info"):
        proc = subprocess.run(
            [str(CONDA), "unbundle", str(path), what], env=env, capture_output=True, text=True
        )
        _no_traceback(proc)
        assert proc.returncode == 0
        listed = listed or proc.stdout
    assert "share/caf\\udce9  12 B" in listed, listed


# --- conda-meta records that are no records ---------------------------------------------------


def _record(b: Bundle) -> Raw:
    return next(m for m in b.members if is_record_path(m.path))


RECORD_CASES = {
    "a list": b"[1, 2]",
    "a string": b'"record"',
    "too deep": b"[" * 100_000 + b"]" * 100_000,
    "not JSON": b"{nope",
    "not UTF-8": b'{"name": "\xff"}',
    "paths not a list": b'{"paths_data": {"paths": 3}}',
    "paths_data not an object": b'{"paths_data": [1]}',
    "a path not an object": b'{"paths_data": {"paths": [1]}}',
    "a _path not text": b'{"paths_data": {"paths": [{"_path": 7}]}}',
}


@pytest.mark.parametrize("name", RECORD_CASES)
def test_record_that_is_no_record(name, small_bundle_data, conda_env, tmp_path):
    b = small_bundle_data.copy()
    record = _record(b)
    record.data = RECORD_CASES[name]
    path = b.honest().write(tmp_path / "b.tar.zst")
    with pytest.raises(BundleFormatError) as info:
        unbundle(str(path), str(tmp_path / "env"))
    assert type(info.value) is BundleFormatError
    assert record.path in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.zst"]


def _record_with_rule(b: Bundle, placeholder: str) -> None:
    record = _record(b)
    record.data = json.dumps({"name": "foo", "note": f"{placeholder}/x"}).encode()
    record.extra = {"prefix": {"placeholder": placeholder, "mode": "text"}}
    b.honest()


def test_record_broken_by_its_prefix_rule(small_bundle_data, conda_env, tmp_path):
    """A hostile rule whose rewrite breaks the JSON is refused, not a traceback."""
    b = small_bundle_data.copy()
    _record_with_rule(b, '"foo"')
    path = b.write(tmp_path / "b.tar.zst")
    with pytest.raises(BundleFormatError, match="is not valid JSON"):
        unbundle(str(path), str(tmp_path / "env"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.zst"]


@pytest.mark.parametrize("name", ['with"quote', "back\\slash", "new\nline"])
def test_target_that_would_break_records_is_refused_first(
    name, small_bundle_data, conda_env, tmp_path
):
    b = small_bundle_data.copy()
    _record_with_rule(b, "/opt/old-env")
    path = b.write(tmp_path / "b.tar.zst")
    with pytest.raises(IncompatibleTargetError, match="would break their JSON"):
        unbundle(str(path), str(tmp_path / name))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.zst"]
    unbundle(str(path), str(tmp_path / "plain"))  # the same bundle installs elsewhere
    record = json.loads((tmp_path / "plain" / _record(b).path).read_text())
    assert record["note"] == f"{tmp_path / 'plain'}/x"


def test_target_path_not_utf8(source_bundle_small, conda_process, tmp_path):
    target = os.fsdecode(bytes(tmp_path) + b"/env\xff")
    proc = conda_process("unbundle", source_bundle_small, "-p", target)
    assert_clean_error(proc, "IncompatibleTargetError", "not valid UTF-8")
    assert proc.returncode == IncompatibleTargetError.return_code
    assert list(tmp_path.iterdir()) == []


# --- damaged archives: every byte flipped -----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_bundle(small_bundle_data) -> Bundle:
    """The small bundle cut to a few short members: about 2 kB once compressed."""
    b = small_bundle_data.copy()
    keep = [m for m in b.members if m.path in ("bin", "include", "include/foo.h")]
    b.members = [*keep, Raw("include/link.h", b"2", link="foo.h")]
    b.manifest["packages"] = b.manifest["packages"][:1]
    return b.honest()


def _flip_all(data: bytes, suffix: str, work: Path) -> tuple[int, int]:
    """Verify ``data`` with each byte flipped in turn; returns (accepted, refused)."""
    accepted = refused = 0
    path = work / f"flipped{suffix}"
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        path.write_bytes(damaged)
        try:
            verify(str(path))
            accepted += 1
        except EnvBundleError as exc:
            assert exc.return_code in DOCUMENTED_CODES, (offset, exc)
            refused += 1
    return accepted, refused


def _gzip(b: Bundle) -> bytes:
    out = io.BytesIO()
    with compressing(out, "tar.gz", 6, 1) as stream:
        stream.write(b.tar())
    return out.getvalue()


def test_every_byte_of_a_tar_gz_flipped(tiny_bundle, conda_env, tmp_path):
    data = _gzip(tiny_bundle)
    (tmp_path / "intact.tar.gz").write_bytes(data)
    assert verify(str(tmp_path / "intact.tar.gz")).files
    accepted, refused = _flip_all(data, ".tar.gz", tmp_path)
    # gzip's header holds bytes nobody checks (its mtime, flags, OS); the rest is refused
    assert refused > len(data) * 0.9, (accepted, refused)


def test_every_byte_of_a_zip_flipped(tiny_bundle, conda_env, tmp_path):
    path = tiny_bundle.write_zip(tmp_path / "intact.zip")
    assert verify(str(path)).files
    data = path.read_bytes()
    accepted, refused = _flip_all(data, ".zip", tmp_path)
    assert refused > len(data) // 2, (accepted, refused)


def test_flipped_bundles_through_the_cli(tiny_bundle, conda_process, tmp_path):
    data = _gzip(tiny_bundle)
    for offset in range(10, len(data), len(data) // 7):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        path = tmp_path / f"flip{offset}.tar.gz"
        path.write_bytes(damaged)
        for args in (["--verify"], ["-p", tmp_path / f"env{offset}"]):
            proc = conda_process("unbundle", path, *args)
            _no_traceback(proc)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("env")]


@pytest.mark.parametrize("change", ["encrypted", "unknown method", "bzip2 method"])
def test_zip_members_we_never_write(change, tiny_bundle, conda_env, tmp_path):
    entries = zip_entries(tiny_bundle)
    member: ZipEntry = entries[-2]  # include/foo.h
    if change == "encrypted":
        member.flags |= 0x1
    else:
        member.method = 99 if change == "unknown method" else 12
    path = tmp_path / "b.zip"
    path.write_bytes(raw_zip(entries))
    with pytest.raises(BundleFormatError):
        verify(str(path))
    with pytest.raises(BundleFormatError):
        unbundle(str(path), str(tmp_path / "env"))
    assert not (tmp_path / "env").exists()


# --- what is not a bundle, and what cannot be read ----------------------------------------------


def test_directory_that_is_not_a_bundle(conda_env, conda_process, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0")
    with pytest.raises(BundleFormatError, match="not a bundle"):
        inspect(str(tmp_path / "etc"))
    for args in (["--verify"], ["--info"], ["--list"], ["-p", tmp_path / "env"]):
        proc = conda_process("unbundle", tmp_path / "etc", *args)
        assert_clean_error(proc, "is a directory but not a bundle")
        assert proc.returncode == BundleFormatError.return_code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc"]


def _without_dac(*args: object) -> list[str]:
    """A command run as root without the capabilities that override file permissions."""
    if not ROOT or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run without permission overrides")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", str(CONDA), *map(str, args)]


def test_unreadable_file_in_a_dir_bundle(source_bundle_small, conda_process, tmp_path):
    bundle_dir = tmp_path / "dir-bundle"
    proc = conda_process("unbundle", source_bundle_small, "-p", tmp_path / "env")
    assert proc.returncode == 0, proc.stderr
    proc = conda_process("bundle", "-p", tmp_path / "env", "--format", "dir", "-o", bundle_dir)
    assert proc.returncode == 0, proc.stderr
    (bundle_dir / "bin" / "foo").chmod(0)
    proc = subprocess.run(
        _without_dac("unbundle", bundle_dir, "--verify"),
        env=conda_process.env,
        capture_output=True,
        text=True,
    )
    assert_clean_error(proc, "BundleFormatError", "bin/foo: Permission denied")
    (bundle_dir / "bin").chmod(0)
    proc = subprocess.run(
        _without_dac("unbundle", bundle_dir, "-p", tmp_path / "env2"),
        env=conda_process.env,
        capture_output=True,
        text=True,
    )
    assert_clean_error(proc, "BundleFormatError", "Permission denied")
    assert not (tmp_path / "env2").exists()


def test_unreadable_file_in_the_environment(make_env, conda_process, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    secret = env / "share" / "secret.txt"
    secret.write_text("not for you")
    secret.chmod(0)
    proc = subprocess.run(
        _without_dac("bundle", "-p", env, "-o", tmp_path / "out.tar.zst"),
        env=conda_process.env,
        capture_output=True,
        text=True,
    )
    assert_clean_error(proc, f"Cannot read {secret}: Permission denied")
    assert not (tmp_path / "out.tar.zst").exists()


def test_files_come_and_go_while_bundling(make_env, conda_env, tmp_path):
    """Whatever moment a file appears or vanishes, a bundle is made or one of our errors."""
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    churn = env / "share" / "churn"
    churn.mkdir()
    stop = threading.Event()

    def come_and_go() -> None:
        n = 0
        while not stop.is_set():
            path = churn / f"f{n % 50}"
            with contextlib.suppress(OSError):
                path.write_bytes(b"x" * (n % 4000))
                if n % 3:
                    path.unlink()
            n += 1

    worker = threading.Thread(target=come_and_go)
    worker.start()
    outcomes = set()
    try:
        for run in range(12):
            out = tmp_path / f"b{run}.tar.zst"
            try:
                bundle(str(env), str(out))
                outcomes.add("bundled")
            except EnvBundleError as exc:
                assert type(exc) is FileChangedError, exc
                outcomes.add(type(exc).__name__)
                assert not out.exists()
    finally:
        stop.set()
        worker.join()
    assert outcomes


# --- closed pipes ------------------------------------------------------------------------------


def _read_then_close(cmd: list[str], env: dict[str, str], size: int) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(size)
    proc.stdout.close()
    stderr = proc.stderr.read().decode(errors="replace")
    assert len(head) == size
    return proc.wait(), stderr


def test_bundle_to_a_pipe_closed_early(source_env, conda_process):
    rc, stderr = _read_then_close(
        [str(CONDA), "bundle", "-p", str(source_env), "-o", "-"], conda_process.env, 1000
    )
    # like tar and zstd killed by SIGPIPE: quiet, and a status that says incomplete
    assert rc == 141, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "Error" not in stderr, stderr


def test_list_to_a_pipe_closed_early(source_bundle, conda_process):
    for extra in (["--json"], []):
        rc, stderr = _read_then_close(
            [str(CONDA), "unbundle", str(source_bundle), "--list", *extra], conda_process.env, 200
        )
        assert rc in ((141,) if extra else (0, 141)), stderr
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
        assert "Logging error" not in stderr, stderr


# --- full and read-only filesystems --------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path) -> Iterator[Callable[[str, str], Path]]:
    """Mount tmpfs filesystems under ``tmp_path`` (root only); unmounted afterwards."""
    if not ROOT or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small filesystem")
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True)
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


@needs_root
@pytest.mark.parametrize("fmt", ["zip", "tar.zst", "tar.gz", "sh", "dir"])
def test_full_disk(fmt, source_env, conda_process, small_fs):
    full = small_fs("full", "size=16k")
    proc = conda_process("bundle", "-p", source_env, "--format", fmt, "-o", full / "b")
    assert_clean_error(proc, "No space left on device")
    assert list(full.iterdir()) == []


@needs_root
def test_full_disk_behind_standard_output(source_env, conda_process, small_fs):
    full = small_fs("full", "size=16k")
    for fmt in ("zip", "tar.zst"):
        with open(full / "b", "wb") as sink:
            proc = subprocess.run(
                [str(CONDA), "bundle", "-p", str(source_env), "--format", fmt, "-o", "-"],
                env=conda_process.env,
                stdout=sink,
                stderr=subprocess.PIPE,
                text=True,
            )
        assert proc.returncode == 1, proc.stderr
        assert "Cannot write the bundle to standard output: No space left" in proc.stderr
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


@needs_root
def test_read_only_output_directory(source_bundle_small, make_env, conda_process, small_fs):
    read_only = small_fs("ro", "ro,size=1m")
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    for fmt in ("zip", "tar.zst", "dir", "sh"):
        proc = conda_process("bundle", "-p", env, "--format", fmt, "-o", read_only / "b")
        assert_clean_error(proc, "Read-only file system")
    proc = conda_process("unbundle", source_bundle_small, "-p", read_only / "env")
    assert_clean_error(proc, "Read-only file system")


# --- the bundle side writes only what the unbundle side reads ------------------------------


def test_names_unbundle_would_refuse_are_refused_at_bundle_time(make_env, conda_env, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    odd = env / "share" / "back\\slash.txt"
    odd.write_text("windows would split me")
    assert path_problem("share/back\\slash.txt") == "it holds a backslash"
    out = tmp_path / "b.tar.zst"
    with pytest.raises(UnsupportedPathError) as info:
        bundle(str(env), str(out))
    assert repr("share/back\\slash.txt") in str(info.value)
    assert not out.exists()
    result = bundle(str(env), str(out), filters=[("exclude", "share/back*")])
    assert result.files and verify(str(out)).files


def test_symlink_climbing_after_a_name_is_refused_at_bundle_time(make_env, conda_env, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    (env / "lib" / "roundabout").symlink_to("pkgconfig/../libfoo.so")
    with pytest.raises(UnsafeLinkError, match="lib/roundabout"):
        bundle(str(env), str(tmp_path / "b.tar.zst"))
    assert not (tmp_path / "b.tar.zst").exists()


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_manifest_dir_that_is_not_ours(kind, make_env, conda_env, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    place = env / "conda-meta" / "envbundle"
    if kind == "symlink":
        place.symlink_to("../bin")
    else:
        place.write_text("not a directory")
    out = tmp_path / "b.tar.zst"
    result = bundle(str(env), str(out))
    assert any("conda-meta/envbundle" in w for w in result.warnings), result.warnings
    manifest = verify(str(out))
    assert not [f for f in manifest.files if f.path.startswith("conda-meta/envbundle")]
    unbundle(str(out), str(tmp_path / "env"))
    assert (tmp_path / "env" / MANIFEST_PATH).is_file()


def test_special_files_are_named(make_env, conda_process, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    os.mkfifo(env / "share" / "a-fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(env / "share" / "a-socket"))
        proc = conda_process("bundle", "-p", env, "-o", tmp_path / "b.tar.zst")
        assert proc.returncode == 0, proc.stderr
        assert "share/a-fifo, share/a-socket" in proc.stderr, proc.stderr
        proc = conda_process("bundle", "-p", env, "-o", tmp_path / "c.tar.zst", "--json")
    assert proc.returncode == 0, proc.stderr
    warnings = json.loads(proc.stdout)["warnings"]
    assert any("share/a-fifo, share/a-socket" in w for w in warnings), warnings


def test_environment_reached_through_a_symlink(make_env, conda_env, tmp_path):
    """Files may hold the environment's path as given or as resolved: both relocate."""
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    via = tmp_path / "via"
    via.symlink_to(tmp_path)
    given = via / env.name
    real_text = f"#!{env}/bin/python3.12\nprint('{env}')\n"
    (env / "bin" / "real-spelling").write_text(real_text)
    (env / "share" / "given-spelling.txt").write_text(f"data at {given}/share\n")
    out = tmp_path / "b.tar.zst"
    bundle(str(given), str(out))
    target = tmp_path / "moved"
    unbundle(str(out), str(target))
    assert (target / "bin" / "real-spelling").read_text() == real_text.replace(
        str(env), str(target)
    )
    assert (target / "share" / "given-spelling.txt").read_text() == f"data at {target}/share\n"
    found = tree(target)
    stale = [p for p in found if os.path.isfile(target / p) and not os.path.islink(target / p)]
    for path in stale:
        data = scanned_bytes(target / path)  # the kept manifest without its origin
        assert str(env).encode() not in data and str(given).encode() not in data, path


def test_an_environment_at_a_path_that_is_not_utf8(make_env, conda_process, tmp_path):
    """Found by the attack on bundles of several: a traceback at classify time before."""
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/env-\xff")
    os.rename(env, odd)
    proc = conda_process("bundle", "-p", odd, "-o", tmp_path / "b.tar.zst")
    assert_clean_error(proc, "is not valid UTF-8")
    assert not (tmp_path / "b.tar.zst").exists()
