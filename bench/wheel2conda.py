"""Convert a PyPI wheel into a conda package, the way conda-build would have built it.

- Pure wheels become ``noarch: python``: ``site-packages/``, ``python-scripts/``, entry
  points in ``link.json`` (conda writes them and compiles the bytecode at install time).
- Binary wheels become ``linux-64``: ``lib/python3.11/site-packages``, console-script
  wrappers in ``bin/`` whose shebang holds the placeholder (text prefix files), and
  ``__pycache__`` compiled at the placeholder path.

Wheel dependencies are not translated: every package depends on ``python`` only.
"""

from __future__ import annotations

import configparser
import email.parser
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.condapkg import PackageSpec, placeholder_prefix, write_package

from .config import CPYTHON, GLIBC_FLOOR, PY_VERSION

_WRAPPER = """\
#!{python}
# -*- coding: utf-8 -*-
import re
import sys

from {module} import {head}

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit({call}())
"""


@dataclass(frozen=True)
class WheelInfo:
    """What the conversion needs from a wheel's ``*.dist-info``."""

    name: str
    version: str
    pure: bool
    dist_info: str
    entry_points: dict[str, str]
    glibc: str
    """Lowest glibc of the wheel's manylinux tags (the ``__glibc`` dependency)."""


def canonical_name(name: str) -> str:
    """The conda package name of a project (PEP 503 normalized)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_info(zf: zipfile.ZipFile) -> WheelInfo:
    """Read name, version, purity and console scripts of an open wheel."""
    (wheel_file,) = [n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/WHEEL", n)]
    dist_info = wheel_file.split("/")[0]
    parser = email.parser.Parser()
    meta = parser.parsestr(zf.read(f"{dist_info}/METADATA").decode("utf-8"))
    wheel = parser.parsestr(zf.read(wheel_file).decode("utf-8"))
    tags = wheel.get_all("Tag") or []
    pure = wheel.get("Root-Is-Purelib", "").strip().lower() == "true" and all(
        tag.endswith("-none-any") for tag in tags
    )
    entry_points: dict[str, str] = {}
    if f"{dist_info}/entry_points.txt" in zf.namelist():
        config = configparser.ConfigParser(interpolation=None)
        config.optionxform = str  # type: ignore[assignment,method-assign]
        config.read_string(zf.read(f"{dist_info}/entry_points.txt").decode("utf-8"))
        for section in ("console_scripts", "gui_scripts"):
            if config.has_section(section):
                entry_points.update(config.items(section))
    name, version = canonical_name(meta["Name"]), meta["Version"]
    return WheelInfo(name, version, pure, dist_info, entry_points, _glibc(tags))


_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _glibc(tags: list[str]) -> str:
    """The lowest glibc version any ``manylinux`` platform tag of the wheel accepts."""
    versions = []
    for tag in tags:
        for platform in tag.split("-")[-1].split("."):
            legacy = _LEGACY_MANYLINUX.get(platform.removesuffix("_x86_64"))
            match = re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", platform)
            if legacy:
                versions.append(legacy)
            elif match:
                versions.append((int(match[1]), int(match[2])))
    return ".".join(map(str, min(versions))) if versions else GLIBC_FLOOR


def _target(member: str, info: WheelInfo, prefix: Path) -> Path:
    """Where a wheel member goes in the staged conda payload."""
    site = prefix / ("site-packages" if info.pure else f"lib/python{PY_VERSION}/site-packages")
    scripts = prefix / ("python-scripts" if info.pure else "bin")
    data_dir = info.dist_info.removesuffix(".dist-info") + ".data/"
    if not member.startswith(data_dir):
        return site / member
    kind, _, rest = member[len(data_dir) :].partition("/")
    roots = {
        "purelib": site,
        "platlib": site,
        "scripts": scripts,
        "headers": prefix / f"include/python{PY_VERSION}" / info.name,
        "data": prefix,
    }
    return roots[kind] / rest


def _extract(zf: zipfile.ZipFile, info: WheelInfo, prefix: Path) -> None:
    """Extract every member into the payload layout, fixing ``#!python`` script shebangs."""
    python = f"{prefix}/bin/python" + ("" if info.pure else PY_VERSION)
    for item in zf.infolist():
        if item.is_dir():
            continue
        target = _target(item.filename, info, prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(item) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        mode = (item.external_attr >> 16) & 0o777
        is_script = target.parent.name in ("bin", "python-scripts")
        if is_script:
            data = target.read_bytes()
            if data.startswith((b"#!python", b"#!pythonw")):
                _, _, rest = data.partition(b"\n")
                target.write_bytes(b"#!" + python.encode() + b"\n" + rest)
            mode |= 0o755
        target.chmod(mode or 0o644)
    installer = prefix / ("site-packages" if info.pure else f"lib/python{PY_VERSION}/site-packages")
    (installer / info.dist_info / "INSTALLER").write_text("conda\n")


def _write_wrappers(info: WheelInfo, prefix: Path) -> None:
    """Console-script wrappers in ``bin/`` (binary packages), like conda-build writes them."""
    for script, target in info.entry_points.items():
        module, _, attr = target.partition(":")
        attr = attr.split("[")[0].strip() or "main"
        head = attr.split(".")[0]
        path = prefix / "bin" / script
        path.parent.mkdir(parents=True, exist_ok=True)
        python = f"{prefix}/bin/python{PY_VERSION}"
        path.write_text(_WRAPPER.format(python=python, module=module.strip(), head=head, call=attr))
        path.chmod(0o755)


def _compile(prefix: Path) -> None:
    """Byte-compile site-packages at the placeholder path (failures are left uncompiled)."""
    site = prefix / f"lib/python{PY_VERSION}/site-packages"
    python = CPYTHON / "bin" / f"python{PY_VERSION}"
    cmd = [str(python), "-I", "-m", "compileall", "-qq", "-j", "1", str(site)]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def convert_wheel(wheel: Path, build_root: Path, channel: Path) -> Path:
    """Write the conda package of ``wheel`` into ``channel``; return its path."""
    with zipfile.ZipFile(wheel) as zf:
        info = read_info(zf)
        prefix = placeholder_prefix(build_root, info.name)
        _extract(zf, info, prefix)
    if info.pure:
        spec = PackageSpec(
            info.name,
            info.version,
            noarch="python",
            depends=["python"],
            entry_points=[f"{k} = {v}" for k, v in sorted(info.entry_points.items())],
        )
    else:
        _write_wrappers(info, prefix)
        _compile(prefix)
        depends = [f"python {PY_VERSION}.*", f"__glibc >={info.glibc}"]
        spec = PackageSpec(info.name, info.version, depends=depends)
    try:
        return write_package(prefix, spec, channel)
    finally:
        shutil.rmtree(prefix.parent)
