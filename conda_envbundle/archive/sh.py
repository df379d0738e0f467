"""The ``sh`` format: self-extracting installers, a POSIX sh header followed by the raw payload.

Everything the format needs lives here: which codecs a payload may use (and so which
compression levels apply), the header made from the manifest with its template
``templates/installer.sh``, the sha256 sealed into it, and the reader of its payload.

The payload is an ordinary compressed tar bundle (gzip by default, zstd when asked), not
base64: the file is only as large as the bundle plus a few kilobytes of shell, can be
piped into ``sh``, and ``conda unbundle`` reads it like any other bundle.

Nothing from the environment reaches the shell unquoted: every value is one single-quoted
word on one line (a newline is spelled ``"$nl"``), so no value can end a quote, a line or
the header. The header's ``sha256`` is the sha256 of the whole file with its own 64 digits
as zeros: ``sh FILE --verify`` and ``conda unbundle`` check the header and the payload.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, BinaryIO

from ..exceptions import BundleFormatError, ChecksumMismatchError, EnvBundleError
from ..formats import SH_PAYLOADS
from ..space import installer_space
from .codecs import CODECS, decompressing
from .members import ByteSource, Reader
from .prefetch import Prefetched, Prefixed
from .tar import BLOCK
from .tarread import TarReader

if TYPE_CHECKING:
    from ..manifest import Manifest

PAYLOAD_MARKER = b"\n__ENVBUNDLE_PAYLOAD__\n"
STAGE2_MARKER = b"__ENVBUNDLE_STAGE2__"
SHA256_PLACEHOLDER = "0" * 64
# Longer than any shell reads ahead of the command it runs (dash: 8 KiB per read).
_FILLER = ("#" * 99 + "\n") * 100
_MAX_HEADER = 1 << 20
_TEMPLATE_KEY = re.compile(r"@[A-Z0-9_]+@")
_SHA256_LINE = re.compile(rb"\nsha256='([0-9a-f]{64})'\n")
_SHA256_AT_LINE = re.compile(rb"\nsha256_at=([0-9]{1,7})\n")
_CODEC_LINE = re.compile(rb"\ncodec='(" + "|".join(SH_PAYLOADS).encode() + rb")'\n")
_PYTHONS = frozenset(("bin/python3", "bin/python"))
_HASH_BLOCK = 1 << 20


def payload_format(payload: str) -> str:
    """The compressed tar format of a payload named ``payload`` (``gzip`` -> ``tar.gz``):
    its codec's levels and default are the installer's."""
    if payload not in SH_PAYLOADS:
        raise EnvBundleError(f"--sh-payload must be {' or '.join(SH_PAYLOADS)}, not {payload!r}.")
    return SH_PAYLOADS[payload]


def shell_word(value: str) -> str:
    """``value`` as one sh word on one line: single-quoted pieces joined by ``"$nl"``.

    Inside single quotes nothing is special but the quote itself, written ``'\\''``;
    newlines are left out of the text so that no value can make a line of its own.
    """
    pieces = value.replace("\0", "\ufffd").split("\n")
    return '"$nl"'.join("'" + piece.replace("'", "'\\''") + "'" for piece in pieces)


def header(
    *,
    name: str,
    subdir: str,
    glibc: str,
    limit: int | None,
    space: tuple[int, int, int, int],
    has_python: bool,
    codec: str,
    dest: str,
    listing: str,
) -> bytes:
    """The installer's shell part, ending with the payload marker line.

    ``space`` is :func:`~conda_envbundle.space.installer_space`: what the shell checks
    for before it writes.
    """
    if codec not in SH_PAYLOADS:
        raise ValueError(f"unknown installer codec {codec!r}")
    template = resources.files("conda_envbundle").joinpath("templates").joinpath("installer.sh")
    text = template.read_text("utf-8")
    values = {
        "@FILLER@": _FILLER.rstrip("\n"),
        "@SHA256@": SHA256_PLACEHOLDER,
        "@NAME@": shell_word(name),
        "@SUBDIR@": shell_word(subdir),
        "@GLIBC@": shell_word(glibc),
        "@LIMIT@": shell_word("" if limit is None else str(int(limit))),
        "@SPACE@": shell_word(str(int(space[0]))),
        "@SPACE_AT@": shell_word(str(int(space[1]))),
        "@SPACE_PER_BYTE@": shell_word(str(int(space[2]))),
        "@ENTRIES@": shell_word(str(int(space[3]))),
        "@HAS_PYTHON@": shell_word("yes" if has_python else "no"),
        "@CODEC@": shell_word(codec),
        "@DEST@": shell_word(dest),
        "@LIST@": " \\\n".join("    " + shell_word(line) for line in listing.split("\n")),
    }
    # Only the filler comes before the digest, so its offset is known before the values.
    before_digest = text[: text.index("@SHA256@")]
    values["@SHA256_AT@"] = str(len(_substitute(before_digest, values).encode()))
    return _substitute(text, values).encode("utf-8", "surrogateescape")


def _substitute(text: str, values: Mapping[str, str]) -> str:
    """Every ``@KEY@`` of the template replaced in one pass, never inside a value."""
    return _TEMPLATE_KEY.sub(lambda match: values[match.group()], text)


def header_for(manifest: Manifest, *, payload: str, dest: str) -> bytes:
    """The header of an installer of the bundle that ``manifest`` describes."""
    names = {f.path for f in manifest.files}
    listing = "\n".join(
        f"{p['name']} {p['version']} {p['build']} {p['channel']}" for p in manifest.packages
    )
    return header(
        name=manifest.source_name,
        subdir=manifest.subdir,
        glibc=manifest.requirements.get("glibc", ""),
        limit=manifest.prefix_limit,
        space=installer_space(manifest),
        has_python=bool(_PYTHONS & names),
        codec=payload,
        dest=dest,
        listing=f"{manifest.source_name}: {len(manifest.packages)} packages, "
        f"{len(manifest.files)} entries, {manifest.total_size} bytes\n{listing}",
    )


def seal_file(out: BinaryIO, head: bytes, digest: str) -> str:
    """Write the sha256 into the header at the start of ``out``, now that the payload is
    written; returns the sha256 of the whole file as it now is.

    ``digest`` is of the whole file as written, header included, with the field zeros.
    """
    out.seek(head.index(SHA256_PLACEHOLDER.encode()))
    out.write(digest.encode())
    out.flush()
    out.seek(0)
    whole = hashlib.sha256()
    for block in iter(lambda: out.read(_HASH_BLOCK), b""):
        whole.update(block)
    return whole.hexdigest()


@dataclass
class Seal:
    """An installer's header as read, with the sha256 it records and the payload's codec."""

    header: bytes  # up to and including the payload marker
    sha256: str
    offset: int
    codec: str


def skip_header(head: bytes, stream: BinaryIO) -> tuple[Seal, bytes] | None:
    """If ``head`` starts an installer, consume its shell part.

    Returns the header's :class:`Seal` and the start of the payload (already read), or
    None when ``head`` is no installer.
    """
    if not head.startswith(b"#!/bin/sh\n") or STAGE2_MARKER not in head:
        return None
    data = head
    while PAYLOAD_MARKER not in data:
        more = stream.read(64 * 1024)
        if not more or len(data) > _MAX_HEADER:
            raise BundleFormatError("This installer is damaged: its payload marker is missing.")
        data += more
    end = data.index(PAYLOAD_MARKER) + len(PAYLOAD_MARKER)
    return _seal(data[:end]), data[end:]


def _seal(text: bytes) -> Seal:
    digest = _SHA256_LINE.search(text)
    offset = _SHA256_AT_LINE.search(text)
    codec = _CODEC_LINE.search(text)
    if digest is None or offset is None or codec is None:
        raise BundleFormatError(
            "This installer's header has no sha256, offset or codec line: it is damaged or "
            "was made by an older conda-envbundle. Bundle the environment again."
        )
    seal = Seal(text, digest.group(1).decode(), int(offset.group(1)), codec.group(1).decode())
    if text[seal.offset : seal.offset + 64] != digest.group(1):
        raise BundleFormatError("This installer is damaged: its sha256 is not where it says.")
    return seal


class SealedStream:
    """The installer's file after its header, hashed as it is read."""

    def __init__(self, seal: Seal, already: bytes, stream: BinaryIO) -> None:
        self.seal = seal
        self.stream = stream
        # the header as the checksum covers it: its own 64 digits as zeros
        self.digest = hashlib.sha256(seal.header[: seal.offset])
        self.digest.update(SHA256_PLACEHOLDER.encode())
        self.digest.update(seal.header[seal.offset + 64 :])
        self.digest.update(already)

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        return data

    def check(self) -> None:
        """Hash what is left after the payload, then compare with the header's sha256."""
        while self.read(1 << 20):
            pass
        if self.digest.hexdigest() != self.seal.sha256:
            raise ChecksumMismatchError(
                "This installer does not match the sha256 in its header: its shell part or "
                "its payload is damaged or was changed. Nothing was installed."
            )


