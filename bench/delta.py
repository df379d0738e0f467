"""Delta updates (issue 16): update one package of the big env, measure the delta against full
bundles and a full unbundle.

Usage (from the repository root, with the development virtualenv)::

    make bench-delta                       # big env -> "Delta updates" in docs/performance.md
    make bench-delta BENCH_ARGS=--quick    # big-quick env -> bench/.cache/delta-quick.md

The source env is a ``conda create --clone`` of the cached benchmark env (bench/buildenv.py;
the cached env itself is never changed), kept under ``bench/.cache/delta-<key>``. Each run
goes through two generations of it as a build site would: ``conda install`` the package's
previous release (v1) and bundle it in full, ``conda install`` the release the benchmark env
has (v2), then measure ``conda bundle`` in full against ``--delta-from`` and ``conda
unbundle`` of the full bundle into a new path against applying the delta to an unbundled v1.
Archives and targets are on tmpfs (:data:`RUNS`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# as bench/run.py: bench modules are imported as ``bench.*`` only
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.buildenv import BenchEnv, ensure_env, smoke_test  # noqa: E402
from bench.config import CACHE, PROFILES, Profile  # noqa: E402
from bench.measure import Run, run_measured  # noqa: E402
from bench.suite import CONDA, Result  # noqa: E402
from conda_envbundle.unbundling.generations import previous_of  # noqa: E402

RUNS = Path("/dev/shm/envbundle-bench-delta")
BEGIN, END = "<!-- delta:begin -->", "<!-- delta:end -->"
STAMP = "complete.json"


@dataclass(frozen=True)
class Bump:
    """The package updated between the two generations: ``old`` is its release before the
    one the benchmark env has (the env pins the newest, so the update goes old -> pinned)."""

    package: str
    old: str


BUMPS = {"big": Bump("numpy", "2.4.5"), "big-quick": Bump("pyyaml", "6.0.2")}

ARCHIVES = {
    "$V1": "v1.tar.zst",
    "$V2": "v2.tar.zst",
    "$DELTA": "delta.tar.zst",
    "$XDELTA": "delta-from-base.tar.zst",
    "$BASE": "base.json",
}
"""Placeholders of the commands -> file names in the runs directory."""


@dataclass
class Source:
    """The cloned source env, the channel with both releases of the package, conda settings."""

    directory: Path
    bump: Bump
    new: str
    conda_env: dict[str, str]

    @property
    def prefix(self) -> Path:
        return self.directory / "env"

    @property
    def channel(self) -> Path:
        return self.directory / "channel"


@dataclass
class Outcome:
    """Everything the section shows."""

    profile: Profile
    source: Source
    rows: list[Result]
    sizes: dict[str, int]
    delta_info: dict
    setup: dict[str, float]
    previous_size: int | None
    repeat: int
    load: tuple[float, float]
    seconds: float


# -- the source env -----------------------------------------------------------------------------


def _installed(prefix: Path, name: str) -> dict:
    """The conda-meta record of package ``name`` in ``prefix``."""
    for meta in (prefix / "conda-meta").glob(f"{name}-*.json"):
        record = json.loads(meta.read_text())
        if record["name"] == name:
            return record
    raise RuntimeError(f"{name} is not installed in {prefix}")


def _conda_env(directory: Path, bench_env: BenchEnv) -> dict[str, str]:
    """conda's home under ``directory``; its own package cache first (written), then the
    benchmark env's (only read: the clone hardlinks from it, as ``conda create`` did)."""
    from tests.support.isolation import conda_env_vars

    env = conda_env_vars(directory / "conda")
    env["CONDA_PKGS_DIRS"] = f"{env['CONDA_PKGS_DIRS']},{bench_env.pkgs_dir}"
    return env


def _checked(run: Run, what: str) -> Run:
    if run.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {run.returncode}):\n{run.output}")
    return run


