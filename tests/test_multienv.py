"""Several environments in one bundle (issue 16): each file content stored once, one
environment or all of them installed, every guarantee of a single-environment unbundle.

Two real environments share python and foo; each has a package the other lacks. They
are built and bundled once per session.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from conda_envbundle import api
from conda_envbundle.archive import open_reader
from conda_envbundle.archive.members import REGULAR
from conda_envbundle.exceptions import BundleFormatError, EnvBundleError
from conda_envbundle.manifest import FILE, MANIFEST_PATH, Manifest
from conda_envbundle.relocation import rules
from conda_envbundle.relocation.rules import CHECKSUM_KEY
from conda_envbundle.unbundling.commit import STAGING_MARK, _swap_by_renames
from conda_envbundle.unbundling.multi import _uncommit

from .support.channel import build_channel, default_cache_root
from .support.cli import CondaProcess, assert_clean_error
from .support.crafted import Raw, dump
from .support.envs import CONDA, create_env, pip_install_tool
from .support.isolation import Isolation
from .support.packages import READ_ONLY_FILE
from .support.targets import KINDS, target_path
from .support.trees import snapshot
from .support.verify import assert_env_runs, assert_same_packages

PLACEHOLDER_MARK = "_h_env_placehold"
TRAIN = ["python", "foo", "foopy"]
SERVE = ["python", "foo", "foo-data", "foo-post"]


@dataclass
class Pair:
    """The two source environments, their bundle together and each bundle alone."""

    train: Path
    serve: Path
    multi: Path
    alone: dict[str, Path]
    env: dict[str, str]


def _conda(env: dict[str, str]) -> CondaProcess:
    return CondaProcess(env)


@pytest.fixture(scope="session")
def pair(tmp_path_factory, conda_isolation: Isolation) -> Pair:
    env = conda_isolation.env
    channel = build_channel(default_cache_root())
    base = tmp_path_factory.mktemp("multi")
    train, serve = base / "train", base / "serve"
    create_env(train, channel, TRAIN, env)
    pip_install_tool(train, tmp_path_factory.mktemp("wheels"))
    create_env(serve, channel, SERVE, env)
    out = tmp_path_factory.mktemp("multibundles")
    conda = _conda(env)
    proc = conda("bundle", "-p", train, "-p", serve, "-o", out / "both.tar.zst")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    alone = {}
    for prefix in (train, serve):
        alone[prefix.name] = out / f"{prefix.name}.tar.zst"
        proc = conda("bundle", "-p", prefix, "-o", alone[prefix.name])
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return Pair(train, serve, out / "both.tar.zst", alone, env)


# --- the bundle ------------------------------------------------------------------------------


def test_info_lists_environments_and_what_is_shared(pair):
    conda = _conda(pair.env)
    proc = conda("unbundle", pair.multi, "--info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    names = [env["name"] for env in info["environments"]]
    assert names == ["train", "serve"]
    for env in info["environments"]:
        assert env["packages"] >= 3 and env["files"] > 100 and env["content_size"] > 0
    # python, foo and their files are stored once, under train
    assert info["shared_size"] > info["environments"][1]["content_size"] / 2
    assert info["stored_size"] == info["content_size"] - info["shared_size"]
    text = conda("unbundle", pair.multi, "--info")
    assert text.returncode == 0, text.stderr
    assert "train" in text.stdout and "serve" in text.stdout and "shared" in text.stdout
    one = json.loads(conda("unbundle", pair.multi, "--info", "--json", "--env", "serve").stdout)
    assert one["source"] == "serve" and "foo-post" in {p["name"] for p in one["packages"]}


def test_one_bundle_is_smaller_than_two(pair):
    both = pair.multi.stat().st_size
    apart = sum(path.stat().st_size for path in pair.alone.values())
    assert both < 0.75 * apart, (both, apart)


def test_list_and_verify_cover_every_environment(pair):
    conda = _conda(pair.env)
    listed = conda("unbundle", pair.multi, "--list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.startswith("train:bin/python") for line in lines)
    assert any(line.startswith("serve:") and "[stored as train:" in line for line in lines)
    verified = conda("unbundle", pair.multi, "--verify", "--json")
    assert verified.returncode == 0, verified.stderr
    data = json.loads(verified.stdout)
    assert data["verified"] and [e["name"] for e in data["environments"]] == ["train", "serve"]


def test_a_0_1_reader_refuses_it_with_the_update_message(pair):
    with open_reader(str(pair.multi), MANIFEST_PATH) as reader:
        first = next(iter(reader))
        raw = b"".join(reader.read_data())
    assert first.path == MANIFEST_PATH
    # conda-envbundle 0.1 reads the first member as a manifest and refuses any version but 1
    # with "This bundle has manifest version 2; ... Update conda-envbundle."
    assert json.loads(raw)["version"] == 2
    with pytest.raises(BundleFormatError, match="delta key disagree"):
        Manifest.from_bytes(raw)  # nor can it pass for a delta, the other version 2


# --- one environment -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_one_environment_runs_anywhere(kind, pair, tmp_path):
    target = target_path(kind, tmp_path)
    if kind == "long":
        assert len(str(target)) == 200
    try:
        for name, source in (("serve", pair.serve), ("train", pair.train)):
            where = target.with_name(f"{target.name}-{name}")
            proc = _conda(pair.env)("unbundle", pair.multi, "--env", name, "-p", where)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert_env_runs(where, forbidden=[str(source), PLACEHOLDER_MARK])
    finally:
        if kind == "short":
            shutil.rmtree(target.parent, ignore_errors=True)


def test_one_environment_equals_its_own_bundle(pair, tmp_path):
    """Every file, byte, mode, symlink, record and the kept manifest: the same as
    unbundling a bundle of that environment alone, at the same path."""
    conda = _conda(pair.env)
    target = tmp_path / "env"
    for name in ("serve", "train"):
        proc = conda("unbundle", pair.multi, "--env", name, "-p", target)
        assert proc.returncode == 0, proc.stderr
        from_multi = snapshot(target)
        shutil.rmtree(target)
        proc = conda("unbundle", pair.alone[name], "-p", target)
        assert proc.returncode == 0, proc.stderr
        assert snapshot(target) == from_multi
        shutil.rmtree(target)


def test_python_api_round_trip(pair, tmp_path, conda_env):
    out = tmp_path / "api.tar.gz"
    result = api.bundle_environments([str(pair.train), str(pair.serve)], str(out))
    assert out.is_file() and result.size == out.stat().st_size
    assert [r.source for r in result.environments] == [str(pair.train), str(pair.serve)]
    assert result.shared_size > 0
    head = api.inspect_environments(str(out))
    assert head.names == ["train", "serve"] and head.shared_size == result.shared_size
    assert api.inspect(str(out), env="serve").source_name == "serve"
    made = api.unbundle(str(out), str(tmp_path / "s"), env="serve")
    assert made.prefix == str(tmp_path / "s") and (tmp_path / "s/bin/foo").is_file()
    every = api.unbundle_all(str(out), str(tmp_path / "envs"))
    assert [r.prefix for r in every] == [str(tmp_path / "envs" / n) for n in ("train", "serve")]
    alone = api.unbundle_all(str(pair.alone["serve"]), str(tmp_path / "one"))
    assert [r.prefix for r in alone] == [str(tmp_path / "one" / "serve")]
    assert (tmp_path / "one" / "serve" / "bin" / "foo").is_file()
    with pytest.raises(EnvBundleError, match=r"2 environments \(train, serve\)"):
        api.unbundle(str(out), str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


# --- all of them -----------------------------------------------------------------------------


def _shared_pairs(envs: Path) -> tuple[list[str], list[str]]:
    """Paths present in both installed environments with the same content: those that
    share an inode, and those that do not."""
    linked, apart = [], []
    train, serve = envs / "train", envs / "serve"
    manifest = Manifest.from_bytes((serve / MANIFEST_PATH).read_bytes())
    for entry in manifest.files:
        a, b = train / entry.path, serve / entry.path
        if entry.kind != FILE or not a.is_file() or a.is_symlink():
            continue
        if a.read_bytes() == b.read_bytes():
            (linked if a.stat().st_ino == b.stat().st_ino else apart).append(entry.path)
    return linked, apart


def test_all_environments_share_storage_where_safe(pair, tmp_path):
    conda = _conda(pair.env)
    envs = tmp_path / "envs dir"
    proc = conda("unbundle", pair.multi, "--all", "--envs-dir", envs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in envs.iterdir()) == ["serve", "train"]
    for name, source in (("train", pair.train), ("serve", pair.serve)):
        assert_env_runs(envs / name, forbidden=[str(source), PLACEHOLDER_MARK])
        assert_same_packages(source, envs / name, env=pair.env)
    linked, apart = _shared_pairs(envs)
    assert "bin/python3.12" in linked or any(p.startswith("lib/python3.12/") for p in linked)
    assert len(linked) > 100
    manifest = Manifest.from_bytes((envs / "serve" / MANIFEST_PATH).read_bytes())
    ruled = {f.path for f in manifest.files if f.prefix}
    for path in linked:
        assert path not in ruled and not path.startswith("conda-meta/"), path
        assert os.stat(envs / "train" / path).st_mode == os.stat(envs / "serve" / path).st_mode
        assert os.stat(envs / "train" / path).st_mode & 0o200, path  # conda chmods read-only
    assert READ_ONLY_FILE in apart
    # one path per environment per inode: a content an environment holds twice is copied
    twice = {
        sha
        for name in ("train", "serve")
        for sha, count in Counter(
            f.sha256
            for f in Manifest.from_bytes((envs / name / MANIFEST_PATH).read_bytes()).files
            if f.kind == FILE
        ).items()
        if count > 1
    }
    by_path = {f.path: f.sha256 for f in manifest.files}
    for path in apart:  # each one for a reason
        modes = {os.stat(envs / name / path).st_mode for name in ("train", "serve")}
        read_only = not os.stat(envs / "serve" / path).st_mode & 0o200
        reasons = (path in ruled, path.startswith("conda-meta/"), len(modes) == 2, read_only)
        assert any(reasons) or by_path[path] in twice, path
    for name in ("train", "serve"):
        _assert_pycs_valid(envs / name)
    # conda replaces files, never writes in place: the other environment keeps its own
    shared = envs / "serve" / linked[0]
    before = (envs / "train" / linked[0]).read_bytes()
    shared.unlink()
    shared.write_bytes(b"changed")
    assert (envs / "train" / linked[0]).read_bytes() == before


def _assert_pycs_valid(prefix: Path) -> None:
    """Every timestamp pyc finds its source with the mtime and size it expects."""
    files = [str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file()]
    checked = 0
    for source, pyc in rules.pairs(files):
        header = (prefix / pyc).read_bytes()[: rules.PYC_HEADER_SIZE]
        size = (prefix / source).stat().st_size
        wanted = rules.source_mtime(header, size)
        if wanted is not None:
            assert int((prefix / source).stat().st_mtime) == wanted, source
            checked += 1
    assert checked > 100


def test_all_is_checked_before_anything_is_written(pair, tmp_path):
    envs = tmp_path / "envs"
    (envs / "serve").mkdir(parents=True)
    (envs / "serve" / "mine").write_text("not an environment")
    proc = _conda(pair.env)("unbundle", pair.multi, "--all", "--envs-dir", envs)
    assert_clean_error(proc, "serve already exists")
    assert sorted(p.name for p in envs.iterdir()) == ["serve"]  # train was not made either


def test_all_replaces_environments_only_with_force(pair, tmp_path):
    conda = _conda(pair.env)
    envs = tmp_path / "envs"
    assert conda("unbundle", pair.multi, "--all", "--envs-dir", envs).returncode == 0
    (envs / "train" / "marker").write_text("old")
    again = conda("unbundle", pair.multi, "--all", "--envs-dir", envs)
    assert_clean_error(again, "already exists", "--force")
    assert (envs / "train" / "marker").exists()
    proc = conda("unbundle", pair.multi, "--all", "--envs-dir", envs, "--force", "-y")
    assert proc.returncode == 0, proc.stderr
    assert "replacing the environment there" in proc.stdout
    assert not (envs / "train" / "marker").exists()
    assert sorted(os.listdir(envs)) == ["serve", "train"]
    _complete(envs / "train")


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["zip", "sh", "dir"])
def test_formats_other_than_tar_refused(pair, tmp_path, fmt):
    out = tmp_path / ("out" if fmt == "dir" else f"out.{fmt}")
    args = ["bundle", "-p", pair.train, "-p", pair.serve, "-o", out, "--format", fmt]
    proc = _conda(pair.env)(*args)
    assert_clean_error(proc, "is a tar file", f"not {fmt}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--dest-prefix", "/opt/x"], "--dest-prefix take one environment"),
        (["--sbom", "spdx"], "--sbom take one environment"),
        (["--delta-from", "base.json"], "--delta-from take one environment"),
    ],
)
def test_one_environment_options_refused(pair, tmp_path, extra, needle):
    out = tmp_path / "out.tar.zst"
    proc = _conda(pair.env)("bundle", "-p", pair.train, "-p", pair.serve, "-o", out, *extra)
    assert_clean_error(proc, needle)
    assert not out.exists()


def test_same_names_refused(pair, tmp_path):
    other = tmp_path / "elsewhere" / "train"
    (other / "conda-meta").mkdir(parents=True)
    (other / "conda-meta" / "history").write_text("")
    out = tmp_path / "out.tar.zst"
    proc = _conda(pair.env)("bundle", "-p", pair.train, "-p", other, "-o", out)
    assert_clean_error(proc, "Two environments are named train", "conda rename")
    assert not out.exists()


def test_unbundle_needs_a_choice(pair, tmp_path):
    conda = _conda(pair.env)
    target = tmp_path / "t"
    proc = conda("unbundle", pair.multi, "-p", target)
    assert_clean_error(proc, "2 environments (train, serve)", "--env NAME", "--all")
    proc = conda("unbundle", pair.multi, "--env", "nope", "-p", target)
    assert_clean_error(proc, "no environment 'nope'", "train, serve")
    proc = conda("unbundle", pair.multi, "--all", "-p", target)
    assert_clean_error(proc, "--all installs every environment")
    proc = conda("unbundle", pair.multi, "--sbom", "spdx")
    assert_clean_error(proc, "holds 2 environments (train, serve)", "bundle of each alone")
    assert not target.exists()


def test_signed_by_hand_checked_before_install(pair, tmp_path):
    """conda bundle --sign takes one environment; a signature made with ssh-keygen is
    checked by conda unbundle as for any bundle."""
    bundle = tmp_path / "envs.tar.zst"
    shutil.copy(pair.multi, bundle)
    key = tmp_path / "alice"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    signing = ["ssh-keygen", "-Y", "sign", "-f", key, "-n", "conda-envbundle", bundle]
    subprocess.run(signing, check=True, capture_output=True)
    kind, blob = Path(f"{key}.pub").read_text().split()[:2]
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'alice namespaces="conda-envbundle" {kind} {blob}\n')
    conda = _conda(pair.env)
    trusting = ["--allowed-signers", allowed, "--require-signature"]
    proc = conda("unbundle", bundle, "--all", "--envs-dir", tmp_path / "envs", *trusting)
    assert proc.returncode == 0, proc.stderr
    assert "good, by alice" in proc.stdout and (tmp_path / "envs" / "serve").is_dir()
    with bundle.open("r+b") as fh:  # one changed byte in the last block
        fh.seek(-3, os.SEEK_END)
        byte = fh.read(1)
        fh.seek(-3, os.SEEK_END)
        fh.write(bytes([byte[0] ^ 1]))
    proc = conda("unbundle", bundle, "--env", "serve", "-p", tmp_path / "t", *trusting)
    assert_clean_error(proc, "signature")
    assert not (tmp_path / "t").exists()


# --- damaged and hostile bundles -------------------------------------------------------------


@dataclass
class Crafted:
    """A multi-environment bundle as data: its head (a dict) and its members."""

    head: dict
    members: list[Raw]

    def env(self, name: str) -> dict:
        return next(e for e in self.head["environments"] if e["name"] == name)

    def store(self, name: str, path: str, data: bytes) -> None:
        """Store ``data`` as ``path`` of environment ``name`` itself (no longer claimed
        from elsewhere), the members of that environment in its manifest's order."""
        env = self.env(name)
        env["stored_elsewhere"] = [c for c in env["stored_elsewhere"] if c[0] != path]
        entry = next(f for f in env["manifest"]["files"] if f["path"] == path)
        entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
        root = f"envs/{name}/"
        mine = {m.path: m for m in self.members if m.path.startswith(root)}
        mine[root + path] = Raw(root + path, REGULAR, data, entry["mode"])
        claimed = {c[0] for c in env["stored_elsewhere"]}
        ordered = [
            mine[root + f["path"]] for f in env["manifest"]["files"] if f["path"] not in claimed
        ]
        first = next(i for i, m in enumerate(self.members) if m.path.startswith(root))
        rest = [m for m in self.members[first:] if not m.path.startswith(root)]
        self.members[first:] = ordered + rest

    def write(self, path: Path) -> Path:
        for env in self.head["environments"]:
            env["manifest"] = json.loads(dump(env["manifest"]))  # sealed again
        body = dump(self.head)
        out = Raw(MANIFEST_PATH, data=body).header() + body + b"\0" * (-len(body) % 512)
        for m in self.members:
            out += m.header() + m.data + b"\0" * (-len(m.data) % 512)
        path.write_bytes(zstandard.ZstdCompressor().compress(out + b"\0" * 1024))
        return path


