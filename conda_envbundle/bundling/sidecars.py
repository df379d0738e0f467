"""The files ``conda bundle`` writes beside a bundle when asked: SBOMs and a signature.

They are made from the finished bundle before it is put in place (the signature over
its final bytes: an installer's sealed header included, nothing changes them after),
each in a locked ``.part`` of its own; then the bundle is put in place, then they are.
If making one fails, none of them and not the bundle are put in place.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import sbom, signing
from ..exceptions import EnvBundleError, OutputExistsError
from ..fstree import umask
from ..manifest import Manifest
from .output import check_output_name, part_file, place

if TYPE_CHECKING:
    from .plan import Plan


def paths(output: str, formats: tuple[str, ...], key: str | None) -> dict[str, str]:
    """What is written beside ``output``: each SBOM format's file, and ``signature``."""
    found = {fmt: os.path.normpath(output) + sbom.SUFFIXES[fmt] for fmt in formats}
    if key is not None:
        found["signature"] = signing.signature_path(output)
    return found


def check(output: str, formats: tuple[str, ...], key: str | None, force: bool) -> None:
    """Refuse before anything is read what cannot be written beside ``output``."""
    if not formats and key is None:
        return
    if output == "-":
        raise EnvBundleError(
            "--sbom and --sign write files beside the bundle, and -o - has no place for "
            "them. Name an output file, or make the SBOM later with conda unbundle FILE --sbom."
        )
    sbom.check_formats(formats)
    if key is not None:
        signing.check_key(key)
    for path in paths(output, formats, key).values():
        if os.path.lexists(path) and not force:
            raise OutputExistsError(f"{path} already exists. Pass --force to overwrite it.")
        if os.path.lexists(path) and (os.path.islink(path) or not os.path.isfile(path)):
            raise OutputExistsError(f"{path} is not a regular file; choose another output.")
        check_output_name(path)


def stale(output: str, formats: tuple[str, ...], key: str | None) -> list[str]:
    """Warnings for SBOMs and signatures beside ``output`` that this run does not
    replace: an earlier bundle's, they no longer describe it (and are not ours to remove)."""
    if output == "-":
        return []
    written = set(paths(output, formats, key).values())
    return [
        f"{path} is an earlier bundle's and does not match this one: remove it, or write "
        "it again (--sbom, --sign)."
        for path in paths(output, sbom.FORMATS, "any").values()
        if path not in written and os.path.lexists(path)
    ]


@contextlib.contextmanager
def beside(plan: Plan, manifest: Manifest, bundle: str, sha256: str | None) -> Iterator[None]:
    """Make what ``plan`` asks for beside the finished ``bundle`` (its ``.part``), then
    run the block, which puts the bundle in place, then put these in place."""
    wanted = paths(plan.output, plan.sbom, plan.sign)
    if not wanted:
        yield
        return
    with contextlib.ExitStack() as stack:
        made = {}
        for kind, final in wanted.items():
            temp, fd = stack.enter_context(part_file(final))
            with os.fdopen(fd, "wb", closefd=False) as out:
                out.write(_content(kind, plan, manifest, bundle, sha256))
            os.chmod(temp, 0o666 & ~umask())
            made[temp] = final
        yield
        for temp, final in made.items():
            place(temp, final, "file", plan.force)


def _content(kind: str, plan: Plan, manifest: Manifest, bundle: str, sha256: str | None) -> bytes:
    if kind == "signature":
        assert plan.sign is not None
        return signing.sign(signing.signed_part(bundle, plan.fmt), plan.sign)
    return sbom.dumps(sbom.document(manifest, kind, sha256))
