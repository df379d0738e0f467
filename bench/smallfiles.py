"""Many-small-files packages ``smallNNN`` for the small-files benchmark env.

Shaped like the packages whose per-file cost decides bundling time: R libraries, node
module trees, documentation and data packages. Each holds a given number of files of
about 3 KB (log-normal sizes, 64 B to 256 KiB) in nested directories, with:

- text-like content that compresses like source code (about 4x with ``zstd -3``): slices
  of a seeded corpus of made-up words, larger than zstd's window, so that files do not
  repeat each other within it;
- one text prefix file (a ``-config`` script holding the build prefix), so relocation has
  real work in every package;
- two symlinks (one to a directory, one to a file);
- every tenth package is ``noarch: python``: its modules live in ``site-packages`` and
  conda compiles them to ``__pycache__`` when it installs them.

Everything is seeded: the same index gives the same package on every machine.
"""

from __future__ import annotations

import functools
import itertools
import random
import shutil
from pathlib import Path

from tests.support.condapkg import PackageSpec, placeholder_prefix, write_package

from .config import GLIBC_FLOOR, PY_VERSION

CORPUS_BYTES = 32 << 20
VOCABULARY = 3000
MEAN_LOG = 7.4
"""Log-normal size parameters: exp(7.4 + 1/2) is about 2.7 KB (3 KB with the header line
and the clipping)."""
SIGMA_LOG = 1.0
MIN_SIZE, MAX_SIZE = 64, 256 << 10
FILES_PER_DIR = 25
PYTHON_EVERY = 10
PY_MODULES = 60
"""``.py`` modules of a ``noarch: python`` package (the rest of its files are data)."""
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
_LETTER_WEIGHTS = [12, 9, 8, 7.5, 7, 6.7, 6.3, 6, 5.9, 4.3, 4, 2.8, 2.7, 2.4, 2.4, 2.2, 2]
_LETTER_WEIGHTS += [2, 1.9, 1.5, 1, 0.8, 0.2, 0.2, 0.1, 0.1]
_PUNCTUATION = ["(", ")", "=", ":", ",", "{", "}", "[", "]", "+", "-", "*", "/", "#", "->", "."]
_LAYOUTS = (
    ("lib/R/library/{name}", ("R", "help", "html", "doc", "data", "tests"), (".R", ".Rd", ".html")),
    ("lib/node_modules/{name}", ("lib", "dist", "src", "types", "node_modules"), (".js", ".json")),
    ("share/doc/{name}", ("html", "_sources", "_static", "api", "examples"), (".html", ".txt")),
    ("share/{name}", ("data", "tables", "locale", "schemas"), (".csv", ".tsv", ".json")),
)


def _word(rng: random.Random) -> str:
    word = "".join(rng.choices(_LETTERS, _LETTER_WEIGHTS, k=rng.randint(2, 11)))
    roll = rng.random()
    if roll < 0.15:
        return word + "_" + "".join(rng.choices(_LETTERS, _LETTER_WEIGHTS, k=rng.randint(2, 6)))
    return word.capitalize() if roll < 0.2 else word


@functools.cache
def corpus() -> bytes:
    """:data:`CORPUS_BYTES` of code-like lines: Zipf-distributed words, indentation, numbers.

    No quotes or backslashes, so any slice fits in a Python triple-quoted string.
    """
    rng = random.Random(14)
    vocabulary = [_word(rng) for _ in range(VOCABULARY)] + _PUNCTUATION
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    rng.shuffle(weights)
    cumulative = list(itertools.accumulate(weights))
    lines: list[str] = []
    total = 0
    while total < CORPUS_BYTES:
        words = rng.choices(vocabulary, cum_weights=cumulative, k=4096)
        start = 0
        while start < len(words):
            count = rng.randint(2, 12)
            line = " " * (4 * rng.randint(0, 3)) + " ".join(words[start : start + count])
            if rng.random() < 0.1:
                line += f" {rng.randint(0, 99999)}"
            lines.append(line)
            total += len(line) + 1
            start += count
    return "\n".join(lines).encode()[:CORPUS_BYTES]


