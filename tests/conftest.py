"""Shared pytest fixtures."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from .support.channel import build_channel, default_cache_root
from .support.cli import CondaProcess, conda_env, conda_process
from .support.envs import (
    SOURCE_SPECS,
    MakeEnv,
    add_unmanaged_binary,
    create_env,
    pip_install_tool,
    set_config_var,
)
from .support.isolation import Isolation, conda_env_vars

try:  # conda >= 24.9
    from conda.testing.fixtures import conda_cli
except ImportError:
    from conda.testing import conda_cli

__all__ = ["conda_cli", "conda_env", "conda_process"]

SOURCE_PREFIX_LENGTH = 230

# --------------------------------------------------------------------------------------------
# Test environments: real packages, a local channel, real envs made by `conda create`.
# See support/ and /work/shared/reference/test-environments.md.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def conda_isolation(tmp_path_factory: pytest.TempPathFactory) -> Isolation:
    """A session directory for conda's home, caches and package cache, and its env vars.

    Pass ``conda_isolation.env`` to every subprocess that runs conda.
    """
    base = tmp_path_factory.mktemp("conda")
    return Isolation(base, conda_env_vars(base))


@pytest.fixture(scope="session")
def channel() -> Path:
    """The local channel (``linux-64`` + ``noarch``), built once and cached across runs."""
    return build_channel(default_cache_root())


@pytest.fixture(scope="session")
def source_env(
    tmp_path_factory: pytest.TempPathFactory, channel: Path, conda_isolation: Isolation
) -> Path:
    """One env per session with :data:`SOURCE_SPECS`, ``bartool`` and ``barext`` (pip),
    ``unmanaged-tool`` and a ``conda env config vars`` variable (:data:`CONFIG_VAR`).

    Read-only: its files are hardlinked with the session package cache. Use ``make_env`` to
    get an env a test may change.
    """
    # Long, so that the unmanaged binary (limited to its source path's length) still
    # fits the 200-character targets of the round-trip tests.
    base = tmp_path_factory.mktemp("source")
    prefix = base / ("source-env-" + "s" * (SOURCE_PREFIX_LENGTH - len(str(base)) - 12))
    create_env(prefix, channel, SOURCE_SPECS, conda_isolation.env)
    set_config_var(prefix, conda_isolation.env)
    pip_install_tool(prefix, tmp_path_factory.mktemp("wheels"))
    add_unmanaged_binary(prefix)
    return prefix


@pytest.fixture
def make_env(tmp_path: Path, channel: Path, conda_isolation: Isolation) -> MakeEnv:
    """Factory creating fresh envs under ``tmp_path``.

    ``make_env(specs=None, *, pip_tool=True, unmanaged_binary=True, pkgs_dir=None)``:
    ``specs`` defaults to :data:`SOURCE_SPECS` (``pip_tool``, the pip-installed ``bartool``
    and ``barext``, needs python). Files are
    hardlinked with the package cache: a test that modifies files in place, or removes the
    cache, passes its own ``pkgs_dir``.
    """
    counter = itertools.count()

    def make(
        specs: list[str] | None = None,
        *,
        pip_tool: bool = True,
        unmanaged_binary: bool = True,
        pkgs_dir: Path | None = None,
    ) -> Path:
        prefix = tmp_path / f"env{next(counter)}"
        env = dict(conda_isolation.env)
        if pkgs_dir is not None:
            env["CONDA_PKGS_DIRS"] = str(pkgs_dir)
        create_env(prefix, channel, SOURCE_SPECS if specs is None else specs, env)
        if pip_tool:
            pip_install_tool(prefix, tmp_path / "wheels")
        if unmanaged_binary:
            add_unmanaged_binary(prefix)
        return prefix

    return make


# --------------------------------------------------------------------------------------------
# Bundles made once per session by the real `conda bundle` command.
# --------------------------------------------------------------------------------------------


def _bundle(prefix: Path, out: Path, isolation: Isolation) -> Path:
    proc = CondaProcess(isolation.env)("bundle", "-p", prefix, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="session")
def source_bundle(source_env: Path, conda_isolation: Isolation, tmp_path_factory) -> Path:
    """``conda bundle`` of :func:`source_env` (python, compiled code, pip tool, ...)."""
    return _bundle(
        source_env, tmp_path_factory.mktemp("bundles") / "source.tar.zst", conda_isolation
    )


@pytest.fixture(scope="session")
def source_bundle_small(channel: Path, conda_isolation: Isolation, tmp_path_factory) -> Path:
    """``conda bundle`` of a small env without python (``foo``, ``foo-data``): fast to unpack."""
    prefix = tmp_path_factory.mktemp("small") / "env"
    create_env(prefix, channel, ["foo", "foo-data"], conda_isolation.env)
    return _bundle(prefix, tmp_path_factory.mktemp("bundles") / "small.tar.zst", conda_isolation)


# --------------------------------------------------------------------------------------------
# Safety tests (issue 4): the small bundle as data, for crafting hostile and damaged copies.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def small_bundle_data(source_bundle_small: Path):
    """:func:`source_bundle_small` read into a :class:`~.support.crafted.Bundle` (copy it)."""
    from .support.crafted import read_bundle

    return read_bundle(source_bundle_small)