def ensure_source(bench_env: BenchEnv, bump: Bump) -> Source:
    """The clone of the benchmark env and the channel of the update, built once."""
    from bench.channel import write_repodata
    from bench.wheel2conda import convert_wheel
    from bench.wheels import download

    directory = CACHE / f"delta-{bench_env.profile.key()}-{bump.package}-{bump.old}"
    record = _installed(bench_env.prefix, bump.package)
    built = (directory / STAMP).is_file()
    if not built and directory.exists():  # an interrupted build
        shutil.rmtree(directory)
    source = Source(directory, bump, record["version"], _conda_env(directory, bench_env))
    if built:
        return source
    print(f"cloning the {bench_env.profile.name} env into {directory}", flush=True)
    build = directory / "build"
    build.mkdir()
    (wheel,) = download([f"{bump.package}=={bump.old}"])
    convert_wheel(wheel, build, source.channel)
    shutil.rmtree(build)
    # v2 is the very package the benchmark env was created from
    shutil.copy2(bench_env.pkgs_dir / record["fn"], source.channel / record["subdir"])
    write_repodata(source.channel)
    clone = [str(CONDA), "create", "--offline", "--yes", "--quiet", "--clone"]
    clone += [str(bench_env.prefix), "-p", str(source.prefix)]
    run = _checked(run_measured(clone, env=source.conda_env), "conda create --clone")
    (directory / STAMP).write_text(json.dumps({"clone_seconds": round(run.seconds, 1)}))
    return source


def install(source: Source, version: str) -> float:
    """``conda install`` release ``version`` of the package into the source env; seconds."""
    cmd = [str(CONDA), "install", "--offline", "--override-channels", "-c"]
    cmd += [source.channel.as_uri(), "-p", str(source.prefix), "--yes", "--quiet"]
    cmd.append(f"{source.bump.package}={version}")
    run = _checked(run_measured(cmd, env=source.conda_env), f"conda install {cmd[-1]}")
    found = _installed(source.prefix, source.bump.package)["version"]
    if found != version:
        raise RuntimeError(f"conda install left {source.bump.package} {found}, not {version}")
    return run.seconds


# -- measuring ----------------------------------------------------------------------------------


class Meter:
    """Renders and runs the commands on the runs directory; prepares and clears targets."""

    def __init__(self, source: Source, runs: Path, profile: Profile) -> None:
        self.source = source
        self.profile = profile
        self.runs = runs
        self.target = runs / "target"
        """An unbundled v1 that a delta updates."""
        self.new = runs / "new"
        """Where the full bundle is unbundled."""

    def render(self, template: str) -> str:
        text = template.replace("$ENV", shlex.quote(str(self.source.prefix)))
        text = text.replace("$T", shlex.quote(str(self.target)))
        text = text.replace("$NEW", shlex.quote(str(self.new)))
        for holder, name in ARCHIVES.items():
            text = text.replace(holder, shlex.quote(str(self.runs / name)))
        return text.replace("conda ", f"{shlex.quote(str(CONDA))} ", 1)

    def run(self, template: str, log: str = "last.log") -> Run:
        os.sync()
        return run_measured(self.render(template), env=self.source.conda_env, log=self.runs / log)

    def once(self, row: Result, template: str) -> Run | None:
        """One timed round of ``template`` for ``row``; None (``row.error`` set) if it failed."""
        run = self.run(template, f"{row.key}.log")
        if run.returncode != 0:
            row.error = f"exit {run.returncode}: {run.output.strip()[-400:]}"
            print(f"    {row.label}: FAILED: {row.error}", flush=True)
            return None
        row.runs.append(run.seconds)
        row.peak_rss = max(row.peak_rss, run.peak_rss)
        print(f"    {row.label}: {run.seconds:.2f} s", flush=True)
        return run

    def fresh_target(self) -> None:
        """An unbundled v1 at the target (not timed), nothing else of an earlier round."""
        self.clear()
        _checked(self.run("conda unbundle $V1 -p $T"), "conda unbundle v1")

    def clear(self) -> None:
        """Remove the targets and the kept generation of the target (all made by this run)."""
        kept = Path(previous_of(str(self.target))).parent
        for path in (self.target, self.new, kept):
            if path.exists():
                shutil.rmtree(path)


def _row(key: str, direction: str, label: str, template: str) -> Result:
    shown = template
    for holder, name in ARCHIVES.items():
        shown = shown.replace(holder, name)
    return Result(key, direction, label, shown)


