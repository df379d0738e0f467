"""What ``conda bundle`` and ``conda unbundle`` do when they run: the thin layer between
the parsed arguments (:mod:`.cli`) and the Python API (:mod:`.api`).

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
from typing import TYPE_CHECKING

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


def _verbose_logging(verbosity: int) -> None:
    """Show this plugin's log on standard error: with -v its phases and decisions, with
    -vv each file's too. conda's own loggers keep conda's levels (INFO from -vv on)."""
    from conda.common.io import attach_stderr_handler

    # every run sets it: conda may run several commands in one process (its tests do)
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    attach_stderr_handler(level, "conda.envbundle", formatter=logging.Formatter("%(message)s"))


def _not_a_terminal(stream, what: str, instead: str) -> None:
    """Refuse a terminal where bundle bytes go or come from, as gzip and zstd do."""
    from .exceptions import EnvBundleError

    if stream is None:  # closed by the caller (<&- or >&-)
        raise EnvBundleError(f"{what} is closed, not a file or pipe. {instead}")
    if stream.isatty():
        raise EnvBundleError(f"{what} is a terminal, not a file or pipe. {instead}")


@_guarded
def bundle_action(args: Namespace) -> int:
    """Run ``conda bundle``."""
    from conda.base.context import context

    from . import api, progress, report
    from .exceptions import EnvBundleError

    _verbose_logging(context.verbosity)
    to_stdout = args.bundle_output == "-"
    if to_stdout and context.json:
        raise EnvBundleError("--json and -o - both want standard output; choose one.")
    if to_stdout and not context.dry_run:
        _not_a_terminal(
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
        fmt=fmt,
        level=_level(args, fmt),
        threads=_threads(args),
        force=args.bundle_force,
        filters=args.bundle_filters,
        ignore_editable=args.bundle_ignore_editable,
        ignore_missing=args.bundle_ignore_missing,
        dest_prefix=args.bundle_dest_prefix,
        sh_codec=args.bundle_sh_payload,
        dry_run=context.dry_run,
        show_progress=progress.wanted(),
        sbom=args.bundle_sbom or (),
        sign=args.bundle_sign,
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

    from . import api, multireport, progress
    from .exceptions import EnvBundleError

    unfit = [
        option
        for option, given in (
            ("--dest-prefix", args.bundle_dest_prefix),
            ("--sbom", args.bundle_sbom),
            ("--sign", args.bundle_sign),
        )
        if given
    ]
    if unfit:
        raise EnvBundleError(
            f"{' and '.join(unfit)} take one environment; a bundle of several has none of "
            "them. Bundle each environment on its own for them."
        )
    result = api.bundle_environments(
        prefixes,
        args.bundle_output,
        fmt=fmt,
        level=_level(args, fmt),
        threads=_threads(args),
        force=args.bundle_force,
        filters=args.bundle_filters,
        ignore_editable=args.bundle_ignore_editable,
        ignore_missing=args.bundle_ignore_missing,
        dry_run=context.dry_run,
        show_progress=progress.wanted(),
    )
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


@_guarded
def unbundle_action(args: Namespace) -> int:
    """Run ``conda unbundle`` (or its --verify, --info and --list)."""
    from conda.base.context import context

    from . import _compat, api, progress, report
    from .exceptions import EnvBundleError

    _verbose_logging(context.verbosity)
    if args.bundle_path == "-":
        _not_a_terminal(
            sys.stdin,
            "Standard input",
            "Pipe a bundle in (... | conda unbundle - -p PATH), or give the bundle's path.",
        )
    if args.bundle_verify or args.bundle_info or args.bundle_list or args.bundle_sbom:
        _inspect(args, context.json)
        return 0
    if args.bundle_all:
        return _unbundle_all(args)
    if args.bundle_envs_dir:
        raise EnvBundleError(
            "--envs-dir goes with --all. To install one environment, say where with -n "
            "NAME or -p PATH."
        )
    target = target_prefix(args)
    override = not _compat.protect_frozen_envs(args)
    if api.replaces(target, args.bundle_force, override) and not context.dry_run:
        _confirm_replacing(target, args.bundle_path)
    result = api.unbundle(
        args.bundle_path,
        target,
        force=args.bundle_force,
        override_frozen=override,
        dry_run=context.dry_run,
        show_progress=progress.wanted(),
        allowed_signers=args.bundle_allowed_signers,
        require_signature=args.bundle_require_signature,
        signature=args.bundle_signature,
        env=args.bundle_env,
    )
    report.unbundled(result, json=context.json)
    return 0


def _unbundle_all(args: Namespace) -> int:
    """``conda unbundle --all``: every environment, each under its name in an envs dir."""
    from conda.base.context import context

    from . import _compat, api, multireport, progress
    from .exceptions import EnvBundleError

    given = [o for o, v in (("-n/-p", args.name or args.prefix), ("--env", args.bundle_env)) if v]
    if given:
        raise EnvBundleError(
            f"--all installs every environment under its own name: drop {given[0]} (choose "
            "the directory with --envs-dir DIR), or drop --all to install one."
        )

    def confirm(targets: list[str]) -> None:
        if not context.dry_run:
            for target in targets:
                _confirm_replacing(target, args.bundle_path)

    results = api.unbundle_all(
        args.bundle_path,
        args.bundle_envs_dir,
        force=args.bundle_force,
        override_frozen=not _compat.protect_frozen_envs(args),
        dry_run=context.dry_run,
        show_progress=progress.wanted(),
        allowed_signers=args.bundle_allowed_signers,
        require_signature=args.bundle_require_signature,
        signature=args.bundle_signature,
        confirm=confirm,
    )
    multireport.unbundled(results, json=context.json)
    return 0


def _inspect(args: Namespace, json: bool) -> None:
    """--verify, --info, --list or --sbom (argparse lets only one through): read, never
    install."""
    from conda.base.context import context

    from . import api, multireport, progress, report
    from .exceptions import EnvBundleError
    from .sources import shown

    modes = {"--verify": args.bundle_verify, "--info": args.bundle_info}
    modes.update({"--list": args.bundle_list, "--sbom": args.bundle_sbom})
    mode = next(option for option, given in modes.items() if given)
    unused = [
        option
        for option, given in (
            ("-n/--name", args.name),
            ("-p/--prefix", args.prefix),
            ("--force", args.bundle_force),
            ("--dry-run", context.dry_run),
            ("--all", args.bundle_all),
            ("--envs-dir", args.bundle_envs_dir),
        )
        if given
    ]
    if mode in ("--verify", "--sbom") and args.bundle_env:
        unused.append("--env")  # they take the whole bundle
    if mode != "--verify":  # only --verify checks a signature
        unused += [
            option
            for option, given in (
                ("--allowed-signers", args.bundle_allowed_signers),
                ("--signature", args.bundle_signature),
                ("--require-signature", args.bundle_require_signature),
            )
            if given
        ]
    if unused:
        raise EnvBundleError(
            f"{mode} only reads the bundle: drop {' and '.join(unused)}, or drop {mode} "
            "to unbundle."
        )
    if args.bundle_verify:
        policy = api.trust(
            args.bundle_allowed_signers, args.bundle_require_signature, args.bundle_signature
        )
        verified, signature = api.verify_signed(args.bundle_path, policy, progress.wanted())
        if isinstance(verified, api.Collection):
            multireport.verified(shown(args.bundle_path), verified, signature, json=json)
        else:
            report.verified(shown(args.bundle_path), verified, signature, json=json)
    elif args.bundle_sbom:
        report.sbom(api.make_sbom(args.bundle_path, args.bundle_sbom))
    else:
        _show(args, json)


def _show(args: Namespace, json: bool) -> None:
    """--info or --list: of the bundle's one environment (or the one --env picks), else
    of every environment of the bundle."""
    from . import api, multireport, report
    from .collection import chosen
    from .sources import shown

    head = api.inspect_head(args.bundle_path)
    if isinstance(head, api.Collection) and args.bundle_env is None:
        show = multireport.info if args.bundle_info else multireport.listing
        show(shown(args.bundle_path), head, json=json)
        return
    manifest = chosen(head, args.bundle_env)
    if args.bundle_info:
        report.info(shown(args.bundle_path), manifest, json=json)
    else:
        report.listing(manifest, json=json)


def _confirm_replacing(target: str, bundle_path: str) -> None:
    """Ask before --force replaces an environment, by conda's rules: -y, the always_yes
    setting and --json do not ask; conda's prompt answers "no" by exiting.

    With no terminal to ask on (a script, or the bundle on standard input) the answer
    cannot come: refuse, where conda would read "no" and exit with status 0.
    """
    from conda.base.context import context

    from . import _compat
    from .exceptions import TargetExistsError

    if context.always_yes or context.json:
        return
    if bundle_path == "-" or sys.stdin is None or not sys.stdin.isatty():
        raise TargetExistsError(
            f"{target} is an environment, and --force replaces it only after a yes, which "
            "nobody can give here: there is no terminal. Pass -y (--yes) with --force."
        )
    _compat.confirm_yn(
        f"An environment already exists at {target}.\nReplace it with the bundle",
        default="no",
        dry_run=False,
    )
