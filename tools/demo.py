"""``make demo``: build a small real environment, bundle it, unbundle it elsewhere, run it.

Everything happens under a fresh temporary directory with conda isolated from the
user's own configuration; the commands are the real ``conda bundle`` / ``conda unbundle``.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.channel import build_channel, default_cache_root  # noqa: E402
from tests.support.envs import CONDA, create_env, pip_install_tool  # noqa: E402
from tests.support.isolation import conda_env_vars  # noqa: E402


def step(cmd: list, env: dict[str, str]) -> None:
    """Show a command, then run it (failing the demo if it fails)."""
    print(f"\n$ {shlex.join(map(str, cmd))}", flush=True)
    subprocess.run(cmd, check=True, env=env)


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="envbundle-demo-"))
    env = conda_env_vars(base)
    print(f"Working in {shlex.quote(str(base))}")
    channel = build_channel(default_cache_root())
    source = base / "build-machine" / "envs" / "demo"
    print("Creating a real conda environment (python 3.12, a compiled library, scripts)...")
    create_env(source, channel, ["python", "foo", "foopy"], env)
    pip_install_tool(source, base / "work")
    bundle = base / "demo.tar.zst"
    step([CONDA, "bundle", "-p", source, "-o", bundle], env)
    target = base / "target machine" / "opt" / "démo env"
    step([CONDA, "unbundle", bundle, "-p", target], env)
    clean = ["env", "-i", "PATH=/usr/bin:/bin"]
    step([*clean, target / "bin" / "foo"], env)
    step([*clean, target / "bin" / "python3.12", "-c", "import sys; print(sys.prefix)"], env)
    step([*clean, target / "bin" / "foopy"], env)
    step([*clean, target / "bin" / "bartool"], env)
    print(f"\nThe environment runs at {shlex.quote(str(target))} with no activation. Demo done.")


if __name__ == "__main__":
    main()
