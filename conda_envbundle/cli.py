"""argparse configuration of ``conda bundle`` / ``conda unbundle`` and their thin actions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from conda.cli.helpers import add_parser_json

from .formats import FORMATS, SBOM_SUFFIXES, SH_PAYLOADS, canonical_format

if TYPE_CHECKING:
    from argparse import ArgumentParser


class _FilterAction(argparse.Action):
    """Collect --exclude/--include patterns into one list, in command-line order."""

    def __call__(self, parser, namespace, values, option_string=None):
        filters = list(getattr(namespace, self.dest, None) or [])
        filters.append((option_string.lstrip("-"), values))
        setattr(namespace, self.dest, filters)


class _CondaPackOnly(argparse.Action):
    """A conda-pack option with no equivalent here: refused, saying what to do instead
    (argparse alone would only call it unrecognized)."""

    def __init__(self, option_strings, dest, instead: str, **kwargs):
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, **kwargs)
        self.instead = instead

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is conda-pack's; {self.instead}")


class _Accepted(argparse.Action):
    """A conda-pack option that asks for what conda bundle always does."""

    def __call__(self, parser, namespace, values, option_string=None):
        pass


class _Stray(argparse.Action):
    """Words that no option takes (conda bundle has no positional argument). After -d, a
    word is most likely conda-pack's -d PATH: say what that is here."""

    def __call__(self, parser, namespace, values, option_string=None):
        if not values:
            return
        message = f"unrecognized arguments: {' '.join(values)}"
        if getattr(namespace, "dry_run", False):
            message += (
                " (-d is --dry-run, as in conda; conda-pack's -d PATH is --dest-prefix PATH here)"
            )
        parser.error(message)


# conda-pack 0.9's options that mean nothing here, and what to do instead
CONDA_PACK_ONLY = {
    ("--arcroot",): (
        1,
        "a bundle has no root directory: its files are at the top, so that conda unbundle "
        "-p PATH, sh FILE -p PATH and tar -x -C DIR put the environment where they are "
        "told. Drop --arcroot and choose the directory when extracting.",
    ),
    ("--parcel-root", "--parcel-name", "--parcel-version", "--parcel-distro"): (
        1,
        "conda bundle writes no parcels. Relocate for the parcel's directory with "
        "--dest-prefix /opt/cloudera/parcels/NAME-VERSION --format dir, and package that "
        "tree with Cloudera's tools.",
    ),
    ("--no-zip-64",): (
        0,
        "zip bundles use ZIP64 records only where the archive needs them. Drop --no-zip-64.",
    ),
    ("--version",): (0, "conda list -n base conda-envbundle shows the installed version."),
}


BUNDLE_DESCRIPTION = """\
Pack an installed conda environment into one relocatable file, the bundle.

The environment is only read. Turn the bundle back into a working environment
anywhere with `conda unbundle` (offline), or without conda: extract it and run
its bin/conda-unpack, or run a --format sh installer.
"""

BUNDLE_EPILOG = """\
Examples:

Bundle the environment 'myenv' into myenv.tar.zst in this directory::

    conda bundle -n myenv

Bundle an environment by path into a tar.gz file, replacing an older one::

    conda bundle -p /opt/envs/app -o app.tar.gz --force

Prepare a tree that works at /opt/app with no unpack step (Docker)::

    conda bundle -n app --dest-prefix /opt/app --format dir -o /opt/app

Stream a bundle to another machine::

    conda bundle -n myenv -o - | ssh host conda unbundle - -n myenv

Bundle two environments into one file, each file content stored once::

    conda bundle -n train -n serve -o envs.tar.zst

Write a CycloneDX SBOM and an OpenSSH signature beside the bundle::

    conda bundle -n myenv --sbom cyclonedx --sign ~/.ssh/id_ed25519
"""


def configure_bundle(p: ArgumentParser) -> None:
    """Options of ``conda bundle``."""
    p.description = BUNDLE_DESCRIPTION
    p.epilog = BUNDLE_EPILOG
    _add_sources(p)
    group = p.add_argument_group("Bundle Options")
    group.add_argument(
        "-o",
        "--output",
        dest="bundle_output",
        metavar="FILE",
        help="Where to write the bundle (default: <env name>.tar.zst here; - for "
        "standard output, which must not be a terminal).",
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
        type=canonical_format,
        choices=FORMATS,
        help="Container format (default: from the output name, which must then end in a "
        "format's extension, else the bundle_format setting, else tar.zst). "
        "dir writes a plain directory tree, for rsync-style transfers; sh writes a "
        "self-extracting installer (sh FILE -p PREFIX) for machines without conda. "
        "conda-pack's tgz, tbz2, txz, tzst and no-archive are accepted too.",
    )
    group.add_argument(
        "--sh-payload",
        dest="bundle_sh_payload",
        choices=tuple(SH_PAYLOADS),
        default="gzip",
        help="Compression of a --format sh installer's payload (default gzip: needs only "
        "sh, tar and gzip on the target; zstd needs zstd there).",
    )
    group.add_argument(
        "--compress-level",
        dest="bundle_level",
        type=int,
        metavar="N",
        help="Compression level, in the codec's own range: zstd 1-22 (default 3), "
        "gzip and zip 0-9 (6), bzip2 1-9 (9), xz 0-9 (6). Defaults per codec are "
        "settings (bundle_zstd_level, ...).",
    )
    group.add_argument(
        "-j",
        "--threads",
        "--n-threads",
        dest="bundle_threads",
        type=int,
        metavar="N",
        help="Threads for compressing (zstd, gzip) and for reading and hashing files "
        "(default 0: all cores; -1 too, as in conda-pack).",
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
        "with no unpack step (e.g. COPY --from=builder in a Dockerfile). conda-pack's -d; "
        "here -d is --dry-run, as in conda.",
    )
    group.add_argument(
        "--ignore-editable",
        "--ignore-editable-packages",
        dest="bundle_ignore_editable",
        action="store_true",
        help="Leave editable (development) installs out of the bundle instead of failing: "
        "their metadata, .pth hooks and scripts stay behind, as their sources do.",
    )
    group.add_argument(
        "--ignore-missing",
        "--ignore-missing-files",
        dest="bundle_ignore_missing",
        action="store_true",
        help="Bundle even if files recorded by conda are missing.",
    )
    group.add_argument(
        "--sbom",
        dest="bundle_sbom",
        action="append",
        choices=tuple(SBOM_SUFFIXES),
        metavar="FORMAT",
        help="Also write a software bill of materials beside the bundle: cyclonedx "
        "(CycloneDX 1.6 JSON, OUTPUT.cdx.json) or spdx (SPDX 2.3 JSON, OUTPUT.spdx.json). "
        "Repeat for both.",
    )
    group.add_argument(
        "--sign",
        dest="bundle_sign",
        metavar="KEY",
        help="Also write OUTPUT.sig, an OpenSSH signature of the whole bundle "
        "(ssh-keygen -Y sign, namespace conda-envbundle), with this private key file, or "
        "this public key whose private half ssh-agent holds.",
    )
    group.add_argument(
        "--delta-from",
        dest="bundle_delta_from",
        metavar="BASE",
        help="Write a delta: only what changed since BASE, an earlier bundle of this "
        "environment (a file or URL) or the base file an installed copy exported "
        "(conda unbundle --export-base). It applies only to an environment made from BASE.",
    )
    _add_conda_pack_only(group)
    output = add_parser_json(p)
    output.add_argument(
        "-d",
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="Read and check everything, report what would be bundled, write nothing; "
        "exit as the real run would. (conda-pack's -d is --dest-prefix here.)",
    )
    p.add_argument("bundle_stray", nargs="*", action=_Stray, help=argparse.SUPPRESS)


def _add_sources(p: ArgumentParser) -> None:
    """conda's -n/-p, repeatable (own dests: conda reads -n/-p as one environment)."""
    group = p.add_argument_group("Target Environment Specification")
    group.add_argument(
        "-n",
        "--name",
        dest="bundle_names",
        action="append",
        metavar="ENVIRONMENT",
        help="Name of environment. Repeat -n/-p to bundle several in one (files stored once).",
    )
    group.add_argument(
        "-p",
        "--prefix",
        dest="bundle_prefixes",
        action="append",
        metavar="PATH",
        help="Full path to environment location (i.e. prefix). Repeatable, as -n.",
    )


def _add_conda_pack_only(group) -> None:
    """conda-pack's options: those that mean nothing here are refused with what to do."""
    for flags, (nargs, instead) in CONDA_PACK_ONLY.items():
        group.add_argument(
            *flags, action=_CondaPackOnly, nargs=nargs, instead=instead, help=argparse.SUPPRESS
        )
    # zip bundles always store symlinks as symlinks
    group.add_argument(
        "--zip-symlinks",
        action=_Accepted,
        nargs=0,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
