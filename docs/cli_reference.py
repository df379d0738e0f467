"""The argparse parsers of ``conda bundle`` and ``conda unbundle``, for the CLI reference.

sphinx-argparse renders ``docs/cli.md`` from these functions, so the reference is always
the code's own options and help texts. Each parser is built exactly the way conda 24.7+
builds a plugin subcommand's parser (``conda.cli.conda_argparse.configure_parser_plugins``):
conda's ``ArgumentParser`` without help, the description set to the subcommand's summary,
the plugin's ``configure_parser`` applied, then conda's standard ``-h/--help``.
``tests/test_docs.py`` checks the result against the real ``conda <subcommand> --help``.
"""

from __future__ import annotations

import argparse
import contextlib

from conda.cli.conda_argparse import ArgumentParser
from conda.cli.helpers import add_parser_help

from conda_envbundle import plugin


def subcommands() -> dict:
    """The ``CondaSubcommand`` objects that the plugin registers, by name."""
    return {sub.name: sub for sub in plugin.conda_subcommands()}


def parser_for(name: str) -> ArgumentParser:
    """The parser of ``conda <name>``, as conda builds it."""
    sub = subcommands()[name]
    parser = ArgumentParser(prog=f"conda {name}", description=sub.summary, add_help=False)
    sub.configure_parser(parser)
    with contextlib.suppress(argparse.ArgumentError):  # the plugin defined its own -h
        add_parser_help(parser)
    return parser


def bundle_parser() -> ArgumentParser:
    """``conda bundle``."""
    return parser_for("bundle")


def unbundle_parser() -> ArgumentParser:
    """``conda unbundle``."""
    return parser_for("unbundle")


def settings_table() -> str:
    """The ``.condarc`` settings the plugin registers, as a Markdown table."""
    from conda_envbundle import settings

    rows = [
        "| setting | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, (default, _kind, description) in settings.SETTINGS.items():
        env = f"CONDA_PLUGINS_{name.upper()}"
        rows.append(f"| `plugins.{name}` | `{env}` | `{default}` | {description} |")
    return "\n".join(rows)


def exit_codes_table() -> str:
    """Exit statuses of the two commands, from the error classes, as a Markdown table."""
    import inspect

    from conda_envbundle import exceptions

    rows = [(0, "", "success"), (2, "", "the command line is wrong (reported by argparse)")]
    for name, cls in inspect.getmembers(exceptions, inspect.isclass):
        if issubclass(cls, exceptions.EnvBundleError) and cls is not exceptions.EnvBundleError:
            doc = " ".join((cls.__doc__ or "").split("\n\n")[0].split())
            rows.append((cls.return_code, f"`{name}`", doc))
    lines = ["| status | error | meaning |", "|---|---|---|"]
    lines += [f"| {code} | {name} | {doc} |" for code, name, doc in sorted(rows)]
    return "\n".join(lines)


def json_fields_table() -> str:
    """The keys of the --json results, from the API's result dataclasses."""
    import dataclasses

    from conda_envbundle import BundleResult, ExportResult, RollbackResult, UnbundleResult

    lines = ["| command | key | type |", "|---|---|---|"]
    for command, cls in (
        ("conda bundle", BundleResult),
        ("conda unbundle", UnbundleResult),
        ("conda unbundle --rollback", RollbackResult),
        ("conda unbundle --export-base", ExportResult),
    ):
        for field in dataclasses.fields(cls):
            lines.append(f"| {command} | `{field.name}` | `{field.type}` |")
    return "\n".join(lines)


GENERATED = {
    "settings-table": settings_table,
    "exit-codes-table": exit_codes_table,
    "json-fields-table": json_fields_table,
}


def fill_generated(text: str) -> str:
    """Replace each ``<!-- generated: NAME -->`` line of a page by the generated block."""
    for name, make in GENERATED.items():
        text = text.replace(f"<!-- generated: {name} -->", make())
    return text
