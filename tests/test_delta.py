"""Delta updates (issue 16): ship what changed, apply it beside the old environment, roll back.

One source environment goes through two generations as it would at a build site: bundled
in full (v1), then updated with conda (foopy 0.1.0 -> 0.2.0, foo-extra added, foo-post
removed) and bundled in full again (v2) and as a delta against v1. The deployed copies
are made by the real ``conda unbundle`` at short, long, spaced and non-ASCII paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import conda_envbundle
from conda_envbundle.exceptions import BundleFormatError, IncompatibleTargetError
from conda_envbundle.manifest import MANIFEST_PATH
from conda_envbundle.unbundling.commit import leftovers
from conda_envbundle.unbundling.generations import previous_of

from .conftest import SOURCE_PREFIX_LENGTH
from .support.cli import CondaProcess, assert_clean_error
from .support.crafted import read_bundle
from .support.envs import (
    CONDA,
    SOURCE_SPECS,
    add_unmanaged_binary,
    create_env,
    pip_install_tool,
    site_packages,
)
from .support.packages import READ_ONLY_FILE
from .support.proc import run
from .support.targets import KINDS, target_path
from .support.trees import snapshot
from .support.updates import EXTRA, EXTRA_CONFIG, FOOPY_NEXT, build_update_channel
from .support.verify import CLEAN_ENV, assert_env_runs

PLACEHOLDER_MARK = "_h_env_placehold"


@dataclass
class Generations:
    """The source environment (now at v2) and its bundles."""

    source: Path
    v1: Path
    v2: Path
    delta: Path


@pytest.fixture(scope="module")
def generations(tmp_path_factory, channel, conda_isolation) -> Generations:
    work = tmp_path_factory.mktemp("generations")
    updates = build_update_channel(work)
    # long, as the session's source env: the unmanaged binary takes paths up to its length
    source = work / ("build-site-" + "s" * (SOURCE_PREFIX_LENGTH - len(str(work)) - 12))
    create_env(source, channel, SOURCE_SPECS, conda_isolation.env)
    pip_install_tool(source, work / "wheels")
    add_unmanaged_binary(source)
    conda = CondaProcess(conda_isolation.env)
    v1 = work / "v1.tar.zst"
    _ok(conda("bundle", "-p", source, "-o", v1))
    channels = ["--offline", "--override-channels", "-c", channel.as_uri(), "-c", updates.as_uri()]
    run(
        [CONDA, "install", *channels, "-p", source, "--yes", f"foopy={FOOPY_NEXT}", EXTRA],
        env=conda_isolation.env,
    )
    run([CONDA, "remove", "--offline", "-p", source, "--yes", "foo-post"], env=conda_isolation.env)
    v2, delta = work / "v2.tar.zst", work / "v1-to-v2.tar.zst"
    _ok(conda("bundle", "-p", source, "-o", v2))
    _ok(conda("bundle", "-p", source, "--delta-from", v1, "-o", delta))
    return Generations(source, v1, v2, delta)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture
def conda(conda_isolation) -> CondaProcess:
    return CondaProcess(conda_isolation.env)


def _packages(conda: CondaProcess, prefix: Path) -> dict[str, str]:
    listed = json.loads(_ok(conda("list", "--json", "-p", prefix)))
    return {p["name"]: p["version"] for p in listed}


# --- what a delta holds ----------------------------------------------------------------------


def test_a_delta_ships_only_what_changed_and_says_so(generations, conda):
    assert generations.delta.stat().st_size * 5 < generations.v2.stat().st_size
    info = json.loads(_ok(conda("unbundle", generations.delta, "--info", "--json")))
    delta = info["delta"]
    base = json.loads(_ok(conda("unbundle", generations.v1, "--info", "--json")))
    assert base["delta"] is None
    assert delta["base_name"] == generations.source.name
    assert delta["packages"]["changed"] == [
        {"name": "foopy", "from": "0.1.0-" + _build(base, "foopy"), "to": _to(info, "foopy")}
    ]
    assert [p["name"] for p in delta["packages"]["added"]] == [EXTRA]
    assert [p["name"] for p in delta["packages"]["removed"]] == ["foo-post"]
    assert "bin/.foo-post-post-link.sh" in delta["removed"]
    assert delta["reused_files"] > 10 * delta["shipped_files"]
    text = _ok(conda("unbundle", generations.delta, "--info"))
    assert f"Delta against: {generations.source.name}" in text and "changes foopy 0.1.0-" in text


def _build(info: dict, name: str) -> str:
    return next(p["build"] for p in info["packages"] if p["name"] == name)


def _to(info: dict, name: str) -> str:
    return f"{FOOPY_NEXT}-{_build(info, name)}"


def test_a_delta_is_verified_whole_and_listed_without_its_base(generations, conda):
    out = _ok(conda("unbundle", generations.delta, "--verify"))
    assert "intact" in out
    listing = _ok(conda("unbundle", generations.delta, "--list")).splitlines()
    assert any(line.startswith("bin/foo ") and "[from the base]" in line for line in listing)
    assert not any("foopy/added.py" in line and "[from the base]" in line for line in listing)


# --- applying it -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_applied_delta_gives_a_working_new_environment(kind, generations, conda, tmp_path):
    target = target_path(kind, tmp_path)
    try:
        _applied_delta_works(target, generations, conda)
    finally:
        if kind == "short":
            shutil.rmtree(target.parent, ignore_errors=True)


def _applied_delta_works(target: Path, generations: Generations, conda: CondaProcess) -> None:
    _ok(conda("unbundle", generations.v1, "-p", target))
    kept_before = {p: (target / p).stat().st_ino for p in ("bin/foo", "bin/python3.12")}
    out = _ok(conda("unbundle", generations.delta, "-p", target, "--keep-previous"))
    assert "Updated" in out and "rollback" in out
    assert_env_runs(target, forbidden=[str(generations.source), PLACEHOLDER_MARK])
    versions = _packages(conda, target)
    assert versions["foopy"] == FOOPY_NEXT and EXTRA in versions and "foo-post" not in versions
    extra = subprocess.run(
        [*CLEAN_ENV, str(target / "bin" / "foo-extra")], capture_output=True, text=True
    )
    assert extra.stdout == f"foo-extra at {target}\n"
    assert (target / EXTRA_CONFIG).read_text() == f"{target}/share/foo-extra\n"
    added = subprocess.run(
        [
            *CLEAN_ENV,
            str(target / "bin" / "python"),
            "-c",
            "import foopy.added; print(foopy.added.WHAT)",
        ],
        capture_output=True,
        text=True,
    )
    assert added.stdout == "added in the update\n", added.stderr
    # unchanged files are the old environment's own, shared with the kept generation
    previous = Path(previous_of(str(target)))
    for path, inode in kept_before.items():
        assert (target / path).stat().st_ino == inode == (previous / path).stat().st_ino
    assert leftovers(str(target)) == []


def test_an_applied_delta_equals_a_full_unbundle_of_the_new_environment(
    generations, conda, tmp_path
):
    target = tmp_path / "é d" / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    _ok(conda("unbundle", generations.delta, "-p", target))
    updated = snapshot(target)
    shutil.rmtree(target)
    _ok(conda("unbundle", generations.v2, "-p", target))
    full = snapshot(target)
    assert updated.keys() == full.keys()
    assert [p for p in full if updated[p] != full[p]] == []
    # so a second delta, made against v2, applies to either
    kept = hashlib.sha256((target / MANIFEST_PATH).read_bytes()).hexdigest()
    assert updated[MANIFEST_PATH][2] == kept


def test_a_delta_applies_after_conda_unpack_moved_the_environment(generations, conda, tmp_path):
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    run(["tar", "--zstd", "-xf", generations.v1, "-C", extracted])
    moved = tmp_path / "moved ü"
    extracted.rename(moved)
    run([*CLEAN_ENV, moved / "bin" / "conda-unpack"])
    _ok(conda("unbundle", generations.delta, "-p", moved))
    assert_env_runs(moved, forbidden=[str(generations.source), PLACEHOLDER_MARK])
    assert _packages(conda, moved)["foopy"] == FOOPY_NEXT


# --- refusals: nothing written ---------------------------------------------------------------


def test_a_delta_is_refused_by_an_environment_of_another_base(
    generations, source_bundle_small, conda, tmp_path
):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v2, "-p", target))
    before = snapshot(target)
    proc = conda("unbundle", generations.delta, "-p", target)
    assert_clean_error(proc, "already is the one this delta makes")
    assert proc.returncode == 4
    small = tmp_path / "small"
    _ok(conda("unbundle", source_bundle_small, "-p", small))
    proc = conda("unbundle", generations.delta, "-p", small)
    assert_clean_error(proc, "was not made from this delta's base")
    copied = tmp_path / "copied"
    shutil.copytree(target, copied, symlinks=True)
    (copied / MANIFEST_PATH).unlink()  # made by hand: no kept manifest
    proc = conda("unbundle", generations.delta, "-p", copied)
    assert_clean_error(proc, "not made by conda unbundle")
    assert snapshot(target) == before
    assert sorted(os.listdir(tmp_path)) == ["copied", "env", "small"]


def test_a_delta_is_refused_where_there_is_no_environment(generations, conda, tmp_path):
    proc = conda("unbundle", generations.delta, "-p", tmp_path / "no" / "thing")
    assert_clean_error(proc, "no environment")
    assert proc.returncode == 4
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("change", ["appended", "added", "mode"])
def test_a_changed_environment_is_refused_before_anything_is_written(
    change, generations, conda, tmp_path
):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    config = target / "etc" / "foo" / "foo.conf"
    if change == "appended":
        with config.open("a") as fh:
            fh.write("# my own setting\n")
    elif change == "added":
        (target / "share" / "my-notes.txt").write_text("mine")
    else:
        config.chmod(0o600)
    before = snapshot(target)
    proc = conda("unbundle", generations.delta, "-p", target)
    assert_clean_error(proc, "changed since it was unbundled")
    assert snapshot(target) == before
    assert sorted(os.listdir(tmp_path)) == ["env"]


def test_verify_finds_a_same_size_edit_the_quick_check_cannot(generations, conda, tmp_path):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    config = target / "etc" / "foo" / "foo.conf"
    data = config.read_bytes()
    config.write_bytes(data[:-2] + b"X\n")
    before = snapshot(target)
    proc = conda("unbundle", generations.delta, "-p", target, "--verify")
    assert_clean_error(proc, "etc/foo/foo.conf (changed)")
    assert snapshot(target) == before


def test_python_s_own_caches_do_not_count_as_changes(generations, conda, tmp_path):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    cache = site_packages(target) / "foopy" / "__pycache__" / "extra.cpython-312.pyc"
    cache.write_bytes(b"cache")
    _ok(conda("unbundle", generations.delta, "-p", target))
    assert _packages(conda, target)["foopy"] == FOOPY_NEXT


def test_a_hostile_delta_is_refused(generations, conda, tmp_path):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    before = snapshot(target)
    bundle = read_bundle(generations.delta)
    shipped = next(m for m in bundle.members if m.path.endswith("foopy/added.py"))
    # claims the environment already has a file it has not: it would link nothing there
    for entry in bundle.manifest["files"]:
        if entry["path"] == shipped.path:
            entry["reuse"] = True
    bundle.members.remove(shipped)
    hostile = bundle.write(tmp_path / "hostile.tar.zst")
    proc = conda("unbundle", hostile, "-p", target)
    assert_clean_error(proc, "damaged or hostile")
    assert proc.returncode == 3
    assert snapshot(target) == before
    with pytest.raises(BundleFormatError):
        conda_envbundle.unbundle(str(hostile), str(target))


# --- generations -----------------------------------------------------------------------------


def test_rollback_puts_the_previous_generation_back_and_forward_again(generations, conda, tmp_path):
    target = tmp_path / "my env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    v1 = snapshot(target)
    proc = conda("unbundle", "--rollback", "-p", target)
    assert_clean_error(proc, "No previous generation")
    _ok(conda("unbundle", generations.delta, "-p", target, "--keep-previous"))
    v2 = snapshot(target)
    out = _ok(conda("unbundle", "--rollback", "-p", target))
    assert "Put back" in out
    assert snapshot(target) == v1
    assert _packages(conda, target)["foopy"] == "0.1.0"
    assert_env_runs(target, forbidden=[str(generations.source), PLACEHOLDER_MARK])
    _ok(conda("unbundle", "--rollback", "-p", target))
    assert snapshot(target) == v2
    assert _packages(conda, target)["foopy"] == FOOPY_NEXT


def test_without_keep_previous_the_old_generation_is_gone(generations, conda, tmp_path):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    _ok(conda("unbundle", generations.delta, "-p", target))
    assert sorted(os.listdir(tmp_path)) == ["env"]


def test_the_setting_keeps_the_previous_generation(generations, conda, conda_isolation, tmp_path):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    env = {**conda_isolation.env, "CONDA_PLUGINS_UNBUNDLE_KEEP_PREVIOUS": "true"}
    _ok(CondaProcess(env)("unbundle", generations.delta, "-p", target))
    assert os.path.isdir(previous_of(str(target)))


# --- a base exported from the deployed site ---------------------------------------------------


def test_a_delta_made_from_an_exported_base_applies(generations, conda, tmp_path):
    target = tmp_path / "ü site" / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    base = tmp_path / "base.json"
    out = _ok(conda("unbundle", "--export-base", base, "-p", target))
    assert "--delta-from" in out
    v1_manifest = json.loads(_first_member(generations.v1))
    assert json.loads(base.read_bytes())["manifest_sha256"] == v1_manifest["manifest_sha256"]
    delta = tmp_path / "from-export.tar.zst"
    _ok(conda("bundle", "-p", generations.source, "--delta-from", base, "-o", delta))
    _ok(conda("unbundle", delta, "-p", target))
    assert _packages(conda, target)["foopy"] == FOOPY_NEXT


def _first_member(bundle: Path) -> bytes:
    from conda_envbundle.archive import open_reader

    with open_reader(str(bundle), MANIFEST_PATH) as reader:
        next(iter(reader))
        return b"".join(reader.read_data())


def test_the_python_api_does_the_whole_cycle(generations, conda_env, tmp_path):
    target = tmp_path / "api env"
    conda_envbundle.unbundle(str(generations.v1), str(target))
    exported = conda_envbundle.export_base(str(target), str(tmp_path / "base.json"))
    delta = conda_envbundle.bundle(
        str(generations.source), str(tmp_path / "d.tar.zst"), delta_from=exported.output
    )
    assert delta.base == exported.base and delta.reused > 0
    result = conda_envbundle.unbundle(delta.output, str(target), keep_previous=True)
    assert result.delta and result.reused == delta.reused and result.previous
    with pytest.raises(IncompatibleTargetError):
        conda_envbundle.unbundle(delta.output, str(target))  # its base is gone now
    back = conda_envbundle.rollback(str(target))
    assert back.base == exported.base


# --- a kill at any moment ---------------------------------------------------------------------


def test_a_killed_update_leaves_the_old_or_the_complete_new_environment(
    generations, conda, conda_isolation, tmp_path
):
    """SIGKILL from the moment the new generation starts to be built until after it is in
    place: the target is v1 or the complete v2, and the next run cleans up."""
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v2, "-p", target))
    v2 = snapshot(target)
    shutil.rmtree(target)
    _ok(conda("unbundle", generations.v1, "-p", target))
    v1 = snapshot(target)

    def start() -> subprocess.Popen:
        argv = [CONDA, "unbundle", generations.delta, "-p", target, "--keep-previous"]
        proc = subprocess.Popen(list(map(str, argv)), env=conda_isolation.env)
        while not leftovers(str(target)) and proc.poll() is None:
            time.sleep(0.005)
        return proc

    began = time.monotonic()
    assert start().wait() == 0  # calibrate: how long from staging to done
    working = time.monotonic() - began
    outcomes = []
    for fraction in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3):
        if snapshot(target) == v2:
            _ok(conda("unbundle", "--rollback", "-p", target))
        assert snapshot(target) == v1
        proc = start()
        time.sleep(working * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = snapshot(target)
        assert now in (v1, v2), fraction
        outcomes.append("v2" if now == v2 else "v1")
        if now == v2 and not os.path.isdir(previous_of(str(target))):  # killed before kept
            shutil.rmtree(target)
            _ok(conda("unbundle", generations.v1, "-p", target))
    assert "v1" in outcomes
    if snapshot(target) == v2:
        _ok(conda("unbundle", "--rollback", "-p", target))
    _ok(conda("unbundle", generations.delta, "-p", target))  # the next run cleans up
    assert snapshot(target) == v2 and leftovers(str(target)) == []


def test_force_with_keep_previous_keeps_what_a_full_bundle_replaced(generations, conda, tmp_path):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    v1 = snapshot(target)
    out = _ok(conda("unbundle", generations.v2, "-p", target, "--force", "-y", "--keep-previous"))
    assert "Kept the environment it replaced" in out
    _ok(conda("unbundle", "--rollback", "-p", target))
    assert snapshot(target) == v1


def test_a_zip_delta_and_a_kept_manifest_as_base(generations, conda, tmp_path):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    kept = tmp_path / "kept.json"
    shutil.copy(target / MANIFEST_PATH, kept)  # what a site can send without the command
    delta = tmp_path / "update.zip"
    _ok(conda("bundle", "-p", generations.source, "--delta-from", kept, "-o", delta))
    _ok(conda("unbundle", delta, "-p", target))
    assert_env_runs(target, forbidden=[str(generations.source), PLACEHOLDER_MARK])
    proc = conda("bundle", "-p", generations.source, "--delta-from", kept, "-o", tmp_path / "u.sh")
    assert_clean_error(proc, "cannot be a sh bundle")


def test_docs_show_the_steps_tested_here():
    text = (Path(__file__).resolve().parent.parent / "docs" / "updates.md").read_text()
    for step in (
        "conda bundle -n runtime -o runtime-v1.tar.zst",
        "conda unbundle runtime-v1.tar.zst -p /opt/runtime",
        "conda bundle -n runtime --delta-from runtime-v1.tar.zst -o runtime-v1-to-v2.tar.zst",
        "conda unbundle runtime-v1-to-v2.tar.zst --info",
        "conda unbundle runtime-v1-to-v2.tar.zst -p /opt/runtime --keep-previous",
        "conda unbundle --rollback -p /opt/runtime",
        "conda unbundle --export-base runtime-base.json -p /opt/runtime",
        "conda bundle -n runtime --delta-from runtime-base.json -o runtime-update.tar.zst",
    ):
        assert step in text, step


def test_a_process_running_from_the_old_environment_keeps_working(generations, conda, tmp_path):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    # foopy's metadata goes with the update: the process keeps reading the file it has
    # open, and imports what it had not imported yet from the new environment
    script = (
        "import sys, glob\n"
        "held = open(glob.glob(sys.prefix + '/lib/python3.12/site-packages/foopy-*/METADATA')[0])\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "import decimal, foopy.added\n"
        "print('0.1.0' in held.read(), foopy.added.WHAT, flush=True)\n"
    )
    running = subprocess.Popen(
        [*CLEAN_ENV, str(target / "bin" / "python"), "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert running.stdout.readline() == "ready\n"
    _ok(conda("unbundle", generations.delta, "-p", target))
    out, _ = running.communicate("go\n", timeout=60)
    assert running.returncode == 0 and out == "True added in the update\n"
    assert _packages(conda, target)["foopy"] == FOOPY_NEXT


# --- found by an attack on the first version ---------------------------------------------------


def test_an_update_without_keep_previous_drops_the_generation_kept_before(
    generations, conda, tmp_path
):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    _ok(conda("unbundle", generations.v2, "-p", target, "--force", "-y", "--keep-previous"))
    assert os.path.isdir(previous_of(str(target)))
    _ok(conda("unbundle", generations.v2, "-p", target, "--force", "-y"))  # keeps nothing
    assert sorted(os.listdir(tmp_path)) == ["env"]
    assert_clean_error(conda("unbundle", "--rollback", "-p", target), "No previous generation")


def test_history_is_never_shared_and_a_changed_kept_generation_is_not_put_back(
    generations, conda, tmp_path
):
    target = tmp_path / "env"
    _ok(conda("unbundle", generations.v1, "-p", target))
    _ok(conda("unbundle", generations.delta, "-p", target, "--keep-previous"))
    previous = Path(previous_of(str(target)))
    history = "conda-meta/history"
    assert (target / history).stat().st_ino != (previous / history).stat().st_ino
    shared = "share/foo/three-times.txt"
    assert (target / shared).stat().st_ino == (previous / shared).stat().st_ino
    # conda makes a read-only file writable before removing it: such files are copies
    assert (target / READ_ONLY_FILE).stat().st_ino != (previous / READ_ONLY_FILE).stat().st_ino
    assert (target / READ_ONLY_FILE).stat().st_mode & 0o777 == 0o444
    with (target / shared).open("a") as fh:  # an edit in place: both names see it
        fh.write("edited\n")
    before = snapshot(target)
    proc = conda("unbundle", "--rollback", "-p", target)
    assert_clean_error(proc, "changed since it was kept", f"{shared} (changed)")
    assert snapshot(target) == before


def test_rollback_to_an_environment_conda_made(generations, conda, conda_isolation, tmp_path):
    target = tmp_path / "made-by-conda"
    shutil.copytree(generations.source, target, symlinks=True)  # no kept manifest
    before = snapshot(target)
    _ok(conda("unbundle", generations.v1, "-p", target, "--force", "-y", "--keep-previous"))
    out = _ok(conda("unbundle", "--rollback", "-p", target))
    assert "Put back" in out and snapshot(target) == before
    rolled = json.loads(_ok(conda("unbundle", "--rollback", "-p", target, "--json")))
    assert rolled["base"] is not None  # forward again: the unbundled one


def test_unknown_head_keys_are_kept_so_the_base_still_rebuilds(generations, conda, tmp_path):
    bundle = read_bundle(generations.v1)
    bundle.manifest["comment_from_a_newer_version"] = {"any": ["thing"]}
    newer = bundle.write(tmp_path / "newer.tar.zst")
    target = tmp_path / "env"
    _ok(conda("unbundle", newer, "-p", target))
    base = tmp_path / "base.json"
    _ok(conda("unbundle", "--export-base", base, "-p", target))
    exported = json.loads(base.read_bytes())
    assert exported["comment_from_a_newer_version"] == {"any": ["thing"]}
    assert exported["manifest_sha256"] == json.loads(_first_member(newer))["manifest_sha256"]


def test_a_symlinked_target_and_a_base_of_another_platform_are_refused(
    generations, conda, tmp_path
):
    real = tmp_path / "real"
    _ok(conda("unbundle", generations.v1, "-p", real))
    link = tmp_path / "link"
    link.symlink_to(real)
    assert_clean_error(conda("unbundle", generations.delta, "-p", link), "is a symlink")
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]
    bundle = read_bundle(generations.v1)
    bundle.manifest["platform"]["subdir"] = "osx-arm64"
    other = bundle.write(tmp_path / "other.tar.zst")
    proc = conda(
        "bundle", "-p", generations.source, "--delta-from", other, "-o", tmp_path / "d.tar"
    )
    assert_clean_error(proc, "one platform")
