"""The conda-forge recipe (recipe/recipe.yaml) agrees with pyproject.toml and the code."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from ruamel.yaml import YAML

try:
    import tomllib
except ImportError:  # Python 3.10: requirements-dev.txt installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipe" / "recipe.yaml"
PYPROJECT = ROOT / "pyproject.toml"
PACKAGE = "conda_envbundle"

# PyPI name -> conda-forge name, where they differ.
CONDA_FORGE_NAMES = {"isal": "python-isal"}
# Variables that rattler-build sets at build time, not from the recipe's context.
BUILD_VARIABLES = {"PYTHON"}
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_COMPILED = (".c", ".cc", ".cpp", ".h", ".pyx", ".pxd", ".so", ".pyd", ".dylib", ".dll")


def _render(value, context: dict[str, str]):
    """The recipe value with ``${{ name }}`` and ``${{ name[i] }}`` filled from the context."""
    if isinstance(value, dict):
        return {key: _render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, context) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        expression = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", match[1])
        assert expression, f"unsupported expression in the recipe: {match[0]}"
        name, index = expression.groups()
        if name in BUILD_VARIABLES:
            return match[0]
        assert name in context, f"{match[0]} is not defined in the recipe's context"
        text = str(context[name])
        return text[int(index)] if index is not None else text

    return _EXPRESSION.sub(substitute, value)


@pytest.fixture(scope="module")
def raw_recipe() -> dict:
    return YAML(typ="safe").load(RECIPE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def recipe(raw_recipe) -> dict:
    return _render(raw_recipe, raw_recipe["context"])


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(PYPROJECT, "rb") as fh:
        return tomllib.load(fh)


def _conda_spec(spec: str) -> tuple[str, SpecifierSet]:
    """``"zstandard >=0.19"`` -> ``("zstandard", SpecifierSet(">=0.19"))``."""
    name, _, constraint = spec.strip().partition(" ")
    constraint = constraint.replace(" ", "")
    assert "|" not in constraint, f"{spec!r}: an OR constraint has no pip equivalent"
    # conda's bare "3.10.*" is pip's "==3.10.*"
    parts = [f"=={part}" if part[:1].isdigit() else part for part in constraint.split(",")]
    return name, SpecifierSet(",".join(p for p in parts if p))


def _lower_bound(specifiers: SpecifierSet) -> str:
    (bound,) = [s.version for s in specifiers if s.operator == ">="]
    return bound


def test_recipe_is_v1_format(raw_recipe):
    assert raw_recipe["schema_version"] == 1
    assert {"context", "package", "source", "build", "requirements", "tests", "about"} <= set(
        raw_recipe
    )
    assert raw_recipe["extra"]["recipe-maintainers"], "a feedstock needs maintainers"


def test_package_name_and_version_come_from_pyproject(recipe, raw_recipe, pyproject):
    project = pyproject["project"]
    assert recipe["package"]["name"] == project["name"]
    assert raw_recipe["package"]["version"] == "${{ version }}"
    assert raw_recipe["context"]["version"] == project["version"]
    assert recipe["package"]["version"] == project["version"]


def test_the_package_reports_the_pyproject_version(pyproject):
    import conda_envbundle

    assert conda_envbundle.__version__ == pyproject["project"]["version"]


def test_source_is_the_pypi_sdist_of_this_version(recipe, raw_recipe, pyproject):
    name = pyproject["project"]["name"]
    version = pyproject["project"]["version"]
    sdist = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}.tar.gz"  # PEP 625
    assert "${{ version }}" in raw_recipe["source"]["url"]
    assert recipe["source"]["url"] == f"https://pypi.org/packages/source/{name[0]}/{name}/{sdist}"
    assert re.fullmatch(r"[0-9a-f]{64}", recipe["source"]["sha256"])


def test_python_min_is_requires_python(recipe, pyproject):
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    assert recipe["context"]["python_min"] == _lower_bound(requires)
    python_min = recipe["context"]["python_min"]
    assert f"python {python_min}.*" in recipe["requirements"]["host"]
    (test,) = [t["python"] for t in recipe["tests"] if "python" in t]
    assert test["python_version"] == f"{python_min}.*"


def test_run_requirements_are_the_pyproject_dependencies(recipe, pyproject):
    expected = {}
    for line in pyproject["project"]["dependencies"]:
        requirement = Requirement(line)
        assert not requirement.marker and not requirement.extras, f"{line}: not expressible"
        name = CONDA_FORGE_NAMES.get(requirement.name.lower(), requirement.name.lower())
        expected[name] = requirement.specifier
    expected["python"] = SpecifierSet(pyproject["project"]["requires-python"])
    run = dict(_conda_spec(spec) for spec in recipe["requirements"]["run"])
    assert len(run) == len(recipe["requirements"]["run"]), "a run requirement is listed twice"
    assert run == expected


def test_host_requirements_build_with_the_declared_backend(recipe, pyproject):
    host = dict(_conda_spec(spec) for spec in recipe["requirements"]["host"])
    assert "pip" in host
    for line in pyproject["build-system"]["requires"]:
        requirement = Requirement(line)
        assert requirement.name in host, f"{requirement.name} missing from host"
        assert host[requirement.name] == requirement.specifier
    assert pyproject["build-system"]["build-backend"] == "setuptools.build_meta"
    script = recipe["build"]["script"]
    assert script.split()[:5] == ["${{", "PYTHON", "}}", "-m", "pip"]
    assert {"install", ".", "--no-deps", "--no-build-isolation"} <= set(script.split())
    assert recipe["build"]["number"] == 0


def test_entry_points_are_registered_and_tested(recipe, pyproject):
    conda_group = pyproject["project"]["entry-points"]["conda"]
    assert conda_group == {"conda-envbundle": f"{PACKAGE}.plugin"}
    plugin = importlib.import_module(conda_group["conda-envbundle"])
    subcommands = {sub.name for sub in plugin.conda_subcommands()}
    assert subcommands == {"bundle", "unbundle"}
    commands = [
        line.strip()
        for test in recipe["tests"]
        for line in test.get("script", [])
        if isinstance(line, str)
    ]
    for name in subcommands:
        assert f"conda {name} --help" in commands, f"the recipe does not test conda {name}"
    # console scripts would need build.python.entry_points in a noarch recipe
    scripts = {
        **pyproject["project"].get("scripts", {}),
        **pyproject["project"].get("gui-scripts", {}),
    }
    declared = recipe["build"].get("python", {}).get("entry_points", [])
    assert sorted(f"{k} = {v}" for k, v in scripts.items()) == sorted(declared)


def test_import_test_covers_the_package(recipe):
    (test,) = [t["python"] for t in recipe["tests"] if "python" in t]
    assert PACKAGE in test["imports"]
    assert isinstance(test["pip_check"], bool)


def test_noarch_python_holds_only_python(recipe, pyproject):
    assert recipe["build"]["noarch"] == "python"
    compiled = [p for p in (ROOT / PACKAGE).rglob("*") if p.suffix in _COMPILED]
    assert not compiled, f"compiled sources cannot go into a noarch package: {compiled}"
    setuptools_config = pyproject.get("tool", {}).get("setuptools", {})
    assert "ext-modules" not in setuptools_config


def _shipped_sources() -> list[Path]:
    return [
        path
        for path in (ROOT / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]


def test_setuptools_config_includes_every_module_and_data_file(pyproject):
    from setuptools import find_packages

    config = pyproject["tool"]["setuptools"]
    find = config["packages"]["find"]
    packages = set(
        find_packages(
            where=str(ROOT / find.get("where", ["."])[0]),
            include=find.get("include", ["*"]),
            exclude=find.get("exclude", []),
        )
    )
    assert PACKAGE in packages
    assert all(p == PACKAGE or p.startswith(PACKAGE + ".") for p in packages), packages
    package_data = config.get("package-data", {})
    missing = []
    for path in _shipped_sources():
        rel = path.relative_to(ROOT)
        if path.suffix == ".py" and ".".join(rel.parent.parts) in packages:
            continue  # a module of a package
        # anything else is data: a package-data glob of the package holding it must match
        owner = next((parent for parent in rel.parents if ".".join(parent.parts) in packages), None)
        patterns = []
        if owner is not None:
            patterns = package_data.get(".".join(owner.parts), []) + package_data.get("*", [])
        if not any(path in set((ROOT / owner).glob(pattern)) for pattern in patterns):
            missing.append(str(rel))
    assert not missing, f"not packaged by the setuptools configuration: {missing}"


def test_license_is_declared_consistently(recipe, pyproject):
    project = pyproject["project"]
    assert project["license"] == recipe["about"]["license"] == "BSD-3-Clause"
    assert recipe["about"]["license_file"] in project["license-files"]
    text = (ROOT / recipe["about"]["license_file"]).read_text(encoding="utf-8")
    assert "BSD 3-Clause License" in text
    assert "Copyright (c) 2026, conda-envbundle developers" in text
    assert "Neither the name of the copyright holder" in text
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    assert recipe["about"]["summary"] == project["description"]
    assert recipe["about"]["homepage"].startswith("https://")


def test_built_wheel_ships_every_module_license_and_metadata(pyproject, tmp_path):
    import shutil

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / PACKAGE, source / PACKAGE, ignore=shutil.ignore_patterns("*.pyc"))
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"from setuptools import build_meta; build_meta.build_wheel({str(out)!r})",
        ],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    for path in _shipped_sources():
        assert path.relative_to(ROOT).as_posix() in names
    assert f"{dist_info}/licenses/LICENSE" in names
    assert metadata["License-Expression"] == pyproject["project"]["license"]
    assert sorted(metadata.get_all("Requires-Dist")) == sorted(
        str(Requirement(d)) for d in pyproject["project"]["dependencies"]
    )
    assert "[conda]\nconda-envbundle = conda_envbundle.plugin" in entry_points
