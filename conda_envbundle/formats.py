"""The names of the bundle formats, as the command line offers them.

Only names: nothing here loads a codec, so the plugin can build its options on every
conda command without importing the archive code (see :mod:`.archive`).
"""

from __future__ import annotations

import os

DEFAULT_FORMAT = "tar.zst"
FORMATS = ("tar.zst", "tar.gz", "tar.bz2", "tar.xz", "zip", "tar", "dir", "sh")
# An sh installer's payload, by --sh-payload name: the compressed tar format it is.
SH_PAYLOADS = {"gzip": "tar.gz", "zstd": "tar.zst"}
# SBOM formats (--sbom), by name: the suffix of the file written beside a bundle (sbom.py)
SBOM_SUFFIXES = {"cyclonedx": ".cdx.json", "spdx": ".spdx.json"}
# conda-pack's other names of formats, as --format values and (but no-archive) extensions
ALIASES = {
    "tzst": "tar.zst",
    "tgz": "tar.gz",
    "tbz2": "tar.bz2",
    "txz": "tar.xz",
    "no-archive": "dir",
}
_SUFFIXES = {f".{alias}": fmt for alias, fmt in ALIASES.items() if fmt != "dir"}


def canonical_format(name: str) -> str:
    """A --format value under our name (``tgz`` -> ``tar.gz``); other names unchanged."""
    return ALIASES.get(name, name)


def format_from_name(name: str) -> str | None:
    """The format an output name asks for (``x.tar.gz`` -> ``tar.gz``), or None."""
    for fmt in sorted(FORMATS, key=len, reverse=True):
        if fmt != "dir" and name.endswith("." + fmt):
            return fmt
    return _SUFFIXES.get(os.path.splitext(name)[1])


def output_format(name: str) -> str | None:
    """The format an output name asks for, refusing a name that asks for none, as
    conda-pack does: a tar.zst file named ``env.bak`` would mislead whoever reads it.

    None for standard output (``-``) and for an existing directory, whose names say no
    format: writing over a directory is refused later, with its own reason.
    """
    fmt = format_from_name(name)
    if fmt is None and name != "-" and not os.path.isdir(name):
        from .exceptions import EnvBundleError

        known = [f".{fmt}" for fmt in FORMATS if fmt != "dir"] + list(_SUFFIXES)
        raise EnvBundleError(
            f"The output name {name} ends in no bundle extension ({', '.join(known)}). "
            "Name it so, or choose the format with --format (dir for a directory)."
        )
    return fmt


def chosen_format(fmt: str | None, output: str | None) -> str | None:
    """``fmt`` when given, else what the output's name asks for (None: neither says)."""
    return fmt or (output_format(output) if output else None)
