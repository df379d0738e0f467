"""Describe the machine and the tool versions a benchmark ran with."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _first_line(cmd: list[str], env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def _disk(path: Path) -> str:
    """Filesystem type, device, size, and whether the device is rotational."""
    while not path.exists() and path != path.parent:  # a runs directory is removed after use
        path = path.parent
    fields = _first_line(["sh", "-c", f"df -hT '{path}' | tail -1"]).split()
    if len(fields) < 3:
        return "unknown"
    device, fstype, size = fields[0], fields[1], fields[2]
    if fstype == "tmpfs":
        return f"tmpfs, {size} (memory)"
    name = os.path.basename(device)
    kind = "unknown medium"
    rotational = Path(f"/sys/block/{name}/queue/rotational")
    if rotational.is_file():
        rot = rotational.read_text().strip() == "1"
        kind = "reported rotational" if rot else "reported non-rotational"
    model = Path(f"/sys/block/{name}/device/model")
    vendor = model.read_text().strip() if model.is_file() else ""
    virtual = " (virtio block device)" if name.startswith("vd") else ""
    return f"{fstype} on {device}{virtual}, {size}, {kind}{', ' + vendor if vendor else ''}"


def _os_name() -> str:
    release = Path("/etc/os-release")
    if release.is_file():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _git_revision(root: Path) -> str:
    head = _first_line(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--", "conda_envbundle"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return head + (" + uncommitted changes in conda_envbundle/" if dirty else "")


def describe_machine(
    cache: Path, runs: dict[str, Path], conda: Path, conda_env: dict[str, str], root: Path
) -> dict[str, str]:
    """Ordered ``label -> value`` rows for the report (``runs``: storage -> runs directory)."""
    storages = {
        f"Archives and targets, {storage} ({path})": _disk(path) for storage, path in runs.items()
    }
    return {
        "CPU": f"{_cpu_model()}, {os.cpu_count()} logical CPUs (nproc)",
        "RAM": _ram(),
        "Disk of the env (bench/.cache)": _disk(cache),
        **storages,
        "OS / kernel": f"{_os_name()}, Linux {platform.release()}",
        "Python (.venv)": platform.python_version(),
        "conda": _first_line([str(conda), "--version"], conda_env),
        "conda-envbundle": f"{_package_version('conda-envbundle')} (git {_git_revision(root)})",
        "conda-pack": _package_version("conda-pack"),
        "zstandard (Python)": _package_version("zstandard"),
        "zstd": _first_line(["zstd", "--version"]).strip("* "),
        "GNU tar": _first_line(["tar", "--version"]),
        "gzip": _first_line(["gzip", "--version"]),
    }
