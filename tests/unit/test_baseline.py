"""Generations of an environment as manifests: which files a delta takes from its base,
the full manifest each manifest stands for, and the checks of the delta and origin keys."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conda_envbundle import baseline
from conda_envbundle.exceptions import BundleFormatError
from conda_envbundle.manifest import BINARY, DIR, FILE, SYMLINK, FileEntry, Manifest, PrefixRule
from conda_envbundle.relocation.rules import remember_shipped

SP = "lib/python3.12/site-packages"
BUILD = "/build/env"


def _sha(n: int) -> str:
    return f"{n:064x}"


def _file(path: str, n: int, prefix: PrefixRule | None = None, mode: int = 0o644) -> FileEntry:
    return FileEntry(path, FILE, mode, 10 + n, _sha(n), prefix=prefix)


def _manifest(files: list[FileEntry], packages: list[dict] | None = None) -> Manifest:
    return Manifest(
        "env",
        "linux-64",
        "24.7.1",
        "0.2.0",
        site_packages=SP,
        packages=packages or [{"name": "a", "version": "1", "build": "0", "channel": "c"}],
        files=[FileEntry("lib", DIR, 0o755), *files],
    )


def _base() -> Manifest:
    return _manifest(
        [
            _file("lib/libfoo.so", 1, PrefixRule(BUILD, BINARY)),
            _file("lib/same.txt", 2),
            _file("conda-meta/a-1-0.json", 3),
            _file(f"{SP}/m.py", 4, PrefixRule(BUILD, "text")),
            _file(f"{SP}/__pycache__/m.cpython-312.pyc", 5),
            _file(f"{SP}/n.py", 6),
            _file(f"{SP}/__pycache__/n.cpython-312.pyc", 7),
            _file("share/gone.txt", 8),
            FileEntry("bin/link", SYMLINK, 0o777, target="../lib/same.txt"),
        ]
    )


def _new() -> Manifest:
    files = [f for f in _base().files if f.path not in ("lib", "share/gone.txt")]
    changed = {f"{SP}/__pycache__/n.cpython-312.pyc": _file(files[6].path, 70)}
    files = [changed.get(f.path, f) for f in files] + [_file("share/new.txt", 9)]
    return _manifest(files, [{"name": "a", "version": "2", "build": "0", "channel": "c"}])


def test_a_delta_takes_what_the_base_has_and_unbundling_never_rewrites():
    delta = baseline.make_delta(_base(), _new())
    reused = {f.path for f in delta.files if f.reuse}
    assert reused == {"lib/libfoo.so", "lib/same.txt"}
    # records are rewritten for the target; the pyc of a ruled source is compiled again;
    # a source whose pyc ships keeps its mtime only with that pyc
    assert delta.delta["removed"] == ["share/gone.txt"]
    assert delta.delta["base"] == _base().seal()
    assert baseline.delta_problem(delta, _base()) is None


def test_a_delta_stands_for_the_full_manifest_of_its_environment():
    new = _new()
    delta = baseline.make_delta(_base(), new)
    assert baseline.identity(delta) == new.seal() != delta.seal()
    parsed = Manifest.from_bytes(b"".join(delta.to_stream()[1]))
    assert parsed.delta == delta.delta
    assert [f.path for f in parsed.files if f.reuse] == [f.path for f in delta.files if f.reuse]
    assert baseline.identity(parsed) == new.seal()


def test_what_a_delta_may_not_take_is_refused():
    delta = baseline.make_delta(_base(), _new())
    for path in (f"{SP}/n.py", "conda-meta/a-1-0.json", f"{SP}/__pycache__/m.cpython-312.pyc"):
        wrong = dataclasses.replace(
            delta,
            files=[dataclasses.replace(f, reuse=f.reuse or f.path == path) for f in delta.files],
        )
        assert baseline.delta_problem(wrong, _base()), path
    changed = [_file(f.path, 99) if f.path == "lib/same.txt" else f for f in _base().files]
    assert "other bytes" in baseline.delta_problem(
        delta, dataclasses.replace(_base(), files=changed)
    )
    removed = dataclasses.replace(delta, delta={**delta.delta, "removed": []})
    assert "removes" in baseline.delta_problem(removed, _base())


def _kept(base: Manifest, target: str) -> Manifest:
    """What unbundling at ``target`` keeps: relocated files with new bytes, the rules'
    placeholder the target, and what was shipped remembered."""
    shipped: dict = {}
    files = []
    for entry in base.files:
        kept = dataclasses.replace(entry)
        if entry.prefix:
            kept.sha256, kept.size = _sha(1000 + entry.size), entry.size + 5
            remember_shipped(shipped, entry.to_json(), kept.sha256, kept.size, target)
            kept.prefix = PrefixRule(target, entry.prefix.mode)
        files.append(kept)
    origin = {"manifest": base.seal(), "shipped": shipped}
    return dataclasses.replace(base, files=files, origin=origin)


def test_a_kept_manifest_rebuilds_the_bundle_manifest_it_came_from():
    base = _base()
    kept = Manifest.from_bytes(b"".join(_kept(base, "/opt/x").to_stream()[1]))
    assert baseline.identity(baseline.shipped_manifest(kept)) == base.seal()
    assert baseline.shipped_manifest(base) is base  # nothing rewritten: no origin
    forged = dataclasses.replace(kept, origin={**kept.origin, "manifest": _sha(1)})
    with pytest.raises(BundleFormatError, match="does not rebuild"):
        baseline.shipped_manifest(forged)
    extra = {**kept.origin["shipped"], "not/there": {"sha256": _sha(2), "size": 1}}
    with pytest.raises(BundleFormatError, match="does not rebuild"):
        baseline.shipped_manifest(
            dataclasses.replace(kept, origin={**kept.origin, "shipped": extra})
        )


def test_remember_shipped_notes_each_rewritten_entry_once():
    shipped: dict = {}
    entry = {
        "path": "a",
        "sha256": _sha(1),
        "size": 3,
        "prefix": {"placeholder": BUILD, "mode": "text"},
    }
    remember_shipped(shipped, entry, _sha(1), 3, BUILD)  # nothing changes: nothing noted
    assert shipped == {}
    remember_shipped(shipped, entry, _sha(1), 3, "/opt/x")  # only the placeholder moves
    remember_shipped(shipped, {**entry, "sha256": _sha(2)}, _sha(3), 4, "/opt/y")  # later move
    assert shipped == {"a": {"sha256": _sha(1), "size": 3, "prefix": entry["prefix"]}}


NEGATIVE_SIZE = {"a": {"sha256": _sha(2), "size": -1}}


def _sealed(data: dict) -> bytes:
    from ..support.crafted import dump

    return dump(data)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": 2}, "delta key disagree"),
        ({"delta": {"base": "x"}}, "disagree"),
        ({"version": 2, "delta": {"base": "x"}}, "not a sha256"),
        ({"origin": {"manifest": _sha(1), "shipped": {"../x": {}}}}, "not a safe path"),
        (
            {"origin": {"manifest": _sha(1), "shipped": {"a": {"sha256": _sha(1), "size": -1}}}},
            "size",
        ),
    ],
)
def test_damaged_delta_and_origin_keys_are_refused(change, message):
    data = json.loads(b"".join(_base().to_stream()[1]))
    data.pop("manifest_sha256")
    data.update(change)
    with pytest.raises(BundleFormatError, match=message):
        Manifest.from_bytes(_sealed(data))


def test_a_full_manifest_takes_nothing_from_elsewhere():
    data = json.loads(b"".join(_base().to_stream()[1]))
    data.pop("manifest_sha256")
    data["files"][1]["reuse"] = True
    with pytest.raises(BundleFormatError, match="takes files from elsewhere"):
        Manifest.from_bytes(_sealed(data))
