"""``conda bundle`` of several environments into one bundle, each file content stored once.

Each environment is read exactly as for a bundle of its own (its plan, inventory and
manifest: :mod:`.plan`, :mod:`.inventory`, :func:`.bundle.manifest_of`); the head
(:mod:`..collection`) holds every manifest, so every check at unbundle runs before the
first byte is written. Only tar formats: their members stream in one order, which the
head describes. The output appears complete or not at all (:mod:`.output`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from .. import progress
from ..archive import open_writer
from ..archive.members import SizeChangedError, Writer, exactly
from ..collection import Collection, Environment, checked_name, member_path, share
from ..exceptions import BundleFormatError, EnvBundleError, FileChangedError, TargetWriteError
from ..formats import DEFAULT_FORMAT, chosen_format
from ..fstree import umask
from ..manifest import DIR, MANIFEST_PATH, SYMLINK
from .bundle import BundleResult, _result, manifest_of
from .inventory import Inventory, take_inventory
from .output import part_file, place
from .plan import Plan, environment_name, make_plan
from .readahead import ReadAhead, RecordMismatch, changed
from .write import WriteResult, _HashingFile

log = logging.getLogger("conda.envbundle")

# the formats whose members stream in one order: those a head can describe
TAR_FORMATS = ("tar.zst", "tar.gz", "tar.bz2", "tar.xz", "tar")


@dataclass
class SeveralBundleResult:
    """What ``bundle_environments()`` wrote (with ``dry_run``: would write, size 0).

    ``environments`` has one :class:`~.bundle.BundleResult` per environment (its output
    and size are the whole bundle's); ``shared_size`` is the bytes stored once for
    several files, ``content_size`` the bytes of every environment's files.
    """

    output: str
    format: str
    size: int
    sha256: str | None
    environments: list[BundleResult]
    content_size: int
    shared_size: int
    dry_run: bool = False
    elapsed: float = 0.0
    warnings: list[str] = field(default_factory=list)


def bundle_environments(
    prefixes: list[str],
    output: str | None,
    *,
    fmt: str | None = None,
    level: int | None = None,
    threads: int = 0,
    force: bool = False,
    filters: list[tuple[str, str]] | None = None,
    ignore_editable: bool = False,
    ignore_missing: bool = False,
    dry_run: bool = False,
    show_progress: bool = False,
) -> SeveralBundleResult:
    """Pack the environments at ``prefixes`` into one bundle at ``output``."""
    started = time.monotonic()
    fmt = _tar_format(chosen_format(fmt, output) or DEFAULT_FORMAT, output)
    prefixes = [os.path.abspath(prefix) for prefix in prefixes]
    _check_names(prefixes)
    plans = [
        make_plan(
            prefix,
            output,
            fmt=fmt,
            level=level,
            threads=threads,
            force=force,
            filters=filters,
            ignore_editable=ignore_editable,
            ignore_missing=ignore_missing,
            dry_run=dry_run,
            show_progress=show_progress,
        )
        for prefix in prefixes
    ]
    try:
        return _bundle_once(plans, started)
    except RecordMismatch as exc:  # as bundle.bundle: read such files in full, once more
        distrust = frozenset(exc.paths)
        plans = [dataclasses.replace(plan, distrust=distrust) for plan in plans]
        try:
            return _bundle_once(plans, started)
        except RecordMismatch as again:
            raise FileChangedError(
                f"{', '.join(again.paths[:3])} changed while being bundled. Stop whatever "
                "is writing to the environments and run conda bundle again."
            ) from None


def _tar_format(fmt: str, output: str | None) -> str:
    if fmt not in TAR_FORMATS:
        raise EnvBundleError(
            f"A bundle of several environments is a tar file ({', '.join(TAR_FORMATS)}), "
            f"not {fmt}. Choose one of those, or bundle each environment on its own."
        )
    if output is None:
        raise EnvBundleError(
            f"Name the bundle of several environments with -o, e.g. -o envs.{fmt}."
        )
    return fmt


def _check_names(prefixes: list[str]) -> None:
    """Each environment is installed under its name: two may not share one."""
    seen: dict[str, str] = {}
    for prefix in prefixes:
        name = environment_name(prefix)
        try:
            checked_name(name)
        except BundleFormatError:
            raise EnvBundleError(
                f"The environment at {prefix} is named {name!r}, which cannot name one of a "
                "bundle of several (hidden, base or root, not printable, or over 200 bytes). "
                "Rename it (conda rename -p PATH NEW_NAME) or bundle it on its own."
            ) from None
        if name in seen:
            same = os.path.normpath(seen[name]) == os.path.normpath(prefix)
            raise EnvBundleError(
                f"{prefix} is given twice."
                if same
                else f"Two environments are named {name} ({seen[name]} and {prefix}); a "
                "bundle of several installs each under its name. Rename one (conda rename "
                "-p PATH NEW_NAME) or bundle them separately."
            )
        seen[name] = prefix


def _bundle_once(plans: list[Plan], started: float) -> SeveralBundleResult:
    inventories = []
    for plan in plans:
        log.info("Reading the environment at %s", plan.prefix)
        inventories.append(take_inventory(plan))
    manifests = [manifest_of(inventory) for inventory in inventories]
    collection = Collection(
        tool_version=manifests[0].tool_version,
        conda_version=manifests[0].conda_version,
        environments=[Environment(m.source_name, m) for m in manifests],
    )
    share(collection.environments)
    first = plans[0]
    written = None
    if not first.dry_run:
        log.info(
            "Writing a %s bundle of %d environments to %s", first.fmt, len(plans), first.output
        )
        written = _write(first, inventories, collection)
    results = [
        _result(plan, inventory, manifest, written, 0.0)
        for plan, inventory, manifest in zip(plans, inventories, manifests, strict=True)
    ]
    return SeveralBundleResult(
        output=first.output,
        format=first.fmt,
        size=written.size if written else 0,
        sha256=written.sha256 if written else None,
        environments=results,
        content_size=collection.content_size,
        shared_size=collection.shared_size,
        dry_run=first.dry_run,
        elapsed=time.monotonic() - started,
        warnings=[w for result in results for w in result.warnings],
    )


def _write(plan: Plan, inventories: list[Inventory], collection: Collection) -> WriteResult:
    try:
        if plan.output == "-":
            out = _HashingFile(sys.stdout.buffer)
            _stream(plan, inventories, collection, cast(BinaryIO, out))
            out.flush()
            return WriteResult(out.size, out.digest.hexdigest())
        with part_file(plan.output) as (temp, fd), os.fdopen(fd, "w+b", closefd=False) as raw:
            out = _HashingFile(raw)
            _stream(plan, inventories, collection, cast(BinaryIO, out))
            raw.flush()
            os.fsync(raw.fileno())
            os.chmod(temp, 0o666 & ~umask())
            place(temp, plan.output, plan.fmt, plan.force)
            return WriteResult(out.size, out.digest.hexdigest())
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise TargetWriteError(
            f"Cannot write the bundle to {plan.output}: {exc.strerror or exc}. Make room, or "
            "choose an output path where you can write."
        ) from exc


def _stream(
    plan: Plan, inventories: list[Inventory], collection: Collection, out: BinaryIO
) -> None:
    stored = collection.content_size - collection.shared_size
    with (
        progress.step("Writing", stored, plan.show_progress) as writing,
        open_writer(
            out,
            plan.fmt,
            mtime=max(inventory.mtime for inventory in inventories),
            level=plan.level,
            threads=plan.codec_threads,
        ) as writer,
    ):
        writer.add_file(MANIFEST_PATH, 0o644, *collection.to_stream())
        for env, inventory in zip(collection.environments, inventories, strict=True):
            _write_environment(writer, env, inventory, writing.advance)


def _write_environment(
    writer: Writer, env: Environment, inventory: Inventory, advance: Callable[[int], None]
) -> None:
    """The members of one environment, except the files stored under an earlier entry
    (read and checked all the same, like every file of the environment)."""
    with ReadAhead(inventory.items, inventory.prefix, env.manifest.subdir) as entries:
        for item, chunks in entries:
            entry = item.entry
            path = member_path(env.name, entry.path)
            if entry.kind == DIR:
                writer.add_dir(path, entry.mode)
            elif entry.kind == SYMLINK:
                writer.add_symlink(path, entry.link_target)
            elif chunks is not None:
                try:
                    if entry.path in env.stored_elsewhere:
                        for _ in exactly(entry.path, entry.size, chunks):
                            pass
                        continue
                    writer.add_file(path, entry.mode, entry.size, chunks, item.mtime)
                except SizeChangedError:
                    raise FileChangedError(changed(item)) from None
                advance(entry.size)
