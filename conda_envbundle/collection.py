"""The head of a multi-environment bundle: several full version-1 manifests, and which
of their files are stored once for several of them.

The head is the bundle's first member (:data:`MANIFEST_PATH`), sealed as a manifest is
(:mod:`.sealing`), with ``"version": 2`` so that conda-envbundle 0.1 refuses it with its
"update conda-envbundle" message::

    {"format": "conda-envbundle", "version": 2,
     "created_by": {"tool": ..., "conda": ...},
     "environments": [
        {"name": "train", "manifest": {<a sealed version-1 manifest>},
         "stored_elsewhere": [[path, source environment, source path], ...]},
        ...],
     "manifest_sha256": ...}

After it come, environment by environment and in each manifest's order, the members
``envs/<name>/<path>`` of every entry except the files listed in ``stored_elsewhere``:
their bytes are those of the source file, stored earlier in the bundle. Only a file
without a prefix rule is stored elsewhere, and only at a file stored in the bundle with
the same sha256 and size. A reader checks every claim before the first byte is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .budget import ParseBudget
from .exceptions import BundleFormatError, EnvBundleError
from .manifest import FILE, FORMAT_NAME, FileEntry, Manifest
from .paths import text_problem
from .relocation.rules import CHECKSUM_KEY
from .sealing import verify_checksum

COLLECTION_VERSION = 2
MEMBER_ROOT = "envs"
# a name beside the hidden directories conda unbundle names after it (.NAME.envbundle-...)
_NAME_MAX = 200
# the key only a multi-environment head has: looked for in the raw bytes first, so a
# single-environment manifest is parsed once, as before
_MARK = b'"environments":'

# (environment name, path) of a file entry
Place = tuple[str, str]


@dataclass
class Environment:
    """One environment of the bundle: its own manifest, and which of its files are
    stored under another entry (path -> place of the stored copy)."""

    name: str
    manifest: Manifest
    stored_elsewhere: dict[str, Place] = field(default_factory=dict)

    @property
    def stored_size(self) -> int:
        """Bytes of this environment's files that the bundle stores under its name."""
        return self.manifest.total_size - self.shared_size

    @property
    def shared_size(self) -> int:
        """Bytes of this environment's files stored once, under an earlier entry."""
        sizes = {f.path: f.size for f in self.manifest.files if f.kind == FILE}
        return sum(sizes[path] for path in self.stored_elsewhere)


@dataclass
class Collection:
    """A multi-environment bundle's head."""

    tool_version: str
    conda_version: str
    environments: list[Environment]

    @property
    def names(self) -> list[str]:
        return [env.name for env in self.environments]

    @property
    def content_size(self) -> int:
        """Bytes of every environment's files, as installed."""
        return sum(env.manifest.total_size for env in self.environments)

    @property
    def shared_size(self) -> int:
        """Bytes the bundle does not store again because an earlier entry holds them."""
        return sum(env.shared_size for env in self.environments)

    def get(self, name: str) -> Environment:
        """The environment called ``name``; an unknown name is refused with the names."""
        for env in self.environments:
            if env.name == name:
                return env
        raise EnvBundleError(
            f"This bundle holds no environment {name!r}; it holds {', '.join(self.names)}."
        )

    def stored(self) -> Iterator[tuple[Environment, FileEntry]]:
        """The entries whose members follow the head, in stream order."""
        for env in self.environments:
            for entry in env.manifest.files:
                if entry.path not in env.stored_elsewhere:
                    yield env, entry

    def to_stream(self) -> tuple[int, Iterator[bytes]]:
        """The sealed head as ``(size, pieces)``: compact, key-sorted JSON, like a manifest
        (each environment's manifest is encoded a chunk of entries at a time, twice)."""
        head = {
            "created_by": {"conda": self.conda_version, "tool": self.tool_version},
            "format": FORMAT_NAME,
            "version": COLLECTION_VERSION,
        }
        digest = hashlib.sha256()
        # conda unbundle refuses a head that costs too much to parse: never write one
        budget = ParseBudget(
            "The head of these environments",
            EnvBundleError,
            "conda unbundle would refuse it. Bundle fewer environments together.",
        )
        for piece in self._pieces(head):
            digest.update(piece)
            budget.add(piece)
        sealed = {**head, CHECKSUM_KEY: digest.hexdigest()}
        size = sum(len(piece) for piece in self._pieces(sealed)) + 1
        return size, _then_newline(self._pieces(sealed))

    def _pieces(self, head: dict[str, Any]) -> Iterator[bytes]:
        keys = sorted({*head, "environments"})
        yield b"{"
        for index, key in enumerate(keys):
            yield (b"," if index else b"") + _compact(key) + b":"
            if key == "environments":
                yield from self._environment_pieces()
            else:
                yield _compact(head[key])
        yield b"}"

    def _environment_pieces(self) -> Iterator[bytes]:
        yield b"["
        for index, env in enumerate(self.environments):
            yield (b"," if index else b"") + b'{"manifest":'
            _, pieces = env.manifest.to_stream()
            for piece in pieces:
                yield piece.rstrip(b"\n")  # the manifest's stream ends with a newline
            shared = sorted([path, *place] for path, place in env.stored_elsewhere.items())
            yield b',"name":' + _compact(env.name) + b',"stored_elsewhere":' + _compact(shared)
            yield b"}"
        yield b"]"