PACKS = (
    ("pack.full", "full bundle of v2", "conda bundle -p $ENV -o $V2", "$V2"),
    (
        "pack.delta",
        "delta v1 -> v2 (against the v1 bundle)",
        "conda bundle -p $ENV --delta-from $V1 -o $DELTA",
        "$DELTA",
    ),
    (
        "pack.delta-base",
        "delta v1 -> v2 (against an exported base)",
        "conda bundle -p $ENV --delta-from $BASE -o $XDELTA",
        "$XDELTA",
    ),
)


def measure_packs(meter: Meter, repeat: int) -> list[Result]:
    """Full bundle and both deltas of v2, alternating round by round; median; sizes."""
    rows = [_row(key, "pack", label, template) for key, label, template, _ in PACKS]
    for _ in range(repeat):
        for (_, _, template, out), row in zip(PACKS, rows, strict=True):
            if not row.error:
                (meter.runs / ARCHIVES[out]).unlink(missing_ok=True)
                meter.once(row, template)
    for (_, _, _, out), row in zip(PACKS, rows, strict=True):
        if not row.error:
            row.seconds = statistics.median(row.runs)
            row.size = (meter.runs / ARCHIVES[out]).stat().st_size
    return rows


@dataclass(frozen=True)
class Apply:
    """An unpack row: ``template`` runs after ``prepare`` (not timed); ``check`` after the last
    round (the smoke test: ``yes`` or why not)."""

    key: str
    label: str
    template: str
    prepare: Callable[[], None]
    check: Callable[[], str]


def _works(meter: Meter, prefix: Path, version: str) -> str:
    """``yes`` if the env at ``prefix`` runs and has ``version`` of the package, else why."""
    try:
        smoke_test(prefix, meter.profile)
        found = _installed(prefix, meter.source.bump.package)["version"]
    except (RuntimeError, OSError) as exc:
        return f"NO: {str(exc).strip()[:160]}"
    return "yes" if found == version else f"NO: {meter.source.bump.package} {found}"


def measure_applies(meter: Meter, repeat: int) -> tuple[list[Result], int | None]:
    """Full unbundle of v2 against the delta applied to a fresh v1, alternating, the kept
    generation rolled back after each ``--keep-previous``; medians; the kept one's own size."""
    old, new = meter.source.bump.old, meter.source.new
    applies = [
        Apply(
            "unpack.full",
            "full unbundle of v2 into a new path",
            "conda unbundle $V2 -p $NEW",
            meter.clear,
            lambda: _works(meter, meter.new, new),
        ),
        Apply(
            "unpack.full-verify",
            "full unbundle of v2, --verify",
            "conda unbundle $V2 -p $NEW --verify",
            meter.clear,
            lambda: _works(meter, meter.new, new),
        ),
        Apply(
            "unpack.delta",
            "delta applied to an unbundled v1",
            "conda unbundle $DELTA -p $T",
            meter.fresh_target,
            lambda: _works(meter, meter.target, new),
        ),
        Apply(
            "unpack.delta-verify",
            "delta applied, --verify (sha256 of every file of v1 first)",
            "conda unbundle $DELTA -p $T --verify",
            meter.fresh_target,
            lambda: _works(meter, meter.target, new),
        ),
        Apply(
            "unpack.delta-keep",
            "delta applied, --keep-previous",
            "conda unbundle $DELTA -p $T --keep-previous --json",
            meter.fresh_target,
            lambda: _works(meter, meter.target, new),
        ),
    ]
    rows = [_row(a.key, "unpack", a.label, a.template) for a in applies]
    rollback = _row(
        "rollback", "unpack", "--rollback to the kept v1", "conda unbundle --rollback -p $T"
    )
    previous: list[int] = []
    for index in range(repeat):
        for apply, row in zip(applies, rows, strict=True):
            if row.error:
                continue
            apply.prepare()
            run = meter.once(row, apply.template)
            if run and index == repeat - 1:
                row.works = apply.check()
            if run and apply.key == "unpack.delta-keep":
                previous.append(_previous_size(meter.runs / f"{row.key}.log"))
                if meter.once(rollback, rollback.command) and index == repeat - 1:
                    rollback.works = _works(meter, meter.target, old)
            meter.clear()
    for row in (*rows, rollback):
        if row.runs:
            row.seconds = statistics.median(row.runs)
    return [*rows, rollback], (int(statistics.median(previous)) if previous else None)


