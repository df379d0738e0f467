"""Write the results as Markdown (docs/performance.md for the full profile)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from .buildenv import BenchEnv
from .config import UNMANAGED_WHEEL
from .suite import Result
from .targets import Target, evaluate


@dataclass
class Context:
    """Everything the report shows besides the result rows."""

    bench_env: BenchEnv
    machine: dict[str, str]
    startup: list[float]
    tar_stream: int
    warm_seconds: float
    command: str
    total_seconds: float
    repeat: int
    key_rounds: int
    load: tuple[float, float]
    """1-minute load average at the start and at the end of the run."""


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _mb(count: int | None) -> str:
    return "—" if count is None else f"{count / 1e6:,.0f}"


def _gb(count: int) -> str:
    return f"{count / 1e9:.2f} GB"


def _environment(ctx: Context) -> list[str]:
    s = ctx.bench_env.stats
    profile = ctx.bench_env.profile
    python = "full (stdlib, test suite, bytecode)" if not profile.slim_python else "slim"
    return [
        "| | |",
        "|---|---|",
        f"| Size on disk (apparent) | {_gb(s['bytes'])} "
        f"({_gb(ctx.tar_stream)} as a GNU tar stream) |",
        f"| Files / symlinks / directories | {s['files']:,} / {s['symlinks']:,} / {s['dirs']:,} |",
        f"| Packages | {s['packages']} ({s.get('arch_packages', 0)} linux-64, "
        f"{s.get('noarch_packages', 0)} noarch) |",
        f"| Prefix files recorded by conda | {s['prefix_files']:,}: {s.get('prefix_text', 0):,} "
        f"text, {s.get('prefix_binary', 0)} binary ({s.get('prefix_binary_1mib', 0)} of "
        "them ≥ 1 MiB) |",
        f"| Files containing the env's path | {s['with_prefix_text']:,} text, "
        f"{s['with_prefix_binary']} binary, {s['with_prefix_pyc']:,} pyc |",
        f"| Bytecode recorded as `pyc_file` | {s.get('path_type_pyc_file', 0):,} |",
        f"| Files hardlinked with the package cache | {s['hardlinked']:,} |",
        f"| Unmanaged files (pip) | {s['unmanaged']} |",
        "",
        "Composition: "
        f"{len(profile.pins())} PyPI wheels (bench/wheels.txt, incl. the CPU torch 2.13.0 "
        "cp311 wheel) converted into conda packages (pure → `noarch: python`, binary → "
        "`linux-64` with bytecode compiled at the placeholder and `bin/` wrappers); "
        f"CPython 3.11.7 repackaged, {python}; {profile.synthetic} synthetic prefix-heavy "
        f"packages, each with a {profile.blob_mib} MiB binary prefix library, an RPATH "
        "executable, 7 text prefix files, 40 text documents and 40 data files; the test "
        f"suite's 4 fixture packages; `{UNMANAGED_WHEEL}` installed with the env's pip. "
        f"Created with `conda create` (conda 24.7.1) from a local channel; build "
        f"{s['build_seconds']} s, cached under bench/.cache/.",
    ]


def _row(r: Result, base: Result | None, gnu_size: int | None) -> str:
    if r.error:
        return f"| {_cell(r.label)} | FAILED | | | | | {_cell(r.error.splitlines()[0][:80])} |"
    ratio = f"{r.seconds / base.seconds:.2f}x" if base and not base.error else "—"
    size_ratio = f"{r.size / gnu_size:.3f}x" if r.size and gnu_size else "—"
    parts = ""
    if len(r.parts) > 1:
        parts = " (" + " + ".join(f"{n} {s:.1f} s" for n, s in r.parts) + ")"
    elif len(r.runs) > 1:
        parts = " (" + ", ".join(f"{s:.1f}" for s in r.runs) + ")"
    return (
        f"| {_cell(r.label)} | {r.seconds:.2f}{parts} | {ratio} | {_mb(r.peak_rss)} | "
        f"{_mb(r.size)} | {size_ratio} | {_cell(r.works)} |"
    )


def _results(results: list[Result]) -> list[str]:
    by_key = {r.key: r for r in results}
    gnu, gnu_x = by_key.get("pack.gnu"), by_key.get("unpack.gnu")
    gnu_size = gnu.size if gnu and not gnu.error else None
    lines = [
        "| Step | Wall s | x GNU | Peak RSS MB | Output MB | Size x GNU | Env works |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for direction, base in (("pack", gnu), ("unpack", gnu_x)):
        lines.append(f"| **{direction}** | | | | | | |")
        lines += [_row(r, base, gnu_size) for r in results if r.direction == direction]
    return lines


def _targets(targets: list[Target]) -> list[str]:
    lines = ["| Target | Measured | Met |", "|---|---|---|"]
    for t in targets:
        met = "—" if t.met is None else ("met" if t.met else "**not met**")
        lines.append(f"| {_cell(t.goal)} | {t.measured} | {met} |")
    return lines


def _commands(results: list[Result]) -> list[str]:
    lines = ["```sh"]
    for r in results:
        lines.append(f"# {r.direction}: {r.label}")
        lines.append(r.command)
    return [*lines, "```"]


def _notes(results: list[Result]) -> list[str]:
    noted = [r for r in results if r.notes]
    if not noted:
        return []
    lines = ["", "## Anomalies", ""]
    for r in noted:
        lines += [f"- {r.label}: {note}" for note in r.notes]
    return [*lines, "", "Logs of the last run: `bench/.cache/last-<profile>-<log>`."]


def _errors(results: list[Result]) -> list[str]:
    failed = [r for r in results if r.error]
    if not failed:
        return []
    lines = ["", "## Failures", ""]
    for r in failed:
        lines += [f"`{r.command}` ({r.label}):", "", "```", r.error, "```", ""]
    return lines


def _load_note(ctx: Context) -> list[str]:
    """A warning when other processes competed for the CPUs during the run."""
    if max(ctx.load) < 1.0:
        return []
    return [
        f"**Note:** the machine was not idle during this run (load average up to "
        f"{max(ctx.load):.1f} on {os.cpu_count()} CPUs, from other processes): absolute times "
        "are inflated and noisier than on an idle machine; ratios between rows are more "
        "reliable, but still affected.",
        "",
    ]


def render(ctx: Context, results: list[Result]) -> str:
    """The whole Markdown document."""
    startup = sorted(ctx.startup)
    median = startup[len(startup) // 2] if startup else 0.0
    today = datetime.date.today().isoformat()
    lines = [
        "# Performance",
        "",
        f"Generated by `{ctx.command}` ({ctx.bench_env.profile.name} profile) on {today}; "
        f"the whole run took {ctx.total_seconds / 60:.1f} min. Numbers are from one machine and "
        "change with the product: rerun to update this file.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench                     # full env, built once and cached in bench/.cache",
        "make bench BENCH_ARGS=--quick  # small env -> bench/.cache/performance-quick.md",
        "make bench BENCH_ARGS='--runs-dir /dev/shm/envbundle-bench --report x.md'  # no disk",
        "```",
        "",
        "`make bench` sets up `.venv` (`make dev`), installs bench/requirements.txt "
        "(conda-pack 0.9.2, psutil) into it and runs `.venv/bin/python bench/run.py`. Needs "
        "network access to PyPI on the first run (wheels), gcc, objcopy, patchelf, strip, "
        "GNU tar, zstd, gzip and the pyenv CPython 3.11.7 (`ENVBUNDLE_BENCH_CPYTHON`). "
        "`bench/profiling.py` profiles `bundle()` / `unbundle()` in-process with cProfile.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in ctx.machine.items()),
        f"| Load average (1 min) at start / end | {ctx.load[0]:.2f} / {ctx.load[1]:.2f} |",
        "",
        *_load_note(ctx),
        "## Environment",
        "",
        *_environment(ctx),
        "",
        "## Results",
        "",
        *_results(results),
        "",
        f"conda's own startup (`conda --version`, median of {len(startup)}): "
        f"**{median:.2f} s**; it is included in every `conda bundle` / `conda unbundle` row.",
        "",
        "x GNU: wall time relative to `tar | zstd -T0 -3` (pack rows) or `zstd -d | tar -x` "
        "(unpack rows). Size x GNU: archive size relative to `tar | zstd -T0 -3`. Env works: the "
        "unpacked env's python imports "
        f"{', '.join(ctx.bench_env.profile.smoke_imports)} and reports the new `sys.prefix`, "
        "`bin/synth000` finds its own and its library's rewritten prefix, and the pip-installed "
        "`tabulate` script starts, all with a clean environment (`PATH=/usr/bin:/bin`, no "
        "activation); n/a: plain extraction, not relocated. conda-pack rewrites every script "
        "shebang to `#!/usr/bin/env pythonX.Y`, so its scripts need `bin/` on PATH (`source "
        "bin/activate`); without it they run the system's python.",
        "",
        "## Targets",
        "",
        *_targets(evaluate(results)),
        "",
        "## Method",
        "",
        "- Same env, same filesystem, one measurement at a time, in the order of the table; each "
        "tool packs, then unpacks its own archive into the same target path, then both are "
        "deleted. `sync` before every measurement (not timed).",
        f"- Warm page cache: the env and the package cache are read once before measuring "
        f"({ctx.warm_seconds:.1f} s); each unpack reads the archive its pack just wrote.",
        f"- GNU tar | zstd and `conda bundle` tar.zst alternate for {ctx.key_rounds} rounds "
        f"(pack A, pack B, pack A, ...; then the unpacks likewise), the other rows run "
        f"{ctx.repeat} round(s); the median is shown, with every round in parentheses when "
        "there are several. `conda-unpack` runs once, after the last extraction.",
        "- Every unpack writes into a target whose previous content was just deleted (and "
        "synced). The first one is preceded by an untimed extraction and deletion: on this VM "
        "(ext4 mounted with `discard`), extracting right after deleting a few GB is up to 2-3x "
        "slower than on a disk that had a quiet minute, so all unpacks are measured in that "
        "same, slower state.",
        "- conda runs through the real CLI (`.venv/bin/conda`, conda 24.7.1 with the plugin), so "
        "its startup is included, with conda's home and package cache isolated under "
        "bench/.cache (the package cache the env was created from, as on a user's machine). "
        "That conda is the unmodified conda 24.7.1 vendored by conda-lock 4.0.3 (conda is not "
        "on PyPI), imported without running conda-lock's own package code, so startup time "
        "and memory are conda's.",
        "- Wall time: from process start to exit. Peak RSS: the larger of the summed RSS of all "
        "processes of the pipeline (sampled every 50 ms) and the largest single-process "
        "`ru_maxrss` (exact, as GNU `time -f %M`). MB = 10^6 bytes.",
        "- conda-pack's unpack is its documented one: untar, then `bin/conda-unpack` (run with the "
        "env's python, as after `source bin/activate`). Its tar.gz is extracted with `tar -xzf`, "
        "its tar.zst with `zstd -d | tar -x`.",
        "",
        "### Exact commands",
        "",
        "`$ENV`: the env; archives are written to and `$TARGET` is inside the runs directory "
        "(see Machine); "
        "`conda`, `conda-pack`: the `.venv/bin` executables.",
        "",
        *_commands(results),
        *_notes(results),
        *_errors(results),
        "",
    ]
    return "\n".join(lines)


def write(path: Path, ctx: Context, results: list[Result]) -> None:
    """Write the report to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(ctx, results))
