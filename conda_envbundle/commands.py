"""What ``conda bundle`` does when it runs: the thin layer between the parsed arguments
(:mod:`.cli`) and the Python API (:mod:`.api`); and what both commands share (errors
shown as conda shows them, logging, streams that must not be a terminal).

Everything beyond the standard library is imported inside the actions: conda imports
this module with the plugin on every command.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .formats import chosen_format

if TYPE_CHECKING:
    from argparse import Namespace


def source_prefixes(args: Namespace) -> list[str]:
    """The environments to bundle: each -n, then each -p, else the active one, but never
    base implicitly."""
    from conda.base.context import context, locate_prefix_by_name

    from .exceptions import SourceEnvironmentError

    found = [locate_prefix_by_name(name) for name in args.bundle_names or ()]
    found += [os.path.abspath(os.path.expanduser(p)) for p in args.bundle_prefixes or ()]
    if found:
        return found
    active = context.active_prefix
    if not active or os.path.normpath(active) == os.path.normpath(context.root_prefix):
        raise SourceEnvironmentError(
            "No environment given. Name the one to bundle with -n NAME or -p PATH "
            "(base is only bundled when named)."
        )
    return [active]


# What a shell reports for a process killed by SIGPIPE, as tar and zstd are when the
# reader of their output goes away (``conda bundle -o - | head -c 1000``).
PIPE_CLOSED = 128 + signal.SIGPIPE


def guarded(action: Callable[[Namespace], int]) -> Callable[[Namespace], int]:
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


def verbose_logging(verbosity: int) -> None:
    """Show this plugin's log on standard error: with -v its phases and decisions, with
    -vv each file's too. conda's own loggers keep conda's levels (INFO from -vv on)."""
    from conda.common.io import attach_stderr_handler

    # every run sets it: conda may run several commands in one process (its tests do)
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    attach_stderr_handler(level, "conda.envbundle", formatter=logging.Formatter("%(message)s"))


def not_a_terminal(stream, what: str, instead: str) -> None:
    """Refuse a terminal where bundle bytes go or come from, as gzip and zstd do."""
    from .exceptions import EnvBundleError

    if stream is None:  # closed by the caller (<&- or >&-)
        raise EnvBundleError(f"{what} is closed, not a file or pipe. {instead}")
    if stream.isatty():
        raise EnvBundleError(f"{what} is a terminal, not a file or pipe. {instead}")


@guarded
def bundle_action(args: Namespace) -> int:
    """Run ``conda bundle``."""
    from conda.base.context import context

    from . import api, report
    from .exceptions import EnvBundleError

    verbose_logging(context.verbosity)
    to_stdout = args.bundle_output == "-"
    if to_stdout and context.json:
        raise EnvBundleError("--json and -o - both want standard output; choose one.")
    if to_stdout and not context.dry_run:
        not_a_terminal(
            sys.stdout,
            "Standard output",
            "Redirect it (-o - > FILE) or pipe it (-o - | ...), or name a file with -o.",
        )
    fmt = _bundle_format(args)
    prefixes = source_prefixes(args)
    if len(prefixes) > 1:
        return _bundle_several(args, prefixes, fmt)
    result = api.bundle(
        prefixes[0],
        args.bundle_output,
        **_options(args, fmt),
        dest_prefix=args.bundle_dest_prefix,
        sh_codec=args.bundle_sh_payload,
        sbom=args.bundle_sbom or (),
        sign=args.bundle_sign,
        delta_from=args.bundle_delta_from,
    )
    # a dry run reports what would stop the real run, then stops as the real run would
    stop = api.stopping_error(result, args.bundle_ignore_editable, args.bundle_ignore_missing)
    if stop is None or not context.json:  # --json: the error object is the one answer
        report.bundled(result, json=context.json)
    if stop is not None:
        raise stop
    return 0


def _bundle_several(args: Namespace, prefixes: list[str], fmt: str) -> int:
    """``conda bundle`` of several environments into one bundle."""
    from conda.base.context import context

    from . import api, multireport
    from .exceptions import EnvBundleError

    unfit = [
        option
        for option, given in (
            ("--dest-prefix", args.bundle_dest_prefix),
            ("--sbom", args.bundle_sbom),
            ("--sign", args.bundle_sign),
            ("--delta-from", args.bundle_delta_from),
        )
        if given
    ]
    if unfit:
        raise EnvBundleError(
            f"{' and '.join(unfit)} take one environment; a bundle of several has none of "
            "them. Bundle each environment on its own for them."
        )
    result = api.bundle_environments(prefixes, args.bundle_output, **_options(args, fmt))
    stops = [
        api.stopping_error(one, args.bundle_ignore_editable, args.bundle_ignore_missing)
        for one in result.environments
    ]
    stop = next((error for error in stops if error is not None), None)
    if stop is None or not context.json:
        multireport.bundled(result, json=context.json)
    if stop is not None:
        raise stop
    return 0


def _options(args: Namespace, fmt: str) -> dict[str, Any]:
    """The keywords a bundle of one environment and a bundle of several share."""
    from conda.base.context import context

    from . import progress

    return {
        "fmt": fmt,
        "level": _level(args, fmt),
        "threads": _threads(args),
        "force": args.bundle_force,
        "filters": args.bundle_filters,
        "ignore_editable": args.bundle_ignore_editable,
        "ignore_missing": args.bundle_ignore_missing,
        "dry_run": context.dry_run,
        "show_progress": progress.wanted(),
    }


def _bundle_format(args: Namespace) -> str:
    """--format, else what the output's name says, else the bundle_format setting."""
    from . import api, settings

    found = chosen_format(args.bundle_format, args.bundle_output)
    return found or settings.configured("bundle_format", api.check_format)


def _level(args: Namespace, fmt: str) -> int | None:
    """--compress-level, else the setting of the format's codec (None: no compression)."""
    from . import settings
    from .archive import check_level, level_format

    if args.bundle_level is not None:
        return args.bundle_level
    codec = level_format(fmt, args.bundle_sh_payload)
    if codec is None:
        return None
    return settings.configured(
        settings.LEVEL_SETTINGS[codec], functools.partial(check_level, codec)
    )


def _threads(args: Namespace) -> int:
    from . import api, settings

    if args.bundle_threads is not None:
        return args.bundle_threads
    return settings.configured("bundle_threads", api.check_threads)
