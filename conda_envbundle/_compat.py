"""Every difference between conda 24.7.1 (our minimum) and the newest conda, in one place.

Nothing outside this module may test conda's version or guess at moved names.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from conda import __version__ as CONDA_VERSION
from conda.base.context import context

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace, _ArgumentGroup
    from collections.abc import Iterator

    from conda.models.records import PrefixRecord

__all__ = [
    "CONDA_VERSION",
    "add_parser_frozen_env",
    "confirm_yn",
    "first_writable_envs_dir",
    "forget_prefix_data",
    "frozen_reason",
    "installed_path",
    "is_conda_environment",
    "is_padding_error",
    "link_source",
    "load_records",
    "native_subdir",
    "progress_bar",
    "protect_frozen_envs",
    "recorded_paths",
    "register_env",
    "site_packages_short_path",
    "virtual_package_versions",
]


# CEP 22's marker of an environment that conda must not change (conda >= 25.5 knows it)
FROZEN_MARKER = os.path.join("conda-meta", "frozen")


def load_records(prefix: str) -> Iterator[PrefixRecord]:
    """Read the conda records of ``prefix`` without conda's pip interoperability.

    The pip reader may delete conda-meta records of "clobbered" packages; bundling must
    be read-only. The flag is positional because its keyword changed name in 25.5.
    """
    from conda.core.prefix_data import PrefixData  # not at import: cli.py imports us

    prefix_data = PrefixData(prefix, False)
    prefix_data.reload()
    return prefix_data.iter_records()


def forget_prefix_data(prefix: str) -> None:
    """Drop conda's per-process cache of ``prefix`` after we wrote its conda-meta."""
    from conda.core.prefix_data import delete_prefix_from_linked_data

    # conda >= 25.5 caches per (prefix, interoperability) and drops one entry per call
    while delete_prefix_from_linked_data(prefix):
        pass


def is_conda_environment(prefix: str) -> bool:
    """True when ``prefix`` holds ``conda-meta/history``, conda's mark of an environment."""
    from conda.base.constants import PREFIX_MAGIC_FILE

    return os.path.isfile(os.path.join(prefix, PREFIX_MAGIC_FILE))


def first_writable_envs_dir() -> str:
    """The envs directory where ``-n NAME`` puts a new environment (created if needed)."""
    try:  # conda >= 25.5
        from conda.gateways.disk.create import first_writable_envs_dir as first
    except ImportError:
        from conda.base.context import _first_writable_envs_dir as first
    return first()


def native_subdir() -> str:
    """The host's platform subdir, ignoring CONDA_SUBDIR overrides."""
    native = getattr(context, "_native_subdir", None)
    return native() if callable(native) else context.subdir


def virtual_package_versions() -> dict[str, str]:
    """Virtual packages of this machine as ``{"__glibc": "2.36", ...}``."""
    manager = context.plugin_manager
    if hasattr(manager, "get_virtual_package_records"):  # conda >= 24.9
        records = manager.get_virtual_package_records()
        return {rec.name: rec.version for rec in records}
    packages = manager.get_virtual_packages()  # conda < 25.9
    return {f"__{pkg.name}": pkg.version for pkg in packages}


def site_packages_short_path(records) -> str | None:
    """``lib/pythonX.Y/site-packages`` of the environment's python, if it has one."""
    from conda.common.path import get_python_site_packages_short_path

    for rec in records:
        if rec.name == "python":
            declared = getattr(rec, "python_site_packages_path", None)  # conda >= 24.11
            return declared or get_python_site_packages_short_path(rec.version)
    return None


def register_env(prefix: str) -> None:
    """Add ``prefix`` to conda's environments.txt (a no-op when conda is told not to)."""
    from conda.core.envs_manager import register_env as register

    register(prefix)


def progress_bar(description: str):
    """One of conda's progress bars: ``update_to(fraction)``, ``finish()``, ``close()``."""
    try:  # conda >= 24.11
        from conda.reporters import get_progress_bar
    except ImportError:
        from conda.common.io import ProgressBar

        return ProgressBar(description, enabled=True, json=False)
    return get_progress_bar(description)


