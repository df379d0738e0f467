"""Defaults for ``conda bundle`` that users set in ``.condarc`` (``plugins:``) or the
environment (``CONDA_PLUGINS_BUNDLE_*``); the command line always wins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conda.common.configuration import PrimitiveParameter
from conda.plugins.types import CondaSetting

UNSET_LEVEL = -1

SETTINGS = {
    "bundle_format": (
        "tar.zst",
        str,
        "Default format of conda bundle: tar.zst, tar.gz, tar.bz2, tar.xz, zip, tar, dir or sh.",
    ),
    "bundle_compress_level": (
        UNSET_LEVEL,
        int,
        "Default compression level of conda bundle (-1: the format's own default).",
    ),
    "bundle_threads": (
        0,
        int,
        "Compression threads of conda bundle (0: all cores).",
    ),
}


def conda_settings() -> Iterator[CondaSetting]:
    """The settings, as conda's ``conda_settings`` hook wants them."""
    for name, (default, kind, description) in SETTINGS.items():
        yield CondaSetting(
            name=name,
            description=description,
            parameter=PrimitiveParameter(default, element_type=kind),
        )


def value(name: str, given: Any) -> Any:
    """``given`` from the command line if there is one, else the configured setting."""
    if given is not None:
        return given
    from conda.base.context import context

    try:
        return getattr(context.plugins, name)
    except AttributeError:
        # context.plugins was built before this plugin's settings were registered in this
        # process (the Python API used directly, or plugins disabled): use the default
        return SETTINGS[name][0]