def _previous_size(log: Path) -> int:
    """``previous_size`` of ``conda unbundle --json``'s result (its last JSON object)."""
    text = log.read_text()
    return int(json.loads(text[text.index("{") :])["previous_size"])


# -- the run ------------------------------------------------------------------------------------


def _tmpfs_short(bench_env: BenchEnv) -> str:
    """Why the runs directory cannot hold two envs and the archives, or ``""``."""
    import psutil

    need = 2 * bench_env.stats["bytes"] + (2 << 30)
    free = min(psutil.virtual_memory().available, shutil.disk_usage(RUNS.parent).free)
    if free < need:
        return f"needs {need / 2**30:.1f} GiB on {RUNS.parent}, {free / 2**30:.1f} GiB available"
    return ""


def measure(profile: Profile, repeat: int) -> Outcome:
    """Set up both generations, measure, clean up the runs directory."""
    started, load = time.monotonic(), os.getloadavg()[0]
    bench_env = ensure_env(profile)
    short = _tmpfs_short(bench_env)
    if short:
        sys.exit(f"not enough tmpfs: {short}")
    source = ensure_source(bench_env, BUMPS[profile.name])
    shutil.rmtree(RUNS, ignore_errors=True)
    RUNS.mkdir(parents=True)
    meter = Meter(source, RUNS, profile)
    setup: dict[str, float] = {}
    try:
        print(f"v1: {source.bump.package} {source.bump.old}", flush=True)
        setup["install_old"] = install(source, source.bump.old)
        setup["bundle_v1"] = _checked(meter.run("conda bundle -p $ENV -o $V1"), "bundle v1").seconds
        meter.fresh_target()
        export = meter.run("conda unbundle --export-base $BASE -p $T")
        setup["export_base"] = _checked(export, "export-base").seconds
        meter.clear()
        print(f"v2: {source.bump.package} {source.new}", flush=True)
        setup["install_new"] = install(source, source.new)
        print("pack: full bundle vs delta", flush=True)
        rows = measure_packs(meter, repeat)
        info = meter.run("conda unbundle $DELTA --info --json", "info.json")
        delta_info = (
            json.loads((RUNS / "info.json").read_text())["delta"] if not info.returncode else {}
        )
        print("unpack: full unbundle vs delta", flush=True)
        applies, previous = measure_applies(meter, repeat)
        sizes = {name: (RUNS / name).stat().st_size for name in ARCHIVES.values()}
    finally:
        meter.clear()
        # the logs, and the delta and what it holds, to look into after the run
        for kept in (*RUNS.glob("*.log"), RUNS / "info.json", RUNS / ARCHIVES["$DELTA"]):
            if kept.is_file():
                shutil.copy2(kept, CACHE / f"last-delta-{profile.name}-{kept.name}")
        shutil.rmtree(RUNS, ignore_errors=True)
    return Outcome(
        profile,
        source,
        [*rows, *applies],
        sizes,
        delta_info,
        setup,
        previous,
        repeat,
        (load, os.getloadavg()[0]),
        time.monotonic() - started,
    )


# -- the report ---------------------------------------------------------------------------------


def _mb(count: float | None) -> str:
    return "—" if count is None else f"{count / 1e6:,.1f}"


def _by_key(outcome: Outcome) -> dict[str, Result]:
    return {row.key: row for row in outcome.rows}


def _ratio(num: Result, den: Result) -> str:
    if num.error or den.error or not den.seconds:
        return "—"
    return f"{num.seconds / den.seconds:.2f}x"


