"""Real conda environments: ``conda create`` from the local channel, plus unmanaged extras."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .cbuild import CSRC, build_python_extension, build_selfcheck
from .cpython import CPYTHON
from .proc import run
from .pydist import Content, build_wheel, tool_module

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
CONFIG_VAR = ("ENVBUNDLE_TEST_VAR", "set by conda env config vars")
"""The variable ``conda env config vars set`` stores in the source env's conda-meta/state."""
EXT_SUFFIX = ".cpython-312-x86_64-linux-gnu.so"
BAREXT_CLI = """\
\"\"\"barext: a console script whose output comes from a compiled extension module.\"\"\"

import sys

from barext._speedup import greeting


def main() -> int:
    print(sys.prefix)
    print(greeting())
    return 0
"""


def create_env(prefix: Path, channel: Path, specs: list[str], env: dict[str, str]) -> None:
    """``conda create`` an env at ``prefix`` from ``channel`` only, offline, with ``env`` vars."""
    cmd = [CONDA, "create", "--offline", "--override-channels", "-c", channel.as_uri()]
    run([*cmd, "-p", prefix, "--yes", "--quiet", *specs], env=env)


def site_packages(prefix: Path) -> Path:
    """The env's ``lib/python3.X/site-packages``."""
    (path,) = prefix.glob("lib/python3.*/site-packages")
    return path


def pip_install_tool(prefix: Path, work: Path) -> None:
    """Install ``bartool`` and ``barext`` with real pip: unmanaged, with console scripts.

    ``bartool`` 1.0 is a pure-python wheel; ``barext`` 1.0 a ``cp312-cp312-linux_x86_64``
    wheel whose script prints what its compiled extension module returns.
    """
    bartool = build_wheel(
        work,
        "bartool",
        "1.0",
        {"bartool/__init__.py": tool_module("bartool")},
        {"bartool": "bartool:main"},
    )
    target = prefix / "bin" / PYTHON
    cmd = [VENV_BIN / "python", "-m", "pip", "--python", target, "--isolated", "install"]
    cmd += ["--no-index", "--no-deps", "--no-cache-dir", "--disable-pip-version-check"]
    # No bytecode for the stdlib modules pip imports (a stale shipped pyc would be
    # rewritten): only the installed packages' own pyc land in the env.
    run([*cmd, bartool, _barext_wheel(work)], env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def _barext_wheel(work: Path) -> Path:
    extension = build_python_extension(
        work / "barext-build" / f"_speedup{EXT_SUFFIX}",
        CSRC / "barext.c",
        CPYTHON / "include" / PYTHON,
    )
    files: dict[str, Content] = {
        "barext/__init__.py": '"""barext: a package with a compiled extension module."""\n',
        "barext/cli.py": BAREXT_CLI,
        f"barext/_speedup{EXT_SUFFIX}": extension.read_bytes(),
    }
    scripts = {"barext": "barext.cli:main"}
    return build_wheel(work, "barext", "1.0", files, scripts, tag="cp312-cp312-linux_x86_64")


def set_config_var(prefix: Path, env: dict[str, str]) -> None:
    """Store :data:`CONFIG_VAR` in ``prefix`` with the real ``conda env config vars set``."""
    name, value = CONFIG_VAR
    run([CONDA, "env", "config", "vars", "set", "-p", prefix, f"{name}={value}"], env=env)


def pycs_of_prefix_files(prefix: Path) -> set[str]:
    """Shipped pycs whose ``.py`` is a text prefix file, as env-relative paths.

    conda rewrites such a ``.py`` at install (new mtime and size), so these pycs are stale
    in every env it creates; conda-forge's python has them too (``_sysconfigdata_*.py``,
    ``config-3.X-*/python-config.py``). Python rewrites them when it imports the module.
    """
    stale = set()
    for record in (prefix / "conda-meta").glob("*.json"):
        data = json.loads(record.read_text())
        files = set(data["files"])
        for entry in data.get("paths_data", {}).get("paths", []):
            source = Path(entry["_path"])
            if "prefix_placeholder" in entry and source.suffix == ".py":
                pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
                if str(pyc) in files:
                    stale.add(str(pyc))
    return stale


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
