"""Files added to every bundle so that it works where no conda is installed.

``bin/conda-unpack`` (a POSIX sh launcher) runs ``bin/.conda-unpack.py`` with
the environment's own python after a plain ``tar -x``; ``bin/activate``,
``bin/deactivate`` and ``bin/activate.fish`` activate the environment without conda,
with the environment variables of ``conda env config vars`` baked in.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from importlib import resources

from .. import scan
from ..manifest import FILE, FileEntry
from ..relocation import rules_source
from .items import Item

# Environment variables hold this in place of the prefix while the activation scripts are
# made; each occurrence becomes the path the scripts find at activation.
GENERATED_PLACEHOLDER = "/conda-envbundle/generated/placeholder/prefix"
UNPACK_SCRIPT = "bin/.conda-unpack.py"
LAUNCHER = "bin/conda-unpack"
ACTIVATION = ("bin/activate", "bin/deactivate", "bin/activate.fish")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The unpack template's import of the rules it shares with conda unbundle: a bundle
# carries the rules' source in its place, as the environment's python cannot import us.
_RULES_IMPORT = re.compile(
    r"^from conda_envbundle\.relocation\.rules import \([^)]*\)\n", re.MULTILINE
)


def _template(name: str) -> str:
    templates = resources.files("conda_envbundle").joinpath("templates")
    return templates.joinpath(name).read_text("utf-8")


def unpack_script() -> str:
    """``bin/.conda-unpack.py``: the unpack template with relocation/rules.py spliced in."""
    script, spliced = _RULES_IMPORT.subn(lambda _: rules_source(), _template("unpack.py"))
    if spliced != 1:
        raise RuntimeError("templates/unpack.py must import relocation.rules exactly once")
    return script


def generated_paths(has_conda: bool) -> list[str]:
    """The paths :func:`generated_items` adds (and so takes out of the environment's walk)."""
    return [UNPACK_SCRIPT, LAUNCHER, *([] if has_conda else ACTIVATION)]


def generated_items(prefix: str, has_conda: bool) -> list[Item]:
    """The unpack script, its launcher and (unless the env has conda) activation scripts.

    The activation scripts find the environment where they are when sourced, so they hold
    no path: they work before ``conda-unpack`` has run, and after any move.
    """
    items = [
        _item(UNPACK_SCRIPT, unpack_script(), 0o644),
        _item(LAUNCHER, _template("conda-unpack.sh"), 0o755),
    ]
    if not has_conda:
        env_vars = {
            key: value.replace(prefix, GENERATED_PLACEHOLDER)
            for key, value in environment_variables(prefix).items()
        }
        sh_set, sh_unset = _sh_vars(env_vars)
        fish_set, fish_unset = _fish_vars(env_vars)
        scripts = {
            "bin/activate": _template("activate.sh").replace("@SET_VARS@", sh_set),
            "bin/deactivate": _template("deactivate.sh").replace("@UNSET_VARS@", sh_unset),
            "bin/activate.fish": _template("activate.fish")
            .replace("@SET_VARS@", fish_set)
            .replace("@UNSET_VARS@", fish_unset),
        }
        items += [_item(path, text, 0o644) for path, text in scripts.items()]
    return items


def _item(path: str, text: str, mode: int) -> Item:
    content = text.encode("utf-8")
    facts = scan.scan_bytes([content], None)
    return Item.in_memory(FileEntry(path, FILE, mode, facts.size, facts.sha256), content)


def environment_variables(prefix: str) -> dict[str, str]:
    """``etc/conda/env_vars.d/*.json`` then ``conda-meta/state``, as conda activate reads them."""
    found: dict[str, str] = {}
    env_vars_d = os.path.join(prefix, "etc", "conda", "env_vars.d")
    if os.path.isdir(env_vars_d):
        for name in sorted(os.listdir(env_vars_d)):
            if name.endswith(".json"):
                found.update(_json_object(os.path.join(env_vars_d, name)))
    found.update(_json_object(os.path.join(prefix, "conda-meta", "state")).get("env_vars", {}))
    return {k: str(v) for k, v in found.items() if _NAME.match(k)}


def _json_object(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _spliced(value: str, quote: Callable[[str], str]) -> str:
    """``value`` as one shell word, the environment's path taken from the activation."""
    return '"$_ENVBUNDLE_ACTIVE"'.join(quote(part) for part in value.split(GENERATED_PLACEHOLDER))


def _sh_vars(env_vars: dict[str, str]) -> tuple[str, str]:
    sets, unsets = [], []
    for key, value in env_vars.items():
        saved = f"_ENVBUNDLE_SAVED_{key}"
        sets.append(f'if [ -n "${{{key}+x}}" ]; then {saved}=${key}; fi')
        sets.append(f"{key}={_spliced(value, _sh_quote)}; export {key}")
        unsets.append(
            f'    if [ -n "${{{saved}+x}}" ]; then {key}=${saved}; unset {saved}; '
            f"else unset {key}; fi"
        )
    return "\n".join(sets), "\n".join(unsets)


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_vars(env_vars: dict[str, str]) -> tuple[str, str]:
    sets, unsets = [], []
    for key, value in env_vars.items():
        saved = f"_ENVBUNDLE_SAVED_{key}"
        sets.append(f"set -q {key}; and set -g {saved} ${key}")
        sets.append(f"set -gx {key} {_spliced(value, _fish_quote)}")
        unsets.append(
            f"    if set -q {saved}; set -gx {key} ${saved}; set -e {saved}; "
            f"else; set -e {key}; end"
        )
    return "\n".join(sets), "\n".join(unsets)
