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
_SUFFIXES = {".tzst": "tar.zst", ".tgz": "tar.gz", ".tbz2": "tar.bz2", ".txz": "tar.xz"}


def format_from_name(name: str) -> str | None:
    """The format an output name asks for (``x.tar.gz`` -> ``tar.gz``), or None."""
    for fmt in sorted(FORMATS, key=len, reverse=True):
        if fmt != "dir" and name.endswith("." + fmt):
            return fmt
    return _SUFFIXES.get(os.path.splitext(name)[1])
