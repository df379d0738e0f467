"""Relocation, below both flows: prefix rewriting (prefix), conda-meta records (records),
pycs (bytecode), and the rules they share with the no-conda unpacker (rules)."""

from importlib import resources


def rules_source() -> str:
    """rules.py as text, for the programs that run it in an environment's own python
    (where this package cannot be imported): ``bin/.conda-unpack.py``, the pyc compiler."""
    return resources.files(__name__).joinpath("rules.py").read_text("utf-8")
