"""The small fixture packages: ``foo``, ``foo-data``, ``foo-post`` and ``foopy``.

Each builder stages its payload in a fresh 255-character placeholder prefix under
``build_root`` and writes ``<channel>/<subdir>/<name>-<version>-<build>.conda``.
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
}

FOO_DATA_TEXT_FILES = {
    "etc/conda/activate.d/foo-data.sh": 'export FOO_DATA_DIR="@PREFIX@/share/foo-data"\n',
    "share/foo-data/foo-data.json": '{"data_dir": "@PREFIX@/share/foo-data"}\n',
}

FOO_POST_LINK = """\
#!/bin/sh
# Records where the package was installed: an unmanaged file holding the prefix.
mkdir -p "$PREFIX/share/foo-post"
printf '%s\\n' "$PREFIX" > "$PREFIX/share/foo-post/installed-at.txt"
"""


def _write_files(prefix: Path, files: dict[str, str]) -> None:
    """Write text files under ``prefix`` with ``@PREFIX@`` replaced by the prefix."""
    for rel, template in files.items():
        path = prefix / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.replace("@PREFIX@", str(prefix)), encoding="utf-8")
        path.chmod(0o755 if rel.startswith("bin/") else 0o644)


def build_foo(build_root: Path, channel: Path) -> Path:
    """``foo`` 1.2.3: libfoo, the self-checking ``bin/foo`` (RPATH) and ``bin/foo-runpath``."""
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
    """``foo-data`` 1.0 (noarch generic): text prefix files, one in ``etc/conda/activate.d``."""
    prefix = placeholder_prefix(build_root, "foo-data")
    _write_files(prefix, FOO_DATA_TEXT_FILES)
    return write_package(prefix, PackageSpec("foo-data", "1.0", noarch="generic"), channel)


def build_foo_post(build_root: Path, channel: Path) -> Path:
    """``foo-post`` 1.0 (noarch generic): a post-link script writing the install prefix."""
    prefix = placeholder_prefix(build_root, "foo-post")
    _write_files(prefix, {"bin/.foo-post-post-link.sh": FOO_POST_LINK})
    return write_package(prefix, PackageSpec("foo-post", "1.0", noarch="generic"), channel)


def build_foopy(build_root: Path, channel: Path) -> Path:
    """``foopy`` 0.1.0 (noarch python): a module, dist-info and the entry point ``foopy``."""
    prefix = placeholder_prefix(build_root, "foopy")
    modules = {
        "foopy/__init__.py": '"""foopy: a noarch python test package."""\n',
        "foopy/cli.py": tool_module("foopy"),
    }
    entry_points = {"foopy": "foopy.cli:main"}
    tree = with_dist_info(
        modules, "foopy", "0.1.0", console_scripts=entry_points, extra={"INSTALLER": "conda\n"}
    )
    _write_files(prefix, {os.path.join("site-packages", rel): text for rel, text in tree.items()})
    spec = PackageSpec(
        "foopy",
        "0.1.0",
        noarch="python",
        depends=["python"],
        entry_points=[f"{name} = {target}" for name, target in entry_points.items()],
    )
    return write_package(prefix, spec, channel)


BUILDERS = (build_foo, build_foo_data, build_foo_post, build_foopy)
