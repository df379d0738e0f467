"""Compile the C test programs (sources in ``csrc/``) with a prefix compiled in."""

from __future__ import annotations

from pathlib import Path

from .proc import run

CSRC = Path(__file__).with_name("csrc")
_CFLAGS = ("-O2", "-Wall", "-Werror", f"-I{CSRC}")


def c_string(text: str) -> str:
    """Return a C string literal for ``text`` (UTF-8; bytes outside plain ASCII as octal)."""
    chars = (
        chr(b) if 0x20 <= b < 0x7F and chr(b) not in '"\\?' else f"\\{b:03o}" for b in text.encode()
    )
    return '"' + "".join(chars) + '"'


def build_libfoo(lib_dir: Path, prefix: str) -> Path:
    """Build ``libfoo.so.1.2.3`` (soname ``libfoo.so.1``) and its symlink chain into lib_dir."""
    lib_dir.mkdir(parents=True, exist_ok=True)
    real = lib_dir / "libfoo.so.1.2.3"
    cmd = ["gcc", *_CFLAGS, "-shared", "-fPIC", f"-DPREFIX={c_string(prefix)}"]
    run([*cmd, "-Wl,-soname,libfoo.so.1", "-o", real, CSRC / "libfoo.c"])
    (lib_dir / "libfoo.so.1").symlink_to(real.name)
    (lib_dir / "libfoo.so").symlink_to("libfoo.so.1")
    return real


def build_selfcheck(
    out: Path,
    prefix: str,
    data_suffix: str,
    *,
    libfoo_dir: Path | None = None,
    runpath: bool = False,
) -> Path:
    """Build the self-checking program (``csrc/selfcheck.c``) as ``out``.

    ``prefix + data_suffix`` is compiled in as one C string. With ``libfoo_dir`` the program
    links libfoo from there, with that directory as DT_RPATH (DT_RUNPATH if ``runpath``).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    defines = [f"-DPREFIX={c_string(prefix)}", f"-DDATA_SUFFIX={c_string(data_suffix)}"]
    cmd = ["gcc", *_CFLAGS, *defines, "-o", out, CSRC / "selfcheck.c"]
    if libfoo_dir is not None:
        dtags = "--enable-new-dtags" if runpath else "--disable-new-dtags"
        cmd += ["-DWITH_LIBFOO", f"-L{libfoo_dir}", "-lfoo", f"-Wl,-rpath,{libfoo_dir}"]
        cmd += [f"-Wl,{dtags}"]
    run(cmd)
    return out


def build_python_extension(out: Path, source: Path, include_dir: Path) -> Path:
    """Compile the CPython extension module ``source`` against the headers in ``include_dir``.

    No libpython link and no RPATH, as extension modules on Linux are built.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    run(["gcc", *_CFLAGS, "-shared", "-fPIC", f"-I{include_dir}", "-o", out, source])
    return out
