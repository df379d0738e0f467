"""A second channel for delta updates: the next version of ``foopy`` and a new package.

Built per session (two small noarch packages, well under a second), beside the cached
main channel, whose content it does not change.
"""

from __future__ import annotations

import os
from pathlib import Path

from .channel import write_repodata
from .condapkg import PackageSpec, placeholder_prefix, write_package
from .packages import FOOPY_KERNEL, FOOPY_KERNEL_JSON, FOOPY_PTH, KERNEL_JSON, _write_files
from .pydist import tool_module, with_dist_info

FOOPY_NEXT = "0.2.0"
EXTRA = "foo-extra"
EXTRA_CONFIG = "share/foo-extra/where.txt"


def build_update_channel(work: Path) -> Path:
    """A channel with ``foopy`` :data:`FOOPY_NEXT` (a changed module, a new one) and
    ``foo-extra`` 1.0 (a text file holding its prefix, a script)."""
    channel = work / "updates"
    _foopy_next(work / "build", channel)
    _extra(work / "build", channel)
    write_repodata(channel)
    return channel


def _foopy_next(build_root: Path, channel: Path) -> None:
    prefix = placeholder_prefix(build_root, "foopy")
    modules = {
        "foopy/__init__.py": f'"""foopy: a noarch python test package."""\n\n__version__ = '
        f'"{FOOPY_NEXT}"\n',
        "foopy/cli.py": tool_module("foopy"),
        "foopy/kernel.py": FOOPY_KERNEL,
        "foopy/added.py": 'WHAT = "added in the update"\n',
        FOOPY_PTH: "foopy_extra_dir\n",
        "foopy_extra_dir/foopy_extra.py": 'MESSAGE = "foopy-extra ok"\n',
    }
    entry_points = {"foopy": "foopy.cli:main"}
    tree = with_dist_info(
        modules, "foopy", FOOPY_NEXT, console_scripts=entry_points, extra={"INSTALLER": "conda\n"}
    )
    _write_files(prefix, {os.path.join("site-packages", rel): text for rel, text in tree.items()})
    _write_files(prefix, {KERNEL_JSON: FOOPY_KERNEL_JSON})
    spec = PackageSpec(
        "foopy",
        FOOPY_NEXT,
        noarch="python",
        depends=["python"],
        entry_points=[f"{name} = {target}" for name, target in entry_points.items()],
    )
    write_package(prefix, spec, channel)


def _extra(build_root: Path, channel: Path) -> None:
    prefix = placeholder_prefix(build_root, EXTRA)
    _write_files(
        prefix,
        {
            EXTRA_CONFIG: "@PREFIX@/share/foo-extra\n",
            "bin/foo-extra": '#!/bin/sh\necho "foo-extra at @PREFIX@"\n',
        },
    )
    write_package(prefix, PackageSpec(EXTRA, "1.0", noarch="generic"), channel)
