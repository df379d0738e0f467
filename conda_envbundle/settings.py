"""Defaults for ``conda bundle`` and ``conda unbundle`` that users set in ``.condarc``
(``plugins:``) or the environment (``CONDA_PLUGINS_BUNDLE_*``, ``CONDA_PLUGINS_UNBUNDLE_*``);
the command line always wins.

Compression levels are set per codec: the codecs' ranges differ (zstd has no level 0,
gzip no level 10), so one number cannot suit them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from conda.common.configuration import PrimitiveParameter
from conda.plugins.types import CondaSetting

from .exceptions import EnvBundleError

SETTINGS = {
    "bundle_format": (
        "tar.zst",
        str,
        "Default format of conda bundle: tar.zst, tar.gz, tar.bz2, tar.xz, zip, tar, dir or sh.",
    ),
    "bundle_zstd_level": (
        3,
        int,
        "zstd level (1 to 22) of tar.zst bundles and of sh installers with a zstd payload.",
    ),
    "bundle_gzip_level": (
        6,
        int,
        "gzip/deflate level (0 to 9) of tar.gz and zip bundles and of sh installers.",
    ),
    "bundle_bzip2_level": (9, int, "bzip2 level (1 to 9) of tar.bz2 bundles."),
    "bundle_xz_level": (6, int, "xz level (0 to 9) of tar.xz bundles."),
    "bundle_threads": (
        0,
        int,
        "Compression threads of conda bundle (0: all cores).",
    ),
    "unbundle_allowed_signers": (
        "",
        str,
        "OpenSSH allowed-signers file whose keys conda unbundle trusts: a signed bundle "
        "(BUNDLE.sig) must match its signature, made by one of them.",
    ),
    "unbundle_require_signature": (
        False,
        bool,
        "Refuse bundles without a valid signature of a key in unbundle_allowed_signers.",
    ),
    "unbundle_keep_previous": (
        False,
        bool,
        "Keep the environment conda unbundle replaces (a delta, or --force), for conda "
        "unbundle --rollback (one generation; after a delta it shares unchanged files with "
        "the new one).",
    ),
}

# The setting that holds the level of each codec (named by the tar format it makes).
LEVEL_SETTINGS = {
    "tar.zst": "bundle_zstd_level",
    "tar.gz": "bundle_gzip_level",
    "zip": "bundle_gzip_level",
    "tar.bz2": "bundle_bzip2_level",
    "tar.xz": "bundle_xz_level",
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


def where(name: str) -> str:
    """How a user sets ``name``: for messages about a wrong configured value."""
    return f"the setting {name} (plugins: {name} in .condarc, or CONDA_PLUGINS_{name.upper()})"


def configured(name: str, check: Callable[[Any], None]) -> Any:
    """The configured value of ``name`` after ``check``, whose error gets the setting's name:
    the user gave no option, so the message must say where the value comes from."""
    found = value(name, None)
    try:
        check(found)
    except EnvBundleError as exc:
        raise EnvBundleError(
            f"{exc} The value comes from {where(name)}: correct it there."
        ) from None
    return found
