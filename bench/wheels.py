"""Download the pinned cp311 manylinux wheels of a profile into ``bench/.cache/wheels``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .config import CACHE, PY_VERSION

WHEEL_DIR = CACHE / "wheels"
_PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "any",
]
_ABI = "cp" + PY_VERSION.replace(".", "")


def _canonical(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def find_wheel(pin: str, directory: Path = WHEEL_DIR) -> Path | None:
    """The wheel in ``directory`` matching ``name==version`` (exactly, local label included)."""
    name, version = pin.split("==")
    for wheel in directory.glob("*.whl"):
        dist, wheel_version = wheel.name.split("-")[:2]
        if _canonical(dist) == _canonical(name) and wheel_version == version:
            return wheel
    return None


def download(pins: list[str], directory: Path = WHEEL_DIR) -> list[Path]:
    """Return the wheels of ``pins``, downloading the missing ones with pip (no deps)."""
    directory.mkdir(parents=True, exist_ok=True)
    missing = [pin for pin in pins if find_wheel(pin, directory) is None]
    if missing:
        print(f"downloading {len(missing)} wheel(s) into {directory}", flush=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(directory)]
        cmd += ["--only-binary", ":all:", "--python-version", PY_VERSION]
        cmd += ["--implementation", "cp", "--abi", _ABI, "--abi", "abi3", "--abi", "none"]
        for platform in _PLATFORMS:
            cmd += ["--platform", platform]
        subprocess.run([*cmd, *missing], check=True)
    wheels = [find_wheel(pin, directory) for pin in pins]
    lost = [pin for pin, wheel in zip(pins, wheels, strict=True) if wheel is None]
    if lost:
        raise RuntimeError(f"pip did not download: {', '.join(lost)}")
    return [w for w in wheels if w is not None]
