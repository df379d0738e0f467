"""Generations of one environment: the full manifest each one stands for, and which files
a delta may take from the generation before instead of shipping them.

The identity of a generation is the checksum of its full bundle manifest (version 1, no
``delta``, no ``origin``): a full bundle carries it as its own checksum; a delta and a
kept manifest carry enough to rebuild that manifest exactly (see :mod:`.lineage`), and
the rebuilt manifest must seal to the checksum they name.

What a delta may take from its base: a file the base has at the same path with the same
bytes, size and prefix rule, which unbundling never writes again from other files. So a
delta always ships conda-meta (records are updated with the target's hashes; conda writes
its history and other metadata in place), the pycs of sources with a prefix rule
(compiled again at the target) and the sources of every pyc it ships (their mtime follows
the pyc): the new environment then never writes to a file it shares with the old one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .exceptions import BundleFormatError, EnvBundleError
from .manifest import FILE, SYMLINK, FileEntry, Manifest, PrefixRule
from .relocation import rules

_PACKAGE_KEYS = ("name", "version", "build", "channel")


def full_manifest(manifest: Manifest) -> Manifest:
    """``manifest`` as the full bundle of its environment carries it."""
    if manifest.delta is None and manifest.origin is None:
        return manifest
    files = [dataclasses.replace(f, reuse=False) if f.reuse else f for f in manifest.files]
    return dataclasses.replace(manifest, files=files, delta=None, origin=None, sealed=None)


def identity(manifest: Manifest) -> str:
    """The checksum of the full manifest of the generation ``manifest`` stands for."""
    if manifest.delta is None and manifest.origin is None and manifest.sealed:
        return manifest.sealed
    return full_manifest(manifest).seal()


def shipped_manifest(kept: Manifest) -> Manifest:
    """The bundle manifest an environment was made from, rebuilt from its kept manifest
    (or a bundle's manifest: then that manifest).

    Without an origin nothing was rewritten: the kept manifest is the bundle's (as after
    ``tar -x``), or one that conda-envbundle 0.1 rewrote, whose identity then names no
    bundle. Raises BundleFormatError when the origin does not rebuild to its checksum.
    """
    if kept.origin is None:
        return kept
    shipped: dict[str, Any] = dict(kept.origin["shipped"])
    files = [_as_shipped(entry, shipped.pop(entry.path, None)) for entry in kept.files]
    base = dataclasses.replace(kept, files=files, origin=None, delta=None, sealed=None)
    if shipped or base.seal() != kept.origin["manifest"]:
        raise BundleFormatError(
            "This kept manifest does not rebuild to the bundle manifest it names as its "
            "origin: it was changed, or made by a newer conda-envbundle. Unbundle a full "
            "bundle there."
        )
    return base


def _as_shipped(entry: FileEntry, item: dict[str, Any] | None) -> FileEntry:
    if item is None:
        return entry
    rule = item.get("prefix")
    return dataclasses.replace(
        entry,
        sha256=item["sha256"],
        size=item["size"],
        prefix=PrefixRule(rule["placeholder"], rule["mode"]) if rule else None,
    )


def make_delta(base: Manifest, new: Manifest) -> Manifest:
    """``new`` (a full manifest) as a delta against ``base``: the files it may take from
    the base marked ``reuse``, the paths it removes listed."""
    if base.subdir != new.subdir:
        raise EnvBundleError(
            f"The base is an environment for {base.subdir}, this one is for {new.subdir}: "
            "a delta applies only between environments of one platform."
        )
    old = {e.path: e for e in base.files if e.kind == FILE}
    taken = {e.path for e in new.files if _same(old.get(e.path), e)}
    pairs, ruled = _pyc_pairs(new), _ruled(new)
    for source, pyc in pairs:
        if source in ruled:
            taken.discard(pyc)
    for source, pyc in pairs:
        if pyc not in taken:
            taken.discard(source)
    files = [dataclasses.replace(f, reuse=True) if f.path in taken else f for f in new.files]
    kept = {e.path for e in new.files}
    delta = {
        "base": identity(base),
        "base_name": base.source_name,
        "base_packages": [{k: p[k] for k in _PACKAGE_KEYS} for p in base.packages],
        "removed": sorted(e.path for e in base.files if e.path not in kept),
    }
    return dataclasses.replace(new, files=files, delta=delta, origin=None, sealed=None)


def _same(old: FileEntry | None, new: FileEntry) -> bool:
    return (
        old is not None
        and new.kind == FILE
        and (old.sha256, old.size, old.prefix) == (new.sha256, new.size, new.prefix)
        and not new.path.startswith(rules.RECORD_DIR + "/")
    )


def _pyc_pairs(manifest: Manifest) -> list[tuple[str, str]]:
    """``(source file, pyc)``, symlinked sources followed to the file."""
    files = [f.path for f in manifest.files if f.kind == FILE]
    links = {f.path: f.link_target for f in manifest.files if f.kind == SYMLINK}
    return [(rules.resolve(source, links), pyc) for source, pyc in rules.pairs(files, links)]


def _ruled(manifest: Manifest) -> set[str]:
    return {f.path for f in manifest.files if f.prefix}


def delta_problem(delta: Manifest, base: Manifest) -> str | None:
    """Why ``delta`` cannot apply to ``base``, a rebuilt or read full manifest; None if
    it can. The base's identity is checked by the caller."""
    old = {e.path: e for e in base.files if e.kind == FILE}
    for entry in delta.files:
        if entry.reuse and not _same(old.get(entry.path), entry):
            return f"it takes {entry.path} from the environment, which holds other bytes there"
    reused = {f.path for f in delta.files if f.reuse}
    ruled = _ruled(delta)
    for source, pyc in _pyc_pairs(delta):
        if (pyc in reused and source in ruled) or (source in reused and pyc not in reused):
            return f"it takes {source} or {pyc} from the environment, which unbundling rewrites"
    kept = {e.path for e in delta.files}
    assert delta.delta is not None
    if delta.delta["removed"] != sorted(e.path for e in base.files if e.path not in kept):
        return "the paths it says it removes are not those its base has and it lacks"
    return None


def package_changes(delta: Manifest) -> dict[str, list[dict[str, str]]]:
    """What a delta adds, changes and removes, by package (``from``/``to`` versions)."""
    assert delta.delta is not None
    before = {p["name"]: p for p in delta.delta["base_packages"]}
    after = {p["name"]: p for p in delta.packages}
    label = "{version}-{build}".format_map
    changes: dict[str, list[dict[str, str]]] = {"added": [], "changed": [], "removed": []}
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None and new is not None:
            changes["added"].append({"name": name, "to": label(new)})
        elif new is None and old is not None:
            changes["removed"].append({"name": name, "from": label(old)})
        elif old is not None and new is not None and label(old) != label(new):
            changes["changed"].append({"name": name, "from": label(old), "to": label(new)})
    return changes
