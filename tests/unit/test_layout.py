"""The package's layout keeps its promises: imports point one way, modules stay readable."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "conda_envbundle"
# Above both floors: they may import anything.
TOP = {"api", "commands", "commands_unbundle", "plugin", "reading", "updates", "__init__"}
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "templates" in path.parts:
            continue
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """The package's own modules that ``name`` imports, as dotted names in the package."""
    here = name.split(".")[:-1]  # the package a relative import starts from
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            module = [*base, *(node.module.split(".") if node.module else [])]
            for alias in node.names:
                found.add(".".join([*module, alias.name]))
                found.add(".".join(module))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("conda_envbundle"):
            found.add(node.module.removeprefix("conda_envbundle").lstrip("."))
    return {f for f in found if f}


def _floor(name: str) -> str:
    head = name.split(".")[0]
    if head in ("bundling", "unbundling"):
        return head
    return "top" if head in TOP else "shared"


MODULES = _modules()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_one_way(name):
    floor = _floor(name)
    allowed = {
        "bundling": {"bundling", "shared"},
        "unbundling": {"unbundling", "shared"},
        "shared": {"shared"},
        "top": {"top", "bundling", "unbundling", "shared"},
    }[floor]
    wrong = sorted(
        target
        for target in _imports(name, MODULES[name])
        if target.split(".")[0] in {"bundling", "unbundling", *TOP}
        and _floor(target) not in allowed
    )
    assert not wrong, f"{name} ({floor}) imports {wrong}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_too_long_to_read(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by idea"
