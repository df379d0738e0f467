"""conda hooks: the ``bundle`` and ``unbundle`` subcommands and their ``.condarc`` settings.

Imports only conda's plugin API, the argument definitions (:mod:`.cli`,
:mod:`.cli_unbundle`, :mod:`.settings`) and the actions (:mod:`.commands`,
:mod:`.commands_unbundle`, which import the rest when they run): conda loads
this module on every command, and swallows its import errors (the subcommands would
silently vanish). The pipeline and the codec libraries load when a subcommand runs,
where a missing one is a clear error.
"""

from conda.plugins import hookimpl
from conda.plugins.types import CondaSubcommand

from . import cli, cli_unbundle, commands, commands_unbundle, settings


@hookimpl
def conda_subcommands():
    """Register ``conda bundle`` and ``conda unbundle``."""
    yield CondaSubcommand(
        name="bundle",
        summary="Pack an environment into one relocatable file.",
        action=commands.bundle_action,
        configure_parser=cli.configure_bundle,
    )
    yield CondaSubcommand(
        name="unbundle",
        summary="Turn a bundle into a working environment at any path, offline.",
        action=commands_unbundle.unbundle_action,
        configure_parser=cli_unbundle.configure_unbundle,
    )


@hookimpl
def conda_settings():
    """Defaults for format, compression level and threads, settable in .condarc."""
    yield from settings.conda_settings()
