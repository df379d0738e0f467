"""Real conda environments: ``conda create`` from the local channel, plus unmanaged extras."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .cbuild import build_selfcheck
from .proc import run
from .pydist import build_wheel, tool_module

VENV_BIN = Path(sys.executable).parent
CONDA = VENV_BIN / "conda"
"""The conda CLI wrapper of the development virtualenv."""
PYTHON = "python3.12"
SOURCE_SPECS = ["python", "foo", "foo-data", "foopy", "foo-post"]
"""The packages of the session's source env: every fixture package of the channel."""
MakeEnv = Callable[..., Path]
"""The ``make_env`` fixture's factory type."""
EDITABLE_SOURCE = "/some/src"
"""The (nonexistent) source directory that editable installs point to."""


def create_env(prefix: Path, channel: Path, specs: list[str], env: dict[str, str]) -> None:
    """``conda create`` an env at ``prefix`` from ``channel`` only, offline, with ``env`` vars."""
    cmd = [CONDA, "create", "--offline", "--override-channels", "-c", channel.as_uri()]
    run([*cmd, "-p", prefix, "--yes", "--quiet", *specs], env=env)


def site_packages(prefix: Path) -> Path:
    """The env's ``lib/python3.X/site-packages``."""
    (path,) = prefix.glob("lib/python3.*/site-packages")
    return path


def pip_install_tool(prefix: Path, work: Path) -> None:
    """Install the wheel ``bartool`` 1.0 with real pip: unmanaged, with a console script."""
    wheel = build_wheel(
        work,
        "bartool",
        "1.0",
        {"bartool/__init__.py": tool_module("bartool")},
        {"bartool": "bartool:main"},
    )
    target = prefix / "bin" / PYTHON
    cmd = [VENV_BIN / "python", "-m", "pip", "--python", target, "--isolated", "install"]
    cmd += ["--no-index", "--no-deps", "--no-cache-dir", "--disable-pip-version-check", wheel]
    # No bytecode for the stdlib modules pip imports: only bartool's own pyc land in the env.
    run(cmd, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def add_editable_install(prefix: Path, kind: str) -> Path:
    """Make ``edpkg`` 0.1 look editable-installed from :data:`EDITABLE_SOURCE`.

    ``kind="pep660"``: a dist-info whose ``direct_url.json`` says editable, plus an
    ``__editable__`` .pth; ``kind="egg-link"``: a legacy ``setup.py develop`` install.
    Returns the marker file (``direct_url.json`` or the ``.egg-link``).
    """
    installers = {"pep660": _add_pep660_install, "egg-link": _add_egg_link}
    if kind not in installers:
        raise ValueError(f"unknown editable install kind {kind!r}")
    return installers[kind](site_packages(prefix))


def _add_pep660_install(sp: Path) -> Path:
    dist_info = sp / "edpkg-0.1.dist-info"
    dist_info.mkdir()
    files = {
        "METADATA": "Metadata-Version: 2.1\nName: edpkg\nVersion: 0.1\n",
        "INSTALLER": "pip\n",
        "direct_url.json": json.dumps(
            {"url": f"file://{EDITABLE_SOURCE}", "dir_info": {"editable": True}}
        ),
    }
    for name, content in files.items():
        (dist_info / name).write_text(content)
    pth = sp / "__editable__.edpkg-0.1.pth"
    pth.write_text(f"{EDITABLE_SOURCE}\n")
    recorded = [pth.name, *(f"{dist_info.name}/{name}" for name in [*files, "RECORD"])]
    (dist_info / "RECORD").write_text("".join(f"{path},,\n" for path in recorded))
    return dist_info / "direct_url.json"


def _add_egg_link(sp: Path) -> Path:
    (sp / "easy-install.pth").write_text(f"{EDITABLE_SOURCE}\n")
    egg_link = sp / "edpkg.egg-link"
    egg_link.write_text(f"{EDITABLE_SOURCE}\n.\n")
    return egg_link


def add_unmanaged_binary(prefix: Path) -> Path:
    """Compile ``bin/unmanaged-tool`` with the env's prefix in it; it self-checks like ``foo``."""
    return build_selfcheck(prefix / "bin" / "unmanaged-tool", str(prefix), "/share/unmanaged")
