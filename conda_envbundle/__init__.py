"""conda-envbundle: pack a conda environment into one relocatable file, unpack it anywhere.

Public API: :func:`bundle`, :func:`unbundle` and :func:`inspect`.
"""

from .api import BundleResult, UnbundleResult, __version__, bundle, inspect, unbundle

__all__ = ["BundleResult", "UnbundleResult", "__version__", "bundle", "inspect", "unbundle"]
