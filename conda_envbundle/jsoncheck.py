"""Checks of a manifest's plain JSON values, each failure a BundleFormatError that says what."""

from __future__ import annotations

import re
from typing import Any

from .exceptions import BundleFormatError
from .paths import text_problem

SHA256 = re.compile(r"[0-9a-f]{64}")
_SHORT_TEXT = 4096


def damaged(what: str) -> BundleFormatError:
    """The error for a manifest that says ``what``."""
    return BundleFormatError(f"The bundle's manifest is damaged: {what}.")


def short_text(value: Any, what: str, *, optional: bool = False) -> Any:
    """A short string fit for a file name or a terminal (None only when ``optional``)."""
    if value is None and optional:
        return None
    if type(value) is not str or len(value) > _SHORT_TEXT:
        raise damaged(f"its {what} is not a short string")
    problem = text_problem(value)
    if problem:
        raise damaged(f"its {what} is not valid text ({problem})")
    return value


def sha256(value: Any, what: str) -> str:
    """A sha256 as lowercase hex."""
    if type(value) is not str or not SHA256.fullmatch(value):
        raise damaged(f"{what} is not a sha256")
    return value
