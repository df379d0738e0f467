"""Finish the development virtualenv: make conda importable and give it a ``conda`` command.

Run by ``make dev`` with the virtualenv's python. When a real conda is importable
nothing is changed; otherwise a ``.pth`` file installs the test-support import hook
that maps ``conda`` onto conda-lock's vendored conda 24.7.1.
"""

import importlib.util
import os
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    pth = site / "envbundle_dev_conda.pth"
    if importlib.util.find_spec("conda") is None or pth.exists():
        pth.write_text(
            f"{ROOT / 'tests' / 'support'}\nimport vendored_conda; vendored_conda.install()\n"
        )
    wrapper = Path(sys.prefix) / "bin" / "conda"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "from conda.cli.main import main\n"
        "\n"
        "# conda's CUDA probe starts this file again in a child process: do not run twice.\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(main())\n"
    )
    os.chmod(wrapper, 0o755)


if __name__ == "__main__":
    main()
