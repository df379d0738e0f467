"""The head of a multi-environment bundle: its bytes, what is stored once, what is refused."""

from __future__ import annotations

import hashlib
import json

import pytest

from conda_envbundle import collection
from conda_envbundle.archive import open_reader
from conda_envbundle.collection import Collection, Environment, share
from conda_envbundle.exceptions import BundleFormatError, ChecksumMismatchError, EnvBundleError
from conda_envbundle.manifest import DIR, FILE, MANIFEST_PATH, TEXT, FileEntry, Manifest, PrefixRule
from conda_envbundle.relocation.rules import CHECKSUM_KEY
from conda_envbundle.unbundling.extract import refuse_collection
from conda_envbundle.unbundling.multi import read_bundle

A, B = "a" * 64, "b" * 64


def _manifest(name: str, files: list[FileEntry]) -> Manifest:
    return Manifest(name, "linux-64", "24.7.1", "0.1.0", files=files)


def _pair() -> Collection:
    train = _manifest(
        "train",
        [
            FileEntry("lib", DIR, 0o755),
            FileEntry("lib/python.so", FILE, 0o755, 3, A),
            FileEntry("lib/copy.so", FILE, 0o755, 3, A),  # the same bytes, same env
            FileEntry("etc/conf", FILE, 0o644, 5, B, prefix=PrefixRule("/build", TEXT)),
        ],
    )
    serve = _manifest(
        "serve",
        [
            FileEntry("lib/python.so", FILE, 0o755, 3, A),
            FileEntry("etc/conf", FILE, 0o644, 5, B, prefix=PrefixRule("/build", TEXT)),
            FileEntry("etc/plain", FILE, 0o644, 5, B),  # stored under train's ruled file
            FileEntry("lib/other.so", FILE, 0o755, 4, A),  # same sha, other size: stored
        ],
    )
    envs = [Environment("train", train), Environment("serve", serve)]
    share(envs)
    return Collection("0.1.0", "24.7.1", envs)


def _raw(head: Collection) -> bytes:
    size, pieces = head.to_stream()
    raw = b"".join(pieces)
    assert len(raw) == size
    return raw


