"""What the two commands print: a few lines for a person, or JSON for a script.

The JSON objects are documented in docs/cli.md; their keys are the fields of the API's
result dataclasses, so the CLI and the Python API tell the same story.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys

from conda.utils import human_bytes as size  # the one size formatter, as conda prints sizes

from . import baseline
from . import sizes as breakdown
from .manifest import FILE, Manifest

# Files --info names one per line before it only counts the rest
_LISTED = 30


def _json(data: dict) -> None:
    """Print a result as conda prints JSON (indented, keys sorted).

    Written to standard output here rather than through conda's ``conda.stdout`` logger:
    logging reports a closed pipe itself, with a traceback, where the CLI cannot see it.
    """
    text = json.dumps({"success": True, **data}, indent=2, sort_keys=True, separators=(",", ": "))
    sys.stdout.flush()
    out = sys.stdout.buffer
    # An unbuffered stream may write part and say so (a pipe whose reader left): write
    # the rest, which then fails as it should.
    view = memoryview((text + "\n").encode(sys.stdout.encoding, "backslashreplace"))
    while view:
        view = view[out.write(view) :]
    out.flush()


def bundled(result, *, json: bool) -> None:
    """The outcome (or the plan, with --dry-run) of ``conda bundle``."""
    if json:
        _json(dataclasses.asdict(result))
        return
    out = sys.stderr if result.output == "-" else sys.stdout
    if out is sys.stderr and out.isatty():
        # the receiver of -o - may be drawing its bar on this terminal's line: clear the
        # line first, so the summary starts a line of its own (the bar redraws below)
        out.write("\r\x1b[K")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    verb = "Would bundle" if result.dry_run else "Bundled"
    print(
        f"{verb} {result.packages} packages, {result.files} entries "
        f"({size(result.content_size)}) from {result.source}",
        file=out,
    )
    where = "standard output" if result.output == "-" else result.output
    if result.dry_run:
        limit = (
            "a path of any length"
            if result.prefix_limit is None
            else f"a path of at most {result.prefix_limit} bytes"
        )
        print(f"  into {where} ({result.format}); it can be unbundled at {limit}", file=out)
        _beside(result, out)
        for name in result.editables:
            print(f"  editable install (would stop the bundle): {name}", file=out)
        for name, paths in result.missing.items():
            print(f"  missing files of {name} (would stop the bundle): {len(paths)}", file=out)
        _where_size_goes(result.sizes, out)
        return
    digest = f", sha256 {result.sha256}" if result.sha256 else ""
    print(f"  into {where} ({result.format}, {size(result.size)}{digest})", file=out)
    _beside(result, out)


def _beside(result, out) -> None:
    """The SBOMs and the signature written beside the bundle."""
    verb = "would write" if result.dry_run else "wrote"
    for fmt, path in result.sbom.items():
        print(f"  {verb} the {fmt} SBOM to {path}", file=out)
    if result.signature:
        print(f"  {verb} its signature to {result.signature}", file=out)


def unbundled(result, *, json: bool) -> None:
    """The outcome (or the plan, with --dry-run) of ``conda unbundle``."""
    if json:
        _json(dataclasses.asdict(result))
        return
    replacing = ", replacing the environment there" if result.replaced else ""
    if result.dry_run:
        print(
            f"Would unbundle {result.packages} packages, {result.files} entries "
            f"({size(result.content_size)}) into {result.prefix}{replacing}, relocating "
            f"{result.relocated} files. Every pre-flight check passed; the contents are "
            "checked by the real run, or by --verify."
        )
        return
    if result.delta:
        print(
            f"Updated {result.prefix} to {result.packages} packages: {result.reused} files "
            "kept from the environment it replaced, the other "
            f"{result.files - result.reused} entries from the delta"
        )
    else:
        print(
            f"Unbundled {result.packages} packages into {result.prefix} "
            f"({result.relocated} files relocated)"
        )
    if result.previous:
        print(
            f"Kept the environment it replaced in {result.previous} "
            f"({size(result.previous_size)} of its own): conda unbundle --rollback -p "
            f"{shlex.quote(result.prefix)} puts it back"
        )
    if result.signature:
        print(_signed_by(result.signature))
    print(f"To activate it: conda activate {activation_name(result.prefix)}")


def activation_name(prefix: str) -> str:
    """What to pass to ``conda activate``: the environment's name when conda knows it by
    name (in an envs directory), else its path; quoted for a shell when needed."""
    from conda.base.context import env_name

    return shlex.quote(env_name(prefix))


def verified(path: str, manifest: Manifest, signature, *, json: bool) -> None:
    """The outcome of ``conda unbundle --verify`` (``signature``: the one verified, if any)."""
    facts = {"packages": len(manifest.packages), "files": len(manifest.files)}
    if json:
        _json(
            {
                "verified": True,
                "bundle": path,
                **facts,
                "content_size": manifest.total_size,
                "signature": dataclasses.asdict(signature) if signature else None,
            }
        )
        return
    print(
        f"{path} is intact: {facts['packages']} packages, {facts['files']} entries "
        f"({size(manifest.total_size)}), every checksum verified."
    )
    if signature:
        print(_signed_by(signature))


def _signed_by(signature) -> str:
    return f"Signature {signature.signature}: good, by {signature.signer} ({signature.key})."


def sbom(document: dict) -> None:
    """``conda unbundle --sbom``: the document itself (it is JSON, with or without --json)."""
    from .sbom import dumps

    sys.stdout.flush()
    sys.stdout.buffer.write(dumps(document))
    sys.stdout.buffer.flush()


def info(path: str, manifest: Manifest, *, json: bool) -> None:
    """``conda unbundle --info``: the manifest's summary."""
    bundle_size = os.path.getsize(path) if os.path.isfile(path) else None
    where = breakdown.breakdown(manifest)
    # what holds the build path until an unpack step runs (docs/engines.md)
    needs_unpack = [f.path for f in manifest.files if f.prefix]
    delta = _delta(manifest)
    data = {
        "bundle": path,
        "bundle_size": bundle_size,
        "source": manifest.source_name,
        "subdir": manifest.subdir,
        "requirements": manifest.requirements,
        "created_by": {"tool": manifest.tool_version, "conda": manifest.conda_version},
        "files": len(manifest.files),
        "content_size": manifest.total_size,
        "prefix_limit": manifest.prefix_limit,
        "packages": manifest.packages,
        "sizes": where,
        "needs_unpack": needs_unpack,
        "delta": delta,
    }
    if json:
        _json(data)
        return
    needs = ", ".join(f"{k} >= {v}" for k, v in sorted(manifest.requirements.items()))
    limit = manifest.prefix_limit
    print(f"Bundle:        {path}" + (f" ({size(bundle_size)})" if bundle_size else ""))
    print(f"Environment:   {manifest.source_name} ({manifest.subdir})")
    print(f"Made by:       conda-envbundle {manifest.tool_version}, conda {manifest.conda_version}")
    print(f"Requires:      {needs or 'nothing beyond the platform'}")
    print(
        f"Contents:      {len(manifest.packages)} packages, {len(manifest.files)} entries, "
        f"{size(manifest.total_size)}"
    )
    print(f"Target paths:  {'any length' if limit is None else f'up to {limit} bytes'}")
    if delta:
        _print_delta(delta)
    rows = [(p["name"], p["version"], p["build"], p["channel"]) for p in manifest.packages]
    widths = [
        max([len(h), *(len(str(r[i])) for r in rows)])
        for i, h in enumerate(("Name", "Version", "Build", "Channel"))
    ]
    for row in [("Name", "Version", "Build", "Channel"), *rows]:
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    _where_size_goes(where, sys.stdout)
    print(
        f"Unpack step:   {len(needs_unpack)} files hold the build path until "
        "`conda unbundle` or bin/conda-unpack runs (an engine that only extracts: run "
        "bin/conda-unpack first, see docs/engines.md):"
    )
    for ruled in needs_unpack[:_LISTED]:
        print(f"  {ruled}")
    if len(needs_unpack) > _LISTED:
        print(f"  ... and {len(needs_unpack) - _LISTED} more (--json lists them all)")


