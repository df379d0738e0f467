"""SBOMs (issue 17): CycloneDX 1.6 and SPDX 2.3, beside a bundle and from any bundle.

Every document is checked by the CycloneDX and SPDX projects' own Python libraries
(``cyclonedx-python-lib`` with its JSON schema, ``spdx-tools``), not by our code.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

import conda_envbundle
from conda_envbundle.exceptions import BundleFormatError
from conda_envbundle.sbom import dumps

from .support.cli import assert_clean_error
from .support.envs import CONDA

SUFFIX = {"cyclonedx": ".cdx.json", "spdx": ".spdx.json"}


def _run(env: dict, *args, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CONDA, *map(str, args)], env=env, stdin=stdin, capture_output=True, check=False
    )


def assert_valid_cyclonedx(text: str) -> dict:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    return json.loads(text)


def assert_valid_spdx(path: Path) -> dict:
    document = parse_file(str(path))
    messages = validate_full_spdx_document(document)
    assert messages == [], [m.validation_message for m in messages]
    return json.loads(path.read_text())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def bundled(source_env, conda_isolation, tmp_path_factory) -> Path:
    """``source_env`` bundled with both SBOMs beside it."""
    out = tmp_path_factory.mktemp("sbom") / "app.tar.zst"
    proc = _run(
        conda_isolation.env,
        *("bundle", "-p", source_env, "-o", out, "--sbom", "cyclonedx", "--sbom", "spdx"),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return out


def test_cyclonedx_beside_the_bundle_is_valid_and_complete(bundled):
    doc = assert_valid_cyclonedx(Path(f"{bundled}.cdx.json").read_text())
    manifest = conda_envbundle.inspect(str(bundled))
    assert doc["specVersion"] == "1.6" and doc["serialNumber"].startswith("urn:uuid:")
    bundle = doc["metadata"]["component"]
    assert bundle["hashes"] == [{"alg": "SHA-256", "content": _sha256(bundled)}]
    props = {p["name"]: p["value"] for p in bundle["properties"]}
    assert props["conda-envbundle:platform"] == "linux-64"
    assert manifest.requirements == {}  # the test packages need no particular glibc
    assert props["conda-envbundle:requires"] == "nothing else"
    tools = {t["name"]: t["version"] for t in doc["metadata"]["tools"]["components"]}
    assert tools == {"conda-envbundle": manifest.tool_version, "conda": manifest.conda_version}
    by_name = {c["name"]: c for c in doc["components"]}
    for package in manifest.packages:
        component = by_name[package["name"]]
        purl = PackageURL.from_string(component["purl"])
        assert (purl.type, purl.name, purl.version) == (
            "conda",
            package["name"],
            package["version"],
        )
        assert purl.qualifiers["build"] == package["build"]
        assert purl.qualifiers["channel"] == package["channel"]
        assert purl.qualifiers["subdir"] == package["subdir"]
        assert {"alg": "SHA-256", "content": package["sha256"]} in component["hashes"]
    assert by_name["foo"]["licenses"] == [{"license": {"name": "BSD-3-Clause"}}]
    # the pip-installed distributions, with their RECORD hashes
    for name in ("bartool", "barext"):
        dist = by_name[name]
        assert PackageURL.from_string(dist["purl"]).type == "pypi"
        files = {f["name"]: f["hashes"][0]["content"] for f in dist["components"]}
        assert f"bin/{name}" in files  # its entry point, as pip recorded it
        # pip's hashes; the bundle ships site-packages as installed (launchers in bin/
        # may be made relocatable, so their bytes differ from what pip wrote)
        listed = {f.path: f.sha256 for f in manifest.files}
        shipped = {p: d for p, d in files.items() if p.startswith(manifest.site_packages)}
        assert shipped and all(listed[path] == digest for path, digest in shipped.items())
    notes = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert "belong to no conda package" in notes["conda-envbundle:unowned-files"]
    assert "conda-envbundle:unknown" not in notes


def test_spdx_beside_the_bundle_is_valid_and_complete(bundled):
    doc = assert_valid_spdx(Path(f"{bundled}.spdx.json"))
    manifest = conda_envbundle.inspect(str(bundled))
    packages = {p["name"]: p for p in doc["packages"]}
    bundle = packages[manifest.source_name]
    assert bundle["checksums"] == [{"algorithm": "SHA256", "checksumValue": _sha256(bundled)}]
    assert "platform linux-64, requires nothing else" in bundle["comment"]
    foo = packages["foo"]
    refs = [r["referenceLocator"] for r in foo["externalRefs"]]
    assert refs and refs[0].startswith("pkg:conda/foo@1.2.3?")
    licences = {i["licenseId"]: i["extractedText"] for i in doc["hasExtractedLicensingInfos"]}
    assert licences[foo["licenseDeclared"]] == "BSD-3-Clause"
    assert "pkg:pypi/bartool@" in packages["bartool"]["externalRefs"][0]["referenceLocator"]
    assert "sha256:" in packages["bartool"]["comment"]
    assert "belong to no conda package" in doc["comment"]
    assert doc["creationInfo"]["creators"][0].startswith("Tool: conda-envbundle-")


def test_unbundle_prints_the_same_documents(bundled, conda_isolation):
    for fmt, suffix in SUFFIX.items():
        written = Path(f"{bundled}{suffix}").read_bytes()
        by_path = _run(conda_isolation.env, "unbundle", bundled, "--sbom", fmt)
        assert by_path.returncode == 0, by_path.stderr.decode()
        assert by_path.stdout == written
        with open(bundled, "rb") as stdin:
            piped = _run(conda_isolation.env, "unbundle", "-", "--sbom", fmt, stdin=stdin)
        assert piped.stdout == written, piped.stderr.decode()
        assert dumps(conda_envbundle.make_sbom(str(bundled), fmt)) == written


@pytest.mark.parametrize("fmt", ["tar.gz", "zip", "sh", "tar", "dir"])
def test_every_format(fmt, make_env, conda_isolation, tmp_path):
    env = make_env(["foo", "foo-data"], pip_tool=False, unmanaged_binary=False)
    out = tmp_path / ("b" if fmt == "dir" else f"b.{fmt}")
    result = conda_envbundle.bundle(str(env), str(out), fmt=fmt, sbom=["spdx", "cyclonedx"])
    assert result.sbom == {f: f"{out}{s}" for f, s in SUFFIX.items()}
    cdx = Path(f"{out}.cdx.json").read_text()
    doc = assert_valid_cyclonedx(cdx)
    assert_valid_spdx(Path(f"{out}.spdx.json"))
    if fmt == "dir":
        assert "hashes" not in doc["metadata"]["component"]
        notes = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
        assert "sha256 is not known" in notes["conda-envbundle:unknown"]
    else:
        assert doc["metadata"]["component"]["hashes"][0]["content"] == _sha256(out)
    proc = _run(conda_isolation.env, "unbundle", out, "--sbom", "cyclonedx")
    assert proc.stdout.decode() == cdx, proc.stderr.decode()


def test_same_environment_same_document(make_env, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    docs = []
    for where in ("one", "two"):
        (tmp_path / where).mkdir()
        out = tmp_path / where / "env.tar.gz"
        conda_envbundle.bundle(str(env), str(out), sbom=["cyclonedx", "spdx"])
        docs.append([Path(f"{out}{s}").read_bytes() for s in SUFFIX.values()])
    assert docs[0] == docs[1]
    assert b"timestamp" not in docs[0][0]


def test_a_bundle_from_before_the_sbom_facts_says_what_it_cannot_know(small_bundle_data, tmp_path):
    old = small_bundle_data.copy()
    del old.manifest["sbom"]
    for package in old.manifest["packages"]:
        package.pop("license", None)
    old.manifest["platform"]["glibc"] = "2.17"
    path = old.honest().write(tmp_path / "old.tar.zst")
    cdx = conda_envbundle.make_sbom(str(path), "cyclonedx")
    assert_valid_cyclonedx(json.dumps(cdx))
    bundle = {p["name"]: p["value"] for p in cdx["metadata"]["component"]["properties"]}
    assert bundle["conda-envbundle:requires:glibc"] == "2.17"
    notes = {p["name"]: p["value"] for p in cdx["metadata"]["properties"]}
    assert "did not record package licences" in notes["conda-envbundle:unknown"]
    assert all("licenses" not in c for c in cdx["components"])
    spdx = tmp_path / "old.spdx.json"
    spdx.write_text(json.dumps(conda_envbundle.make_sbom(str(path), "spdx")))
    doc = assert_valid_spdx(spdx)
    assert "did not record" in doc["comment"]
    assert "requires:glibc 2.17" in doc["packages"][0]["comment"]
    assert doc["creationInfo"]["created"] == "1980-01-01T00:00:00Z"


def test_a_manifest_with_unknown_keys_still_unbundles(small_bundle_data, tmp_path):
    """The rule that let the sbom key in: readers ignore keys they do not know (0.1's
    reader did too), and the checksum covers them."""
    future = small_bundle_data.copy()
    future.manifest["a_later_key"] = {"anything": [1, 2]}
    path = future.honest().write(tmp_path / "future.tar.zst")
    result = conda_envbundle.unbundle(str(path), str(tmp_path / "env"))
    assert result.packages == len(future.manifest["packages"])
    assert (tmp_path / "env" / "conda-meta" / "history").exists()


def test_refusals_write_nothing(source_bundle_small, make_env, conda_isolation, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    proc = _run(conda_isolation.env, "bundle", "-p", env, "-o", "-", "--sbom", "spdx")
    assert_clean_error(_decoded(proc), "--sbom and --sign write files beside the bundle", "--sbom")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "x.tar.zst"
    Path(f"{out}.spdx.json").write_text("mine")
    proc = _run(conda_isolation.env, "bundle", "-p", env, "-o", out, "--sbom", "spdx")
    assert_clean_error(_decoded(proc), "x.tar.zst.spdx.json already exists")
    assert proc.returncode == 5
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.tar.zst.spdx.json"]
    assert Path(f"{out}.spdx.json").read_text() == "mine"
    proc = _run(conda_isolation.env, "unbundle", source_bundle_small, "--sbom", "nope")
    assert proc.returncode == 2 and b"invalid choice" in proc.stderr


def _decoded(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def test_dry_run_names_them_and_stale_ones_are_warned_about(make_env, conda_isolation, tmp_path):
    env = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    out = tmp_path / "out" / "e.tar.gz"
    out.parent.mkdir()
    bundle = ("bundle", "-p", env, "-o", out)
    proc = _decoded(_run(conda_isolation.env, *bundle, "--sbom", "cyclonedx", "-d"))
    assert f"would write the cyclonedx SBOM to {out}.cdx.json" in proc.stdout, proc.stderr
    assert list(out.parent.iterdir()) == []
    assert _run(conda_isolation.env, *bundle, "--sbom", "spdx").returncode == 0
    proc = _decoded(_run(conda_isolation.env, *bundle, "--force"))
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {out}.spdx.json is an earlier bundle's" in proc.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["e.tar.gz", "e.tar.gz.spdx.json"]


@pytest.mark.parametrize(
    ("facts", "said"),
    [
        ([], "not an object with an mtime"),
        ({"mtime": "x"}, "not an object with an mtime"),
        ({"mtime": 1, "python_distributions": {}}, "Python distributions are not a list"),
        (
            {
                "mtime": 1,
                "python_distributions": [
                    {"name": "a", "version": "1", "installer": "pip", "metadata": "m"}
                ],
            },
            "RECORD hashes of 'a'",
        ),
        (
            {"mtime": 1, "python_distributions": [], "unowned": {"files": -1, "size": 0}},
            "unowned files is not counts",
        ),
        (
            {
                "mtime": 1,
                "python_distributions": [],
                "unowned": {
                    "files": 0,
                    "size": 0,
                    "directories": [{"path": 3, "files": 0, "size": 0}],
                },
            },
            "directory is not a short string",
        ),
    ],
)
def test_damaged_sbom_facts_are_refused(facts, said, small_bundle_data, tmp_path):
    damaged = small_bundle_data.copy()
    damaged.manifest["sbom"] = facts
    path = damaged.honest().write(tmp_path / "damaged.tar.zst")
    with pytest.raises(BundleFormatError, match=re.escape(said)):
        conda_envbundle.inspect(str(path))