def _compact(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _then_newline(pieces: Iterator[bytes]) -> Iterator[bytes]:
    yield from pieces
    yield b"\n"


def choose_message(names: list[str]) -> str:
    """The refusal of a bundle of several environments where one was expected."""
    return (
        f"This bundle holds {len(names)} environments ({', '.join(names)}): name one "
        "with --env NAME (env= in Python), or install them all with --all."
    )


def chosen(head: Manifest | Collection, env: str | None) -> Manifest:
    """The manifest of the environment ``env`` names (None: the bundle's only one)."""
    if isinstance(head, Collection):
        if env is None:
            raise EnvBundleError(choose_message(head.names))
        return head.get(env).manifest
    if env is not None and env != head.source_name:
        raise EnvBundleError(
            f"This bundle holds one environment, {head.source_name}, not {env!r}. Drop "
            "--env, or name that one."
        )
    return head


def as_collection(head: Manifest | Collection) -> Collection:
    """``head`` as environments: a single-environment bundle holds one."""
    if isinstance(head, Collection):
        return head
    return Collection(head.tool_version, head.conda_version, [Environment(head.source_name, head)])


def member_path(name: str, path: str) -> str:
    """Where the bundle stores the entry ``path`` of environment ``name``."""
    return f"{MEMBER_ROOT}/{name}/{path}"


def share(environments: list[Environment]) -> None:
    """Fill each environment's ``stored_elsewhere``: a file without a prefix rule whose
    (sha256, size) an earlier entry stored is not stored again. Files with prefix rules
    are always stored: their bytes are rewritten per environment."""
    first: dict[tuple[str, int], Place] = {}
    for env in environments:
        env.stored_elsewhere = {}
        for entry in env.manifest.files:
            if entry.kind != FILE:
                continue
            key = (entry.file_sha256, entry.size)
            if key not in first:
                first[key] = (env.name, entry.path)
            elif entry.prefix is None:
                env.stored_elsewhere[entry.path] = first[key]


def is_collection(raw: bytes | bytearray) -> bool:
    """True when ``raw`` (a bundle's first member) is a multi-environment head."""
    if _MARK not in raw:
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False  # Manifest.from_bytes says what is wrong
    return (
        isinstance(data, dict)
        and data.get("format") == FORMAT_NAME
        and data.get("version") == COLLECTION_VERSION
        and "environments" in data
    )


def from_bytes(raw: bytes | bytearray) -> Collection:
    """Parse and check a multi-environment head; any defect is a BundleFormatError."""
    try:
        data = json.loads(raw)
        del raw
        if "delta" in data:
            raise _damaged("it has both environments and a delta")
        verify_checksum(data)
        created = data.get("created_by")
        if not isinstance(created, dict):
            raise _damaged("'created_by' is not an object")
        items = data["environments"]
        if not isinstance(items, list) or not items:
            raise _damaged("its environments are not a list of at least one")
        environments = [_environment(item) for item in items]
        collection = Collection(
            tool_version=_short(created.get("tool"), "tool version"),
            conda_version=_short(created.get("conda"), "conda version"),
            environments=environments,
        )
    except EnvBundleError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise BundleFormatError(
            f"The bundle's head is damaged ({type(exc).__name__}: {exc})."
        ) from exc
    _check_names(collection.names)
    _check_claims(collection.environments)
    return collection


def _damaged(what: str) -> BundleFormatError:
    return BundleFormatError(f"The bundle's head is damaged: {what}.")


def _short(value: Any, what: str) -> str:
    if type(value) is not str or len(value) > 4096 or text_problem(value):
        raise _damaged(f"its {what} is not a short text")
    return value


def _environment(item: Any) -> Environment:
    if not isinstance(item, dict) or not isinstance(item.get("manifest"), dict):
        raise _damaged("an environment is not an object with a manifest")
    name = checked_name(item.get("name"))
    manifest = Manifest.from_bytes(_compact(item["manifest"]))
    if manifest.delta is not None or manifest.origin is not None:
        raise _damaged(f"environment {name!r} is a delta or a kept manifest, not a bundle's")
    if manifest.source_name != name:
        raise _damaged(f"environment {name!r} has the manifest of {manifest.source_name!r}")
    claims = item.get("stored_elsewhere")
    if not isinstance(claims, list):
        raise _damaged(f"the files environment {name!r} shares are not a list")
    shared: dict[str, Place] = {}
    for claim in claims:
        if not (isinstance(claim, list) and len(claim) == 3):
            raise _damaged(f"a file environment {name!r} shares is not [path, env, path]")
        path, source_env, source_path = (_short(part, "shared path") for part in claim)
        if path in shared:
            raise _damaged(f"{name!r} claims {path!r} twice")
        shared[path] = (source_env, source_path)
    return Environment(name, manifest, shared)


def checked_name(name: Any) -> str:
    """``name`` when it can name an environment directory beside others (printable, not
    hidden: conda unbundle's own directories beside a target start with a dot; not
    ``base`` nor ``root``, conda's own); else a BundleFormatError."""
    if (
        type(name) is not str
        or not name
        or "/" in name
        or name.startswith(".")
        or name in ("base", "root")
        or not name.isprintable()
        or len(name.encode("utf-8", "surrogateescape")) > _NAME_MAX
        or text_problem(name)
    ):
        raise _damaged(f"{str(name)[:80]!r} cannot name an environment")
    return name


def _check_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise _damaged("two environments have the same name")


def _check_claims(environments: list[Environment]) -> None:
    """Each claim names a file that the bundle stores earlier, with the same content,
    for a file of its environment that has no prefix rule."""
    stored: dict[Place, tuple[str, int]] = {}
    for env in environments:
        for entry in env.manifest.files:
            if entry.kind != FILE:
                continue
            place = env.stored_elsewhere.get(entry.path)
            if place is None:
                stored[(env.name, entry.path)] = (entry.file_sha256, entry.size)
            elif stored.get(place) != (entry.file_sha256, entry.size) or entry.prefix:
                raise BundleFormatError(
                    f"Environment {env.name!r} claims {entry.path!r} is stored as "
                    f"{place[1]!r} of {place[0]!r}, but the bundle stores no such content "
                    "before it: the bundle is damaged or hostile."
                )
        files = {f.path for f in env.manifest.files if f.kind == FILE}
        unknown = sorted(set(env.stored_elsewhere) - files)
        if unknown:
            raise BundleFormatError(
                f"Environment {env.name!r} claims {unknown[0]!r} is stored elsewhere, but "
                "its manifest lists no such file: the bundle is damaged or hostile."
            )
