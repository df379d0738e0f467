"""``make demo``: build a small real environment, bundle it, unbundle it elsewhere, run it.

Everything happens under a fresh temporary directory with conda isolated from the
user's own configuration; the commands are the real ``conda bundle`` / ``conda unbundle``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.channel import build_channel, default_cache_root  # noqa: E402
from tests.support.envs import CONDA, create_env, pip_install_tool  # noqa: E402
from tests.support.isolation import conda_env_vars  # noqa: E402


def step(title: str, cmd: list) -> None:
    print(f"\n$ {' '.join(map(str, cmd))}", flush=True)
    subprocess.run(cmd, check=True, env=ENV)


def main() -> None:
    global ENV
    base = Path(tempfile.mkdtemp(prefix="envbundle-demo-"))
    ENV = conda_env_vars(base)
    print(f"Working in {base}")
    channel = build_channel(default_cache_root())
    source = base / "build-machine" / "envs" / "demo"
    print("Creating a real conda environment (python 3.12, a compiled library, scripts)...")
    create_env(source, channel, ["python", "foo", "foopy"], ENV)
    pip_install_tool(source, base / "work")
    bundle = base / "demo.tar.zst"
    step("bundle", [CONDA, "bundle", "-p", source, "-o", bundle])
    target = base / "target machine" / "opt" / "démo env"
    step("unbundle", [CONDA, "unbundle", bundle, "-p", target])
    clean = ["env", "-i", "PATH=/usr/bin:/bin"]
    step("run", [*clean, target / "bin" / "foo"])
    step("run", [*clean, target / "bin" / "python3.12", "-c", "import sys; print(sys.prefix)"])
    step("run", [*clean, target / "bin" / "foopy"])
    step("run", [*clean, target / "bin" / "bartool"])
    print(f"\nThe environment runs at {target!s} with no activation. Demo done.")


ENV: dict[str, str] = {}

if __name__ == "__main__":
    main()
