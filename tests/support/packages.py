"""The small fixture packages: ``foo``, ``foo-data``, ``foo-post`` and ``foopy``.

Each builder stages its payload in a fresh 255-character placeholder prefix under
``build_root`` and writes ``<channel>/<subdir>/<name>-<version>-<build>.conda``.

Between them they carry the shapes real packages have (see tests/test_fixtures.py): binaries
with an absolute RPATH/RUNPATH at the placeholder, the symlink chain
``libfoo.so -> libfoo.so.1 -> libfoo.so.1.2.3``, read-only (0444) files, file names with
spaces and non-ASCII characters, ``share/terminfo/N/…`` beside ``share/terminfo/n/…``, an
``etc/conda/activate.d`` script, a post-link script writing a file and an empty directory
(conda records no directories, so a package cannot ship an empty one: real envs get them
from scripts), a noarch python package with entry points, a ``.pth`` file and a Jupyter
``kernel.json`` holding the absolute python path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .cbuild import CSRC, build_libfoo, build_selfcheck
from .condapkg import PackageSpec, placeholder_prefix, write_package
from .pydist import tool_module, with_dist_info

FOO_CONFIG = """\
#!/bin/sh
# foo-config: compiler flags for libfoo
prefix="@PREFIX@"
case "$1" in
    --prefix) printf '%s\\n' "$prefix" ;;
    --cflags) printf '%s\\n' "-I$prefix/include" ;;
    --libs) printf '%s\\n' "-L$prefix/lib -Wl,-rpath,$prefix/lib -lfoo" ;;
    *) echo "usage: foo-config --prefix|--cflags|--libs" >&2; exit 1 ;;
esac
"""

READ_ONLY_FILE = "share/foo/read-only.txt"
"""Staged with mode 0444; no prefix in it (conda rewrites prefix files in place)."""

FOO_TEXT_FILES = {
    "bin/foo-config": FOO_CONFIG,
    "bin/foo-py": "#!@PREFIX@/bin/python3.12\nimport sys\n\nprint(sys.prefix)\n",
    "lib/pkgconfig/foo.pc": (
        "prefix=@PREFIX@\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\n"
        "Name: foo\nDescription: the foo test library\nVersion: 1.2.3\n"
        "Libs: -L${libdir} -lfoo\nCflags: -I${includedir}\n"
    ),
    "etc/foo/foo.conf": "# foo configuration\ndata_dir = @PREFIX@/share/foo\n",
    "share/foo/grüße.txt": "Grüße aus @PREFIX@ — naïve façade, 日本語, ✓\n",
    "share/foo/three-times.txt": (
        "first: @PREFIX@/share/foo\nsecond and third: @PREFIX@/lib:@PREFIX@/bin\n"
    ),
    "share/foo/with space.txt": "a name with a space, a prefix inside: @PREFIX@/share/foo\n",
    READ_ONLY_FILE: "read-only (0444) data, no prefix inside\n",
}

FOO_DATA_TEXT_FILES = {
    "etc/conda/activate.d/foo-data.sh": 'export FOO_DATA_DIR="@PREFIX@/share/foo-data"\n',
    "share/foo-data/foo-data.json": '{"data_dir": "@PREFIX@/share/foo-data"}\n',
}
TERMINFO_CASE_PAIR = {
    # As ncurses ships them: names equal but for case, contents differ (compiled terminfo
    # magic, then the name). A case-insensitive file system keeps only one of the two.
    "share/terminfo/N/NCR260VT300WPP": b"\x1a\x01NCR260VT300WPP\0",
    "share/terminfo/n/ncr260vt300wpp": b"\x1a\x01ncr260vt300wpp|lower-case twin\0",
}
CASE_PAIR = tuple(TERMINFO_CASE_PAIR)

FOO_POST_LINK = """\
#!/bin/sh
# Records where the package was installed: an unmanaged file holding the prefix.
mkdir -p "$PREFIX/share/foo-post"
printf '%s\\n' "$PREFIX" > "$PREFIX/share/foo-post/installed-at.txt"
# An empty directory, as real post-link scripts leave them (conda records none).
mkdir -p "$PREFIX/var/empty"
"""
EMPTY_DIR = "var/empty"
"""The empty directory foo-post's post-link script creates."""

