"""What loading the plugin costs every conda command, and what a missing codec library does.

Each check runs a fresh interpreter (the development virtualenv's python, whose ``.pth``
installs the vendored-conda hook), so nothing imported by the test session counts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .support.cli import CondaProcess, assert_clean_error

# The pipeline and the codec libraries: none may load before a subcommand runs.
HEAVY = (
    "zstandard",
    "isal",
    "conda_envbundle.api",
    "conda_envbundle.archive",
    "conda_envbundle.bundling",
    "conda_envbundle.unbundling",
    "conda_envbundle.relocation",
    "conda_envbundle.manifest",
)

PROBES = {
    "import": "import conda_envbundle.plugin",
    "plugin manager": (
        "from conda.plugins.manager import get_plugin_manager\n"
        "found = set(get_plugin_manager().get_subcommands())\n"
        "assert {'bundle', 'unbundle'} <= found, found"
    ),
}


@pytest.mark.parametrize("probe", PROBES)
def test_loading_the_plugin_loads_neither_pipeline_nor_codecs(probe, conda_isolation):
    code = f"{PROBES[probe]}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = _python(code, conda_isolation.env)
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    assert "conda_envbundle.plugin" in loaded  # the probe did load it
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    ours = {name.split(".")[1] for name in loaded if name.startswith("conda_envbundle.")}
    # the argument definitions and what they need, nothing more
    assert ours <= {
        "plugin",
        "cli",
        "cli_unbundle",
        "commands",
        "commands_unbundle",
        "formats",
        "settings",
        "exceptions",
    }, sorted(ours)


def test_public_api_loads_on_first_use(conda_isolation):
    code = (
        "import sys, conda_envbundle\n"
        "assert 'conda_envbundle.api' not in sys.modules\n"
        "from conda_envbundle import bundle, BundleResult\n"
        "import conda_envbundle.api as api\n"
        "assert bundle is api.bundle and BundleResult is api.BundleResult\n"
        "print(conda_envbundle.__version__)"
    )
    assert _python(code, conda_isolation.env).stdout.strip()


@pytest.fixture
def without_isal(conda_isolation, tmp_path) -> CondaProcess:
    """conda, run where ``import isal`` fails for real: a broken ``isal`` comes first on
    the path, as a half-installed or incompatible build would."""
    shadow = tmp_path / "shadow" / "isal"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ImportError('libisal.so.2: cannot open shared object file')\n"
    )
    return CondaProcess({**conda_isolation.env, "PYTHONPATH": str(shadow.parent)})


def test_missing_isal_is_a_clear_error_only_where_needed(source_env, without_isal, tmp_path):
    gz = tmp_path / "env.tar.gz"
    proc = without_isal("bundle", "-p", source_env, "-o", gz)
    assert_clean_error(proc, "--format tar.gz needs the Python package isal", "python-isal")
    assert proc.returncode == 1
    assert not gz.exists()
    zst = tmp_path / "env.tar.zst"
    proc = without_isal("bundle", "-p", source_env, "-o", zst)
    assert proc.returncode == 0, proc.stderr
    assert zst.stat().st_size > 0


def test_reading_a_gzip_bundle_without_isal_says_what_to_install(without_isal, tmp_path):
    gz = tmp_path / "env.tar.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + bytes(508))
    proc = without_isal("unbundle", gz, "--info")
    assert_clean_error(proc, "Reading a tar.gz bundle needs the Python package isal")
    assert proc.returncode == 1


def test_without_isal_the_subcommands_stay(without_isal):
    for command in ("bundle", "unbundle"):
        proc = without_isal(command, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "Error while loading conda entry point" not in proc.stderr
        assert "--force" in proc.stdout


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter of the development virtualenv; it must succeed."""
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc
