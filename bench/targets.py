"""The issue's performance targets, evaluated against measured results (never asserted)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .suite import Result

RSS_LIMIT = 200_000_000
"""200 MB (10^6 bytes)."""


@dataclass
class Target:
    """One target: what it asks, the measured value, and whether it is met (None: no data)."""

    goal: str
    measured: str
    met: bool | None


def _ratio(a: Result | None, b: Result | None, attr: str) -> float | None:
    """``a.attr / b.attr``, or None when either is missing or failed."""
    if a is None or b is None or a.error or b.error:
        return None
    x, y = getattr(a, attr), getattr(b, attr)
    if x is None or y is None or not y:
        return None
    return x / y


def _check(goal: str, value: float | None, fmt: Callable[[float], str], ok: Callable) -> Target:
    if value is None:
        return Target(goal, "not measured", None)
    return Target(goal, fmt(value), bool(ok(value)))


def evaluate(results: list[Result]) -> list[Target]:
    """Every target of the issue, in the order the issue lists them."""
    by_key = {r.key: r for r in results}
    get = by_key.get
    bzst, bgz = get("pack.bundle.tar.zst"), get("pack.bundle.tar.gz")
    gnu, gnu_x = get("pack.gnu"), get("unpack.gnu")
    cpzst, cpgz = get("pack.conda-pack.tar.zst"), get("pack.conda-pack.tar.gz")
    ubzst = get("unpack.bundle.tar.zst")
    times = "{:.2f}x the time".format
    faster = "conda-pack takes {:.2f}x as long".format
    sizes = "{:.3f}x the size".format
    bundle_rss = [r for r in (bzst, bgz) if r is not None and not r.error]
    unbundle_rss = [
        r for r in (ubzst, get("unpack.bundle.tar.gz")) if r is not None and not r.error
    ]

    def peak(rows: list[Result]) -> float | None:
        return max(r.peak_rss for r in rows) if rows else None

    return [
        _check(
            "bundle tar.zst wall time ≤ 1.3x `tar | zstd -T0 -3`",
            _ratio(bzst, gnu, "seconds"),
            times,
            lambda v: v <= 1.3,
        ),
        _check(
            "bundle tar.zst ≥ 5x faster than conda-pack `--format tar.zst`",
            _ratio(cpzst, bzst, "seconds"),
            faster,
            lambda v: v >= 5,
        ),
        _check(
            "bundle tar.zst size within 5 % of `tar | zstd -3` (≤ 1.05x)",
            _ratio(bzst, gnu, "size"),
            sizes,
            lambda v: v <= 1.05,
        ),
        _check(
            "bundle tar.gz ≥ 3x faster than conda-pack `--format tar.gz -j -1`",
            _ratio(cpgz, bgz, "seconds"),
            faster,
            lambda v: v >= 3,
        ),
        _check(
            "bundle tar.gz size same or smaller than conda-pack tar.gz (≤ 1.01x)",
            _ratio(bgz, cpgz, "size"),
            sizes,
            lambda v: v <= 1.01,
        ),
        _check(
            "unbundle (tar.zst, incl. verification + relocation) ≤ 1.5x `zstd -d | tar -x`",
            _ratio(ubzst, gnu_x, "seconds"),
            times,
            lambda v: v <= 1.5,
        ),
        _check(
            "bundle peak RSS < 200 MB (both formats)",
            peak(bundle_rss),
            lambda v: f"{v / 1e6:.0f} MB",
            lambda v: v < RSS_LIMIT,
        ),
        _check(
            "unbundle peak RSS < 200 MB (both formats)",
            peak(unbundle_rss),
            lambda v: f"{v / 1e6:.0f} MB",
            lambda v: v < RSS_LIMIT,
        ),
    ]