@pytest.fixture(scope="session")
def crafted_data(pair) -> tuple[dict, list[Raw]]:
    with open_reader(str(pair.multi), MANIFEST_PATH) as reader:
        members = iter(reader)
        next(members)
        head = json.loads(b"".join(reader.read_data()))
        raws = []
        for m in members:
            data = b"".join(reader.read_data()) if m.kind == REGULAR else b""
            raws.append(Raw(m.path, m.kind, data, m.mode, m.link))
    return head, raws


@pytest.fixture
def crafted(crafted_data) -> Crafted:
    head, members = crafted_data
    head = json.loads(json.dumps(head))
    head.pop(CHECKSUM_KEY)
    return Crafted(head, [Raw(m.path, m.kind, m.data, m.mode, m.link) for m in members])


def _refused(pair, bundle: Path, target: Path, *needles: str, env: str = "serve") -> None:
    proc = _conda(pair.env)("unbundle", bundle, "--env", env, "-p", target)
    assert_clean_error(proc, *needles)
    assert not target.exists()
    assert [p for p in target.parent.iterdir() if p.name != bundle.name] == []


def test_honest_crafted_copy_installs(pair, crafted, tmp_path):
    """The crafting itself changes nothing: its bundle installs."""
    bundle = crafted.write(tmp_path / "honest.tar.zst")
    proc = _conda(pair.env)("unbundle", bundle, "--env", "serve", "-p", tmp_path / "t")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "t" / "bin" / "foo").is_file()


