"""Issue 14's performance targets, evaluated against measured results (never asserted)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .importcost import ImportCost
from .suite import Result

RSS_LIMIT = 200_000_000
"""200 MB (10^6 bytes)."""
IMPORT_LIMIT_US = 5000
STORAGES = ("tmpfs", "disk")
Passes = dict[str, dict[str, list[Result]]]
"""env (``big`` / ``small``) -> storage (``tmpfs`` / ``disk``) -> results."""


@dataclass
class Target:
    """One target on one env and storage: what it asks, the measured value, and whether it
    is met (None: not measured)."""

    row: str
    """The row of the issue's table."""
    where: str
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


def _check(
    row: str, where: str, goal: str, value: float | None, fmt: Callable[[float], str], ok
) -> Target:
    if value is None:
        return Target(row, where, goal, "not measured", None)
    return Target(row, where, goal, fmt(value), bool(ok(value)))


def _both(row: str, where: str, checks: list[Target]) -> Target:
    """One target made of several checks: met only if all are."""
    known = [c for c in checks if c.met is not None]
    met = None if len(known) < len(checks) else all(c.met for c in checks)
    return Target(
        row, where, "; ".join(c.goal for c in checks), "; ".join(c.measured for c in checks), met
    )


TIMES = "{:.2f}x the time".format
SIZES = "{:.3f}x the size".format
FASTER = "conda-pack takes {:.2f}x as long".format


def _pass_targets(env: str, storage: str, results: list[Result]) -> list[Target]:
    """The time and size targets that one env on one storage is measured against."""
    get = {r.key: r for r in results}.get
    where = f"{env}, {storage}"
    gnu, gnu_x = get("pack.gnu"), get("unpack.gnu")
    bzst, bgz = get("pack.bundle.tar.zst"), get("pack.bundle.tar.gz")
    cpzst, cpgz = get("pack.conda-pack.tar.zst"), get("pack.conda-pack.tar.gz")
    targets = []
    if env == "big":
        targets.append(
            _both(
                "bundle tar.zst, big env",
                where,
                [
                    _check(
                        "",
                        "",
                        "≤ 1.2x `tar | zstd -T0 -3`",
                        _ratio(bzst, gnu, "seconds"),
                        TIMES,
                        lambda v: v <= 1.2,
                    ),
                    _check(
                        "",
                        "",
                        "size ≤ 1.02x",
                        _ratio(bzst, gnu, "size"),
                        SIZES,
                        lambda v: v <= 1.02,
                    ),
                ],
            )
        )
    else:
        targets.append(
            _both(
                "bundle tar.zst, small-files env",
                where,
                [
                    _check(
                        "",
                        "",
                        "≤ 1.5x `tar | zstd -T0 -3`",
                        _ratio(bzst, gnu, "seconds"),
                        TIMES,
                        lambda v: v <= 1.5,
                    ),
                    _check(
                        "",
                        "",
                        "conda-pack tar.zst ≥ 5x as long",
                        _ratio(cpzst, bzst, "seconds"),
                        FASTER,
                        lambda v: v >= 5,
                    ),
                ],
            )
        )
    targets.append(
        _both(
            "bundle tar.gz, both envs",
            where,
            [
                _check(
                    "",
                    "",
                    "conda-pack `tar.gz -j -1` ≥ 2x as long",
                    _ratio(cpgz, bgz, "seconds"),
                    FASTER,
                    lambda v: v >= 2,
                ),
                _check(
                    "",
                    "",
                    "size ≤ 1.08x conda-pack's",
                    _ratio(bgz, cpgz, "size"),
                    SIZES,
                    lambda v: v <= 1.08,
                ),
            ],
        )
    )
    limit = {("big", "tmpfs"): 1.25, ("big", "disk"): 1.1, ("small", "tmpfs"): 2.0}.get(
        (env, storage)
    )
    if limit is not None:
        targets.append(
            _check(
                "unbundle tar.zst, incl. verification and relocation",
                where,
                f"≤ {limit}x `zstd -d | tar -x`",
                _ratio(get("unpack.bundle.tar.zst"), gnu_x, "seconds"),
                TIMES,
                lambda v, lim=limit: v <= lim,
            )
        )
    targets.append(
        _both(
            "no-conda path",
            where,
            [
                _check(
                    "",
                    "",
                    "`tar -x` + `bin/conda-unpack` ≤ 1.2x conda-pack's (tar.zst)",
                    _ratio(
                        get("unpack.bundle.no-conda"), get("unpack.conda-pack.tar.zst"), "seconds"
                    ),
                    TIMES,
                    lambda v: v <= 1.2,
                ),
                _check(
                    "",
                    "",
                    "`.sh` installer ≤ 1.3x plain `tar -x` of its payload",
                    _ratio(get("unpack.bundle.sh"), get("unpack.sh-payload"), "seconds"),
                    TIMES,
                    lambda v: v <= 1.3,
                ),
            ],
        )
    )
    return targets


def _peak(results: list[Result], keys: tuple[str, ...]) -> float | None:
    rows = [r for r in results if r.key in keys and not r.error]
    return max(r.peak_rss for r in rows) if rows else None


def _rss_targets(env: str, storages: dict[str, list[Result]]) -> list[Target]:
    everything = [r for results in storages.values() for r in results]
    mb = "{:.0f} MB".format
    bundle = ("pack.bundle.tar.zst", "pack.bundle.tar.gz", "pack.bundle.sh")
    unbundle = ("unpack.bundle.tar.zst", "unpack.bundle.tar.gz")
    where = f"{env}, {' + '.join(storages)}"
    return [
        _both(
            "peak RSS of the conda process",
            where,
            [
                _check(
                    "",
                    "",
                    "bundle < 200 MB",
                    _peak(everything, bundle),
                    lambda v: mb(v / 1e6),
                    lambda v: v < RSS_LIMIT,
                ),
                _check(
                    "",
                    "",
                    "unbundle < 200 MB",
                    _peak(everything, unbundle),
                    lambda v: mb(v / 1e6),
                    lambda v: v < RSS_LIMIT,
                ),
            ],
        )
    ]


def _import_target(cost: ImportCost | None) -> Target:
    row = "the plugin's cost to every conda command"
    goal = "import adds ≤ 5 ms; imports neither codecs nor the pipeline"
    if cost is None or cost.error:
        return Target(
            row, "any env", goal, f"not measured {cost.error if cost else ''}".strip(), None
        )
    heavy = ", ".join(cost.heavy) or "neither"
    measured = f"{cost.plugin_us / 1000:.1f} ms; imports {heavy}"
    return Target(
        row, "any env", goal, measured, cost.plugin_us <= IMPORT_LIMIT_US and not cost.heavy
    )


def evaluate(passes: Passes, cost: ImportCost | None) -> list[Target]:
    """Every target of the issue, in the order the issue lists them."""
    by_pass = []
    for env, storages in passes.items():
        for storage in STORAGES:
            if storage in storages:
                by_pass += _pass_targets(env, storage, storages[storage])
    order = [
        "bundle tar.zst, big env",
        "bundle tar.zst, small-files env",
        "bundle tar.gz, both envs",
        "unbundle tar.zst, incl. verification and relocation",
        "no-conda path",
    ]
    targets = sorted(by_pass, key=lambda t: order.index(t.row))
    for env, storages in passes.items():
        targets += _rss_targets(env, storages)
    return [*targets, _import_target(cost)]
