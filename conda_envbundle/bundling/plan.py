"""What ``conda bundle`` was asked to do, checked once and frozen before anything is read."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import _compat
from ..archive import check_level, default_level, level_format, sh
from ..exceptions import EnvBundleError, OutputExistsError, SourceEnvironmentError
from ..formats import DEFAULT_FORMAT, FORMATS, chosen_format
from ..manifest import Manifest
from ..paths import is_utf8
from . import sidecars
from .output import check_output_name, check_replaceable
from .walk import wanted

Filters = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Plan:
    """One ``conda bundle`` run, every value checked.

    ``level`` is valid for the codec that really compresses (an installer's payload
    codec); ``threads`` 0 means all cores. ``distrust`` names files whose bytes are read
    in full instead of trusting conda's record of them; None trusts no record (a bundle
    on standard output cannot be rewound and made again). ``sbom`` names the SBOM formats
    and ``sign`` the key whose signatures are written beside the output (:mod:`.sidecars`).
    ``delta_base``, the full manifest of a base, makes the bundle a delta against it.
    """

    prefix: str
    output: str
    fmt: str
    level: int | None
    threads: int
    force: bool
    filters: Filters
    ignore_editable: bool
    ignore_missing: bool
    dest_prefix: str | None
    sh_codec: str
    dry_run: bool
    show_progress: bool
    distrust: frozenset[str] | None
    sbom: tuple[str, ...] = ()
    sign: str | None = None
    delta_base: Manifest | None = None

    @property
    def codec_threads(self) -> int:
        """Threads for the compressor: ``threads``, or one per core."""
        return self.threads or os.cpu_count() or 1

    @property
    def payload_format(self) -> str:
        """The format of the archive stream (an installer's is its payload's)."""
        return sh.payload_format(self.sh_codec) if self.fmt == "sh" else self.fmt


def make_plan(
    prefix: str,
    output: str | None = None,
    *,
    fmt: str | None = None,
    level: int | None = None,
    threads: int = 0,
    force: bool = False,
    filters: list[tuple[str, str]] | None = None,
    ignore_editable: bool = False,
    ignore_missing: bool = False,
    dest_prefix: str | None = None,
    sh_codec: str = "gzip",
    dry_run: bool = False,
    show_progress: bool = False,
    sbom: list[str] | tuple[str, ...] = (),
    sign: str | None = None,
    delta_base: Manifest | None = None,
) -> Plan:
    """The plan for bundling ``prefix``: every argument of :func:`conda_envbundle.bundle`
    checked, refused with an :class:`~.exceptions.EnvBundleError` that says what to do."""
    prefix = os.path.abspath(prefix)
    if not is_utf8(prefix):
        raise SourceEnvironmentError(
            f"The path of the environment, {prefix!r}, is not valid UTF-8, which the bundle's "
            "relocation rules must hold. Move it to a UTF-8 path (conda rename -p PATH NAME)."
        )
    if not _compat.is_conda_environment(prefix):
        raise SourceEnvironmentError(
            f"{prefix} is not a conda environment (it has no conda-meta/history). "
            "Name an existing environment with -n or -p."
        )
    fmt = chosen_format(fmt, output) or DEFAULT_FORMAT
    output = _output_path(prefix, output, fmt, force)
    sh.payload_format(sh_codec)  # refuses an unknown payload, whatever the format
    check_threads(threads)
    filters = filters or []
    _check_filters(prefix, filters)
    if dest_prefix is not None and not os.path.isabs(dest_prefix):
        raise EnvBundleError(f"--dest-prefix must be an absolute path, not {dest_prefix!r}.")
    if delta_base is not None and fmt in ("sh", "dir"):
        raise EnvBundleError(
            f"A delta cannot be a {fmt} bundle, which must stand alone: choose a tar or zip "
            "format (-o NAME.tar.zst)."
        )
    sbom = tuple(dict.fromkeys(sbom))  # each format once, in the order asked
    sidecars.check(output, sbom, sign, force)
    return Plan(
        prefix=prefix,
        output=output,
        fmt=fmt,
        level=_level(fmt, sh_codec, level),
        threads=max(threads, 0),  # conda-pack's -1, like our 0, is all cores
        force=force,
        filters=tuple((kind, pattern) for kind, pattern in filters),
        ignore_editable=ignore_editable,
        ignore_missing=ignore_missing,
        dest_prefix=dest_prefix,
        sh_codec=sh_codec,
        dry_run=dry_run,
        show_progress=show_progress,
        distrust=None if output == "-" else frozenset(),
        sbom=sbom,
        sign=sign,
        delta_base=delta_base,
    )


def environment_name(prefix: str) -> str:
    """conda's name of the environment at ``prefix`` (``base`` for conda's own), else the
    last part of its path."""
    from conda.base.context import env_name

    return os.path.basename(os.path.normpath(env_name(prefix))) or "env"


def default_output(prefix: str, fmt: str = DEFAULT_FORMAT) -> str:
    """``<environment name>.<format>`` (``<name>-bundle`` for dir) in the current directory."""
    name = environment_name(prefix)
    return os.path.abspath(f"{name}-bundle" if fmt == "dir" else f"{name}.{fmt}")


def check_threads(threads: int) -> None:
    """Refuse a thread count below -1: 0, and -1 as in conda-pack, mean all cores."""
    if threads < -1:
        raise EnvBundleError(
            "The thread count (-j) is a number of threads, or 0 or -1 for all cores, "
            f"not {threads}."
        )


def check_format(fmt: str) -> None:
    """Refuse a format name that is not one of :data:`~.formats.FORMATS`."""
    if fmt not in FORMATS:
        raise EnvBundleError(f"Unknown format {fmt!r}. Choose one of: {', '.join(FORMATS)}.")


def _output_path(prefix: str, output: str | None, fmt: str, force: bool) -> str:
    check_format(fmt)
    if output == "-":
        if fmt in ("dir", "sh"):
            raise EnvBundleError(f"A {fmt} bundle cannot be written to standard output.")
        return output
    output = os.path.abspath(output or default_output(prefix, fmt))
    check_replaceable(output, fmt)  # first: what --force may not replace is said at once
    if os.path.lexists(output) and not force:
        raise OutputExistsError(f"{output} already exists. Pass --force to overwrite it.")
    if not os.path.isdir(os.path.dirname(output)):
        raise EnvBundleError(f"The directory of {output} does not exist. Create it first.")
    check_output_name(output)
    return output


def _level(fmt: str, sh_codec: str, level: int | None) -> int | None:
    """``level``, checked against the codec that compresses, else that codec's default."""
    codec = level_format(fmt, sh_codec)
    if level is None:
        return default_level(codec) if codec else None
    check_level(codec or fmt, level)
    return level


def _check_filters(prefix: str, filters: list[tuple[str, str]]) -> None:
    """Refuse filters of an unknown kind, and filters that leave out what makes the result
    a conda environment: its history (conda's mark of an environment) and its records."""
    unknown = sorted({kind for kind, _ in filters if kind not in ("exclude", "include")})
    if unknown:
        raise EnvBundleError(f"A filter is 'exclude' or 'include', not {unknown[0]!r}.")
    meta = os.path.join(prefix, "conda-meta")
    records = sorted(name for name in os.listdir(meta) if name.endswith(".json"))
    essential = ["conda-meta/history", *(f"conda-meta/{name}" for name in records)]
    lost = [path for path in essential if not wanted(path, filters)]
    if lost:
        shown = ", ".join(lost[:3]) + (" ..." if len(lost) > 3 else "")
        raise EnvBundleError(
            f"The filters leave out {shown}, without which conda would not recognise the "
            "result as an environment. Narrow the --exclude patterns, or --include these "
            "back."
        )
