"""Prove that an environment works where it is: run it, inspect its links, scan its files.

Everything runs as ``env -i PATH=/usr/bin:/bin …``: no activation, no HOME, nothing from the
test process. Bytecode writing stays allowed, as for a user: a stale ``.pyc`` gets rewritten
inside the env (tests/support/bytecode.py is what asserts that none is).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .envs import CONDA
from .packages import CASE_PAIR, EMPTY_DIR, KERNEL_JSON, READ_ONLY_FILE
from .proc import run

CLEAN_ENV = ("env", "-i", "PATH=/usr/bin:/bin")
SYSTEM_LIB_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")
STDLIB_IMPORTS = "ssl, sqlite3, ctypes, json, decimal, email.parser, sysconfig, asyncio"
# LIBDIR comes from _sysconfigdata_*.py, a text prefix file of the python package.
PY_CHECK = (
    f"import sys, {STDLIB_IMPORTS}; print(sys.prefix); print(sysconfig.get_config_var('LIBDIR'))"
)
# What importing each pip-installed tool's code takes (barext's loads its extension).
_PIP_TOOL_MODULES = {"bartool": "bartool", "barext": "barext.cli"}
_LDD_RESOLVED = re.compile(r"\t(\S+) => (.+) \(0x[0-9a-f]+\)")
_LDD_LOADER = re.compile(r"\t(/.+) \(0x[0-9a-f]+\)")
_LDD_MISSING = re.compile(r"\t(\S+) => not found")


def assert_env_runs(prefix: Path, *, forbidden: list[str], ignore: Sequence[str] = ()) -> None:
    """Assert that the env at ``prefix`` (absolute, no symlinks) runs from there.

    Checks, in this order: the programs of the installed packages (and ``bartool``,
    ``barext`` and ``unmanaged-tool`` when present) run and report ``prefix``; python
    imports standard-library modules and the installed python packages (``foopy_extra``
    through foopy's ``.pth`` file, ``barext``'s compiled extension) and the Jupyter kernel
    spec's command runs; foo-post's post-link outputs and the file shapes (a 0444 file, an
    empty directory, two paths differing only in case) are there; the files of every
    conda-meta record exist; every ELF file in ``bin/`` and ``lib/`` resolves its libraries
    inside the env or the system dirs (never a system libpython); no file (``*.pyc`` excepted)
    and no symlink target contains any string of ``forbidden`` (conda-meta records are
    scanned without their ``prefix_placeholder`` fields; ``ignore`` lists env-relative paths
    left out of the scan, e.g. ``conda-meta/history``, whose ``# cmd:`` lines hold the prefix
    of the command that created the env).
    """
    records = _records(prefix)
    names = {record["name"] for record in records}
    for argv, expected in _commands(prefix, names):
        _check_command(argv, expected)
    if "foo-post" in names:
        _check_post_link_output(prefix)
    if "foo" in names:
        _check_mode(prefix / READ_ONLY_FILE, 0o444)
    if "foo-data" in names:
        _check_case_pair(prefix)
    _check_record_files(prefix, records)
    _check_shared_libraries(prefix)
    _check_no_forbidden(prefix, forbidden, ignore)


def assert_same_packages(a: Path, b: Path, *, env: dict[str, str] | None = None) -> None:
    """Assert that ``conda list --json`` reports the same packages for both envs."""
    listed = [json.loads(run([CONDA, "list", "--json", "-p", p], env=env)) for p in (a, b)]
    only = [
        sorted(
            {json.dumps(pkg, sort_keys=True) for pkg in mine}
            - {json.dumps(pkg, sort_keys=True) for pkg in other}
        )
        for mine, other in (listed, listed[::-1])
    ]
    assert listed[0] == listed[1], (
        f"conda list differs\nonly in {a}: {only[0]}\nonly in {b}: {only[1]}"
    )


def _records(prefix: Path) -> list[dict]:
    """The env's conda-meta records (at least one)."""
    records = [json.loads(p.read_text()) for p in sorted((prefix / "conda-meta").glob("*.json"))]
    assert records, f"{prefix}: no conda-meta/*.json records"
    return records


