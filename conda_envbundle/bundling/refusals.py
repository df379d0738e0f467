"""What stops ``conda bundle`` before it reads a file, each with what to do about it:
editable installs, files conda records that are missing, names and symlinks that
cannot travel.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

from ..exceptions import (
    EditableInstallError,
    MissingFilesError,
    SourceEnvironmentError,
    UnsafeLinkError,
    UnsupportedPathError,
    source_read_error,
)
from ..manifest import SYMLINK
from ..paths import link_stays_inside, path_problem, zip_name_problem
from ..relocation.rules import JOURNAL
from .packages import PackageFiles
from .walk import link_target


def refuse_bad_names(prefix: str, paths: list[tuple[str, str]], zip_names: bool) -> None:
    """Refuse, all in one message, the names conda unbundle would refuse (the rule both
    ends share), those a zip cannot carry when the bundle is a zip, and symlinks that
    point outside the environment."""
    bad = []
    for path, _ in paths:
        problem = path_problem(path)
        if problem is None and zip_names:
            problem = zip_name_problem(path)
        if problem:
            bad.append((path, problem))
    links = _links_outside(prefix, paths)
    if not bad:
        if links:
            raise UnsafeLinkError(bad_links_message(links))
        return
    shown = "; ".join(f"{path!r}: {problem}" for path, problem in bad[:5])
    message = (
        f"{len(bad)} file name(s) cannot travel in {'a zip' if zip_names else 'a'} bundle "
        f"({shown}{' ...' if len(bad) > 5 else ''}). Rename them, or leave them out with "
        f"--exclude{'' if not zip_names else ' (or choose a tar format)'}."
    )
    raise UnsupportedPathError(message + (f" Also: {bad_links_message(links)}" if links else ""))


def _links_outside(prefix: str, paths: list[tuple[str, str]]) -> list[str]:
    """The symlinks conda unbundle would refuse: they lead outside the environment."""
    outside = []
    for path, kind in paths:
        if kind != SYMLINK:
            continue
        try:
            target = link_target(prefix, path, os.readlink(os.path.join(prefix, path)))
        except OSError as exc:
            raise source_read_error(exc) from exc
        if target is None or not link_stays_inside(path, target):
            outside.append(path)
    return outside


def bad_links_message(links: list[str]) -> str:
    shown = ", ".join(links[:5]) + (" ..." if len(links) > 5 else "")
    return (
        f"{len(links)} symlink(s) point outside the environment (or climb with '..' after "
        f"a directory name, which conda unbundle refuses): {shown}. Replace them with "
        "files, or leave them out with --exclude."
    )


def refuse_editables(found: list[str]) -> None:
    raise EditableInstallError(editables_message(found))


def editables_message(found: list[str]) -> str:
    """Why editable installs stop a bundle, and what to do (a dry run reports it too)."""
    return (
        f"Editable install(s) cannot be bundled: {', '.join(found)}. Install them "
        "normally (pip install <path>), or pass --ignore-editable to leave them behind."
    )


def editable_installs(prefix: str) -> dict[str, list[str]]:
    """Editable installs by name, with the paths (relative to ``prefix``) that make them up."""
    found: dict[str, list[str]] = {}
    for site in _site_packages_dirs(prefix):
        rel_site = os.path.relpath(site, prefix).replace(os.sep, "/")
        for name in sorted(os.listdir(site)):
            full = os.path.join(site, name)
            if name.endswith(".egg-link"):
                found[name[: -len(".egg-link")]] = [f"{rel_site}/{name}"]
            elif name.endswith(".dist-info") and _is_editable_dist(full):
                stem = name[: -len(".dist-info")]
                found[stem.rsplit("-", 1)[0]] = _editable_paths(prefix, site, rel_site, stem)
    return found


def _editable_paths(prefix: str, site: str, rel_site: str, stem: str) -> list[str]:
    """An editable dist-info, its ``__editable__`` hooks, and what its RECORD lists."""
    hook_stems = (f"__editable__.{stem}", "__editable___" + re.sub(r"[-.]", "_", stem))
    paths = [f"{rel_site}/{stem}.dist-info"]
    paths += [f"{rel_site}/{n}" for n in os.listdir(site) if n.startswith(hook_stems)]
    try:
        with open(os.path.join(site, f"{stem}.dist-info", "RECORD"), encoding="utf-8") as fh:
            listed = [line.split(",")[0] for line in fh if line.strip()]
    except OSError:
        listed = []
    for entry in listed:
        rel = os.path.relpath(os.path.normpath(os.path.join(site, entry)), prefix)
        if not rel.startswith(".."):
            paths.append(rel.replace(os.sep, "/"))
    return sorted(set(paths))


def _is_editable_dist(dist_info: str) -> bool:
    try:
        with open(os.path.join(dist_info, "direct_url.json"), "rb") as fh:
            return bool(json.load(fh).get("dir_info", {}).get("editable"))
    except (OSError, ValueError, AttributeError):
        return False


def _site_packages_dirs(prefix: str) -> Iterable[str]:
    lib = os.path.join(prefix, "lib")
    if os.path.isdir(lib):
        for name in sorted(os.listdir(lib)):
            site = os.path.join(lib, name, "site-packages")
            if name.startswith("python") and os.path.isdir(site):
                yield site
    windows_site = os.path.join(prefix, "Lib", "site-packages")
    if os.path.isdir(windows_site):
        yield windows_site


def missing_files(prefix: str, pkgs: list[PackageFiles], walked: set[str]) -> dict[str, list[str]]:
    """Files that conda records as installed but that are not there, by package.

    ``walked`` holds what the walk found; a path it did not reach may still be there
    through a symlinked directory.
    """
    missing = {
        pkg.name: [
            p
            for p in pkg.record_paths
            if p not in walked and not os.path.lexists(os.path.join(prefix, p))
        ]
        for pkg in pkgs
    }
    return {name: paths for name, paths in sorted(missing.items()) if paths}


def refuse_missing(missing: dict[str, list[str]]) -> None:
    raise MissingFilesError(missing_message(missing))


def missing_message(missing: dict[str, list[str]]) -> str:
    """Why missing files stop a bundle, and what to do (a dry run reports it too)."""
    detail = "; ".join(
        f"{name}: {', '.join(paths[:3])}" + (" ..." if len(paths) > 3 else "")
        for name, paths in sorted(missing.items())
    )
    return (
        f"Files recorded by conda are missing from the environment ({detail}). Reinstall "
        "those packages, or pass --ignore-missing to bundle without them."
    )


def refuse_interrupted_unpack(prefix: str) -> None:
    """An environment whose conda-unpack was interrupted holds files relocated to another
    path than its records say: bundling it would ship them so."""
    if os.path.lexists(os.path.join(prefix, JOURNAL)):
        raise SourceEnvironmentError(
            f"bin/conda-unpack was interrupted in {prefix} ({JOURNAL} is there): some of "
            "its files hold another path. Run bin/conda-unpack there again to finish, then "
            "bundle it."
        )