class CheckedAtEnd:
    """A decompressed payload that checks the installer's sha256 when it ends.

    The end is where every reader of a whole bundle arrives before it installs anything
    (the end-of-archive check reads to it), so a changed header fails there.
    """

    def __init__(self, plain: ByteSource, sealed: SealedStream) -> None:
        self.plain = plain
        self.sealed = sealed
        self._checked = False

    def read(self, size: int = -1) -> bytes:
        data = self.plain.read(size)
        if not data and size != 0 and not self._checked:
            self._checked = True
            self.sealed.check()
        return data


def open_payload(head: bytes, stream: BinaryIO, stack: contextlib.ExitStack) -> Reader | None:
    """A reader of the bundle in an installer that starts with ``head``, or None when
    ``head`` starts no installer.

    The payload is compressed as the header says (the shell decodes it with that tool),
    and the whole file is checked against the header's sha256 at its end.
    """
    found = skip_header(head, stream)
    if found is None:
        return None
    seal, payload = found
    sealed = SealedStream(seal, payload, stream)
    start = payload + sealed.read(max(0, BLOCK - len(payload)))
    if not start.startswith(CODECS[SH_PAYLOADS[seal.codec]].magic):
        raise BundleFormatError(
            f"This installer's payload is not the {seal.codec} stream its header names: "
            "it is damaged."
        )
    plain = decompressing(start, Prefixed(start, sealed))  # type: ignore[arg-type]
    assert plain is not None  # the magic was just checked
    return TarReader(stack.enter_context(Prefetched(CheckedAtEnd(plain, sealed))))