def _check_record_files(prefix: Path, records: list[dict]) -> None:
    """Every file of every conda-meta record exists."""
    missing = [f for r in records for f in r["files"] if not os.path.lexists(prefix / f)]
    assert not missing, f"{prefix}: recorded files missing: {missing}"


def _commands(prefix: Path, names: set[str]) -> list[tuple[list[str], str]]:
    """(argv, expected stdout) of every program the env should be able to run."""
    p, bin_dir = str(prefix), prefix / "bin"
    commands: list[tuple[list[str], str]] = []
    if "foo" in names:
        commands += [([bin_dir / "foo"], p), ([bin_dir / "foo-runpath"], p)]
        commands.append(([bin_dir / "foo-config", "--prefix"], p))
    if "python" in names:
        commands += _python_commands(prefix, names)
    if (bin_dir / "unmanaged-tool").exists():
        commands.append(([bin_dir / "unmanaged-tool"], p))
    return [([str(a) for a in argv], expected) for argv, expected in commands]


def _python_commands(prefix: Path, names: set[str]) -> list[tuple[list, str]]:
    """The interpreter, the python packages and their scripts.

    Not ``python3.12-config``: CPython's own script fails in a directory with spaces.
    """
    p, bin_dir = str(prefix), prefix / "bin"
    commands: list[tuple[list, str]] = [([bin_dir / "python3.12", "-c", PY_CHECK], f"{p}\n{p}/lib")]
    tools = _pip_installed(prefix)
    packages = [_PIP_TOOL_MODULES[tool] for tool in tools]
    if "foo" in names:
        commands.append(([bin_dir / "foo-py"], p))
    if "foopy" in names:
        packages += ["foopy", "foopy_extra"]  # foopy_extra: only through foopy-extra.pth
        commands.append(([bin_dir / "foopy"], f"{p}\nfoopy ok"))
        commands.append((_kernel_argv(prefix), f"{p}\nfoopy kernel ok"))
    for tool in tools:
        commands.append(([bin_dir / tool], f"{p}\n{tool} ok"))
    if packages:
        imports = f"import sys, {', '.join(packages)}; print(sys.prefix)"
        commands.append(([bin_dir / "python3.12", "-c", imports], p))
    return commands


def _pip_installed(prefix: Path) -> list[str]:
    """The pip-installed test tools present (``bartool``, ``barext``)."""
    return [
        tool
        for tool in _PIP_TOOL_MODULES
        if list(prefix.glob(f"lib/python3.*/site-packages/{tool}-*.dist-info"))
    ]


def _kernel_argv(prefix: Path) -> list[str]:
    """The command Jupyter would start from foopy's kernel spec."""
    argv = json.loads((prefix / KERNEL_JSON).read_text())["argv"]
    return [arg.replace("{connection_file}", "/dev/null") for arg in argv]


def _check_command(argv: list[str], expected: str) -> None:
    """Run ``argv`` in a clean environment; assert exit 0 and stdout ``expected``."""
    cmd = [*CLEAN_ENV, *argv]
    proc = subprocess.run(cmd, capture_output=True, cwd="/", check=False)
    out, err = (os.fsdecode(s) for s in (proc.stdout, proc.stderr))
    assert proc.returncode == 0 and out == expected + "\n", (
        f"{shlex.join(cmd)}\nexit status {proc.returncode}\n"
        f"expected stdout: {expected!r}\nstdout: {out!r}\nstderr: {err!r}"
    )


