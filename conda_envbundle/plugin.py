"""conda plugin hooks: the ``bundle`` and ``unbundle`` subcommands.

Kept to imports that cannot fail: conda swallows import errors of plugins and the
subcommands would silently vanish.
"""

from conda.plugins import hookimpl
from conda.plugins.types import CondaSubcommand

from . import cli, settings


@hookimpl
def conda_subcommands():
    """Register ``conda bundle`` and ``conda unbundle``."""
    yield CondaSubcommand(
        name="bundle",
        summary="Pack an environment into one relocatable file.",
        action=cli.bundle_action,
        configure_parser=cli.configure_bundle,
    )
    yield CondaSubcommand(
        name="unbundle",
        summary="Turn a bundle into a working environment at any path, offline.",
        action=cli.unbundle_action,
        configure_parser=cli.configure_unbundle,
    )


@hookimpl
def conda_settings():
    """Defaults for format, compression level and threads, settable in .condarc."""
    yield from settings.conda_settings()