def _delta(manifest: Manifest) -> dict | None:
    """What a delta bundle changes, for --info (None for a full bundle)."""
    if manifest.delta is None:
        return None
    shipped = [f for f in manifest.files if f.kind == FILE and not f.reuse]
    return {
        "base": manifest.delta["base"],
        "base_name": manifest.delta["base_name"],
        "packages": baseline.package_changes(manifest),
        "shipped_files": len(shipped),
        "shipped_size": sum(f.size for f in shipped),
        "reused_files": sum(1 for f in manifest.files if f.reuse),
        "removed": manifest.delta["removed"],
    }


def _print_delta(delta: dict) -> None:
    print(f"Delta against: {delta['base_name']} (base {delta['base']})")
    print(
        f"  ships {delta['shipped_files']} files ({size(delta['shipped_size'])}), takes "
        f"{delta['reused_files']} from the base, removes {len(delta['removed'])} paths"
    )
    changes = delta["packages"]
    for item in changes["changed"]:
        print(f"  changes {item['name']} {item['from']} -> {item['to']}")
    for item in changes["added"]:
        print(f"  adds    {item['name']} {item['to']}")
    for item in changes["removed"]:
        print(f"  removes {item['name']} {item['from']}")


def rolled_back(result, *, json: bool) -> None:
    """The outcome of ``conda unbundle --rollback``."""
    if json:
        _json(dataclasses.asdict(result))
        return
    base = f" (base {result.base[:12]})" if result.base else ""
    print(
        f"Put back the previous environment at {result.prefix}{base}; the one it replaced "
        f"is kept in {result.previous} ({size(result.previous_size)} of its own): "
        "--rollback again goes forward"
    )


