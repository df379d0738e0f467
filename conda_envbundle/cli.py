"""argparse configuration of ``conda bundle`` / ``conda unbundle`` and their thin actions."""

from __future__ import annotations

import argparse
import functools
import io
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from conda.cli.helpers import add_parser_json, add_parser_prefix

from .archive import FORMATS, format_from_name

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace


class _FilterAction(argparse.Action):
    """Collect --exclude/--include patterns into one list, in command-line order."""

    def __call__(self, parser, namespace, values, option_string=None):
        filters = list(getattr(namespace, self.dest, None) or [])
        filters.append((option_string.lstrip("-"), values))
        setattr(namespace, self.dest, filters)


def configure_bundle(p: ArgumentParser) -> None:
    """Options of ``conda bundle``."""
    p.description = (
        "Pack an installed conda environment into one relocatable file. "
        "Turn it back into an environment anywhere with `conda unbundle`."
    )
    add_parser_prefix(p)
    group = p.add_argument_group("Bundle Options")
    group.add_argument(
        "-o",
        "--output",
        dest="bundle_output",
        metavar="FILE",
        help="Where to write the bundle (default: <env name>.tar.zst here).",
    )
    group.add_argument(
        "--force",
        dest="bundle_force",
        action="store_true",
        help="Overwrite the output file if it exists.",
    )
    group.add_argument(
        "--format",
        dest="bundle_format",
        choices=FORMATS,
        help="Container format (default: from the output name, else the bundle_format "
        "setting, else tar.zst). "
        "dir writes a plain directory tree, for rsync-style transfers; sh writes a "
        "self-extracting installer (sh FILE -p PREFIX) for machines without conda.",
    )
    group.add_argument(
        "--sh-payload",
        dest="bundle_sh_payload",
        choices=("gzip", "zstd"),
        default="gzip",
        help="Compression of a --format sh installer's payload (default gzip: needs only "
        "sh, tar and gzip on the target; zstd needs zstd there).",
    )
    group.add_argument(
        "--compress-level",
        dest="bundle_level",
        type=int,
        metavar="N",
        help="Compression level: zstd 1-22 (default 3), gzip/zip 0-9 (6), "
        "bzip2 1-9 (9), xz 0-9 (6).",
    )
    group.add_argument(
        "-j",
        "--threads",
        dest="bundle_threads",
        type=int,
        metavar="N",
        help="Threads for compressing (zstd, gzip) and for reading and hashing files "
        "(default 0: all cores).",
    )
    for flag, verb in (("--exclude", "Leave out"), ("--include", "Put back")):
        group.add_argument(
            flag,
            dest="bundle_filters",
            action=_FilterAction,
            metavar="PATTERN",
            help=f"{verb} files whose path in the environment matches this "
            "fnmatch pattern; --exclude and --include apply in the order given.",
        )
    group.add_argument(
        "--dest-prefix",
        dest="bundle_dest_prefix",
        metavar="PATH",
        help="Relocate now for this absolute path: the extracted tree then works at PATH "
        "with no unpack step (e.g. COPY --from=builder in a Dockerfile).",
    )
    group.add_argument(
        "--ignore-editable",
        dest="bundle_ignore_editable",
        action="store_true",
        help="Leave editable (development) installs out of the bundle instead of failing: "
        "their metadata, .pth hooks and scripts stay behind, as their sources do.",
    )
    group.add_argument(
        "--ignore-missing",
        dest="bundle_ignore_missing",
        action="store_true",
        help="Bundle even if files recorded by conda are missing.",
    )
    _add_dry_run(p, "Read and check everything, report what would be bundled, write nothing.")


def configure_unbundle(p: ArgumentParser) -> None:
    """Options of ``conda unbundle``."""
    p.description = (
        "Turn a bundle made by `conda bundle` into a working environment at any path, offline."
    )
    p.add_argument(
        "bundle_path",
        metavar="BUNDLE",
        help="The bundle: a file of any bundle format, a dir bundle, or - for standard input.",
    )
    add_parser_prefix(p)
    group = p.add_argument_group("Unbundle Options")
    group.add_argument(
        "--force",
        dest="bundle_force",
        action="store_true",
        help="Replace an existing environment at the target.",
    )
    group.add_argument(
        "--verify",
        dest="bundle_verify",
        action="store_true",
        help="Check the whole bundle (every member and checksum) without installing it; "
        "-n/-p are not needed.",
    )
    group.add_argument(
        "--info",
        dest="bundle_info",
        action="store_true",
        help="Show what the bundle holds (platform, requirements, packages) without "
        "extracting it; -n/-p are not needed.",
    )
    group.add_argument(
        "--list",
        dest="bundle_list",
        action="store_true",
        help="List every file in the bundle without extracting it.",
    )
    _add_dry_run(p, "Run every check against the target and report what would be done.")