def test_shared_source_whose_pycs_disagree_gets_its_own_copy(pair, crafted, tmp_path):
    """A hardlinked .py has one mtime: where serve's pyc expects another than train's,
    serve's .py becomes a copy of its own with the mtime its pyc expects."""
    serve = crafted.env("serve")
    claimed = {c[0]: c for c in serve["stored_elsewhere"]}
    data = {m.path: m.data for m in crafted.members}
    source, pyc = next(
        (src, pyc)
        for src, pyc in rules.pairs(claimed)
        if src in claimed and rules.expected_source(data[f"envs/train/{claimed[pyc][2]}"])
    )
    train_pyc = data[f"envs/train/{claimed[pyc][2]}"]
    mtime = int.from_bytes(train_pyc[8:12], "little") + 86400
    crafted.store("serve", pyc, train_pyc[:8] + mtime.to_bytes(4, "little") + train_pyc[12:])
    bundle = crafted.write(tmp_path / "b.tar.zst")
    envs = tmp_path / "envs"
    proc = _conda(pair.env)("unbundle", bundle, "--all", "--envs-dir", envs)
    assert proc.returncode == 0, proc.stderr
    mine, theirs = (envs / "serve" / source).stat(), (envs / "train" / source).stat()
    assert mine.st_ino != theirs.st_ino
    assert int(mine.st_mtime) == mtime and int(theirs.st_mtime) == mtime - 86400
    assert (envs / "serve" / source).read_bytes() == (envs / "train" / source).read_bytes()


