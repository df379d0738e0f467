"""conda-envbundle: pack a conda environment into one relocatable file, unpack it anywhere.

Public API: :func:`bundle`, :func:`unbundle`, :func:`inspect` and :func:`verify`.
"""

from .api import BundleResult, UnbundleResult, __version__, bundle, inspect, unbundle, verify

__all__ = [
    "BundleResult",
    "UnbundleResult",
    "__version__",
    "bundle",
    "inspect",
    "unbundle",
    "verify",
]
