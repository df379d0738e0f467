"""Where an environment comes from: the two manifest keys that tie generations together.

``delta`` (a delta bundle's head) names the full manifest the delta applies to by its
checksum, with the base's packages (for ``--info``) and the paths the delta removes.
``origin`` (a kept manifest's head) names the bundle manifest the environment was made
from, with what that manifest said of each file unbundling or conda-unpack rewrote (its
``sha256``, ``size`` and prefix rule as shipped). From a kept manifest and its origin the
bundle manifest can be rebuilt exactly: that is the base a delta is made against and
checked against, wherever the environment was installed or moved to since.

Both are checked here as plain JSON, before any of it is used.
"""

from __future__ import annotations

from typing import Any

from .jsoncheck import damaged, sha256, short_text
from .paths import path_problem

_PACKAGE_KEYS = ("name", "version", "build", "channel")


def _path(value: Any, what: str) -> str:
    if type(value) is not str or path_problem(value):
        raise damaged(f"{what} is not a safe path")
    return value


def check_delta(delta: Any) -> dict[str, Any]:
    """A delta head: ``base`` (checksum of the base's full manifest), ``base_name``,
    ``base_packages`` (name, version, build, channel) and ``removed`` (paths)."""
    if not isinstance(delta, dict):
        raise damaged("its delta is not an object")
    sha256(delta.get("base"), "the delta's base")
    short_text(delta.get("base_name"), "the delta's base name")
    packages = delta.get("base_packages")
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise damaged("the delta's base packages are not a list of objects")
    for package in packages:
        for key in _PACKAGE_KEYS:
            short_text(package.get(key), f"a base package's {key}")
    removed = delta.get("removed")
    if not isinstance(removed, list):
        raise damaged("the delta's removed paths are not a list")
    for path in removed:
        _path(path, "a removed path")
    return delta


def check_origin(origin: Any) -> dict[str, Any]:
    """A kept manifest's origin: ``manifest`` (checksum of the bundle manifest) and
    ``shipped`` (path: ``sha256``, ``size`` and optional ``prefix`` as shipped)."""
    if not isinstance(origin, dict):
        raise damaged("its origin is not an object")
    sha256(origin.get("manifest"), "the origin's manifest")
    shipped = origin.get("shipped")
    if not isinstance(shipped, dict):
        raise damaged("the origin's shipped files are not an object")
    for path, item in shipped.items():
        _path(path, "a shipped path")
        if not isinstance(item, dict):
            raise damaged(f"what was shipped at {path!r} is not an object")
        sha256(item.get("sha256"), f"the shipped sha256 of {path!r}")
        if type(item.get("size")) is not int or item["size"] < 0:
            raise damaged(f"the shipped size of {path!r} is not a size")
        rule = item.get("prefix")
        if rule is not None and not (
            isinstance(rule, dict)
            and rule.get("mode") in ("text", "binary")
            and short_text(rule.get("placeholder"), "a shipped placeholder")
        ):
            raise damaged(f"the shipped prefix rule of {path!r} is not a rule")
    return origin
