"""Python distributions by hand: dist-info metadata and wheels (pure, or with a compiled
extension module)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping
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


Content = str | bytes
"""A file's content: text (written as UTF-8) or bytes."""
PURE_TAG = "py3-none-any"


def _record_line(path: str, content: Content) -> str:
    data = content.encode() if isinstance(content, str) else content
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def with_dist_info(
    files: Mapping[str, Content],
    name: str,
    version: str,
    *,
    console_scripts: dict[str, str],
    extra: dict[str, str],
) -> dict[str, Content]:
    """Return ``files`` plus a ``<name>-<version>.dist-info`` (``extra`` added to it) with RECORD.

    Keys are paths relative to site-packages (or the wheel root).
    """
    dist_info = f"{name}-{version}.dist-info"
    meta: dict[str, Content] = {
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
    out_dir: Path,
    name: str,
    version: str,
    files: Mapping[str, Content],
    console_scripts: dict[str, str],
    *,
    tag: str = PURE_TAG,
) -> Path:
    """Write a wheel of ``files`` with the compatibility ``tag``; return its path.

    Any tag but :data:`PURE_TAG` makes a platform wheel (``Root-Is-Purelib: false``).
    """
    purelib = "true" if tag == PURE_TAG else "false"
    wheel_meta = f"Wheel-Version: 1.0\nGenerator: envbundle-tests\nRoot-Is-Purelib: {purelib}\n"
    tree = with_dist_info(
        files,
        name,
        version,
        console_scripts=console_scripts,
        extra={"WHEEL": wheel_meta + f"Tag: {tag}\n"},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, content in tree.items():
            zf.writestr(path, content)
    return wheel
