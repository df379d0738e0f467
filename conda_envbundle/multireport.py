"""What the two commands print for a bundle of several environments (see :mod:`.report`,
whose JSON conventions these follow; the objects are documented in docs/cli.md)."""

from __future__ import annotations

import dataclasses
import os
import sys

from conda.utils import human_bytes as size

from .collection import Collection
from .manifest import FILE
from .report import _json, _signed_by, activation_name


def bundled(result, *, json: bool) -> None:
    """The outcome (or the plan, with --dry-run) of ``conda bundle -n A -n B ...``."""
    if json:
        _json(dataclasses.asdict(result))
        return
    out = sys.stderr if result.output == "-" else sys.stdout
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    verb = "Would bundle" if result.dry_run else "Bundled"
    print(f"{verb} {len(result.environments)} environments:", file=out)
    for env in result.environments:
        print(
            f"  {env.source}: {env.packages} packages, {env.files} entries "
            f"({size(env.content_size)})",
            file=out,
        )
    where = "standard output" if result.output == "-" else result.output
    stored = result.content_size - result.shared_size
    digest = f", sha256 {result.sha256}" if result.sha256 else ""
    written = "" if result.dry_run else f", {size(result.size)}{digest}"
    print(f"  into {where} ({result.format}{written})", file=out)
    print(
        f"  {size(result.content_size)} of files, {size(stored)} stored: "
        f"{size(result.shared_size)} shared",
        file=out,
    )


def unbundled(results, *, json: bool) -> None:
    """The outcome (or the plan, with --dry-run) of ``conda unbundle --all``."""
    if json:
        _json({"environments": [dataclasses.asdict(result) for result in results]})
        return
    for result in results:
        replacing = ", replacing the environment there" if result.replaced else ""
        if result.dry_run:
            print(
                f"Would unbundle {result.packages} packages into {result.prefix}{replacing}, "
                f"relocating {result.relocated} files."
            )
        else:
            print(
                f"Unbundled {result.packages} packages into {result.prefix}{replacing} "
                f"({result.relocated} files relocated); activate: conda activate "
                f"{activation_name(result.prefix)}"
            )
    if results and results[0].dry_run:
        print("Every pre-flight check passed; the contents are checked by the real run.")
    elif results and results[0].signature:
        print(_signed_by(results[0].signature))


def _environments(collection: Collection) -> list[dict]:
    return [
        {
            "name": env.name,
            "subdir": env.manifest.subdir,
            "packages": len(env.manifest.packages),
            "files": len(env.manifest.files),
            "content_size": env.manifest.total_size,
            "shared_size": env.shared_size,
            "prefix_limit": env.manifest.prefix_limit,
        }
        for env in collection.environments
    ]


def info(path: str, collection: Collection, *, json: bool) -> None:
    """``conda unbundle --info`` of a bundle of several environments."""
    bundle_size = os.path.getsize(path) if os.path.isfile(path) else None
    stored = collection.content_size - collection.shared_size
    environments = _environments(collection)
    data = {
        "bundle": path,
        "bundle_size": bundle_size,
        "created_by": {"tool": collection.tool_version, "conda": collection.conda_version},
        "environments": environments,
        "content_size": collection.content_size,
        "stored_size": stored,
        "shared_size": collection.shared_size,
    }
    if json:
        _json(data)
        return
    print(f"Bundle:        {path}" + (f" ({size(bundle_size)})" if bundle_size else ""))
    print(
        f"Made by:       conda-envbundle {collection.tool_version}, "
        f"conda {collection.conda_version}"
    )
    print(f"Environments:  {len(collection.environments)}")
    rows = [
        (e["name"], e["subdir"], str(e["packages"]), str(e["files"]), size(e["content_size"]))
        for e in environments
    ]
    header = ("Name", "Subdir", "Packages", "Entries", "Size")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    print(
        f"Contents:      {size(collection.content_size)} of files, {size(stored)} stored "
        f"once: {size(collection.shared_size)} shared between files"
    )
    print("Details:       conda unbundle BUNDLE --info --env NAME")


def listing(path: str, collection: Collection, *, json: bool) -> None:
    """``conda unbundle --list`` of several environments: every entry of each, as
    ``NAME:PATH``."""
    del path  # listed by environment, as --info names the bundle
    if json:
        _json(
            {
                "environments": [
                    {"name": env.name, "files": [f.to_json() for f in env.manifest.files]}
                    for env in collection.environments
                ]
            }
        )
        return
    for env in collection.environments:
        for entry in env.manifest.files:
            detail = size(entry.size) if entry.kind == FILE else entry.kind
            if entry.target:
                detail = f"-> {entry.target}"
            rule = f"  [prefix: {entry.prefix.mode}]" if entry.prefix else ""
            shared = env.stored_elsewhere.get(entry.path)
            kept = f"  [stored as {shared[0]}:{shared[1]}]" if shared else ""
            print(f"{env.name}:{entry.path}  {detail}{rule}{kept}")


def verified(path: str, collection: Collection, signature, *, json: bool) -> None:
    """``conda unbundle --verify`` of a bundle of several environments."""
    packages = sum(len(env.manifest.packages) for env in collection.environments)
    files = sum(len(env.manifest.files) for env in collection.environments)
    if json:
        _json(
            {
                "verified": True,
                "bundle": path,
                "environments": _environments(collection),
                "packages": packages,
                "files": files,
                "content_size": collection.content_size,
                "signature": dataclasses.asdict(signature) if signature else None,
            }
        )
        return
    print(
        f"{path} is intact: {len(collection.environments)} environments "
        f"({', '.join(collection.names)}), {packages} packages, {files} entries "
        f"({size(collection.content_size)}), every checksum verified."
    )
    if signature:
        print(_signed_by(signature))
