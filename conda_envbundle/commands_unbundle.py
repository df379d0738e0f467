"""What ``conda unbundle`` does when it runs: the thin layer between the parsed arguments
(:mod:`.cli_unbundle`) and the Python API (:mod:`.api`).

Everything beyond the standard library is imported inside the actions: conda imports
this module with the plugin on every command.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from .commands import guarded, not_a_terminal, verbose_logging

if TYPE_CHECKING:
    from argparse import Namespace


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


@guarded
def unbundle_action(args: Namespace) -> int:
    """Run ``conda unbundle`` (or its --verify, --info and --list)."""
    from conda.base.context import context

    from . import _compat, api, progress, report
    from .exceptions import EnvBundleError

    verbose_logging(context.verbosity)
    if args.bundle_rollback or args.bundle_export_base:
        _generation(args, context.json)
        return 0
    if args.bundle_path is None:
        raise EnvBundleError(
            "Name the bundle to unbundle: conda unbundle BUNDLE -n NAME (or -p PATH)."
        )
    if args.bundle_path == "-":
        not_a_terminal(
            sys.stdin,
            "Standard input",
            "Pipe a bundle in (... | conda unbundle - -p PATH), or give the bundle's path.",
        )
    # --verify with a target installs, checking a delta's environment in full first
    verify_only = args.bundle_verify and not (args.name or args.prefix)
    if verify_only or args.bundle_info or args.bundle_list or args.bundle_sbom:
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
        verify=args.bundle_verify,
        keep_previous=args.bundle_keep_previous,
        env=args.bundle_env,
    )
    report.unbundled(result, json=context.json)
    return 0


def _generation(args: Namespace, json: bool) -> None:
    """--rollback or --export-base: the environment at -n/-p, no bundle."""
    from . import _compat, api, report
    from .exceptions import EnvBundleError

    mode = "--rollback" if args.bundle_rollback else "--export-base"
    unused = [
        option
        for option, given in (
            ("BUNDLE", args.bundle_path),
            ("--rollback", args.bundle_rollback and args.bundle_export_base),
            ("--keep-previous", args.bundle_keep_previous),
            ("--verify", args.bundle_verify),
            ("--info", args.bundle_info),
            ("--list", args.bundle_list),
            ("--sbom", args.bundle_sbom),
            ("--force", args.bundle_force and args.bundle_rollback),
        )
        if given
    ]
    if unused:
        raise EnvBundleError(f"{mode} acts on the environment at -n/-p: drop {unused[0]}.")
    if not (args.name or args.prefix):
        raise EnvBundleError(f"{mode} needs the environment: -n NAME or -p PATH.")
    target = target_prefix(args)
    if args.bundle_rollback:
        api.replaces(target, True, not _compat.protect_frozen_envs(args))  # frozen: refused
        report.rolled_back(api.rollback(target), json=json)
    elif args.bundle_export_base == "-":
        not_a_terminal(sys.stdout, "Standard output", "Redirect it (> FILE), or name a file.")
        if json:
            raise EnvBundleError("--json and --export-base - both want standard output.")
        api.export_base(target, "-")
    else:
        report.exported(
            api.export_base(target, args.bundle_export_base, force=args.bundle_force), json=json
        )


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
