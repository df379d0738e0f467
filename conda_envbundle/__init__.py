"""conda-envbundle: pack a conda environment into one relocatable file, unpack it anywhere.

Public API: :func:`bundle`, :func:`unbundle`, :func:`inspect`, :func:`verify` and
:func:`make_sbom`; for delta updates :func:`export_base` and :func:`rollback`; for several
environments in one bundle :func:`bundle_environments`, :func:`unbundle_all` and
:func:`inspect_environments`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import (
        BundleResult,
        Collection,
        ExportResult,
        RollbackResult,
        SeveralBundleResult,
        UnbundleResult,
        Verified,
        __version__,
        bundle,
        bundle_environments,
        export_base,
        inspect,
        inspect_environments,
        make_sbom,
        rollback,
        unbundle,
        unbundle_all,
        verify,
    )

__all__ = [
    "BundleResult",
    "Collection",
    "ExportResult",
    "RollbackResult",
    "SeveralBundleResult",
    "UnbundleResult",
    "Verified",
    "__version__",
    "bundle",
    "bundle_environments",
    "export_base",
    "inspect",
    "inspect_environments",
    "make_sbom",
    "rollback",
    "unbundle",
    "unbundle_all",
    "verify",
]


def __getattr__(name: str) -> Any:
    """The public API, imported on first use (PEP 562).

    conda imports this package on every command to load the plugin: the pipeline and
    its codecs load only when something here is used or a subcommand runs.
    """
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
