"""The shipped ``bin/.conda-unpack.py``: the shared rules spliced in, conda's code copied.

The script runs with an environment's python where neither conda nor this package can be
imported. bundling/standalone.py splices relocation/rules.py into it; its own copies of
conda's prefix replacement must give the bytes conda's code gives (the end-to-end proof
is tests/test_unpack_parity.py).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from functools import partial

import pytest
from conda.common.path import get_python_noarch_target_path
from conda.core import portability
from conda.models.enums import FileMode

from conda_envbundle.bundling.standalone import unpack_script
from conda_envbundle.exceptions import RelocationError
from conda_envbundle.relocation import rules, rules_source
from conda_envbundle.relocation.prefix import relocated_binary, relocated_text

OLD = "/opt/placeholder_" + "p" * 80
NEW_PREFIXES = [
    "/srv/env",
    "/srv/my env",
    "/srv/ünï côde/env",
    "/srv/" + "l" * 90,
    "/srv/" + "é" * 60,  # 125 characters, 185 bytes: conda counts characters
]
NEW_IDS = ["short", "space", "non-ascii", "long", "wide"]
TEXTS = [
    b"prefix=@\nlib=@/lib\n",
    b"#!@/bin/python3.12\nimport sys\n",
    b"#!@/bin/python3.12 -E\nimport sys\n",
    b"#!@/bin/perl -w\nprint 1;\n",
    b"#!@/bin/bash\necho @\n",
    b"#! @/bin/python\nno space after #!\n",
    b"#!/usr/bin/env @/bin/python\nx\n",
    b"#!/bin/sh\n'''exec' \"@/bin/python3.12\" \"$0\" \"$@\" #'''\nimport sys\n",
    b"#!/bin/sh\n'''exec' @/bin/python3.12 \"$0\" \"$@\"\n' '''\nimport sys\n",
    b"#!@/bin/python",
    "utf-16 says @ too\n".encode("utf-16-le"),
]
TEXT_IDS = [
    "plain",
    "python",
    "python-options",
    "perl-options",
    "bash",
    "space-after-#!",
    "env",
    "conda-trampoline",
    "pip-trampoline",
    "no-newline",
    "utf-16",
]


@pytest.fixture(scope="module")
def unpack() -> types.ModuleType:
    """The script a bundle ships, loaded as a module (its ``main`` does not run)."""
    module = types.ModuleType("conda_unpack")
    exec(compile(unpack_script(), "bin/.conda-unpack.py", "exec"), module.__dict__)
    return module


def _with(template: bytes, prefix: str) -> bytes:
    encoded = template.replace(b"@", prefix.encode())
    return encoded.replace("@".encode("utf-16-le"), prefix.encode("utf-16-le"))


def test_the_rules_take_the_place_of_their_import():
    script = unpack_script()
    assert "conda_envbundle" not in script
    assert rules_source() in script
    assert script.count("def refresh_record(") == 1


def test_the_script_runs_with_nothing_but_the_standard_library(tmp_path):
    path = tmp_path / "conda-unpack.py"
    path.write_text(unpack_script())
    # -I -S: no site-packages, no working directory, no environment variables
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-B", str(path), "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "conda-unpack" in proc.stdout


def test_the_rules_stay_python_3_6_code():
    tree = ast.parse(rules_source(), feature_version=(3, 6))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module != "__future__", "no future imports: 3.6 lacks annotations"
            assert node.level == 0 and node.module.split(".")[0] in sys.stdlib_module_names
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in sys.stdlib_module_names for a in node.names)
        if isinstance(node, ast.arg | ast.AnnAssign):
            assert node.annotation is None or isinstance(node.annotation, ast.Constant), (
                f"line {node.lineno}: annotations must be strings (python 3.6 evaluates them)"
            )
        if isinstance(node, ast.FunctionDef) and node.returns is not None:
            assert isinstance(node.returns, ast.Constant), f"line {node.lineno}"


def test_the_copied_constants_are_condas(unpack):
    assert unpack.ENCODINGS == portability.POPULAR_ENCODINGS
    assert unpack.SHEBANG_REGEX == portability.SHEBANG_REGEX
    assert unpack.MAX_SHEBANG_LENGTH == portability.MAX_SHEBANG_LENGTH


@pytest.mark.parametrize("new", NEW_PREFIXES, ids=NEW_IDS)
def test_entry_point_shebangs_are_condas(unpack, new):
    for executable in (f"{new}/bin/python3.12", f"{new}/bin/{'x' * 130}"):
        expected = portability.generate_shebang_for_entry_point(executable)
        assert unpack.entry_point_shebang(executable) == expected


@pytest.mark.parametrize("new", NEW_PREFIXES, ids=NEW_IDS)
@pytest.mark.parametrize("template", TEXTS, ids=TEXT_IDS)
def test_text_relocation_is_condas(unpack, template, new):
    data = _with(template, OLD)
    rule = {"placeholder": OLD, "mode": "text"}
    assert unpack.relocated(data, rule, [OLD], new) == relocated_text(data, OLD, new, "linux-64")


@pytest.mark.parametrize("template", TEXTS, ids=TEXT_IDS)
def test_long_shebangs_are_condas(unpack, template):
    data = _with(template, "/srv/" + "l" * 130)
    expected = partial(portability.replace_long_shebang, FileMode.text)(data)
    assert unpack.long_shebang(data) == expected


@pytest.mark.parametrize("new", NEW_PREFIXES[:4], ids=NEW_IDS[:4])
def test_binary_relocation_is_condas(unpack, new):
    data = (
        b"\x7fELF\0"
        + f"{OLD}/lib\0".encode()
        + f"rpath={OLD}/lib:{OLD}/lib64\0".encode()
        + "wide ".encode("utf-16-le")
        + f"{OLD}/share\0".encode("utf-16-le")
        + b"tail\0"
    )
    rule = {"placeholder": OLD, "mode": "binary"}
    expected = relocated_binary(data, OLD, new, "linux-64", "bin/tool")
    assert unpack.relocated(data, rule, [OLD], new) == expected
    assert len(expected) == len(data)


def test_a_binary_string_too_short_is_refused_by_both(unpack):
    new = "/srv/" + "n" * len(OLD)
    data = f"{OLD}\0".encode()
    with pytest.raises(RelocationError):
        relocated_binary(data, OLD, new, "linux-64", "bin/tool")
    with pytest.raises(unpack.UnpackError):
        unpack.relocated(data, {"placeholder": OLD, "mode": "binary"}, [OLD], new)


@pytest.mark.parametrize(
    "path",
    [
        "site-packages/foopy/__init__.py",
        "python-scripts/foopy",
        "bin/other",
        "lib/site-packages/x",
        "site-packages-not/x",
    ],
)
def test_noarch_paths_are_placed_as_conda_places_them(path):
    site_packages = "lib/python3.12/site-packages"
    expected = get_python_noarch_target_path(path, site_packages)
    assert rules.installed_path(path, True, site_packages) == expected
    assert rules.installed_path(path, False, site_packages) == path