def _table(outcome: Outcome) -> list[str]:
    rows = _by_key(outcome)
    lines = [
        "| Step | Wall s (median) | Rounds | x full | Peak RSS MB | Output MB | Env works |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for row in outcome.rows:
        base = rows["pack.full" if row.direction == "pack" else "unpack.full"]
        rounds = ", ".join(f"{s:.1f}" for s in row.runs)
        wall = "FAILED" if row.error else f"{row.seconds:.2f}"
        ratio = "—" if row.key == "rollback" else _ratio(row, base)
        lines.append(
            f"| {row.label} | {wall} | {rounds} | {ratio} | {row.peak_rss / 1e6:,.0f} | "
            f"{_mb(row.size)} | {row.works} |"
        )
    return lines


def _sizes(outcome: Outcome) -> list[str]:
    sizes, info = outcome.sizes, outcome.delta_info
    full, delta = sizes["v2.tar.zst"], sizes["delta.tar.zst"]
    changed = info.get("packages", {}).get("changed", [])
    moved = ", ".join(f"{c['name']} {c['from']} -> {c['to']}" for c in changed) or "—"
    return [
        "| | |",
        "|---|---|",
        f"| Full bundle of v1 (v1.tar.zst) | {_mb(sizes['v1.tar.zst'])} MB |",
        f"| Full bundle of v2 (v2.tar.zst) | {_mb(full)} MB |",
        f"| Delta v1 -> v2 (delta.tar.zst) | {_mb(delta)} MB: **{delta / full:.4f}x** the full "
        "bundle |",
        f"| Delta against the exported base | {_mb(sizes['delta-from-base.tar.zst'])} MB |",
        f"| Exported base (base.json) | {_mb(sizes['base.json'])} MB |",
        f"| Packages changed (`--info --json`) | {moved} |",
        f"| Files shipped / reused / removed | {info.get('shipped_files', '—'):,} / "
        f"{info.get('reused_files', '—'):,} / {len(info.get('removed', [])):,} |",
        f"| Shipped content (uncompressed) | {_mb(info.get('shipped_size'))} MB |",
        f"| Kept previous generation's own size (reported by `--keep-previous`) | "
        f"{_mb(outcome.previous_size)} MB |",
    ]


def _ratios(outcome: Outcome) -> list[str]:
    rows = _by_key(outcome)
    full_unbundle, full_verify = rows["unpack.full"], rows["unpack.full-verify"]
    sizes = outcome.sizes
    return [
        f"- delta size / full bundle size: {sizes['delta.tar.zst'] / sizes['v2.tar.zst']:.4f}; "
        f"exported base size / delta size: {sizes['base.json'] / sizes['delta.tar.zst']:.2f}",
        f"- `conda bundle --delta-from` time / full `conda bundle` time: "
        f"{_ratio(rows['pack.delta'], rows['pack.full'])} (against the bundle), "
        f"{_ratio(rows['pack.delta-base'], rows['pack.full'])} (against the exported base)",
        f"- apply time / full unbundle time: {_ratio(rows['unpack.delta'], full_unbundle)}; "
        f"with `--verify` {_ratio(rows['unpack.delta-verify'], full_unbundle)} (against the "
        f"full unbundle with `--verify`: {_ratio(rows['unpack.delta-verify'], full_verify)}); "
        f"with `--keep-previous` {_ratio(rows['unpack.delta-keep'], full_unbundle)}; "
        f"`--rollback`: {rows['rollback'].seconds:.2f} s",
    ]


def _commands(outcome: Outcome) -> list[str]:
    bump = outcome.source.bump
    channel = "-c file://$CHANNEL --override-channels --offline"
    lines = [
        "```sh",
        "# the source env, once (cached): a clone of the benchmark env",
        "conda create --offline --clone $BENCH_ENV -p $ENV",
        "# v1 (not timed)",
        f"conda install {channel} -p $ENV {bump.package}={bump.old}",
        "conda bundle -p $ENV -o v1.tar.zst",
        "conda unbundle v1.tar.zst -p $T && conda unbundle --export-base base.json -p $T",
        "# v2 (not timed)",
        f"conda install {channel} -p $ENV {bump.package}={outcome.source.new}",
    ]
    for row in outcome.rows:
        lines += [f"# {row.direction}: {row.label}", row.command]
    lines.append("```")
    return lines


def section(outcome: Outcome, command: str) -> str:
    """The Markdown of the "Delta updates" section, markers included."""
    bump, setup = outcome.source.bump, outcome.setup
    date = datetime.date.today().isoformat()
    cpus = os.cpu_count()
    lines = [
        BEGIN,
        "## Delta updates",
        "",
        f"Generated by `{command}` (bench/delta.py, {outcome.profile.name} env) on {date}; "
        f"took {outcome.seconds / 60:.1f} min. Issue 16: update one package of the big env, "
        "then compare the delta with a full bundle and its application with a full unbundle.",
        "",
        f"**The update.** {bump.package} {bump.old} -> {outcome.source.new}, both real PyPI "
        "releases (cp311 manylinux wheels converted by bench/wheel2conda.py). v2 is the "
        "release the benchmark env pins, the newest on PyPI, so v1 has the one before it. "
        f"The source env is a `conda create --clone` of the cached {outcome.profile.env} "
        f"benchmark env (which is not modified); `conda install` puts {bump.package} "
        f"{bump.old} in it (v1, {setup['install_old']:.0f} s), then {outcome.source.new} "
        f"(v2, {setup['install_new']:.0f} s), as a build site would. Every other file is the "
        "same in both generations.",
        "",
        f"**Machine.** {cpus} logical CPUs shared with other people's work (1-minute load "
        f"average {outcome.load[0]:.1f} at the start, {outcome.load[1]:.1f} at the end): "
        "absolute times are noisy, ratios within a round less so. Archives and targets on tmpfs "
        f"({RUNS}); the source env on disk with a warm page cache. See Machine above for the "
        "rest.",
        "",
        "### Sizes",
        "",
        *_sizes(outcome),
        "",
        "### Times",
        "",
        f"{outcome.repeat} rounds; the rows of a table alternate round by round (full, delta, "
        "...), each shows the median and every round. Before each delta round the target is "
        "a fresh `conda unbundle v1.tar.zst -p $T` (not timed); the full unbundle goes to a "
        "new path. Wall time from process start to exit (conda's startup included); peak "
        "RSS as in the other tables (GNU time + process-tree sampling). x full: against the "
        "full `conda bundle` (pack rows) or the full `conda unbundle` (unpack rows).",
        "",
        *_table(outcome),
        "",
        "`--verify` with `-p` checks the environment a delta applies to by sha256; with a full "
        "bundle it changes nothing (every member's checksum is verified while extracting anyway).",
        "",
        "Ratios:",
        "",
        *_ratios(outcome),
        "",
        f"Setup (not timed above): `conda bundle` of v1 {setup['bundle_v1']:.1f} s, "
        f"`--export-base` {setup['export_base']:.1f} s.",
        "",
        "### Exact commands",
        "",
        "`$ENV`: the source env; `$T`: an unbundled v1 (fresh each round); `$NEW`: a new path;"
        " archives in the runs directory; `conda`: `.venv/bin/conda`.",
        "",
        *_commands(outcome),
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    """Put ``text`` (markers included) between the markers of ``path``, or before its
    "## Method" heading (else at its end) if it has none; the rest of the file is kept."""
    old = path.read_text() if path.is_file() else ""
    path.write_text(carry_over(text, old))


def carry_over(block: str, text: str) -> str:
    """``text`` with ``block`` (a delta section, markers included) in place of its own delta
    section, or inserted before "## Method" if it has none."""
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        return text[:start] + block + text[end + len(END) :].removeprefix("\n")
    method = text.find("\n## Method\n")
    if method < 0:
        return text + ("\n" if text and not text.endswith("\n") else "") + block
    return text[: method + 1] + block + "\n" + text[method + 1 :]


def kept_section(text: str) -> str:
    """The delta section of ``text`` (markers included), or ``""``."""
    start, end = text.find(BEGIN), text.find(END)
    return text[start : end + len(END)] + "\n" if start >= 0 and end > start else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the big-quick env")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each measurement")
    parser.add_argument("--report", type=Path, help="the Markdown file to put the section in")
    args = parser.parse_args(argv)
    from bench.run import check_tools, ensure_requirements

    check_tools()
    ensure_requirements()
    profile = PROFILES["big-quick" if args.quick else "big"]
    outcome = measure(profile, args.repeat)
    bench_args = shlex.join(sys.argv[1:] if argv is None else argv)
    command = "make bench-delta" + (f" BENCH_ARGS={shlex.quote(bench_args)}" if bench_args else "")
    default = CACHE / "delta-quick.md" if args.quick else ROOT / "docs" / "performance.md"
    out = args.report or default
    text = section(outcome, command)
    write_section(out, text)
    raw = CACHE / f"results-delta{'-quick' if args.quick else ''}.json"
    rows = [asdict(row) for row in outcome.rows]
    raw.write_text(json.dumps({"rows": rows, "sizes": outcome.sizes, "setup": outcome.setup}))
    print(text)
    print(f"wrote {out} and {raw}")
    return 1 if any(row.error for row in outcome.rows) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
