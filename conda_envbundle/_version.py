"""This package's version, as installed."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("conda-envbundle")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