def _resealed(data: dict) -> bytes:
    body = {k: v for k, v in data.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return json.dumps({**body, CHECKSUM_KEY: hashlib.sha256(canonical).hexdigest()}).encode()


def test_content_is_stored_once_unless_it_has_a_prefix_rule():
    train, serve = _pair().environments
    assert train.stored_elsewhere == {"lib/copy.so": ("train", "lib/python.so")}
    assert serve.stored_elsewhere == {
        "lib/python.so": ("train", "lib/python.so"),
        "etc/plain": ("train", "etc/conf"),
    }
    assert _pair().shared_size == 3 + 3 + 5


def test_stream_order_leaves_out_what_is_stored_elsewhere():
    stored = [(env.name, entry.path) for env, entry in _pair().stored()]
    assert stored == [
        ("train", "lib"),
        ("train", "lib/python.so"),
        ("train", "etc/conf"),
        ("serve", "etc/conf"),
        ("serve", "lib/other.so"),
    ]


def test_head_is_sealed_compact_json_and_reads_back():
    raw = _raw(_pair())
    data = json.loads(raw)
    assert raw == json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    body = {k: v for k, v in data.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert data[CHECKSUM_KEY] == hashlib.sha256(canonical).hexdigest()
    assert data["version"] == 2 and "delta" not in data
    # each environment's manifest is a sealed version-1 manifest of its own
    inner = json.dumps(data["environments"][1]["manifest"]).encode()
    assert Manifest.from_bytes(inner).files == _pair().environments[1].manifest.files
    again = collection.from_bytes(raw)
    assert again.names == ["train", "serve"]
    for read, made in zip(again.environments, _pair().environments, strict=True):
        assert read.manifest.files == made.manifest.files
        assert read.stored_elsewhere == made.stored_elsewhere


def test_a_0_1_reader_sees_a_newer_version():
    # conda-envbundle 0.1 refuses any manifest version but 1 with "Update conda-envbundle";
    # today's reader of one manifest refuses it too: a version 2 must be a delta
    assert json.loads(_raw(_pair()))["version"] == 2
    with pytest.raises(BundleFormatError, match="delta key disagree"):
        Manifest.from_bytes(_raw(_pair()))


def test_one_environment_readers_name_the_environments():
    raw = bytearray(_raw(_pair()))
    assert collection.is_collection(raw)
    with pytest.raises(BundleFormatError, match=r"\(train, serve\).*a bundle of each alone"):
        refuse_collection(raw)
    _, pieces = _pair().environments[0].manifest.to_stream()
    assert not collection.is_collection(b"".join(pieces))


def test_changed_head_fails_its_checksum():
    data = json.loads(_raw(_pair()))
    data["environments"][1]["stored_elsewhere"] = []
    with pytest.raises(ChecksumMismatchError):
        collection.from_bytes(json.dumps(data).encode())


def _edited(edit) -> bytes:
    data = json.loads(_raw(_pair()))
    edit(data)
    return _resealed(data)


def _claims(data: dict, name: str) -> list:
    return next(e for e in data["environments"] if e["name"] == name)["stored_elsewhere"]


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (
            lambda d: _claims(d, "serve").append(["lib/other.so", "train", "lib/python.so"]),
            "stores no such content",
        ),
        (
            lambda d: _claims(d, "serve").append(["etc/conf", "train", "etc/conf"]),
            "stores no such content",
        ),  # a file with a prefix rule is always stored
        (
            lambda d: _claims(d, "serve").append(["nowhere", "train", "lib/python.so"]),
            "lists no such file",
        ),
        (
            lambda d: _claims(d, "train").append(["etc/conf", "serve", "etc/conf"]),
            "stores no such content",
        ),  # only what came before
        (
            lambda d: _claims(d, "serve").__setitem__(0, ["etc/plain", "train", "lib/gone"]),
            "stores no such content",
        ),
        (lambda d: d["environments"][1].__setitem__("name", "train"), "has the manifest of"),
        (lambda d: d["environments"][1].__setitem__("name", "../x"), "cannot name"),
        (lambda d: d.__setitem__("delta", {}), "both environments and a delta"),
        (lambda d: d.__setitem__("environments", []), "at least one"),
    ],
)
def test_refused_heads(edit, needle):
    with pytest.raises(BundleFormatError, match=needle):
        collection.from_bytes(_edited(edit))


def test_duplicate_names_refused():
    def twice(data: dict) -> None:
        data["environments"].append(json.loads(json.dumps(data["environments"][0])))

    with pytest.raises(BundleFormatError, match="same name"):
        collection.from_bytes(_edited(twice))


def test_choosing_an_environment():
    head = _pair()
    assert collection.chosen(head, "serve").source_name == "serve"
    with pytest.raises(EnvBundleError, match=r"no environment 'nope'; it holds train, serve"):
        collection.chosen(head, "nope")
    with pytest.raises(EnvBundleError, match="--env NAME"):
        collection.chosen(head, None)
    alone = head.environments[0].manifest
    assert collection.chosen(alone, None) is alone and collection.chosen(alone, "train") is alone
    with pytest.raises(EnvBundleError, match="one environment, train"):
        collection.chosen(alone, "serve")
    assert collection.as_collection(alone).names == ["train"]


def test_a_head_outside_a_tar_stream_is_refused(tmp_path):
    """conda bundle writes several environments only as tar: a directory (or zip) whose
    first member is such a head is damaged or hostile."""
    head = tmp_path / MANIFEST_PATH
    head.parent.mkdir(parents=True)
    head.write_bytes(_raw(_pair()))
    with (
        pytest.raises(BundleFormatError, match="not a tar file"),
        open_reader(str(tmp_path), MANIFEST_PATH) as reader,
    ):
        read_bundle(reader)


UNFIT_NAMES = [".hidden", ".train.envbundle-staging-abcdefgh", "base", "root", "x\x1b[2Ky"]
UNFIT_NAMES += ["a\nb", "\u202etxt", "n" * 201, "", "a/b", ".."]


@pytest.mark.parametrize("name", UNFIT_NAMES)
def test_names_that_cannot_name_an_environment_beside_others(name):
    with pytest.raises(BundleFormatError, match="cannot name an environment"):
        collection.checked_name(name)


@pytest.mark.parametrize("name", ["train", "serve-2", "环境", "n" * 200])
def test_names_that_can(name):
    assert collection.checked_name(name) == name