def exported(result, *, json: bool) -> None:
    """The outcome of ``conda unbundle --export-base`` to a file."""
    if json:
        _json(dataclasses.asdict(result))
        return
    print(
        f"Wrote the base of {result.name} ({result.files} entries, base {result.base[:12]}) "
        f"to {result.output}: make a delta for it with conda bundle --delta-from "
        f"{shlex.quote(result.output)}"
    )


def _where_size_goes(sizes: dict, out) -> None:
    """The largest packages and directories, and what each class of files weighs with
    the --exclude that leaves it out."""
    print("Largest packages:", file=out)
    if not sizes["largest_packages"]:
        print("  (this bundle does not record package sizes)", file=out)
    for pkg in sizes["largest_packages"]:
        print(f"  {size(pkg['size']):>10}  {pkg['name']}", file=out)
    print("Largest directories (files directly in them):", file=out)
    for directory in sizes["largest_directories"]:
        print(f"  {size(directory['size']):>10}  {directory['path']}", file=out)
    print("Could be left out:", file=out)
    for name, label, _ in breakdown.CLASSES:
        found = sizes["classes"][name]
        print(
            f"  {size(found['size']):>10}  {label}, {found['files']:,} files: {found['exclude']}",
            file=out,
        )


def listing(manifest: Manifest, *, json: bool) -> None:
    """``conda unbundle --list``: every entry of the bundle."""
    entries = [entry.to_json() for entry in manifest.files]
    if json:
        _json({"files": entries})
        return
    for entry in manifest.files:
        detail = size(entry.size) if entry.kind == FILE else entry.kind
        if entry.target:
            detail = f"-> {entry.target}"
        rule = f"  [prefix: {entry.prefix.mode}]" if entry.prefix else ""
        reuse = "  [from the base]" if entry.reuse else ""
        print(f"{entry.path}  {detail}{rule}{reuse}")
