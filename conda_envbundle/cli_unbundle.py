"""argparse configuration of ``conda unbundle`` (loaded with the plugin on every conda command:
conda builds every plugin's parser)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conda.cli.helpers import add_output_and_prompt_options, add_parser_prefix

from .formats import SBOM_SUFFIXES

if TYPE_CHECKING:
    from argparse import ArgumentParser


UNBUNDLE_DESCRIPTION = """\
Turn a bundle made by `conda bundle` into a working environment at any path,
offline.

Every check (platform, glibc, path length, free space) runs before anything is
written; on any error the target is left as it was. --info, --list and --verify
read a bundle without installing it.
"""


UNBUNDLE_EPILOG = """\
Examples:

Create the environment 'myenv' in the first writable envs directory::

    conda unbundle myenv.tar.zst -n myenv

Create it at any path::

    conda unbundle myenv.tar.zst -p /opt/myenv

Replace an existing environment without asking (scripts, CI)::

    conda unbundle myenv.tar.zst -p /opt/myenv --force -y

Show what a bundle holds, or check every file of it::

    conda unbundle myenv.tar.zst --info
    conda unbundle myenv.tar.zst --verify

Unbundle straight from a web server or object storage::

    conda unbundle https://example.com/envs/myenv.tar.zst -p /opt/myenv
    conda unbundle s3://bucket/envs/myenv.tar.zst -n myenv

Install one environment of a bundle of several, or all of them::

    conda unbundle envs.tar.zst --env serve -p /opt/serve
    conda unbundle envs.tar.zst --all --envs-dir /opt/envs

Print its SPDX SBOM; unbundle it only if a key listed in FILE signed it::

    conda unbundle myenv.tar.zst --sbom spdx
    conda unbundle app.tar.zst -n app --allowed-signers FILE --require-signature
"""


def configure_unbundle(p: ArgumentParser) -> None:
    """Options of ``conda unbundle``."""
    from . import _compat

    p.description = UNBUNDLE_DESCRIPTION
    p.epilog = UNBUNDLE_EPILOG
    p.add_argument(
        "bundle_path",
        metavar="BUNDLE",
        nargs="?",
        help="The bundle: a file of any bundle format, a dir bundle, an http:// or "
        "https:// URL (read as conda reads channels: .condarc proxies, ssl_verify and "
        "credentials apply), an s3:// URL (read with boto3), or - for standard input "
        "(which must not be a terminal).",
    )
    add_parser_prefix(p)
    group = p.add_argument_group("Unbundle Options")
    group.add_argument(
        "--force",
        dest="bundle_force",
        action="store_true",
        help="Replace an existing environment at the target, after asking (-y: without).",
    )
    _compat.add_parser_frozen_env(group)
    group.add_argument(
        "--env",
        dest="bundle_env",
        metavar="NAME",
        help="From a bundle of several environments: the one to install at -n/-p (or to "
        "show with --info and --list).",
    )
    group.add_argument(
        "--all",
        dest="bundle_all",
        action="store_true",
        help="Install every environment of the bundle, each under its name in --envs-dir.",
    )
    group.add_argument(
        "--envs-dir",
        dest="bundle_envs_dir",
        metavar="DIR",
        help="With --all: where they go (default: the envs directory -n NAME uses).",
    )
    inspect = group.add_mutually_exclusive_group()
    inspect.add_argument(
        "--verify",
        dest="bundle_verify",
        action="store_true",
        help="Check the whole bundle (every member and checksum) without installing it. "
        "With -n/-p and a delta: install, after checking every file of the environment "
        "there by its sha256 (by default: kind, size and mode).",
    )
    inspect.add_argument(
        "--info",
        dest="bundle_info",
        action="store_true",
        help="Show what the bundle holds (platform, requirements, packages) without "
        "extracting it; takes no -n/-p.",
    )
    inspect.add_argument(
        "--list",
        dest="bundle_list",
        action="store_true",
        help="List every file in the bundle without extracting it; takes no -n/-p.",
    )
    inspect.add_argument(
        "--sbom",
        dest="bundle_sbom",
        choices=tuple(SBOM_SUFFIXES),
        metavar="FORMAT",
        help="Print the bundle's software bill of materials (cyclonedx or spdx), the same "
        "document conda bundle --sbom writes, without extracting it; takes no -n/-p.",
    )
    _add_update_options(p)
    _add_signature_options(p)
    add_output_and_prompt_options(p)


def _add_update_options(p: ArgumentParser) -> None:
    group = p.add_argument_group("Delta Update Options")
    group.add_argument(
        "--keep-previous",
        dest="bundle_keep_previous",
        action="store_const",
        const=True,
        help="Keep the environment this replaces (a delta's base, or with --force) for "
        "--rollback: one generation, which after a delta shares unchanged files with the "
        "new one (default: the unbundle_keep_previous setting).",
    )
    group.add_argument(
        "--rollback",
        dest="bundle_rollback",
        action="store_true",
        help="Put back the environment the last unbundle replaced at -n/-p (kept with "
        "--keep-previous), in one atomic step; takes no BUNDLE. Again: forward again.",
    )
    group.add_argument(
        "--export-base",
        dest="bundle_export_base",
        metavar="FILE",
        help="Write the base a delta for the environment at -n/-p must be made against "
        "(- for standard output), to send to whoever runs conda bundle --delta-from; "
        "takes no BUNDLE.",
    )


def _add_signature_options(p: ArgumentParser) -> None:
    group = p.add_argument_group("Signature Options")
    group.add_argument(
        "--allowed-signers",
        dest="bundle_allowed_signers",
        metavar="FILE",
        help="OpenSSH allowed-signers file of the keys you trust (default: the "
        "unbundle_allowed_signers setting). A signed bundle must then match its signature, "
        "made by one of them.",
    )
    group.add_argument(
        "--signature",
        dest="bundle_signature",
        metavar="FILE",
        help="The bundle's signature file or URL (default: BUNDLE.sig; needed for - ).",
    )
    group.add_argument(
        "--require-signature",
        dest="bundle_require_signature",
        action="store_const",
        const=True,
        help="Refuse a bundle without a valid signature of an allowed signer (default: the "
        "unbundle_require_signature setting). Nothing is written to the target then.",
    )
