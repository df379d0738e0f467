"""Attack round 3 (issue 17 and issue 13's shared rules): SBOMs, signatures and the
rules spliced into ``bin/.conda-unpack.py``, broken as a hostile or careless stranger would.

Each test names the finding it pins; see the round's report for how each was found.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

import conda_envbundle
from conda_envbundle import api
from conda_envbundle.archive.members import REGULAR
from conda_envbundle.exceptions import BundleFormatError, SignatureError

from .support.bare import bare_path, run_bare
from .support.cli import assert_clean_error
from .support.crafted import Raw
from .support.envs import CONDA
from .test_unpack_parity import _tree, assert_same_environment


def _run(env: dict, *args, stdin=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CONDA, *map(str, args)],
        env=env,
        stdin=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PATH of a machine without conda or python (support/bare.py)."""
    return bare_path(tmp_path_factory.mktemp("bare-bin"))


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 16 KiB tmpfs, unmounted afterwards (needs root; skipped otherwise)."""
    point = tmp_path / "tiny"
    point.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", point], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"mounting needs root: {proc.stderr.decode().strip()}")
    yield point
    subprocess.run(["umount", point], check=True)


def _cyclonedx_errors(doc: dict) -> object:
    return JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))


def _spdx_errors(doc: dict, where: Path) -> list[str]:
    path = where / "doc.spdx.json"
    path.write_text(json.dumps(doc))
    return [m.validation_message for m in validate_full_spdx_document(parse_file(str(path)))]


def _facts(**changes) -> dict:
    facts = {
        "mtime": 1700000000,
        "python_distributions": [],
        "unowned": {"files": 0, "size": 0, "directories": []},
    }
    facts.update(changes)
    return facts


def _dist(name: str, version: str = "1.0", record=None) -> dict:
    return {
        "name": name,
        "version": version,
        "installer": "pip",
        "metadata": f"lib/python3.12/site-packages/{name}-{version}.dist-info",
        "record": record or [],
    }


# --- SBOM: hostile manifests are refused cleanly, every input ------------------------------


@pytest.mark.parametrize("mtime", [10**30, -(10**30), 2**63, 253402300800])
def test_sbom_mtime_out_of_range_is_refused(mtime, small_bundle_data, conda_isolation, tmp_path):
    """An ``sbom.mtime`` that no clock can show crashed ``--sbom spdx`` (time.gmtime)."""
    hostile = small_bundle_data.copy()
    hostile.manifest["sbom"] = _facts(mtime=mtime)
    path = hostile.honest().write(tmp_path / "hostile.tar.zst")
    with pytest.raises(BundleFormatError, match="mtime from 1970 to 9999"):
        conda_envbundle.make_sbom(str(path), "spdx")
    proc = _run(conda_isolation.env, "unbundle", path, "--sbom", "spdx")
    assert_clean_error(proc, "mtime")
    assert proc.stdout == ""


def _package_changes(data, **changes):
    hostile = data.copy()
    hostile.manifest["packages"][0].update(changes)
    return hostile


@pytest.mark.parametrize(
    "changes",
    [
        {"license": "caf\udce9"},  # an undecodable byte, as surrogateescape reads it
        {"name": "foo\udcff"},
        {"subdir": "linux-64\ud800"},  # fields the manifest reader does not check
        {"fn": "foo\ud800.conda"},
    ],
)
def test_sbom_of_undecodable_text_is_valid(changes, small_bundle_data, conda_isolation, tmp_path):
    """Text that the manifest takes (a file name's undecodable bytes) broke the SBOM's
    UTF-8 encoding: a UnicodeEncodeError traceback from ``conda unbundle --sbom``. Now
    such bytes are shown as escapes, and the documents validate."""
    hostile = _package_changes(small_bundle_data, **changes)
    path = hostile.honest().write(tmp_path / "hostile.tar.zst")
    for fmt in ("cyclonedx", "spdx"):
        proc = _run(conda_isolation.env, "unbundle", path, "--sbom", fmt)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        errors = _cyclonedx_errors(doc) if fmt == "cyclonedx" else _spdx_errors(doc, tmp_path)
        assert not errors, errors
    assert "\\x" in proc.stdout or "\\u" in proc.stdout  # the escape, in JSON


@pytest.mark.parametrize(
    "changes",
    [
        {"sha256": "not a digest"},
        {"sha256": ["a", "list"]},
        {"md5": {"an": "object"}},
        {"fn": ["x.conda"]},
        {"subdir": "linux-64\n"},
        {"build_number": {"n": 1}},
    ],
)
def test_sbom_package_fields_that_are_not_what_they_claim_are_left_out(
    changes, small_bundle_data, tmp_path
):
    """Package fields the manifest reader did not check made documents that the
    CycloneDX and SPDX validators reject; now what is not what it claims is left out."""
    hostile = _package_changes(small_bundle_data, **changes)
    path = hostile.honest().write(tmp_path / "hostile.tar.zst")
    cdx = conda_envbundle.make_sbom(str(path), "cyclonedx")
    spdx = conda_envbundle.make_sbom(str(path), "spdx")
    assert _cyclonedx_errors(cdx) is None
    assert _spdx_errors(spdx, tmp_path) == []


@pytest.mark.parametrize(
    "dists",
    [
        # two dist-infos of one project (a stale one left by a broken pip run)
        [_dist("foo_bar"), _dist("Foo.Bar")],
        [_dist("foo"), _dist("foo")],
    ],
)
def test_sbom_duplicate_distributions_stay_valid(dists, small_bundle_data, tmp_path):
    """Two distributions with one PEP 503 name and version gave one bom-ref twice, which
    CycloneDX's schema refuses (dependencies must be unique)."""
    hostile = small_bundle_data.copy()
    hostile.manifest["sbom"] = _facts(python_distributions=dists)
    path = hostile.honest().write(tmp_path / "dup.tar.zst")
    cdx = conda_envbundle.make_sbom(str(path), "cyclonedx")
    spdx = conda_envbundle.make_sbom(str(path), "spdx")
    assert _cyclonedx_errors(cdx) is None
    assert _spdx_errors(spdx, tmp_path) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"version": ""},
        {"license": ""},
        {"license": "MIT AND (Apache-2.0 OR BSD-3-Clause)"},
        {"license": "LicenseRef-x"},
        {"license": "GPL-2.0-or-later WITH Classpath-exception-2.0"},
        {"license": "\u00e9\u4e2d\U0001f600 licence\n\tsecond line"},
        {"name": "Ünïcode-名前", "version": "1.0+local!1"},
        {"channel": "file:///tmp/a channel/with spaces?x=1#y"},
        {"build": "py_0 /../"},
    ],
)
def test_sbom_odd_names_and_licences_stay_valid(changes, small_bundle_data, tmp_path):
    """Names and licences as odd as the manifest allows: both documents still validate."""
    odd = _package_changes(small_bundle_data, **changes)
    path = odd.honest().write(tmp_path / "odd.tar.zst")
    cdx = conda_envbundle.make_sbom(str(path), "cyclonedx")
    spdx = conda_envbundle.make_sbom(str(path), "spdx")
    assert _cyclonedx_errors(cdx) is None
    assert _spdx_errors(spdx, tmp_path) == []