def test_environment_manifest_path_escaping(pair, crafted, tmp_path):
    files = crafted.env("serve")["manifest"]["files"]
    entry = next(f for f in files if f["kind"] == "file" and f["path"] not in ("",))
    entry["path"] = "../../escaped"
    bundle = crafted.write(tmp_path / "b.tar.zst")
    _refused(pair, bundle, tmp_path / "t", "unsafe path", "escaped")
    assert not (tmp_path.parent / "escaped").exists()


def test_malformed_member_of_an_environment_not_selected(pair, crafted, tmp_path):
    """train is not installed, but its members are read and verified all the same."""
    member = next(
        m for m in crafted.members if m.path.startswith("envs/train/") and len(m.data) > 100
    )
    member.data = member.data[:-1] + bytes([member.data[-1] ^ 1])
    bundle = crafted.write(tmp_path / "b.tar.zst")
    _refused(pair, bundle, tmp_path / "t", "does not match its checksum")


def test_content_claimed_shared_that_never_appeared(pair, crafted, tmp_path):
    serve = crafted.env("serve")
    path, source_env, source_path = serve["stored_elsewhere"][0]
    serve["stored_elsewhere"][0] = [path, source_env, source_path + ".nowhere"]
    bundle = crafted.write(tmp_path / "b.tar.zst")
    _refused(pair, bundle, tmp_path / "t", "claims", "stores no such content")


