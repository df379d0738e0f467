"""Relocation of bytes with conda's own rewriting code: text, binary strings, shebangs."""

from __future__ import annotations

import pytest

from conda_envbundle.exceptions import RelocationError
from conda_envbundle.manifest import BINARY, TEXT, PrefixRule
from conda_envbundle.relocation.prefix import (
    fix_shebang,
    relocated_binary,
    relocated_bytes,
    relocated_text,
)

OLD = "/opt/placeholder_" + "p" * 40
NEW = "/srv/env"


def test_text_gets_the_new_prefix_everywhere():
    data = f"prefix={OLD}\nlib={OLD}/lib\n".encode()
    assert relocated_text(data, OLD, NEW, "linux-64") == f"prefix={NEW}\nlib={NEW}/lib\n".encode()


def test_binary_strings_are_rewritten_in_place_and_padded():
    data = b"\x7fELF\0" + f"{OLD}/lib\0".encode() + b"tail\0"
    new = relocated_binary(data, OLD, NEW, "linux-64", "bin/tool")
    assert len(new) == len(data)
    assert new.startswith(b"\x7fELF\0" + f"{NEW}/lib\0".encode())
    assert new.endswith(b"\0tail\0")
    assert OLD.encode() not in new


def test_binary_refuses_a_prefix_longer_than_the_placeholder():
    data = f"{OLD}\0".encode()
    with pytest.raises(RelocationError, match="longer than the"):
        relocated_binary(data, OLD, "/" + "x" * len(OLD), "linux-64", "bin/tool")


def test_the_rule_chooses_the_mode():
    data = f"{OLD}/lib\0".encode()
    binary = relocated_bytes(data, PrefixRule(OLD, BINARY), NEW, "linux-64", "f")
    text = relocated_bytes(data, PrefixRule(OLD, TEXT), NEW, "linux-64", "f")
    assert len(binary) == len(data) and len(text) < len(data)
    assert text == f"{NEW}/lib\0".encode()


def test_a_python_shebang_too_long_for_the_kernel_becomes_a_trampoline():
    prefix = "/srv/" + "long" * 40
    script = f"#!{prefix}/bin/python3.12\nimport sys\n".encode()
    fixed = fix_shebang(script, prefix)
    assert fixed.startswith(b"#!/bin/sh\n")
    assert f"{prefix}/bin/python3.12".encode() in fixed
    assert fixed.endswith(b"\nimport sys\n")


def test_relocating_into_a_path_with_a_space_gives_a_trampoline():
    script = f"#!{OLD}/bin/python\nprint()\n".encode()
    fixed = relocated_text(script, OLD, "/srv/my env", "linux-64")
    assert fixed.startswith(b"#!/bin/sh\n") and b'"/srv/my env/bin/python"' in fixed
    assert fixed.endswith(b"\nprint()\n")


def test_scripts_outside_the_prefix_and_plain_files_are_left_alone():
    assert fix_shebang(b"#!/usr/bin/python3\nx\n", NEW) == b"#!/usr/bin/python3\nx\n"
    assert fix_shebang(b"no shebang\n", NEW) == b"no shebang\n"
