"""Python distributions by hand: dist-info metadata and pure-python wheels."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def tool_module(name: str) -> str:
    """Source of a module whose ``main()`` prints ``sys.prefix`` and ``<name> ok``."""
    return (
        f'"""{name}: a tiny command-line tool for the tests."""\n\n'
        "import sys\n\n\n"
        "def main() -> int:\n"
        "    print(sys.prefix)\n"
        f'    print("{name} ok")\n'
        "    return 0\n"
    )


def _record_line(path: str, content: str) -> str:
    data = content.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def with_dist_info(
    files: dict[str, str],
    name: str,
    version: str,
    *,
    console_scripts: dict[str, str],
    extra: dict[str, str],
) -> dict[str, str]:
    """Return ``files`` plus a ``<name>-<version>.dist-info`` (``extra`` added to it) with RECORD.

    Keys are paths relative to site-packages (or the wheel root).
    """
    dist_info = f"{name}-{version}.dist-info"
    meta = {
        "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        **extra,
    }
    if console_scripts:
        lines = "".join(f"{script} = {target}\n" for script, target in console_scripts.items())
        meta["entry_points.txt"] = f"[console_scripts]\n{lines}"
    tree = {**files, **{f"{dist_info}/{n}": content for n, content in meta.items()}}
    record = "".join(_record_line(path, content) for path, content in tree.items())
    return {**tree, f"{dist_info}/RECORD": record + f"{dist_info}/RECORD,,\n"}


def build_wheel(
    out_dir: Path, name: str, version: str, files: dict[str, str], console_scripts: dict[str, str]
) -> Path:
    """Write a pure-python ``py3-none-any`` wheel of ``files``; return its path."""
    wheel_meta = "Wheel-Version: 1.0\nGenerator: envbundle-tests\nRoot-Is-Purelib: true\n"
    tree = with_dist_info(
        files,
        name,
        version,
        console_scripts=console_scripts,
        extra={"WHEEL": wheel_meta + "Tag: py3-none-any\n"},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, content in tree.items():
            zf.writestr(path, content)
    return wheel