def _text(rng: random.Random, header: str) -> bytes:
    """One file's content: a header line and a log-normal-sized slice of the corpus."""
    text = corpus()
    size = int(min(max(rng.lognormvariate(MEAN_LOG, SIGMA_LOG), MIN_SIZE), MAX_SIZE))
    start = rng.randrange(len(text) - size)
    return header.encode() + b"\n" + text[start : start + size]


def _directories(rng: random.Random, root: str, tops: tuple[str, ...], count: int) -> list[str]:
    """``count`` directories under ``root``: the layout's top directories, nested 1-3 deep."""
    dirs = [f"{root}/{top}" for top in tops]
    while len(dirs) < count:
        parent = rng.choice(dirs)
        if parent.count("/") - root.count("/") < 4:
            dirs.append(f"{parent}/{_word(rng).lower()}")
    return dirs


def _python_module(rng: random.Random, name: str, index: int) -> bytes:
    """A valid module: a docstring cut from the corpus and a few functions."""
    doc = _text(rng, f"{name} module {index}").decode()
    funcs = "".join(f"\n\ndef f{n}(x):\n    return x + {n}\n" for n in range(rng.randint(1, 8)))
    return f'"""{doc}"""\n\nNAME = {name!r}\n{funcs}'.encode()


def _payload(name: str, index: int, files: int, rng: random.Random) -> dict[str, bytes]:
    """Relative path -> content of the package's plain files (prefix file excluded)."""
    root, tops, suffixes = _LAYOUTS[index % len(_LAYOUTS)]
    root = root.format(name=name)
    payload: dict[str, bytes] = {}
    if index % PYTHON_EVERY == 0:
        payload[f"site-packages/{name}/__init__.py"] = _python_module(rng, name, 0)
        for n in range(1, PY_MODULES):
            payload[f"site-packages/{name}/mod{n:03d}.py"] = _python_module(rng, name, n)
    dirs = _directories(rng, root, tops, max(len(tops), files // FILES_PER_DIR))
    while len(payload) < files - 1:
        rel = f"{rng.choice(dirs)}/{_word(rng).lower()}{rng.choice(suffixes)}"
        payload.setdefault(rel, _text(rng, f"# {name}: {rel}"))
    return payload


def _config_script(name: str, prefix: str) -> str:
    """The package's text prefix file."""
    return (
        f'#!/bin/sh\nprefix="{prefix}"\ncase "$1" in\n  --prefix) echo "$prefix" ;;\n'
        f'  --data) echo "$prefix/share/{name}" ;;\n  *) echo "usage: $0 --prefix" >&2 ;;\nesac\n'
    )


def _add_symlinks(prefix: Path, rels: list[str], rng: random.Random) -> None:
    """A directory symlink and a file symlink, both relative, beside their targets."""
    first = prefix / rng.choice(rels)
    (first.parent.parent / "current").symlink_to(first.parent.name)
    second = prefix / rng.choice(rels)
    (second.parent / f"link-{second.name}").symlink_to(second.name)


def build_small(build_root: Path, channel: Path, index: int, files: int) -> Path:
    """Write package ``small<index>`` (``files`` files plus 2 symlinks) into ``channel``."""
    name = f"small{index:03d}"
    rng = random.Random(f"small {index}")
    prefix = placeholder_prefix(build_root, name)
    try:
        payload = _payload(name, index, files, rng)
        for rel, data in payload.items():
            path = prefix / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        config = prefix / "bin" / f"{name}-config"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(_config_script(name, str(prefix)))
        config.chmod(0o755)
        plain = [rel for rel in payload if not rel.startswith("site-packages/")]
        _add_symlinks(prefix, plain, rng)
        if index % PYTHON_EVERY == 0:
            spec = PackageSpec(name, "1.0.0", noarch="python", depends=[f"python {PY_VERSION}.*"])
        else:
            spec = PackageSpec(name, "1.0.0", depends=[f"__glibc >={GLIBC_FLOOR}"])
        return write_package(prefix, spec, channel)
    finally:
        shutil.rmtree(prefix.parent)