def link_source(rec) -> str | None:
    """The package-cache directory a record was linked from, if it says."""
    link = rec.get("link", None)
    if link is None:
        return None
    # a Link object; newer conda's record dataclasses may leave it a plain dict
    return link.get("source") if isinstance(link, dict) else link.source


def add_parser_frozen_env(parser: ArgumentParser | _ArgumentGroup) -> None:
    """conda's ``--override-frozen`` (conda >= 25.5), the same option on older conda."""
    try:
        from conda.cli.helpers import add_parser_frozen_env as add
    except ImportError:
        from conda.common.constants import NULL

        parser.add_argument(
            "--override-frozen",
            action="store_false",
            default=NULL,
            help="DANGEROUS. Use at your own risk. Ignore protections if the environment "
            "is frozen.",
            dest="protect_frozen_envs",
        )
        return
    add(parser)


def protect_frozen_envs(args: Namespace) -> bool:
    """False when the user lifted the protection of frozen environments.

    conda >= 25.5 reads ``--override-frozen`` and the ``protect_frozen_envs`` setting into
    its context; older conda has neither, so only the option counts there.
    """
    configured = getattr(context, "protect_frozen_envs", None)
    if configured is None:
        return getattr(args, "protect_frozen_envs", True) is not False
    return bool(configured)


def frozen_reason(prefix: str) -> str | None:
    """None when ``prefix`` is not marked frozen, else the marker's message ("" for none)."""
    try:
        with open(os.path.join(prefix, FROZEN_MARKER), "rb") as fh:
            text = fh.read(1 << 16)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError:
        return ""  # there but unreadable: still frozen, as conda's is_file() sees it
    try:
        message = json.loads(text).get("message", "") if text.strip() else ""
    except (ValueError, AttributeError):
        return ""
    return message if isinstance(message, str) else ""


def installed_path(path: str, noarch_python: bool, site_packages: str | None) -> str:
    """Where a record's path lives in the environment.

    conda (24.7 at least) records ``paths_data`` of noarch python packages with their
    package-relative paths (``site-packages/...``); ``files`` has the installed ones.
    """
    if noarch_python and site_packages:
        from conda.common.path import get_python_noarch_target_path

        return get_python_noarch_target_path(path, site_packages)
    return path


def recorded_paths(prefix: str, rec) -> list[dict]:
    """The ``paths_data`` entries of ``rec``'s record file in ``prefix``, with their hashes.

    Read from the file itself: conda 24.7's PrefixData keeps ``paths_data`` as plain
    PathData, without the hashes. Empty when the record cannot be read.
    """
    record_file = os.path.join(prefix, "conda-meta", f"{rec.name}-{rec.version}-{rec.build}.json")
    try:
        with open(record_file, "rb") as fh:
            paths = (json.load(fh).get("paths_data") or {}).get("paths") or []
    except (OSError, ValueError, AttributeError):
        return []
    return [item for item in paths if isinstance(item, dict)]


def is_padding_error(exc: BaseException) -> bool:
    """Whether ``exc`` is conda's private exception (not a CondaError) for a prefix too
    long for a binary string; conda's own tests import it from conda.core.portability."""
    try:
        from conda.core.portability import _PaddingError
    except ImportError:  # a conda without it raises something else, which is not caught
        return False
    return isinstance(exc, _PaddingError)


def confirm_yn(message: str, default: str, dry_run: bool) -> bool:
    """conda's yes/no prompt (raises conda's DryRunExit or CondaSystemExit as conda does).

    Imported when asked: cli.py imports this module on every conda command.
    """
    try:  # conda >= 25.1: prompts go through the reporter backends
        from conda.reporters import confirm_yn as confirm
    except ImportError:
        from conda.cli.common import confirm_yn as confirm
    return confirm(message, default=default, dry_run=dry_run)
