"""What the plugin costs every conda command: import time, and what the import pulls in.

conda imports the plugin module on every command (even ``conda config --show``), through
its entry point. Two measurements, each the median of a few runs:

- ``python -X importtime``: import conda's own modules first (those ``conda config --show``
  has loaded before ours, so that their cost is not counted), then
  ``import conda_envbundle.plugin``; the cumulative microseconds of what that second
  import loads is the plugin's cost;
- ``conda config --show`` under ``PYTHONPROFILEIMPORTTIME``: which of our modules a real
  command loads (conda loads the plugin with importlib, which ``-X importtime`` does not
  time, so only the modules it imports show up), and their cumulative time.

Either way, neither the codec libraries nor the bundle/unbundle pipeline may appear.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN = "conda_envbundle.plugin"
OURS = re.compile(r"conda_envbundle(\.|$)")
HEAVY = (
    "zstandard",
    "isal",
    "conda_envbundle.api",
    "conda_envbundle.archive",
    "conda_envbundle.bundling",
    "conda_envbundle.unbundling",
    "conda_envbundle.relocation",
)
"""Modules the plugin must not import: codecs and the pipeline."""
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")
_MARK = "@@envbundle-bench-mark"


@dataclass(frozen=True)
class Imported:
    """One line of ``-X importtime`` output."""

    own_us: int
    cumulative_us: int
    depth: int
    name: str


@dataclass
class ImportCost:
    """The plugin's import cost (medians, microseconds) and what it imports."""

    plugin_us: int = 0
    """Cumulative time of ``import conda_envbundle.plugin`` after conda's own modules."""
    own_us: int = 0
    """The part of :attr:`plugin_us` spent in our own modules' bodies."""
    command_us: int = 0
    """In ``conda config --show``: cumulative time of our outermost imported modules."""
    pulled_in: list[str] = field(default_factory=list)
    """Modules that are not ours and that the plugin import loads (conda had not)."""
    command_modules: list[str] = field(default_factory=list)
    """Our modules that ``conda config --show`` loads."""
    heavy: list[str] = field(default_factory=list)
    """Codec or pipeline modules imported by either (should be none)."""
    runs: int = 0
    error: str = ""


def parse(text: str) -> list[Imported]:
    """The ``-X importtime`` lines of ``text``, in the order printed (children first)."""
    lines = []
    for raw in text.splitlines():
        match = _LINE.match(raw)
        if match:
            own, cumulative, indent, name = match.groups()
            lines.append(Imported(int(own), int(cumulative), len(indent) // 2, name))
    return lines


def outermost_ours(lines: list[Imported]) -> list[Imported]:
    """Our modules that were not imported by another of our modules."""
    found: list[Imported] = []
    ancestors: list[Imported] = []
    for line in reversed(lines):  # a parent is printed after its children
        while ancestors and ancestors[-1].depth >= line.depth:
            ancestors.pop()
        if OURS.match(line.name) and not any(OURS.match(a.name) for a in ancestors):
            found.append(line)
        ancestors.append(line)
    return found[::-1]


def _heavy(names: list[str]) -> list[str]:
    return sorted({n for n in names if n.startswith(HEAVY)})


def _command_log(conda: Path, env: dict[str, str]) -> str:
    run_env = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(
        [str(conda), "config", "--show"], env=run_env, capture_output=True, text=True, check=True
    )
    return proc.stderr


def _preloaded(command: list[Imported]) -> list[str]:
    """Top-level modules ``conda config --show`` loaded before the first of ours."""
    names = []
    for line in command:
        if OURS.match(line.name):
            break
        if line.depth == 0:
            names.append(line.name)
    return names


def _plugin_log(python: str, preload: list[str], env: dict[str, str]) -> list[Imported]:
    """``-X importtime`` lines of ``import conda_envbundle.plugin`` after ``preload``."""
    code = (
        "import importlib, sys\n"
        f"for name in {preload!r}:\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except Exception:\n        pass\n"
        f"print({_MARK!r}, file=sys.stderr, flush=True)\n"
        f"import {PLUGIN}\n"
    )
    cmd = [python, "-X", "importtime", "-c", code]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return parse(proc.stderr.split(_MARK, 1)[1])


def measure(conda: Path, env: dict[str, str], runs: int = 5) -> ImportCost:
    """Median import cost over ``runs`` rounds of both measurements."""
    cost = ImportCost(runs=runs)
    plugin, own, command = [], [], []
    try:
        for _ in range(runs):
            lines = parse(_command_log(conda, env))
            ours = outermost_ours(lines)
            command.append(sum(line.cumulative_us for line in ours))
            cost.command_modules = sorted({ln.name for ln in lines if OURS.match(ln.name)})
            after = _plugin_log(sys.executable, _preloaded(lines), env)
            plugin.append(sum(line.cumulative_us for line in after if line.depth == 0))
            own.append(sum(line.own_us for line in after if OURS.match(line.name)))
            cost.pulled_in = sorted({ln.name for ln in after if not OURS.match(ln.name)})
            cost.heavy = _heavy([ln.name for ln in lines + after])
    except (subprocess.CalledProcessError, OSError, IndexError) as exc:
        cost.error = str(exc).strip().splitlines()[0][:200]
        return cost
    cost.plugin_us = int(statistics.median(plugin))
    cost.own_us = int(statistics.median(own))
    cost.command_us = int(statistics.median(command))
    return cost