FOOPY_KERNEL = """\
\"\"\"foopy.kernel: what Jupyter starts from kernel.json (``-f <connection file>``).\"\"\"

import sys

print(sys.prefix)
print("foopy kernel ok")
"""
FOOPY_KERNEL_JSON = """\
{
 "argv": ["@PREFIX@/bin/python", "-m", "foopy.kernel", "-f", "{connection_file}"],
 "display_name": "foopy",
 "language": "python"
}
"""
KERNEL_JSON = "share/jupyter/kernels/foopy/kernel.json"
FOOPY_PTH = "foopy-extra.pth"
"""A ``.pth`` file of foopy: puts ``site-packages/foopy_extra_dir`` on ``sys.path``."""


def _write_files(prefix: Path, files: dict[str, str]) -> None:
    """Write text files under ``prefix`` with ``@PREFIX@`` replaced by the prefix."""
    for rel, template in files.items():
        path = prefix / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.replace("@PREFIX@", str(prefix)), encoding="utf-8")
        path.chmod(0o755 if rel.startswith("bin/") else 0o444 if rel == READ_ONLY_FILE else 0o644)


def _write_binary_files(prefix: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = prefix / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def build_foo(build_root: Path, channel: Path) -> Path:
    """``foo`` 1.2.3: libfoo and the self-checking ``bin/foo`` and ``bin/foo-runpath``.

    ``bin/foo`` finds libfoo only through an absolute DT_RPATH at the placeholder,
    ``bin/foo-runpath`` through an absolute DT_RUNPATH: both binary prefix files.
    """
    prefix = placeholder_prefix(build_root, "foo")
    build_libfoo(prefix / "lib", str(prefix))
    for exe, runpath in (("foo", False), ("foo-runpath", True)):
        build_selfcheck(
            prefix / "bin" / exe,
            str(prefix),
            "/share/foo",
            libfoo_dir=prefix / "lib",
            runpath=runpath,
        )
    (prefix / "include").mkdir()
    shutil.copy(CSRC / "foo.h", prefix / "include" / "foo.h")
    _write_files(prefix, FOO_TEXT_FILES)
    return write_package(prefix, PackageSpec("foo", "1.2.3"), channel)


def build_foo_data(build_root: Path, channel: Path) -> Path:
    """``foo-data`` 1.0 (noarch generic): text prefix files, one in ``etc/conda/activate.d``;
    two terminfo entries whose paths differ only in case."""
    prefix = placeholder_prefix(build_root, "foo-data")
    _write_files(prefix, FOO_DATA_TEXT_FILES)
    _write_binary_files(prefix, TERMINFO_CASE_PAIR)
    return write_package(prefix, PackageSpec("foo-data", "1.0", noarch="generic"), channel)


def build_foo_post(build_root: Path, channel: Path) -> Path:
    """``foo-post`` 1.0 (noarch generic): a post-link script writing the install prefix
    into a file and creating an empty directory."""
    prefix = placeholder_prefix(build_root, "foo-post")
    _write_files(prefix, {"bin/.foo-post-post-link.sh": FOO_POST_LINK})
    return write_package(prefix, PackageSpec("foo-post", "1.0", noarch="generic"), channel)


def build_foopy(build_root: Path, channel: Path) -> Path:
    """``foopy`` 0.1.0 (noarch python): modules and dist-info, the entry point ``foopy``, a
    ``.pth`` file and a Jupyter kernel spec with the absolute python path (a prefix file)."""
    prefix = placeholder_prefix(build_root, "foopy")
    modules = {
        "foopy/__init__.py": '"""foopy: a noarch python test package."""\n',
        "foopy/cli.py": tool_module("foopy"),
        "foopy/kernel.py": FOOPY_KERNEL,
        FOOPY_PTH: "foopy_extra_dir\n",
        "foopy_extra_dir/foopy_extra.py": 'MESSAGE = "foopy-extra ok"\n',
    }
    entry_points = {"foopy": "foopy.cli:main"}
    tree = with_dist_info(
        modules, "foopy", "0.1.0", console_scripts=entry_points, extra={"INSTALLER": "conda\n"}
    )
    _write_files(prefix, {os.path.join("site-packages", rel): text for rel, text in tree.items()})
    _write_files(prefix, {KERNEL_JSON: FOOPY_KERNEL_JSON})
    spec = PackageSpec(
        "foopy",
        "0.1.0",
        noarch="python",
        depends=["python"],
        entry_points=[f"{name} = {target}" for name, target in entry_points.items()],
    )
    return write_package(prefix, spec, channel)


BUILDERS = (build_foo, build_foo_data, build_foo_post, build_foopy)
