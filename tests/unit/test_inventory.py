"""The bundle side's decisions, on a hand-made environment read by conda's own PrefixData.

No package is built and nothing is written: these run in the fast lane.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from conda_envbundle.bundling.bundle import manifest_of
from conda_envbundle.bundling.inventory import take_inventory
from conda_envbundle.bundling.plan import Plan, make_plan
from conda_envbundle.bundling.walk import link_target, wanted
from conda_envbundle.exceptions import (
    EditableInstallError,
    EnvBundleError,
    MissingFilesError,
    SourceEnvironmentError,
    UnsafeLinkError,
)
from conda_envbundle.manifest import FILE, SYMLINK, TEXT


def _record(prefix: Path, name: str, files: dict[str, bytes]) -> None:
    """Install ``files`` as conda would, with the record conda writes for them."""
    paths = []
    for path, data in files.items():
        (prefix / path).parent.mkdir(parents=True, exist_ok=True)
        (prefix / path).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        paths.append(
            {"_path": path, "path_type": "hardlink", "sha256": digest, "size_in_bytes": len(data)}
        )
    record = {
        "name": name,
        "version": "1.0",
        "build": "0",
        "build_number": 0,
        "channel": "local",
        "subdir": "linux-64",
        "fn": f"{name}-1.0-0.conda",
        "files": list(files),
        "paths_data": {"paths": paths, "paths_version": 1},
        "depends": ["__glibc >=2.17"],
    }
    (prefix / "conda-meta" / f"{name}-1.0-0.json").write_text(json.dumps(record))


@pytest.fixture
def env(tmp_path: Path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")
    _record(prefix, "demo", {"lib/demo.txt": b"demo data\n", "bin/tool": b"#!/bin/sh\necho\n"})
    (prefix / "etc").mkdir()
    (prefix / "etc" / "where").write_text(f"home={prefix}\n")  # written after install
    os.symlink("demo.txt", prefix / "lib" / "link.txt")
    return prefix


def _plan(prefix: Path, **options) -> Plan:
    return make_plan(str(prefix), str(prefix.parent / "out.tar.zst"), dry_run=True, **options)


def test_recorded_files_are_trusted_and_prefix_files_get_a_rule(env):
    inventory = take_inventory(_plan(env))
    items = {item.entry.path: item for item in inventory.items}
    assert items["lib/demo.txt"].verify  # checked against conda's record as it is written
    where = items["etc/where"].entry
    assert where.prefix is not None and (where.prefix.placeholder, where.prefix.mode) == (
        str(env),
        TEXT,
    )
    assert items["lib/link.txt"].entry.kind == SYMLINK
    assert items["lib/link.txt"].entry.target == "demo.txt"
    assert inventory.requirements == {"glibc": "2.17"}
    assert "bin/conda-unpack" in items  # the files that make it work without conda


def test_the_manifest_is_built_from_the_inventory(env):
    manifest = manifest_of(take_inventory(_plan(env)))
    assert [p["name"] for p in manifest.packages] == ["demo"]
    files = {entry.path: entry for entry in manifest.files}
    assert files["lib/demo.txt"].kind == FILE and files["lib/demo.txt"].size == len(b"demo data\n")
    assert manifest.subdir == "linux-64"


def test_filters_leave_files_out_but_never_the_records(env):
    inventory = take_inventory(_plan(env, filters=[("exclude", "etc/*")]))
    assert "etc/where" not in {item.entry.path for item in inventory.items}
    with pytest.raises(EnvBundleError, match="conda would not recognise"):
        _plan(env, filters=[("exclude", "conda-meta/*")])
    assert wanted("a/b", [("exclude", "a/*"), ("include", "a/b")])


def test_missing_and_editable_installs_stop_a_real_run_and_a_dry_run_reports_them(env):
    (env / "lib" / "demo.txt").unlink()
    (env / "lib" / "link.txt").unlink()
    site = env / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    (site / "mine.egg-link").write_text("/src/mine\n")
    report = take_inventory(_plan(env))
    assert report.missing == {"demo": ["lib/demo.txt"]} and report.editables == ["mine"]
    real = make_plan(str(env), str(env.parent / "x.tar.zst"), ignore_missing=True)
    with pytest.raises(EditableInstallError, match="--ignore-editable"):
        take_inventory(real)
    real = make_plan(str(env), str(env.parent / "x.tar.zst"), ignore_editable=True)
    with pytest.raises(MissingFilesError, match="--ignore-missing"):
        take_inventory(real)


def test_a_symlink_out_of_the_environment_is_refused(env):
    os.symlink("/etc/passwd", env / "lib" / "out")
    with pytest.raises(UnsafeLinkError, match="lib/out"):
        take_inventory(_plan(env))
    assert link_target(str(env), "lib/x", f"{env}/bin/tool") == "../bin/tool"
    assert link_target(str(env), "lib/x", "../../outside") is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fmt": "rar"}, "Unknown format"),
        ({"fmt": "sh", "sh_codec": "gzip", "level": 15}, "out of range for tar.gz"),
        ({"threads": -2}, "thread count"),
        ({"dest_prefix": "relative/path"}, "absolute path"),
        ({"filters": [("drop", "x")]}, "'exclude' or 'include'"),
    ],
)
def test_the_plan_refuses_what_cannot_work(env, options, message):
    with pytest.raises(EnvBundleError, match=message):
        make_plan(str(env), str(env.parent / "out.sh"), **options)


def test_the_plan_takes_levels_and_defaults_from_the_codec_that_compresses(env):
    out = str(env.parent / "out.sh")
    assert make_plan(str(env), out, fmt="sh", sh_codec="zstd", level=15).level == 15
    assert make_plan(str(env), out, fmt="sh", sh_codec="zstd").level == 3
    assert make_plan(str(env), out, fmt="sh").level == 6
    assert make_plan(str(env), "-", fmt="tar.gz").distrust is None  # cannot be made twice


def test_an_environment_whose_conda_unpack_was_interrupted_is_refused(env):
    journal = env / "conda-meta" / "envbundle" / "unpack-journal.json"
    journal.parent.mkdir(parents=True)
    journal.write_text('{"to": "/elsewhere"}')
    with pytest.raises(SourceEnvironmentError, match="Run bin/conda-unpack there again"):
        take_inventory(_plan(env))
