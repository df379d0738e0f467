"""Reading a bundle without installing it: its manifest or head, a whole verification, its SBOM."""

from __future__ import annotations

import os
import sys
from typing import Any, BinaryIO, cast

from . import progress, sbom, scan, sources
from .archive import open_file, open_reader
from .collection import Collection, as_collection, chosen
from .exceptions import BundleFormatError
from .manifest import MANIFEST_PATH, Manifest
from .policy import trust
from .signing import Trust, Verified
from .unbundling.extract import read_manifest, verify_members
from .unbundling.multi import read_bundle, verify_environments


def inspect(bundle_path: str, env: str | None = None) -> Manifest:
    """Read a bundle's manifest without extracting anything (``-`` reads standard input;
    from a URL, only the first bytes where the server answers range requests).

    A bundle of several environments needs ``env``: the name of the one to read.
    """
    return chosen(inspect_head(bundle_path), env)


def inspect_environments(bundle_path: str) -> Collection:
    """The environments a bundle holds (one, or several), read as :func:`inspect` reads."""
    return as_collection(inspect_head(bundle_path))


def inspect_head(bundle_path: str) -> Manifest | Collection:
    """A bundle's first member, read without extracting anything: the manifest of its
    one environment, or the head of several."""
    with open_reader(_source(bundle_path), MANIFEST_PATH) as reader:
        head, _ = read_bundle(reader)
    return head


def verify(
    bundle_path: str,
    show_progress: bool = False,
    *,
    allowed_signers: str | None = None,
    require_signature: bool | None = None,
    signature: str | None = None,
) -> Manifest | Collection:
    """Check a whole bundle without installing it: every member against the manifest's
    rules, every file against its sha256, and its signature as :func:`unbundle` would.
    Writes nothing; raises a :class:`~.exceptions.BundleFormatError` for a damaged or
    hostile bundle, a :class:`~.exceptions.SignatureError` for a refused signature.
    Returns the manifest, or the head of several environments (all of them checked).
    """
    policy = trust(allowed_signers, require_signature, signature)
    return verify_signed(bundle_path, policy, show_progress)[0]


def verify_signed(
    bundle_path: str, policy: Trust, show_progress: bool = False
) -> tuple[Manifest | Collection, Verified | None]:
    """:func:`verify` under ``policy``; also returns the signature it verified, if any."""
    with (
        sources.checked(bundle_path, policy) as checked,
        open_reader(checked.source, MANIFEST_PATH) as reader,
    ):
        head, members = read_bundle(reader)
        if isinstance(head, Collection):
            verify_environments(reader, members, head, show_progress)
            return head, checked.signature
        checked.accept(head)
        with progress.step("Verifying", head.shipped_size, show_progress) as verifying:
            verify_members(reader, members, head, verifying)
    return head, checked.signature


def make_sbom(bundle_path: str, fmt: str) -> dict[str, Any]:
    """The SBOM (``fmt``: ``cyclonedx`` or ``spdx``) of a bundle, from its manifest and the
    sha256 of the bundle file (read whole, extracted nowhere; ``-`` reads standard input).
    The same document as ``bundle(..., sbom=[fmt])`` wrote beside it.
    """
    sbom.check_formats([fmt])
    if sources.is_url(bundle_path):  # read twice: ranges for the manifest, then whole
        return sbom.document(inspect(bundle_path), fmt, _url_sha256(bundle_path))
    if bundle_path != "-" and os.path.isdir(bundle_path):
        return sbom.document(inspect(bundle_path), fmt, None)
    if bundle_path == "-":
        return _streamed_sbom(sys.stdin.buffer, fmt)
    # One open: the sha256 is of the very bytes whose manifest the document describes,
    # whatever happens to the path meanwhile.
    with open_file(bundle_path) as fh:
        if not fh.seekable():  # a fifo, say
            return _streamed_sbom(fh, fmt)
        before = scan.signature(os.fstat(fh.fileno()))
        digest = sbom.HashingReader(fh).finish()
        fh.seek(0)
        with open_reader(fh, MANIFEST_PATH) as reader:
            manifest, _ = read_manifest(reader)
        if scan.signature(os.fstat(fh.fileno())) != before:
            raise BundleFormatError(
                f"{bundle_path} changed while its SBOM was made. Make the SBOM again once "
                "nothing writes to it."
            )
    return sbom.document(manifest, fmt, digest)


def _streamed_sbom(raw: BinaryIO, fmt: str) -> dict[str, Any]:
    """The SBOM of a bundle read once from a stream: the manifest, then the rest."""
    stream = sbom.HashingReader(raw)
    # the readers want only read() of a stream
    with open_reader(cast(BinaryIO, stream), MANIFEST_PATH) as reader:
        manifest, _ = read_manifest(reader)
    return sbom.document(manifest, fmt, stream.finish())


def _url_sha256(url: str) -> str:
    with sources.open_url(url) as remote:
        return sbom.HashingReader(cast(BinaryIO, remote)).finish()


def _source(bundle_path: str):
    return sys.stdin.buffer if bundle_path == "-" else bundle_path