def _check_post_link_output(prefix: Path) -> None:
    """The file written by foo-post's post-link script names the prefix; the empty
    directory it made is there, empty."""
    path = prefix / "share/foo-post/installed-at.txt"
    content = os.fsdecode(path.read_bytes()) if path.exists() else None
    assert content == f"{prefix}\n", f"{path}: {content!r}, expected the prefix"
    empty = prefix / EMPTY_DIR
    listed = os.listdir(empty) if empty.is_dir() and not empty.is_symlink() else None
    assert listed == [], f"{empty}: {listed!r}, expected an empty directory"


def _check_mode(path: Path, mode: int) -> None:
    found = stat.S_IMODE(path.lstat().st_mode)
    assert found == mode, f"{path}: mode {found:o}, expected {mode:o}"


def _check_case_pair(prefix: Path) -> None:
    """Both paths that differ only in case exist, each with its own content."""
    contents = [(prefix / rel).read_bytes() for rel in CASE_PAIR]
    assert contents[0] != contents[1], f"{prefix}: {CASE_PAIR} have the same content"


def _elf_files(prefix: Path) -> list[Path]:
    """Regular ELF files under ``bin/`` and ``lib/``."""
    elves = []
    for path in sorted([*prefix.glob("bin/**/*"), *prefix.glob("lib/**/*")]):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    elves.append(path)
    return elves


def _check_shared_libraries(prefix: Path) -> None:
    """``ldd``: every library found, inside the env or a system dir, no system libpython."""
    cmd = [*CLEAN_ENV, "ldd", *map(str, _elf_files(prefix))]
    out = subprocess.run(cmd, capture_output=True, check=False).stdout
    inside = f"{prefix}/"
    problems, current = [], ""
    for line in os.fsdecode(out).splitlines():
        if not line.startswith("\t"):
            current = line.removesuffix(":")
        elif missing := _LDD_MISSING.fullmatch(line):
            problems.append(f"{current}: {missing[1]} not found")
        elif found := _LDD_RESOLVED.fullmatch(line) or _LDD_LOADER.fullmatch(line):
            lib = found[found.lastindex]
            in_system = lib.startswith(SYSTEM_LIB_DIRS) and "libpython" not in lib
            if not lib.startswith(inside) and not in_system:
                problems.append(f"{current}: {lib}")
    assert not problems, f"{prefix}: libraries resolved outside the env:\n" + "\n".join(problems)


def scanned_bytes(path: Path) -> bytes:
    """The bytes of ``path`` to scan: conda-meta records without their placeholders, the
    kept manifest without its ``origin`` (what the bundle shipped, placeholders included:
    the base of a delta, never read to run anything)."""
    if path.name == "manifest.json" and path.parent.name == "envbundle":
        manifest = json.loads(path.read_bytes())
        manifest.pop("origin", None)
        return json.dumps(manifest, ensure_ascii=False).encode()
    if path.parent.name != "conda-meta" or path.suffix != ".json":
        return path.read_bytes()
    record = json.loads(path.read_bytes())
    for entry in record.get("paths_data", {}).get("paths", []):
        entry.pop("prefix_placeholder", None)
    return json.dumps(record, ensure_ascii=False).encode()


def _check_no_forbidden(prefix: Path, forbidden: list[str], ignore: Sequence[str]) -> None:
    """No regular file (``*.pyc`` and ``ignore`` excepted) and no symlink target contains a
    forbidden string; conda-meta records are scanned without their ``prefix_placeholder``,
    the kept manifest without its ``origin``."""
    needles = [(s, os.fsencode(s)) for s in forbidden]
    hits = []
    for root, dirs, files in os.walk(prefix):
        for name in dirs + files:
            path = Path(root, name)
            rel = path.relative_to(prefix)
            if str(rel) in ignore:
                continue
            if path.is_symlink():
                data = os.fsencode(os.readlink(path))
            elif name in files and not name.endswith(".pyc"):
                data = scanned_bytes(path)
            else:
                continue
            hits += [f"{rel}: {s!r}" for s, needle in needles if needle in data]
    assert not hits, f"{prefix}: forbidden strings found:\n" + "\n".join(sorted(hits))
