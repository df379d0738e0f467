"""Synthetic prefix-heavy packages ``synthNNN`` (linux-64).

Each one holds, with the build prefix embedded the way real C/C++ packages have it:

- ``lib/libsynthNNN.so.1.0.0``: a real shared library with prefix C strings and an
  ``objcopy``-added random ``.blob`` section of a few MiB (more prefix strings inside): a
  multi-megabyte ``binary`` prefix file; plus its ``.so.1`` / ``.so`` symlinks;
- ``bin/synthNNN``: a program with an absolute DT_RPATH that exits non-zero unless its own
  and the library's compiled-in prefix are where it is installed;
- text prefix files: ``.pc``, ``.la``, CMake files, a ``-config`` script and 40 documents;
- 40 prefix-free random data files and a header.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from tests.support.cbuild import c_string
from tests.support.condapkg import PackageSpec, placeholder_prefix, write_package
from tests.support.proc import run

from .config import GLIBC_FLOOR

SOURCE = Path(__file__).with_name("csrc") / "synth.c"
DOCS = 40
DATA_FILES = 40
_WORDS = [
    *("module", "configuration", "installs", "runtime", "plugin", "cache", "search", "path"),
    *("default", "library", "binary", "shared", "header", "loader", "environment"),
    *("packaging", "relocation", "data", "resource"),
]


def _text_files(name: str, prefix: str) -> dict[str, str]:
    """The text prefix files (path -> content) of package ``name``."""
    lib = f"{prefix}/lib"
    cmake = f"lib/cmake/{name}"
    return {
        f"lib/pkgconfig/{name}.pc": (
            f"prefix={prefix}\nexec_prefix=${{prefix}}\nlibdir={lib}\n"
            f"includedir={prefix}/include\n\nName: {name}\nDescription: synthetic\n"
            f"Version: 1.0.0\nLibs: -L${{libdir}} -l{name}\nCflags: -I${{includedir}}\n"
        ),
        f"lib/lib{name}.la": (
            f"# lib{name}.la - a libtool library file\ndlname='lib{name}.so.1'\n"
            f"library_names='lib{name}.so.1.0.0 lib{name}.so.1 lib{name}.so'\n"
            f"old_library=''\ndependency_libs=' -L{lib} -lm'\ninstalled=yes\nlibdir='{lib}'\n"
        ),
        f"{cmake}/{name}Config.cmake": (
            f'set({name.upper()}_PREFIX "{prefix}")\n'
            f'include("{prefix}/{cmake}/{name}Targets.cmake")\n'
        ),
        f"{cmake}/{name}ConfigVersion.cmake": 'set(PACKAGE_VERSION "1.0.0")\n',
        f"{cmake}/{name}Targets.cmake": (
            f"add_library({name}::{name} SHARED IMPORTED)\n"
            f"set_target_properties({name}::{name} PROPERTIES\n"
            f'  INTERFACE_INCLUDE_DIRECTORIES "{prefix}/include")\n'
        ),
        f"{cmake}/{name}Targets-release.cmake": (
            f"set_property(TARGET {name}::{name} APPEND PROPERTY IMPORTED_CONFIGURATIONS RELEASE)\n"
            f'set_target_properties({name}::{name} PROPERTIES\n  IMPORTED_LOCATION_RELEASE "'
            f'{lib}/lib{name}.so.1.0.0"\n  IMPORTED_SONAME_RELEASE "lib{name}.so.1")\n'
        ),
        f"bin/{name}-config": (
            f'#!/bin/sh\nprefix="{prefix}"\ncase "$1" in\n'
            '  --prefix) echo "$prefix" ;;\n  --libs) echo "-L$prefix/lib -l' + name + '" ;;\n'
            '  *) echo "usage: $0 --prefix|--libs" >&2; exit 1 ;;\nesac\n'
        ),
        f"include/{name}.h": "const char *synth_data_dir(void);\n",
    }


def _document(rng: random.Random, name: str, prefix: str, index: int) -> str:
    """A few kB of text mentioning the prefix now and then."""
    lines = [f"{name} document {index}"]
    for n in range(rng.randint(40, 160)):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14)))
        lines.append(f"{words} {prefix}/share/{name}/{n}" if n % 7 == 0 else words)
    return "\n".join(lines) + "\n"


def _blob(rng: random.Random, prefix: str, mib: int) -> bytes:
    """``mib`` MiB of random bytes with a NUL-terminated prefix C string in every MiB."""
    chunks = []
    for n in range(mib):
        string = f"{prefix}/etc/conf.{n}".encode() + b"\0"
        chunks.append(rng.randbytes((1 << 20) - len(string)) + string)
    return b"".join(chunks)


def _build_binaries(prefix: Path, name: str, rng: random.Random, blob_mib: int) -> None:
    """Compile the library (with its blob section) and the self-checking program."""
    lib_dir = prefix / "lib"
    lib_dir.mkdir(parents=True, exist_ok=True)
    real = lib_dir / f"lib{name}.so.1.0.0"
    defines = [f"-DPREFIX={c_string(str(prefix))}", f"-DNAME={c_string(name)}"]
    gcc = ["gcc", "-O2", "-Wall", *defines]
    soname = f"-Wl,-soname,lib{name}.so.1"
    run([*gcc, "-DSYNTH_LIB", "-shared", "-fPIC", soname, "-o", real, SOURCE])
    blob = prefix / "blob.tmp"
    blob.write_bytes(_blob(rng, str(prefix), blob_mib))
    flags = ["--set-section-flags", ".blob=readonly"]
    run(["objcopy", "--add-section", f".blob={blob}", *flags, real])
    blob.unlink()
    (lib_dir / f"lib{name}.so.1").symlink_to(real.name)
    (lib_dir / f"lib{name}.so").symlink_to(f"lib{name}.so.1")
    exe = prefix / "bin" / name
    exe.parent.mkdir(parents=True, exist_ok=True)
    rpath = ["-Wl,--disable-new-dtags", f"-Wl,-rpath,{lib_dir}"]
    run([*gcc, "-o", exe, SOURCE, f"-L{lib_dir}", f"-l{name}", *rpath])


def build_synthetic(build_root: Path, channel: Path, index: int, blob_mib: int) -> Path:
    """Write package ``synth<index>`` into ``channel``; return its path."""
    name = f"synth{index:03d}"
    rng = random.Random(index)
    prefix = placeholder_prefix(build_root, name)
    try:
        _build_binaries(prefix, name, rng, blob_mib)
        files = _text_files(name, str(prefix))
        for n in range(DOCS):
            files[f"share/doc/{name}/doc-{n:02d}.txt"] = _document(rng, name, str(prefix), n)
        for rel, text in files.items():
            path = prefix / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o755 if rel.startswith("bin/") else 0o644)
        for n in range(DATA_FILES):
            data = prefix / "share" / name / "data" / f"blob-{n:02d}.bin"
            data.parent.mkdir(parents=True, exist_ok=True)
            data.write_bytes(rng.randbytes(rng.randint(8, 64) << 10))
        spec = PackageSpec(name, "1.0.0", depends=[f"__glibc >={GLIBC_FLOOR}"])
        return write_package(prefix, spec, channel)
    finally:
        shutil.rmtree(prefix.parent)