def _bom_refs(value) -> list[str]:
    """Every bom-ref in a CycloneDX document (the spec: each one names one thing)."""
    if isinstance(value, dict):
        own = [value["bom-ref"]] if "bom-ref" in value else []
        return own + [ref for v in value.values() for ref in _bom_refs(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in _bom_refs(v)]
    return []


def _shipped_files(data, count: int) -> list[str]:
    return [m.path for m in data.members if m.kind == REGULAR][:count]


def test_sbom_bom_refs_are_unique_even_for_repeated_record_paths(small_bundle_data, tmp_path):
    """Two dist-infos of one project that list the same files (a stale one)."""
    record = [[path, "0" * 64] for path in _shipped_files(small_bundle_data, 2)]
    hostile = small_bundle_data.copy()
    hostile.manifest["sbom"] = _facts(
        python_distributions=[_dist("x", record=record), _dist("X", record=record)]
    )
    path = hostile.honest().write(tmp_path / "dup.tar.zst")
    refs = _bom_refs(conda_envbundle.make_sbom(str(path), "cyclonedx"))
    # the bundle, its conda packages, two distributions of two files each
    assert len(refs) == len(set(refs)) == 1 + len(hostile.manifest["packages"]) + 2 + 4


@pytest.mark.parametrize(
    "record",
    [
        [["../../etc/passwd", "0" * 64]],
        [["lib/not-in-the-bundle", "0" * 64]],
        [["bin", "0" * 64]],  # a directory
        "twice",
    ],
)
def test_sbom_record_of_files_the_bundle_does_not_ship_is_refused(
    record, small_bundle_data, conda_isolation, tmp_path
):
    """conda bundle records RECORD hashes of shipped files only, each once; anything
    else was described as it came (``../`` paths too), however long the list."""
    if record == "twice":
        record = [[_shipped_files(small_bundle_data, 1)[0], "0" * 64]] * 2
    hostile = small_bundle_data.copy()
    hostile.manifest["sbom"] = _facts(python_distributions=[_dist("x", record=record)])
    path = hostile.honest().write(tmp_path / "hostile.tar.zst")
    for fmt in ("cyclonedx", "spdx"):
        with pytest.raises(BundleFormatError, match="name files the bundle does not ship"):
            conda_envbundle.make_sbom(str(path), fmt)
    proc = _run(conda_isolation.env, "unbundle", path, "--sbom", "cyclonedx")
    assert_clean_error(proc, "BundleFormatError", "RECORD hashes of 'x'")
    assert proc.stdout == ""


_MEASURE = """\
import os, subprocess, sys
with open(os.devnull, "wb") as sink:
    proc = subprocess.Popen(sys.argv[1:], stdout=sink, stderr=sink)
    _, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024)
"""


def _peak(env: dict, *args) -> tuple[int, int]:
    """Exit status and peak resident memory of the real conda (forked by a small python,
    so that pytest's own size does not count; see test_memory_caps.py)."""
    argv = [sys.executable, "-I", "-c", _MEASURE, CONDA, *args]
    facts = subprocess.run(list(map(str, argv)), env=env, capture_output=True, check=True)
    returncode, peak = map(int, facts.stdout.split())
    return returncode, peak


def test_sbom_of_a_record_flood_costs_no_more_than_reading_it(
    small_bundle_data, conda_isolation, tmp_path
):
    """A 200 KB bundle whose manifest lists 200,000 made-up RECORD hashes: --info reads
    it within the manifest's budget, but --sbom cyclonedx took six times that (3 GB for a
    million), building a component for each."""
    flood = [[f"lib/made-up-{i}", "0" * 64] for i in range(200_000)]
    hostile = small_bundle_data.copy()
    hostile.manifest["sbom"] = _facts(python_distributions=[_dist("x", record=flood)])
    path = hostile.honest().write(tmp_path / "flood.tar.zst")
    assert path.stat().st_size < 1 << 20
    info_status, info_peak = _peak(conda_isolation.env, "unbundle", path, "--info")
    sbom_status, sbom_peak = _peak(conda_isolation.env, "unbundle", path, "--sbom", "cyclonedx")
    assert info_status == 0
    assert sbom_status == BundleFormatError.return_code
    assert sbom_peak < info_peak * 1.25, (sbom_peak, info_peak)


def test_sbom_same_components_in_every_format(make_env, conda_isolation, tmp_path):
    """One environment bundled as tar.zst, zip and sh: the documents differ only in what
    names the bundle file (its sha256, and the serial number and namespace made from it)."""
    env = make_env()
    docs = {}
    for fmt in ("tar.zst", "zip", "sh"):
        out = tmp_path / f"e.{fmt}"
        proc = _run(conda_isolation.env, "bundle", "-p", env, "-o", out, "--sbom", "cyclonedx")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(Path(f"{out}.cdx.json").read_text())
        assert _cyclonedx_errors(doc) is None
        assert any(c["purl"].startswith("pkg:pypi/") for c in doc["components"])
        del doc["serialNumber"], doc["metadata"]["component"]["hashes"]
        docs[fmt] = doc
    assert docs["tar.zst"] == docs["zip"] == docs["sh"]


@pytest.mark.parametrize(
    ("epoch", "fmt"),
    [
        ("99999999999999", "tar.zst"),  # was: a corrupt tar header, reported as success
        ("4354819200", "zip"),  # 2108: was a struct.error traceback
        ("9999999999999999999999", "tar.gz"),  # was: an OverflowError traceback (--sbom)
    ],
)
def test_source_date_epoch_beyond_what_a_bundle_holds(
    epoch, fmt, make_env, conda_isolation, tmp_path
):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(
        {**conda_isolation.env, "SOURCE_DATE_EPOCH": epoch},
        *("bundle", "-p", env, "-o", out / f"e.{fmt}", "--sbom", "spdx"),
    )
    assert_clean_error(proc, "SOURCE_DATE_EPOCH", "Set an earlier time")
    assert list(out.iterdir()) == []


# --- signatures ----------------------------------------------------------------------------


def _keygen(*args, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh-keygen", *map(str, args)], stdin=stdin, capture_output=True)


def _keypair(where: Path, name: str) -> Path:
    key = where / f"{name}_ed25519"
    assert _keygen("-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).returncode == 0
    return key


def _public(key: Path) -> str:
    return " ".join(Path(f"{key}.pub").read_text().split()[:2])


@pytest.fixture
def alice(tmp_path) -> Path:
    where = tmp_path / "keys"
    where.mkdir()
    return _keypair(where, "alice")


@pytest.fixture
def signed(source_bundle_small, alice, tmp_path) -> Path:
    """A copy of the small bundle with alice's signature beside it (made by ssh-keygen)."""
    bundle = tmp_path / "signed" / "small.tar.zst"
    bundle.parent.mkdir()
    bundle.write_bytes(source_bundle_small.read_bytes())
    assert _keygen("-Y", "sign", "-f", alice, "-n", "conda-envbundle", bundle).returncode == 0
    return bundle


def _allowed_file(where: Path, *lines: str) -> Path:
    path = where / "allowed_signers"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_an_earlier_line_for_the_key_in_another_namespace_hides_the_right_one(
    signed, alice, tmp_path
):
    """A site lists one key twice: for git (namespaces="git") and, below, for bundles.
    ``ssh-keygen -Y verify -I alice`` accepts the bundle; conda unbundle asked about the
    first principal find-principals names (``ops``) only, and refused it."""
    allowed = _allowed_file(
        tmp_path,
        f'ops namespaces="git" {_public(alice)}',
        f'alice namespaces="conda-envbundle" {_public(alice)}',
    )
    with open(signed, "rb") as message:
        proc = _keygen(
            *("-Y", "verify", "-f", allowed, "-I", "alice", "-n", "conda-envbundle"),
            *("-s", f"{signed}.sig"),
            stdin=message,
        )
    assert proc.returncode == 0, proc.stderr
    manifest = conda_envbundle.verify(str(signed), allowed_signers=str(allowed))
    assert manifest.packages
    _, verified = api.verify_signed(str(signed), api.trust(str(allowed), True))
    assert verified is not None and verified.signer == "alice"
    # the line that allows the key for bundles is what counts: without it, refused
    allowed.write_text(f'ops namespaces="git" {_public(alice)}\n')
    with pytest.raises(SignatureError, match="not allowed for bundles"):
        conda_envbundle.verify(str(signed), allowed_signers=str(allowed))


@pytest.mark.parametrize(
    "line",
    [
        'alice namespaces="git" {key}',
        'alice valid-before="20200101" {key}',
        'alice valid-after="29991231" {key}',
        "alice cert-authority {key}",
    ],
)
def test_allowed_signers_options_that_exclude_the_key_refuse_cleanly(
    line, signed, alice, conda_isolation, tmp_path
):
    allowed = _allowed_file(tmp_path, line.format(key=_public(alice)))
    target = tmp_path / "target"
    proc = _run(
        conda_isolation.env,
        *("unbundle", signed, "-p", target, "--allowed-signers", allowed, "--require-signature"),
    )
    assert_clean_error(proc, "SignatureError", "Nothing was changed")
    assert proc.returncode == 7
    assert not target.exists()


def test_a_signature_of_another_namespace_is_refused(
    source_bundle_small, alice, conda_isolation, tmp_path
):
    bundle = tmp_path / "b.tar.zst"
    bundle.write_bytes(source_bundle_small.read_bytes())
    assert _keygen("-Y", "sign", "-f", alice, "-n", "file", bundle).returncode == 0
    allowed = _allowed_file(tmp_path, f"alice {_public(alice)}")  # every namespace
    proc = _run(conda_isolation.env, "unbundle", bundle, "--verify", "--allowed-signers", allowed)
    assert_clean_error(proc, "SignatureError")
    assert proc.returncode == 7


def test_dash_space_and_newline_in_key_signature_and_signers_paths(
    make_env, alice, conda_isolation, tmp_path
):
    """Paths handed to ssh-keygen that look like options or break lines are passed as
    the values they are (no argument injection)."""
    odd = tmp_path / "-odd dir\n$(touch pwned)"
    odd.mkdir()
    key = odd / "-f key"
    key.write_bytes(alice.read_bytes())
    key.chmod(0o600)
    Path(f"{key}.pub").write_text(Path(f"{alice}.pub").read_text())
    allowed = _allowed_file(odd, f"alice {_public(alice)}")
    dashed = odd / "-n"
    dashed.write_text(allowed.read_text())
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    proc = _run(
        conda_isolation.env,
        *("bundle", "-p", env, "-o", odd / "-s.tar.zst", f"--sign={key}"),
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(f"{odd}/-s.tar.zst.sig").is_file()
    proc = _run(
        conda_isolation.env,
        *("unbundle", "./-s.tar.zst", "-p", odd / "env", f"--allowed-signers={dashed.name}"),
        "--require-signature",
        cwd=odd,
    )
    assert proc.returncode == 0, proc.stderr
    assert (odd / "env" / "bin" / "foo").exists()
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def _swapping_keygen(where: Path, link: Path, other: Path) -> dict[str, str]:
    """PATH entries with an ``ssh-keygen`` that, when asked to verify, first points
    ``link`` at ``other`` (another process swapping the bundle mid-run), then verifies."""
    real = shutil.which("ssh-keygen")
    assert real is not None
    tool = where / "ssh-keygen"
    tool.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" verify "*) ln -sfn {shlex.quote(str(other))} '
        f"{shlex.quote(str(link))};; esac\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    tool.chmod(0o755)
    return {"PATH": f"{where}:{os.environ['PATH']}"}


def _names(prefix: Path) -> set[str]:
    return {p.name for p in (prefix / "conda-meta").glob("*.json")}


def test_bundle_swapped_while_its_signature_is_checked(
    signed, alice, make_env, conda_isolation, tmp_path
):
    """The bundle path is a symlink; another process points it at an unsigned bundle
    while ssh-keygen verifies: what is installed is what was verified."""
    other = tmp_path / "other.tar.zst"
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    assert conda_envbundle.bundle(str(env), str(other)).output == str(other)
    link = tmp_path / "link.tar.zst"
    link.symlink_to(signed)
    Path(f"{link}.sig").write_bytes(Path(f"{signed}.sig").read_bytes())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    allowed = _allowed_file(tmp_path, f"alice {_public(alice)}")
    proc = _run(
        {**conda_isolation.env, **_swapping_keygen(bin_dir, link, other)},
        *("unbundle", link, "-p", tmp_path / "target", "--allowed-signers", allowed),
        "--require-signature",
    )
    assert proc.returncode == 0, proc.stderr
    assert link.resolve() == other  # the swap happened
    signed_names = {p["name"] for p in conda_envbundle.inspect(str(signed)).packages}
    assert {n.rsplit("-", 2)[0] for n in _names(tmp_path / "target")} == signed_names


def test_directory_bundle_swapped_while_its_signature_is_checked(
    make_env, alice, conda_isolation, tmp_path
):
    first = make_env(["foo", "foo-data"], pip_tool=False, unmanaged_binary=False)
    second = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    good, other = tmp_path / "good", tmp_path / "other"
    conda_envbundle.bundle(str(first), str(good), fmt="dir", sign=str(alice))
    conda_envbundle.bundle(str(second), str(other), fmt="dir")
    link = tmp_path / "link"
    link.symlink_to(good)
    Path(f"{link}.sig").write_bytes(Path(f"{good}.sig").read_bytes())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    allowed = _allowed_file(tmp_path, f"alice {_public(alice)}")
    proc = _run(
        {**conda_isolation.env, **_swapping_keygen(bin_dir, link, other)},
        *("unbundle", link, "-p", tmp_path / "target", "--allowed-signers", allowed),
        "--require-signature",
    )
    assert_clean_error(proc, "changed after its signature was verified")
    assert proc.returncode == 7
    assert link.resolve() == other
    assert not (tmp_path / "target").exists()


def test_signed_bundle_from_a_fifo_is_read_once(signed, alice, conda_isolation, tmp_path):
    """A named pipe can be read once: the verified copy is what is installed."""
    fifo = tmp_path / "pipe.tar.zst"
    os.mkfifo(fifo)
    allowed = _allowed_file(tmp_path, f"alice {_public(alice)}")
    with subprocess.Popen(
        [
            CONDA,
            "unbundle",
            fifo,
            "-p",
            tmp_path / "target",
            "--allowed-signers",
            allowed,
            "--signature",
            f"{signed}.sig",
            "--require-signature",
        ],
        env=conda_isolation.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        with open(fifo, "wb") as writer:
            writer.write(signed.read_bytes())
        _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert (tmp_path / "target" / "bin" / "foo").exists()


def test_no_ssh_keygen_on_path(make_env, signed, alice, conda_isolation, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    no_tool = {**conda_isolation.env, "PATH": str(empty)}
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(no_tool, "bundle", "-p", env, "-o", out / "b.tar.zst", "--sign", alice)
    assert_clean_error(proc, "ssh-keygen, which is not on PATH")
    assert list(out.iterdir()) == []
    allowed = _allowed_file(tmp_path, f"alice {_public(alice)}")
    proc = _run(no_tool, "unbundle", signed, "-p", tmp_path / "t", "--allowed-signers", allowed)
    assert_clean_error(proc, "ssh-keygen, which is not on PATH")
    assert not (tmp_path / "t").exists()


def test_tmpdir_too_small_for_the_private_copy(
    signed, alice, conda_isolation, tiny_tmpfs, tmp_path
):
    """The verified copy goes to TMPDIR: a full one is a clean error, nothing is left in
    it and the target is not made."""
    small = tiny_tmpfs
    assert signed.stat().st_size > 16 * 1024
    allowed = _allowed_file(tmp_path, f"alice {_public(alice)}")
    proc = _run(
        {**conda_isolation.env, "TMPDIR": str(small)},
        *("unbundle", signed, "-p", tmp_path / "target", "--allowed-signers", allowed),
    )
    assert_clean_error(proc, "Set TMPDIR to a directory with room for it")
    assert list(small.iterdir()) == []
    assert not (tmp_path / "target").exists()


def _signing_env(base: dict, tmp_path: Path, hang: bool) -> dict:
    """ssh-keygen asks for the key's passphrase through SSH_ASKPASS: a program that
    says it was asked, then answers (or hangs, so that the run can be killed there)."""
    asked = tmp_path / "asked"
    askpass = tmp_path / "askpass"
    askpass.write_text(
        f"#!/bin/sh\ntouch {shlex.quote(str(asked))}\n"
        + ("exec sleep 600\n" if hang else "echo secret\n")
    )
    askpass.chmod(0o755)
    return {**base, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}


def test_killed_while_signing_leaves_nothing_in_place(make_env, conda_isolation, tmp_path):
    key = tmp_path / "pass_ed25519"
    assert _keygen("-q", "-t", "ed25519", "-N", "secret", "-f", key).returncode == 0
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    out = tmp_path / "out"
    out.mkdir()
    bundle = ("bundle", "-p", env, "-o", out / "b.tar.zst", "--sign", key, "--sbom", "spdx")
    hanging = _signing_env(conda_isolation.env, tmp_path, hang=True)
    with subprocess.Popen(
        [CONDA, *map(str, bundle)],
        env=hanging,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as proc:
        while not (tmp_path / "asked").exists() and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == set()
    (tmp_path / "asked").unlink()
    proc2 = _run(_signing_env(conda_isolation.env, tmp_path, hang=False), *bundle)
    assert proc2.returncode == 0, proc2.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "b.tar.zst",
        "b.tar.zst.sig",
        "b.tar.zst.spdx.json",
    ]


def test_force_over_a_signature_that_is_a_symlink(make_env, alice, conda_isolation, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    out = tmp_path / "b.tar.zst"
    precious = tmp_path / "precious"
    precious.write_text("not ours")
    Path(f"{out}.sig").symlink_to(precious)
    proc = _run(conda_isolation.env, "bundle", "-p", env, "-o", out, "--sign", alice, "--force")
    assert_clean_error(proc, "is not a regular file")
    assert precious.read_text() == "not ours" and not out.exists()
    Path(f"{out}.sig").unlink()
    Path(f"{out}.sig").write_text("an old signature")
    proc = _run(conda_isolation.env, "bundle", "-p", env, "-o", out, "--sign", alice, "--force")
    assert proc.returncode == 0, proc.stderr
    assert Path(f"{out}.sig").read_text().startswith("-----BEGIN SSH SIGNATURE-----")


def test_unsigned_bundle_with_allowed_signers_says_it_was_not_checked(
    source_bundle_small, alice, conda_isolation, tmp_path
):
    """Allowed signers given, no signature required, and the .sig gone (deleted by
    whoever swapped the bundle): the bundle was installed with no word that nothing was
    verified. Now it says so."""
    allowed = _allowed_file(tmp_path, f"alice {_public(alice)}")
    proc = _run(
        conda_isolation.env,
        *("unbundle", source_bundle_small, "-p", tmp_path / "t", "--allowed-signers", allowed),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{source_bundle_small} is not signed" in proc.stderr
    assert "--require-signature" in proc.stderr


def test_required_signature_in_each_mode(source_bundle_small, alice, conda_isolation, tmp_path):
    """With the settings requiring a signature: --dry-run and --verify refuse an unsigned
    bundle as unbundling would; --info, --list and --sbom only read its manifest and
    do not check signatures (docs/security.md says so)."""
    allowed = _allowed_file(tmp_path, f"alice {_public(alice)}")
    settings = {
        **conda_isolation.env,
        "CONDA_PLUGINS_UNBUNDLE_REQUIRE_SIGNATURE": "true",
        "CONDA_PLUGINS_UNBUNDLE_ALLOWED_SIGNERS": str(allowed),
    }
    for mode in (("-p", tmp_path / "t", "--dry-run"), ("--verify",)):
        proc = _run(settings, "unbundle", source_bundle_small, *mode)
        assert_clean_error(proc, "is not signed")
        assert proc.returncode == 7
    for mode in ("--info", "--list", "--sbom=spdx"):
        proc = _run(settings, "unbundle", source_bundle_small, mode)
        assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "t").exists()
    docs = (Path(__file__).parents[1] / "docs" / "security.md").read_text()
    assert "`--info`, `--list` and `--sbom` check no signature" in docs


# --- the rules spliced into bin/.conda-unpack.py -------------------------------------------

OLDEST_PYTHONS = sorted(
    Path.home().glob(".pyenv/versions/3.[6-9].*/bin/python3"), key=lambda p: p.parts[-3]
)


def test_the_shipped_unpacker_parses_on_python_3_6():
    """The spliced script promises Python >= 3.6; its grammar is checked for 3.6 here
    (and on the real interpreters when pyenv has them, below)."""
    from conda_envbundle.bundling.standalone import unpack_script

    ast.parse(unpack_script(), feature_version=(3, 6))


@pytest.mark.skipif(not OLDEST_PYTHONS, reason="no python < 3.10 under ~/.pyenv")
@pytest.mark.parametrize("python", OLDEST_PYTHONS, ids=lambda p: p.parts[-3])
def test_the_shipped_unpacker_runs_on_old_pythons(python, source_bundle_small, tmp_path):
    """The environment's python may be old: unpack, run again, move and run again, with
    no locale (env -i, as in a bare container) at a path that is not ASCII. Python 3.6
    then decoded the path as ASCII, and conda-unpack refused it as "not valid UTF-8"."""
    first = tmp_path / "first ünï"
    first.mkdir()
    assert subprocess.run(["tar", "-xf", source_bundle_small, "-C", first]).returncode == 0
    for where in (first, first, tmp_path / "möved"):
        if not where.exists():
            first.rename(where)
        proc = subprocess.run(
            [python, "-B", "-s", "-E", where / "bin/.conda-unpack.py"], capture_output=True, env={}
        )
        assert proc.returncode == 0, proc.stderr
        assert f"relocated to {where}".encode() in proc.stdout
        foo = subprocess.run([where / "bin/foo"], capture_output=True, env={})
        assert foo.stdout.strip() == bytes(where), foo.stderr


ODD_NAMES = [
    "q'uote",
    'd"q',
    "back\\slash",
    "new\nline",
    "dol$(touch pwned)$HOME",
    "-dash",
    os.fsdecode(b"not-utf8-\xff"),
]


@pytest.mark.parametrize("name", ODD_NAMES, ids=ascii)
def test_odd_targets_alike_both_ways(name, source_env, conda_isolation, tmp_path, bare):
    """conda unbundle and conda-unpack accept and refuse the same odd paths; what they
    accept they make the same; what they refuse they leave as it was."""
    bundle = tmp_path / "env.tar.gz"
    assert _run(conda_isolation.env, "bundle", "-p", source_env, "-o", bundle).returncode == 0
    target = tmp_path / "t" / name
    target.parent.mkdir()
    by_conda = _run(conda_isolation.env, "unbundle", bundle, "-p", target)
    aside = tmp_path / "by conda"
    if by_conda.returncode == 0:
        target.rename(aside)
    else:
        assert not target.exists()
    target.mkdir()
    assert run_bare(["tar", "-xzf", bundle, "-C", target], bare).returncode == 0
    extracted = _tree(target)
    unpack = run_bare([target / "bin/conda-unpack"], bare)
    assert (by_conda.returncode == 0) == (unpack.returncode == 0), (by_conda, unpack)
    assert "Traceback" not in by_conda.stderr + unpack.stderr
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    if unpack.returncode != 0:
        assert _tree(target) == extracted
    else:
        assert_same_environment(aside, target)


def _feed_twice(fifo: Path, first: bytes, second: bytes, proc: subprocess.Popen) -> bytes:
    """Write ``first`` into ``fifo`` (then zeros, a tar's padding, until nobody reads, at
    most 4 MiB), then ``second`` for anyone who opens it again while ``proc`` runs.
    Returns what was written the first time: all that one reader reads, if it reads
    all; a program that opens the path twice reads the rest, or ``second``, the second
    time."""
    sent = first
    with open(fifo, "wb", buffering=0) as writer, contextlib.suppress(BrokenPipeError):
        writer.write(first)
        for _ in range(64):
            writer.write(bytes(1 << 16))
            sent += bytes(1 << 16)
    while proc.poll() is None:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # nobody reads: wait for a second reader, or for the end
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        with open(fd, "wb", buffering=0) as writer, contextlib.suppress(BrokenPipeError):
            writer.write(second)
        break
    return sent


def test_sbom_hash_is_of_the_bytes_it_describes(make_env, conda_isolation, tmp_path):
    """conda unbundle FILE --sbom read the manifest from one open of FILE and hashed a
    second open: a file swapped in between got an SBOM that lists one bundle's packages
    under another bundle's sha256, which the approval page says to check."""
    first, second = tmp_path / "first.tar", tmp_path / "second.tar"
    conda_envbundle.bundle(str(make_env(["foo", "foo-data"], pip_tool=False)), str(first))
    conda_envbundle.bundle(str(make_env(["foo"], pip_tool=False)), str(second))
    fifo = tmp_path / "bundle.tar"
    os.mkfifo(fifo)
    with subprocess.Popen(
        [CONDA, "unbundle", fifo, "--sbom", "cyclonedx"],
        env=conda_isolation.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        sent = _feed_twice(fifo, first.read_bytes(), second.read_bytes(), proc)
        out, err = proc.communicate()
    assert proc.returncode == 0, err
    doc = json.loads(out)
    names = {c["name"] for c in doc["components"]}
    assert "foo-data" in names  # the first bundle's packages
    [digest] = [h["content"] for h in doc["metadata"]["component"]["hashes"]]
    # One open reads what the first writer sent, and also what the second writer sends
    # when it opens the fifo before that reader has seen its end: one stream either way.
    # Two opens would hash the second bundle alone.
    one_open = {
        hashlib.sha256(sent).hexdigest(),
        hashlib.sha256(sent + second.read_bytes()).hexdigest(),
    }
    assert digest in one_open


@pytest.mark.parametrize("where", ["missing", "a directory"])
def test_allowed_signers_that_is_not_a_file(
    where, signed, source_bundle_small, conda_isolation, tmp_path
):
    """A wrong --allowed-signers path was reported as a bundle "not made by a key of"
    it (ask to add its key), and ignored for an unsigned bundle."""
    allowed = tmp_path / "allowed_signers"
    if where == "a directory":
        allowed.mkdir()
    for bundle in (signed, source_bundle_small):
        proc = _run(
            conda_isolation.env,
            *("unbundle", bundle, "-p", tmp_path / "t", "--allowed-signers", allowed),
        )
        assert_clean_error(proc, f"The allowed signers file {allowed} is not a readable file")
        assert not (tmp_path / "t").exists()


def _limited() -> None:
    """A child that cannot fill the disk or the memory (what a broken journal made
    conda-unpack do: a 20 GB file, then the OOM killer)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.fixture(scope="module")
def text_only_bundle(channel, conda_isolation, tmp_path_factory) -> Path:
    """foo and foo-data without their binaries: every prefix rule is a text one."""
    from .support.envs import create_env

    prefix = tmp_path_factory.mktemp("text-only") / "env"
    create_env(prefix, channel, ["foo", "foo-data"], conda_isolation.env)
    out = prefix.parent / "text.tar.gz"
    proc = _run(
        conda_isolation.env,
        *("bundle", "-p", prefix, "-o", out, "--exclude", "lib/*"),
        *("--exclude", "bin/foo", "--exclude", "bin/foo-runpath"),
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("to", ["", "/", "relative", "/a/../b", "/a//b/", 7])
def test_a_journal_that_names_no_prefix_is_refused(to, text_only_bundle, tmp_path):
    """conda-unpack's journal says where an interrupted run was moving the environment;
    its path is then replaced like the recorded one. One that came with the files (a
    damaged or hostile bundle) said "/" (every "/" of every text file replaced) or ""
    (the prefix put between every two bytes: a 20 GB file)."""
    root, fresh = tmp_path / "env", tmp_path / "fresh"
    for where in (root, fresh):
        where.mkdir()
        assert subprocess.run(["tar", "-xzf", text_only_bundle, "-C", where]).returncode == 0
    journal = root / "conda-meta/envbundle/unpack-journal.json"
    journal.write_text(json.dumps({"to": to}))
    proc = subprocess.run(
        [sys.executable, root / "bin/.conda-unpack.py"],
        capture_output=True,
        text=True,
        preexec_fn=_limited,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "unpack-journal.json is damaged" in proc.stderr
    journal.unlink()
    assert _tree(root) == _tree(fresh)


def test_a_bundle_carrying_a_journal_does_not_leave_it_in_the_environment(
    small_bundle_data, tmp_path
):
    """conda-unpack's journal is its own state, never a bundle member. A bundle that
    carries one (made from an environment whose conda-unpack was interrupted, or made by
    hand) left it in the environment conda unbundle made, and the next conda-unpack after
    a move rewrote that path too."""
    carrying = small_bundle_data.copy()
    journal = "conda-meta/envbundle/unpack-journal.json"
    carrying.members.append(Raw(journal, data=b'{"to": "/usr"}'))
    path = carrying.honest().write(tmp_path / "journal.tar.zst")
    target = tmp_path / "env"
    try:
        conda_envbundle.unbundle(str(path), str(target))
    except BundleFormatError:
        return
    assert not (target / journal).exists()