def _add_dry_run(p: ArgumentParser, text: str) -> None:
    group = add_parser_json(p)
    group.add_argument("-d", "--dry-run", dest="dry_run", action="store_true", help=text)


def source_prefix(args: Namespace) -> str:
    """The environment to bundle: -n/-p, else the active one, but never base implicitly."""
    from conda.base.context import context, locate_prefix_by_name

    from .exceptions import SourceEnvironmentError

    if args.prefix:
        return os.path.abspath(os.path.expanduser(args.prefix))
    if args.name:
        return locate_prefix_by_name(args.name)
    active = context.active_prefix
    if not active or os.path.normpath(active) == os.path.normpath(context.root_prefix):
        raise SourceEnvironmentError(
            "No environment given. Name the one to bundle with -n NAME or -p PATH "
            "(base is only bundled when named)."
        )
    return active


def target_prefix(args: Namespace) -> str:
    """Where to unbundle: -p PATH, or -n NAME in the first writable envs directory."""
    from . import _compat
    from .exceptions import SourceEnvironmentError

    if args.prefix:
        return os.path.abspath(os.path.expanduser(args.prefix))
    if args.name:
        if "/" in args.name or os.sep in args.name or args.name in ("base", "root", ".", ".."):
            raise SourceEnvironmentError(
                f"{args.name!r} cannot name a new environment. Use a plain name, or -p PATH."
            )
        return os.path.join(_compat.first_writable_envs_dir(), args.name)
    raise SourceEnvironmentError("Say where to create the environment: -n NAME or -p PATH.")


# What a shell reports for a process killed by SIGPIPE, as tar and zstd are when the
# reader of their output goes away (``conda bundle -o - | head -c 1000``).
PIPE_CLOSED = 128 + signal.SIGPIPE


def _guarded(action: Callable[[Namespace], int]) -> Callable[[Namespace], int]:
    """Run ``action`` so that every failure is one of our errors, never a traceback.

    A closed pipe ends the command quietly, like standard tools; an operating system
    error that no layer below explained becomes an error that names it.
    """

    @functools.wraps(action)
    def run(args: Namespace) -> int:
        from .exceptions import EnvBundleError

        if isinstance(sys.stdout, io.TextIOWrapper):
            # file names need not be valid in the terminal's encoding: never fail on one
            sys.stdout.reconfigure(errors="backslashreplace")
        try:
            return action(args)
        except BrokenPipeError:
            # nobody reads what is left to print: flushing at exit would fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return PIPE_CLOSED
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise EnvBundleError(f"{where}{exc.strerror or exc}. Nothing was changed.") from exc

    return run


@_guarded
def bundle_action(args: Namespace) -> int:
    """Run ``conda bundle``."""
    from conda.base.context import context

    from . import api, progress, report, settings
    from .exceptions import EnvBundleError

    to_stdout = args.bundle_output == "-"
    if to_stdout and context.json:
        raise EnvBundleError("--json and -o - both want standard output; choose one.")
    named_format = args.bundle_output and not to_stdout and format_from_name(args.bundle_output)
    level = settings.value("bundle_compress_level", args.bundle_level)
    result = api.bundle(
        source_prefix(args),
        args.bundle_output,
        fmt=args.bundle_format or named_format or settings.value("bundle_format", None),
        level=None if level == settings.UNSET_LEVEL else level,
        threads=settings.value("bundle_threads", args.bundle_threads),
        force=args.bundle_force,
        filters=args.bundle_filters,
        ignore_editable=args.bundle_ignore_editable,
        ignore_missing=args.bundle_ignore_missing,
        dest_prefix=args.bundle_dest_prefix,
        sh_codec=args.bundle_sh_payload,
        dry_run=context.dry_run,
        show_progress=progress.wanted(to_stdout=to_stdout),
    )
    report.bundled(result, json=context.json)
    return 0


@_guarded
def unbundle_action(args: Namespace) -> int:
    """Run ``conda unbundle`` (or its --verify, --info and --list)."""
    from conda.base.context import context

    from . import api, progress, report

    if args.bundle_verify:
        report.verified(args.bundle_path, api.verify(args.bundle_path), json=context.json)
    elif args.bundle_info or args.bundle_list:
        manifest = api.inspect(args.bundle_path)
        if args.bundle_info:
            report.info(args.bundle_path, manifest, json=context.json)
        else:
            report.listing(manifest, json=context.json)
    else:
        result = api.unbundle(
            args.bundle_path,
            target_prefix(args),
            force=args.bundle_force,
            dry_run=context.dry_run,
            show_progress=progress.wanted(),
        )
        report.unbundled(result, json=context.json)
    return 0
