"""Make conda-lock's vendored, unmodified conda 24.7.1 importable as ``conda``.

Development and test support only: the product never imports this module. It is
installed from a ``.pth`` file in the development virtualenv (see ``Makefile``) so
that subprocesses (the ``conda`` CLI wrapper, tests running conda in a child
process) see the same conda as the test process.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings

VENDORED = "conda_lock._vendor.conda"


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, real_name: str) -> None:
        self.real_name = real_name
        self.original_spec = None

    def create_module(self, spec):
        module = importlib.import_module(self.real_name)
        self.original_spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # importlib overwrote __spec__ with the alias spec; restoring it keeps conda's
        # function-level relative imports free of __package__ != __spec__.parent warnings.
        module.__spec__ = self.original_spec


class VendoredCondaFinder(importlib.abc.MetaPathFinder):
    """Resolve ``conda`` and ``conda.*`` to the modules vendored by conda-lock."""

    def find_spec(self, name, path=None, target=None):
        if name != "conda" and not name.startswith("conda."):
            return None
        real = VENDORED + name[len("conda") :]
        try:
            if importlib.util.find_spec(real) is None:
                return None
        except ModuleNotFoundError:
            return None
        return importlib.util.spec_from_loader(name, _AliasLoader(real), is_package=True)


def _real_conda_available() -> bool:
    return importlib.util.find_spec("conda") is not None


def install() -> None:
    """Insert the finder first on ``sys.meta_path`` unless a real conda is importable."""
    if any(isinstance(f, VendoredCondaFinder) for f in sys.meta_path):
        return
    if _real_conda_available():
        return
    if importlib.util.find_spec("conda_lock") is None:
        return
    warnings.filterwarnings("ignore", "path is deprecated", DeprecationWarning)
    _bare_parents()
    sys.meta_path.insert(0, VendoredCondaFinder())


def _bare_parents() -> None:
    """Register ``conda_lock`` and ``conda_lock._vendor`` without running their ``__init__``.

    conda-lock's own ``__init__`` imports pydantic, poetry, dulwich and more (about 0.3 s
    and 50 MB): a real conda installation has none of that, and timings and memory
    measured through this hook should be conda's, not conda-lock's.
    """
    if "conda_lock" in sys.modules:
        return
    spec = importlib.util.find_spec("conda_lock")
    if spec is None or not spec.submodule_search_locations:
        return
    parent = list(spec.submodule_search_locations)
    for name, locations in (("conda_lock", parent), ("conda_lock._vendor", None)):
        if locations is None:
            locations = [f"{path}/_vendor" for path in parent]
        bare = importlib.machinery.ModuleSpec(name, None, is_package=True)
        bare.submodule_search_locations = locations
        sys.modules[name] = importlib.util.module_from_spec(bare)
