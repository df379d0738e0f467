"""The room an unbundled environment takes: bytes and inodes, at a given target path.

``conda unbundle`` checks it before writing; the ``.sh`` installer carries the same
estimate, made at bundle time, for any target path.
"""

from __future__ import annotations

import json

from .manifest import FILE, TEXT, Manifest
from .relocation.rules import is_record_path

# The kept manifest's fields that do not depend on the target (its checksum, the
# prefix_limit number) may change length by a few bytes.
_MANIFEST_SLACK = 256
# A shebang line that relocation turns into conda's /bin/sh trampoline grows by at most
# the interpreter's path (the new prefix plus bin/pythonX.Y) and this much quoting.
_SHEBANG_SLACK = 128
# A conda-meta record may gain a sha256_in_prefix line for each file it describes whose
# content relocation changes ("sha256_in_prefix": "<64 hex digits>", indentation).
_RECORD_LINE = 100


def space_needed(manifest: Manifest, block: int, target: str) -> tuple[int, int]:
    """Bytes (whole ``block``s per entry) and inodes the environment takes at ``target``.

    Beyond the shipped files: the manifest the environment keeps, and what relocation
    can add. A text file grows only when the new prefix is longer than the placeholder
    it replaces, by that difference per occurrence, and each occurrence takes the
    placeholder's length, so ``size // len(placeholder)`` bounds their number.
    """
    new = len(target.encode())
    size = 0
    rules = 0
    for entry in manifest.files:
        if entry.kind != FILE:
            size += block
            continue
        grown = entry.size
        if entry.prefix is not None:
            rules += 1
            if entry.prefix.mode == TEXT:
                grown += _text_growth(entry.size, entry.prefix.placeholder, new)
        if is_record_path(entry.path):
            grown += block  # its share of the record lines, counted below
        size += -(-grown // block) * block
    size += -(-(rules * _RECORD_LINE) // block) * block
    kept = kept_manifest_size(manifest, target)
    return size + -(-kept // block) * block + block, len(manifest.files) + 2


# The block the .sh installer counts in: what ext4, xfs and tmpfs round files up to.
INSTALLER_BLOCK = 4096


def installer_space(manifest: Manifest) -> tuple[int, int, int, int]:
    """What the ``.sh`` installer checks for, made at bundle time: ``(space, length,
    per_byte, inodes)``, :func:`space_needed` in 4 KiB blocks for any target of up to
    ``length`` bytes, at most ``per_byte`` more for each further byte of the target's
    path, and the inodes.

    ``length`` is the longest text placeholder, past which every relocated text file
    grows with the target: by one byte per possible occurrence and one for its shebang
    (``space`` holds a block per text file for the rounding of that growth); the kept
    manifest grows by at most 6 characters (``\\u0001``) per byte per prefix rule.
    """
    texts = [f for f in manifest.files if f.prefix is not None and f.prefix.mode == TEXT]
    length = max((len(f.prefix.placeholder.encode()) for f in texts if f.prefix), default=0)
    # the target whose spelling in JSON is longest for its bytes
    space, inodes = space_needed(manifest, INSTALLER_BLOCK, "\x01" * length)
    space += (len(texts) + 1) * INSTALLER_BLOCK
    rules = sum(1 for f in manifest.files if f.prefix is not None)
    per_byte = sum(f.size // len(f.prefix.placeholder.encode()) + 1 for f in texts if f.prefix)
    return space, length, per_byte + 6 * rules, inodes


def _text_growth(size: int, placeholder: str, new: int) -> int:
    old = len(placeholder.encode())
    return max(0, new - old) * (size // old) + new + _SHEBANG_SLACK


def kept_manifest_size(manifest: Manifest, target: str) -> int:
    """The size of the manifest the environment keeps: the bundle's, with every prefix
    rule's placeholder replaced by ``target`` (file hashes keep their length)."""
    encoded = len(json.dumps(target))
    change = sum(
        encoded - len(json.dumps(entry.prefix.placeholder))
        for entry in manifest.files
        if entry.prefix is not None
    )
    return manifest.to_stream()[0] + change + _MANIFEST_SLACK
