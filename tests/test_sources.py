"""``conda unbundle URL`` (issue 15): http(s):// through conda's own session, s3:// through
boto3, against real servers on 127.0.0.1 that the tests start: range requests, Basic
authentication, a proxy from .condarc, dropped and lying servers, signatures, moto's S3.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conda_envbundle import api, ranged, sources
from conda_envbundle.exceptions import DownloadError, EnvBundleError
from conda_envbundle.ranged import FIRST_WINDOW

from .support.cli import assert_clean_error
from .support.envs import CONDA
from .support.servers import file_server, proxy_server, s3_store

NAMESPACE = "conda-envbundle"
USER, PASSWORD = "alice", "pa55-w0rd"
# variables that would send 127.0.0.1 elsewhere, or bring the user's AWS settings in
_OUTSIDE = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "CONDARC")


@pytest.fixture
def run(conda_isolation):
    """``conda ...`` in a child process, isolated, with extra environment variables."""

    def conda(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        base = {
            k: v
            for k, v in conda_isolation.env.items()
            if k.lower() not in _OUTSIDE and not k.startswith("AWS_")
        }
        return subprocess.run(
            [str(CONDA), *map(str, args)],
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )

    return conda


@pytest.fixture
def served(tmp_path, source_bundle_small) -> Path:
    """A directory the file server serves, with the small bundle in it."""
    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(source_bundle_small, root / "small.tar.zst")
    return root


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _with_auth(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{PASSWORD}@")


def _assert_environment(target: Path, bundle: Path, run) -> None:
    """``target`` is a working environment with every file of ``bundle``."""
    listed = json.loads(_ok(run("unbundle", bundle, "--list", "--json")).stdout)["files"]
    for entry in listed:
        assert os.path.lexists(target / entry["path"]), entry["path"]
    assert subprocess.run([target / "bin" / "foo"], capture_output=True).returncode == 0
    assert "foo-data" in _ok(run("list", "-p", target)).stdout


def _untouched(parent: Path, before: set[str]) -> None:
    """Nothing was committed or left behind next to the target."""
    assert set(os.listdir(parent)) == before


# --- http(s):// ---------------------------------------------------------------------------------


def test_unbundle_from_http_with_basic_auth(served, source_bundle_small, run, tmp_path):
    target = tmp_path / "env"
    with file_server(served, auth=(USER, PASSWORD)) as server:
        url = f"{_with_auth(server.url)}/small.tar.zst"
        dry = json.loads(_ok(run("unbundle", url, "-p", target, "--dry-run", "--json")).stdout)
        assert dry["dry_run"] is True and not target.exists()
        proc = _ok(run("unbundle", url, "-p", target, "--json"))
        assert all(r.range and r.range.startswith("bytes=") for r in server.requests)
    assert PASSWORD not in proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["prefix"] == str(target)
    _assert_environment(target, source_bundle_small, run)


@pytest.mark.parametrize("password", [None, "wrong-secret"])
def test_refused_credentials_leave_nothing_and_hide_the_password(served, run, tmp_path, password):
    before = set(os.listdir(tmp_path))
    with file_server(served, auth=(USER, PASSWORD)) as server:
        host = server.url.removeprefix("http://")
        base = f"http://{USER}:{password}@{host}" if password else server.url
        proc = run("unbundle", f"{base}/small.tar.zst", "-p", tmp_path / "env")
    assert proc.returncode == 8
    assert_clean_error(proc, "401", f"http://{host}/small.tar.zst", "credentials")
    assert "wrong-secret" not in proc.stdout + proc.stderr
    _untouched(tmp_path, before)


def test_info_and_list_read_only_the_first_range(tmp_path, source_bundle, run):
    """The manifest comes first: --info and --list ask for the first bytes, no more."""
    size = source_bundle.stat().st_size
    assert size > 2 * FIRST_WINDOW, "the bundle should be larger than what --info reads"
    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(source_bundle, root / "source.tar.zst")
    local = json.loads(_ok(run("unbundle", source_bundle, "--info", "--json")).stdout)
    with file_server(root) as server:
        url = f"{server.url}/source.tar.zst"
        remote = json.loads(_ok(run("unbundle", url, "--info", "--json")).stdout)
        listing = _ok(run("unbundle", url, "--list")).stdout
        assert [r.range for r in server.requests] == [f"bytes=0-{FIRST_WINDOW - 1}"] * 2
        assert server.sent() == 2 * FIRST_WINDOW
    assert remote["bundle"] == url
    for key in ("packages", "files", "content_size", "requirements", "needs_unpack"):
        assert remote[key] == local[key], key
    assert "bin/foo" in listing.split()


def test_verify_and_sbom_read_the_whole_bundle(served, source_bundle_small, run):
    with file_server(served) as server:
        url = f"{server.url}/small.tar.zst"
        verified = json.loads(_ok(run("unbundle", url, "--verify", "--json")).stdout)
        remote = json.loads(_ok(run("unbundle", url, "--sbom", "cyclonedx")).stdout)
    local = json.loads(_ok(run("unbundle", source_bundle_small, "--sbom", "cyclonedx")).stdout)
    assert verified["verified"] is True and verified["bundle"] == url
    digest = hashlib.sha256(source_bundle_small.read_bytes()).hexdigest()
    assert digest in json.dumps(remote)
    assert remote == local


def test_server_without_range_requests_is_streamed(served, source_bundle_small, run, tmp_path):
    target = tmp_path / "env"
    with file_server(served, ranges=False) as server:
        _ok(run("unbundle", f"{server.url}/small.tar.zst", "--info"))
        _ok(run("unbundle", f"{server.url}/small.tar.zst", "-p", target))
        assert {r.status for r in server.requests} == {200}
    _assert_environment(target, source_bundle_small, run)


@pytest.fixture
def zip_bundle(make_env, conda_isolation, tmp_path) -> Path:
    prefix = make_env(["foo", "foo-data"], pip_tool=False, unmanaged_binary=False)
    out = tmp_path / "zipped" / "small.zip"
    out.parent.mkdir()
    proc = subprocess.run(
        [CONDA, "bundle", "-p", prefix, "-o", out], env=conda_isolation.env, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_zip_bundle_is_read_with_range_requests(zip_bundle, run, tmp_path):
    """zipfile seeks to the central directory, then back: each seek is a range request."""
    target = tmp_path / "env"
    with file_server(zip_bundle.parent) as server:
        _ok(run("unbundle", f"{server.url}/small.zip", "-p", target))
        assert all(r.status == 206 for r in server.requests)
        assert len(server.requests) < 10  # not one per member
    _assert_environment(target, zip_bundle, run)


def test_zip_bundle_larger_than_the_window(zip_bundle, conda_env, monkeypatch):
    """Seeks beyond what is kept behind the reader: new ranges, or a clear error from a
    server without them (a zip smaller than the window is read from it whole)."""
    monkeypatch.setattr(ranged, "CHUNK", 4096)
    monkeypatch.setattr(ranged, "KEEP", 4096)
    monkeypatch.setattr(ranged, "SKIP", 0)
    with file_server(zip_bundle.parent) as server:
        manifest = api.verify(f"{server.url}/small.zip")
        starts = [r.range.removeprefix("bytes=").partition("-")[0] for r in server.requests]
        assert all(r.status == 206 for r in server.requests)
        assert len(set(starts)) > 2  # the end, the central directory, the members
    assert {f.path for f in manifest.files} >= {"bin/foo", "conda-meta/history"}
    with (
        file_server(zip_bundle.parent, ranges=False) as server,
        pytest.raises(DownloadError, match=r"range requests.*Download it first"),
    ):
        api.inspect(f"{server.url}/small.zip")


@pytest.mark.parametrize(
    ("mode", "ranges", "status", "says"),
    [
        ("drop", True, 8, "failed after"),
        ("drop", False, 8, "failed after"),
        ("lie", True, 8, "cannot be trusted"),
        ("lie", False, 8, "failed after"),
        ("truncate", True, 3, "truncated"),
        ("missing", True, 8, "404"),
    ],
)
def test_broken_downloads_leave_nothing(served, run, tmp_path, mode, ranges, status, says):
    """A dropped connection, a Content-Length larger than the body, a truncated file and
    a 404 each end in a clear error, with the target and its directory untouched."""
    parent = tmp_path / "envs"
    parent.mkdir()
    (parent / "keep").write_text("not ours")
    before = set(os.listdir(parent))
    name = "nothing-here.tar.zst" if mode == "missing" else "small.tar.zst"
    with file_server(served, mode="ok" if mode == "missing" else mode, ranges=ranges) as server:
        proc = run("unbundle", f"{server.url}/{name}", "-p", parent / "env")
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert_clean_error(proc, says)
    _untouched(parent, before)
    assert (parent / "keep").read_text() == "not ours"


def test_replaced_file_between_ranges_is_refused(tmp_path, source_bundle, run):
    """The second range must come from the same file as the first (If-Range)."""
    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(source_bundle, root / "source.tar.zst")
    with (
        file_server(root) as server,
        sources.open_url(f"{server.url}/source.tar.zst") as remote,
    ):
        remote.read(FIRST_WINDOW)
        data = source_bundle.read_bytes()  # the same size: only its validator tells
        (root / "source.tar.zst").write_bytes(data[:100] + b"\0" * 100 + data[200:])
        with pytest.raises(EnvBundleError, match="changed on the server"):
            remote.read(FIRST_WINDOW)


# --- .condarc: proxy_servers ------------------------------------------------------------------


def test_proxy_servers_from_condarc(served, run, tmp_path, source_bundle_small):
    target = tmp_path / "env"
    with file_server(served) as server, proxy_server() as (proxy, seen):
        condarc = tmp_path / "condarc"
        condarc.write_text(f"proxy_servers:\n  http: {proxy}\n")
        url = f"{server.url}/small.tar.zst"
        _ok(run("unbundle", url, "-p", target, env={"CONDARC": str(condarc)}))
    assert url in seen
    _assert_environment(target, source_bundle_small, run)


def test_offline_refuses_urls(served, run, tmp_path):
    with file_server(served) as server:
        proc = run(
            "unbundle", f"{server.url}/small.tar.zst", "--info", env={"CONDA_OFFLINE": "true"}
        )
        assert server.requests == []
    assert proc.returncode == 8
    assert_clean_error(proc, "offline")


# --- signatures ---------------------------------------------------------------------------------


def _keygen(*args: object, stdin=None) -> None:
    proc = subprocess.run(["ssh-keygen", *map(str, args)], stdin=stdin, capture_output=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def signer(tmp_path) -> tuple[Path, Path]:
    """A key and an allowed-signers file that lists it."""
    key = tmp_path / "keys" / "alice"
    key.parent.mkdir()
    _keygen("-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", key)
    kind, blob = Path(f"{key}.pub").read_text().split()[:2]
    allowed = key.parent / "allowed_signers"
    allowed.write_text(f'alice namespaces="{NAMESPACE}" {kind} {blob}\n')
    return key, allowed


def _sign(key: Path, message: Path, signature: Path) -> None:
    with open(message, "rb") as fh:
        proc = subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-f", key, "-n", NAMESPACE], stdin=fh, capture_output=True
        )
    assert proc.returncode == 0, proc.stderr
    signature.write_bytes(proc.stdout)


def test_signed_bundle_from_url(served, signer, run, tmp_path):
    key, allowed = signer
    _sign(key, served / "small.tar.zst", served / "small.tar.zst.sig")
    target = tmp_path / "env"
    with file_server(served) as server:
        url = f"{server.url}/small.tar.zst"
        args = ("--allowed-signers", allowed, "--require-signature", "--json")
        result = json.loads(_ok(run("unbundle", url, "-p", target, *args)).stdout)
        verified = json.loads(_ok(run("unbundle", url, "--verify", *args)).stdout)
    assert result["signature"]["signer"] == "alice"
    assert result["signature"]["signature"] == f"{url}.sig"
    assert verified["signature"]["signer"] == "alice"
    assert (target / "conda-meta" / "history").is_file()


def test_unsigned_bundle_at_url_is_installed_with_a_warning(served, signer, run, tmp_path):
    _, allowed = signer
    with file_server(served) as server:
        url = f"{server.url}/small.tar.zst"
        proc = _ok(run("unbundle", url, "-p", tmp_path / "env", "--allowed-signers", allowed))
        assert [r.path for r in server.requests].count("/small.tar.zst.sig") == 1
    assert f"{url} is not signed" in proc.stderr
    assert (tmp_path / "env" / "conda-meta" / "history").is_file()


def test_wrong_or_missing_signature_at_url_is_refused(served, signer, run, tmp_path):
    key, allowed = signer
    other = tmp_path / "other"
    other.write_bytes(b"another file")
    _sign(key, other, served / "other.sig")
    before = set(os.listdir(tmp_path))
    with file_server(served) as server:
        url = f"{server.url}/small.tar.zst"
        common = ("-p", tmp_path / "env", "--allowed-signers", allowed)
        missing = run("unbundle", url, *common, "--require-signature")
        wrong = run("unbundle", url, *common, "--signature", f"{server.url}/other.sig")
        absent = run("unbundle", url, *common, "--signature", f"{server.url}/none.sig")
    assert missing.returncode == 7
    assert_clean_error(missing, f"there is no {url}.sig")
    assert wrong.returncode == 7
    assert_clean_error(wrong, "does not match its signature")
    assert absent.returncode == 8
    assert_clean_error(absent, "404")
    _untouched(tmp_path, before)


# --- s3:// ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_store(tmp_path_factory.mktemp("aws")) as store:
        store.client().create_bucket(Bucket="bundles")
        yield store


def test_unbundle_from_s3(s3, source_bundle_small, run, tmp_path):
    s3.client().upload_file(str(source_bundle_small), "bundles", "envs/small.tar.zst")
    target = tmp_path / "env"
    url = "s3://bundles/envs/small.tar.zst"
    info = json.loads(_ok(run("unbundle", url, "--info", "--json", env=s3.env)).stdout)
    assert {p["name"] for p in info["packages"]} == {"foo", "foo-data"}
    _ok(run("unbundle", url, "-p", target, env=s3.env))
    _assert_environment(target, source_bundle_small, run)
    missing = run("unbundle", "s3://bundles/envs/none.tar.zst", "-p", tmp_path / "x", env=s3.env)
    assert missing.returncode == 8
    assert_clean_error(missing, "s3://bundles/envs/none.tar.zst", "404")
    assert not (tmp_path / "x").exists()


def test_s3_without_boto3_says_so(conda_env, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # what an installation without it sees
    monkeypatch.setitem(sys.modules, "boto3.session", None)
    with pytest.raises(EnvBundleError, match="boto3") as raised:
        api.inspect("s3://bundles/envs/small.tar.zst")
    assert "conda-forge" in str(raised.value)
