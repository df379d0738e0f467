"""The documentation's command reference is the real CLI, and its examples parse."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from .support.envs import CONDA

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COLUMNS = "100"
_DIRECTIVE = re.compile(r"```\{argparse\}\n(.*?)```", re.S)
_OPTION_LINE = re.compile(r"^  (-\S.*?)(?:\s{2,}|$)")


def _load_reference():
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference():
    return _load_reference()


def _subcommand_names() -> list[str]:
    from conda_envbundle import plugin

    return sorted(sub.name for sub in plugin.conda_subcommands())


def _real_help(conda_isolation, name: str) -> str:
    result = subprocess.run(
        [str(CONDA), name, "--help"],
        env={**conda_isolation.env, "COLUMNS": COLUMNS},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _help_options(text: str) -> set[str]:
    """Option strings from the option lines of argparse help (``-o FILE, --output FILE``)."""
    options = set()
    for line in text.splitlines():
        match = _OPTION_LINE.match(line)
        if match:
            options.update(part.split()[0] for part in match[1].split(", "))
    return options


def _help_positionals(text: str) -> set[str]:
    lines = text.split("positional arguments:\n", 1)[1:] or [""]
    names = set()
    for line in lines[0].splitlines():
        if not line.strip():
            break
        if re.match(r"^  \S", line):
            names.add(line.split()[0])
    return names


def _parser_options(parser) -> set[str]:
    """Option strings the help shows (conda hides ``--debug``/``--trace`` from it)."""
    return {
        option
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
    }


def _parser_positionals(parser) -> set[str]:
    return {
        action.metavar or action.dest
        for action in parser._actions
        if not action.option_strings and action.help != argparse.SUPPRESS
    }


def test_reference_page_renders_every_subcommand(reference):
    directives = [
        dict(re.findall(r"^:(\w+): *(.+)$", body, re.M))
        for body in _DIRECTIVE.findall((DOCS / "cli.md").read_text(encoding="utf-8"))
    ]
    assert directives, "docs/cli.md has no argparse directive"
    rendered = {}
    for directive in directives:
        assert directive["module"] == "cli_reference"
        parser = getattr(reference, directive["func"])()
        assert parser.prog == directive["prog"]
        rendered[parser.prog] = parser
    assert sorted(rendered) == [f"conda {name}" for name in _subcommand_names()]


@pytest.mark.parametrize("name", _subcommand_names())
def test_reference_parser_is_the_cli_parser(name, reference, conda_isolation, monkeypatch):
    real = _real_help(conda_isolation, name)
    parser = reference.parser_for(name)
    options = _help_options(real)
    assert {"-h", "--help", "-n", "--name", "-p", "--prefix", "--json", "--force"} <= options
    assert _parser_options(parser) == options
    assert _parser_positionals(parser) == _help_positionals(real)
    monkeypatch.setenv("COLUMNS", COLUMNS)
    assert parser.format_help() == real


def _doc_commands() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(page, command)`` of every ``conda bundle``/``conda unbundle`` in the docs: whole
    commands from code blocks, and fragments from inline code in the text."""
    blocks, spans = [], []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:bash|console|dockerfile)\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"^(\$ |RUN )", "", line.strip())
                blocks.extend((page.name, cmd) for cmd in _commands_in(line))
        for span in re.findall(r"`(conda (?:un)?bundle\b[^`]*)`", text):
            spans.extend((page.name, cmd) for cmd in _commands_in(" ".join(span.split())))
    return blocks, spans


def _commands_in(line: str) -> list[str]:
    """The ``conda bundle ...``/``conda unbundle ...`` commands of one shell line."""
    words = shlex.split(line, comments=True)
    commands, current = [], None
    for index, word in enumerate([*words, "&&"]):
        if word in ("&&", "||", "|", ";") or word[:1] in ("<", ">") or word.startswith("2>"):
            if current:
                commands.append(shlex.join(current))
            current = None
        elif current is not None:
            current.append(word)
        elif word in ("bundle", "unbundle") and index > 0 and words[index - 1] == "conda":
            current = ["conda", word]
    return commands


def test_documented_commands_parse_with_the_real_options(reference):
    blocks, spans = _doc_commands()
    assert len(blocks) >= 20 and len(spans) >= 20, "the docs should show the commands in use"
    failures = []
    for page, command in blocks:
        name, *args = shlex.split(command)[1:]
        try:
            reference.parser_for(name).parse_args(args)
        except SystemExit as exc:  # argparse's way to reject, or to finish --help
            if exc.code != 0:
                failures.append(f"{page}: {command}")
    for page, fragment in spans:  # text may name options alone: each must exist
        name, *args = shlex.split(fragment)[1:]
        known = _parser_options(reference.parser_for(name))
        unknown = [a for a in args if a.startswith("-") and a != "-" and a not in known]
        if unknown:
            failures.append(f"{page}: {fragment} ({', '.join(unknown)})")
    assert not failures, "documented commands the CLI rejects:\n" + "\n".join(failures)
