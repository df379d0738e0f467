"""Self-extracting ``.sh`` installers: a POSIX sh header followed by the raw payload.

The payload is an ordinary compressed tar bundle (gzip by default, zstd when asked), not
base64: the file is only as large as the bundle plus a few kilobytes of shell, can be
piped into ``sh``, and ``conda unbundle`` reads it like any other bundle.
"""

from __future__ import annotations

from importlib import resources
from typing import BinaryIO

from ..exceptions import BundleFormatError

PAYLOAD_MARKER = b"\n__ENVBUNDLE_PAYLOAD__\n"
STAGE2_MARKER = b"__ENVBUNDLE_STAGE2__"
SHA256_PLACEHOLDER = "0" * 64
CODECS = {"gzip": "tar.gz", "zstd": "tar.zst"}
# Longer than any shell reads ahead of the command it runs (dash: 8 KiB per read).
_FILLER = ("#" * 99 + "\n") * 100
_MAX_HEADER = 1 << 20


def _quote(value: str) -> str:
    """``value`` for use inside the template's single quotes."""
    return value.replace("'", "'\\''")


def header(
    *,
    name: str,
    subdir: str,
    glibc: str,
    limit: int | None,
    size: int,
    has_python: bool,
    codec: str,
    dest: str,
    listing: str,
) -> bytes:
    """The installer's shell part, ending with the payload marker line."""
    template = resources.files("conda_envbundle").joinpath("templates").joinpath("installer.sh")
    text = template.read_text("utf-8")
    values = {
        "@FILLER@": _FILLER.rstrip("\n"),
        "@NAME@": _quote(name),
        "@SUBDIR@": _quote(subdir),
        "@GLIBC@": _quote(glibc),
        "@LIMIT@": "" if limit is None else str(limit),
        "@SIZE@": str(size),
        "@HAS_PYTHON@": "yes" if has_python else "no",
        "@CODEC@": codec,
        "@DEST@": _quote(dest),
        "@SHA256@": SHA256_PLACEHOLDER,
        "@LIST@": listing.replace("\n_LIST", "\n _LIST"),
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text.encode("utf-8")


def patch_sha256(out: BinaryIO, header_start: int, head: bytes, digest: str) -> None:
    """Write the payload's sha256 into the header, now that the payload is written."""
    position = header_start + head.index(SHA256_PLACEHOLDER.encode())
    end = out.tell()
    out.seek(position)
    out.write(digest.encode())
    out.seek(end)


def skip_header(head: bytes, stream: BinaryIO) -> bytes | None:
    """If ``head`` starts an installer, consume its shell part; returns the payload's start."""
    if not head.startswith(b"#!/bin/sh\n") or STAGE2_MARKER not in head:
        return None
    data = head
    while PAYLOAD_MARKER not in data:
        more = stream.read(64 * 1024)
        if not more or len(data) > _MAX_HEADER:
            raise BundleFormatError("This installer is damaged: its payload marker is missing.")
        data += more
    return data[data.index(PAYLOAD_MARKER) + len(PAYLOAD_MARKER) :]