def test_claim_of_a_later_entry_refused(pair, crafted, tmp_path):
    """A claim may only name content stored before it: train cannot borrow from serve."""
    serve, train = crafted.env("serve"), crafted.env("train")
    path, _, source_path = serve["stored_elsewhere"][0]
    serve["stored_elsewhere"].pop(0)
    train["stored_elsewhere"].append([source_path, "serve", path])
    bundle = crafted.write(tmp_path / "b.tar.zst")
    _refused(pair, bundle, tmp_path / "t", "stores no such content", env="train")


def test_an_environment_that_is_a_delta_refused(pair, crafted, tmp_path):
    """A head holds bundles' manifests: a delta would install half an environment."""
    manifest = crafted.env("serve")["manifest"]
    manifest["version"] = 2
    manifest["delta"] = {"base": "0" * 64, "base_name": "serve", "base_packages": [], "removed": []}
    bundle = crafted.write(tmp_path / "b.tar.zst")
    _refused(pair, bundle, tmp_path / "t", "is a delta or a kept manifest")


def test_names_beside_our_own_hidden_directories_refused(pair, tmp_path):
    hidden = tmp_path / ".train.envbundle-staging-abcdefgh"
    hidden.symlink_to(pair.serve)
    out = tmp_path / "b.tar.zst"
    proc = _conda(pair.env)("bundle", "-p", pair.train, "-p", hidden, "-o", out)
    assert_clean_error(proc, "cannot name one of a bundle of several")
    assert not out.exists()


