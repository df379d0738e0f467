"""What the benchmark environments contain, and where their cache lives.

Two environments, each with a full-size and a quick profile:

- ``big`` (docs/performance.md's realistic multi-GB environment: big files dominate) and
  ``big-quick`` (a few hundred MB);
- ``small`` (300,000+ files of about 3 KB, as R libraries, node trees, documentation and
  data packages have them: the per-file cost decides) and ``small-quick`` (about 20,000).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

BUILDER_VERSION = 5
"""Bump when a change to the builder must invalidate cached environments."""

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CACHE = Path(os.environ.get("ENVBUNDLE_BENCH_CACHE", BENCH_DIR / ".cache"))
WHEELS_FILE = BENCH_DIR / "wheels.txt"
CPYTHON = Path(os.environ.get("ENVBUNDLE_BENCH_CPYTHON", "/root/.pyenv/versions/3.11.7"))
"""The CPython 3.11 installation repackaged as the env's ``python`` (the wheels are cp311)."""
PY_VERSION = "3.11"
GLIBC_FLOOR = "2.17"
"""``__glibc >=`` requirement of the compiled packages that have no tag saying otherwise."""

UNMANAGED_WHEEL = "tabulate==0.10.0"
"""Installed with the env's own pip after ``conda create``: files conda does not manage."""

QUICK_WHEELS = (
    "pip",
    "setuptools",
    "six",
    "idna",
    "packaging",
    "markupsafe",
    "jinja2",
    "pyyaml",
    "pygments",
)
"""The subset of :data:`WHEELS_FILE` used by the big-quick profile (pure and binary wheels)."""


@dataclass(frozen=True)
class Profile:
    """One benchmark environment: its wheels, synthetic packages and python flavour."""

    name: str
    env: str
    """``big`` or ``small``: which environment of the report this profile stands for."""
    wheels: tuple[str, ...] | None
    """Project names taken from :data:`WHEELS_FILE`; ``None`` means all of them."""
    synthetic: int
    """Number of synthetic prefix-heavy packages."""
    blob_mib: int
    """Size of the random section added to each synthetic package's library."""
    python: str
    """``full`` (stdlib, test suite, all bytecode), ``slim`` (neither) or ``slim-pyc``
    (no test suite; the stdlib's plain ``__pycache__/*.cpython-311.pyc`` kept)."""
    smoke_imports: tuple[str, ...]
    """Modules the env's python must import (before bundling and after unbundling)."""
    small_packages: int = 0
    """Number of many-small-files packages (bench/smallfiles.py)."""
    small_files: int = 0
    """Files in each of them."""

    def pins(self) -> list[str]:
        """The ``name==version`` lines of :data:`WHEELS_FILE` this profile uses."""
        lines = [line.strip() for line in WHEELS_FILE.read_text().splitlines()]
        pins = [line for line in lines if line and not line.startswith("#")]
        if self.wheels is None:
            return pins
        return [pin for pin in pins if pin.split("==")[0] in self.wheels]

    def key(self) -> str:
        """Cache key: builder version, profile parameters and the pinned wheels."""
        fields = (
            *(BUILDER_VERSION, self.synthetic, self.blob_mib, self.python, CPYTHON),
            *(self.small_packages, self.small_files),
        )
        text = "\n".join(map(str, (*fields, UNMANAGED_WHEEL, *self.pins())))
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    @property
    def directory(self) -> Path:
        """``bench/.cache/env-<key>``: channel, package cache, conda home and the env."""
        return CACHE / f"env-{self.key()}"


_SMALL_IMPORTS = ("small000", "small010")
"""Two of the small-files env's ``noarch: python`` packages (every tenth one is)."""

PROFILES = {
    "big": Profile(
        "big",
        "big",
        None,
        synthetic=20,
        blob_mib=4,
        python="full",
        smoke_imports=("numpy", "scipy", "pandas", "torch", "sklearn", "pyarrow", "polars", "cv2"),
    ),
    "big-quick": Profile(
        "big-quick",
        "big",
        QUICK_WHEELS,
        synthetic=4,
        blob_mib=1,
        python="slim",
        smoke_imports=("yaml", "jinja2", "markupsafe"),
    ),
    "small": Profile(
        "small",
        "small",
        ("pip",),
        synthetic=1,
        blob_mib=1,
        python="slim-pyc",
        smoke_imports=_SMALL_IMPORTS,
        small_packages=300,
        small_files=1000,
    ),
    "small-quick": Profile(
        "small-quick",
        "small",
        ("pip",),
        synthetic=1,
        blob_mib=1,
        python="slim-pyc",
        smoke_imports=_SMALL_IMPORTS,
        small_packages=20,
        small_files=1000,
    ),
}
ENV_TITLES = {
    "big": "big env (realistic data-science env: big files dominate)",
    "small": "small-files env (many files of about 3 KB)",
}