def test_a_failed_commit_puts_back_what_a_two_rename_swap_replaced(tmp_path):
    """Where the filesystem cannot exchange, commit swaps by two renames and the replaced
    environment ends one level down: taking the commit back must find it there."""
    target, staging = tmp_path / "env", tmp_path / ".env.envbundle-staging-x"
    for directory, name in ((target, "old"), (staging, "new")):
        directory.mkdir()
        (directory / "which").write_text(name)
    _swap_by_renames(str(staging), str(target))
    assert (staging / "env" / "which").read_text() == "old"
    _uncommit(str(target), str(staging), str(staging / "env"))
    assert (target / "which").read_text() == "old"


def test_member_filed_under_another_environment(pair, crafted, tmp_path):
    member = next(m for m in crafted.members if m.path.startswith("envs/serve/"))
    member.path = member.path.replace("envs/serve/", "envs/train/", 1)
    bundle = crafted.write(tmp_path / "b.tar.zst")
    _refused(pair, bundle, tmp_path / "t", "where its manifest says")


# --- kills -----------------------------------------------------------------------------------


def _complete(prefix: Path) -> None:
    manifest = Manifest.from_bytes((prefix / MANIFEST_PATH).read_bytes())
    for entry in manifest.files:
        path = prefix / entry.path
        if entry.kind == FILE:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256, path
        elif entry.kind == "symlink":
            assert os.readlink(path) == entry.target, path
        else:
            assert path.is_dir() and not path.is_symlink(), path


def test_sigkill_during_install_all_leaves_nothing_half_made(pair, tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    envs = tmp_path / "envs"
    envs.mkdir()
    args = [str(CONDA), "unbundle", str(pair.multi), "--all", "--envs-dir", str(envs)]

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            args, env=pair.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def until_staging(proc: subprocess.Popen) -> float:
        while proc.poll() is None and not any(STAGING_MARK in n for n in os.listdir(envs)):
            time.sleep(0.0005)
        return time.monotonic()

    proc = start()  # calibrate: how long a run takes once it stages
    seen = until_staging(proc)
    assert proc.wait() == 0
    working = time.monotonic() - seen
    for round_ in range(3):
        for name in ("train", "serve"):
            shutil.rmtree(envs / name, ignore_errors=True)
        proc = start()
        until_staging(proc)
        time.sleep(rng.uniform(0, working))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        context = f"seed {seed}, round {round_}, returncode {proc.returncode}"
        for name in ("train", "serve"):
            if (envs / name).exists():
                _complete(envs / name)
        rest = [n for n in os.listdir(envs) if n not in ("train", "serve")]
        assert all(n.startswith((".train.envbundle-", ".serve.envbundle-")) for n in rest), (
            context,
            rest,
        )
    for name in ("train", "serve"):
        shutil.rmtree(envs / name, ignore_errors=True)
    assert start().wait() == 0
    for name in ("train", "serve"):
        _complete(envs / name)
    assert sorted(os.listdir(envs)) == ["serve", "train"]
