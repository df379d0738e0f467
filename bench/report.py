"""Write the results as Markdown (docs/performance.md for the full-size profiles)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

from .buildenv import BenchEnv
from .config import ENV_TITLES, UNMANAGED_WHEEL
from .importcost import ImportCost
from .suite import Result
from .targets import STORAGES, Target, evaluate


@dataclass
class EnvRun:
    """One benchmark env and what was measured on it, per storage."""

    bench_env: BenchEnv
    tar_stream: int
    warm_seconds: float
    passes: dict[str, list[Result]] = field(default_factory=dict)
    """``tmpfs`` / ``disk`` -> results."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Storage -> why it was not measured."""


@dataclass
class Context:
    """Everything the report shows besides the result rows."""

    envs: list[EnvRun]
    machine: dict[str, str]
    startup: list[float]
    command: str
    total_seconds: float
    repeat: int
    key_rounds: int
    load: tuple[float, float]
    """1-minute load average at the start and at the end of the run."""
    import_cost: ImportCost | None = None
    steps: dict | None = None
    """The step profile (bench/profiling.py ``--json``) of the small-files env."""


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _mb(count: int | None) -> str:
    return "—" if count is None else f"{count / 1e6:,.0f}"


def _gb(count: int) -> str:
    return f"{count / 1e9:.2f} GB"


def _composition(run: EnvRun) -> str:
    profile = run.bench_env.profile
    s = run.bench_env.stats
    python = {
        "full": "full (stdlib, test suite, bytecode)",
        "slim": "slim (no test suite, no bytecode)",
        "slim-pyc": "without its test suite, with the stdlib's `__pycache__`",
    }[profile.python]
    wheels = (
        f"{len(profile.pins())} PyPI wheel(s) (bench/wheels.txt"
        + (", incl. the CPU torch 2.13.0 cp311 wheel" if profile.wheels is None else "")
        + ") converted into conda packages (pure → `noarch: python`, binary → `linux-64` with "
        "bytecode compiled at the placeholder and `bin/` wrappers)"
    )
    small = ""
    if profile.small_packages:
        small = (
            f"{profile.small_packages} many-small-files packages (bench/smallfiles.py) of "
            f"{profile.small_files:,} files each (log-normal sizes around 3 KB, text that "
            "compresses like source code, nested like R libraries, node trees, documentation "
            "and data; one text prefix file and two symlinks each; every tenth `noarch: python`, "
            "compiled by conda at install); "
        )
    return (
        f"Composition: {small}{wheels}; CPython 3.11.7 repackaged, {python}; "
        f"{profile.synthetic} synthetic prefix-heavy package(s), each with a "
        f"{profile.blob_mib} MiB binary prefix library, an RPATH executable, 7 text prefix "
        "files, 40 text documents and 40 data files; the test suite's 4 fixture packages; "
        f"`{UNMANAGED_WHEEL}` installed with the env's pip. Created with `conda create` "
        f"(conda 24.7.1) from a local channel; build {s['build_seconds']} s, cached under "
        "bench/.cache/."
    )


def _environment(run: EnvRun) -> list[str]:
    s = run.bench_env.stats
    entries = s["files"] + s["symlinks"]
    return [
        "| | |",
        "|---|---|",
        f"| Size on disk (apparent) | {_gb(s['bytes'])} "
        f"({_gb(run.tar_stream)} as a GNU tar stream); {s['bytes'] / max(s['files'], 1) / 1e3:.1f} "
        "KB per file on average |",
        f"| Files / symlinks / directories | {s['files']:,} / {s['symlinks']:,} / {s['dirs']:,} "
        f"({entries:,} entries) |",
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
        _composition(run),
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
    lines = [
        "| Row of issue 14 | Env, storage | Target | Measured | Met |",
        "|---|---|---|---|---|",
    ]
    for t in targets:
        met = "—" if t.met is None else ("met" if t.met else "**not met**")
        lines.append(
            f"| {_cell(t.row)} | {_cell(t.where)} | {_cell(t.goal)} | {_cell(t.measured)} | {met} |"
        )
    return lines


def _commands(results: list[Result]) -> list[str]:
    lines = ["```sh"]
    for r in results:
        lines.append(f"# {r.direction}: {r.label}")
        lines.append(r.command)
    return [*lines, "```"]


def _notes(ctx: Context) -> list[str]:
    lines = []
    for run in ctx.envs:
        for storage, results in run.passes.items():
            for r in results:
                where = f"{run.bench_env.profile.name}, {storage}"
                lines += [f"- {r.label} ({where}): {note}" for note in r.notes]
    if not lines:
        return []
    return ["", "## Anomalies", "", *lines, "", "Logs of the last run: `bench/.cache/last-*.log`."]


def _errors(ctx: Context) -> list[str]:
    lines = []
    for run in ctx.envs:
        for storage, results in run.passes.items():
            for r in results:
                if r.error:
                    where = f"{run.bench_env.profile.name}, {storage}"
                    lines += [f"`{r.command}` ({r.label}, {where}):", "", "```", r.error, "```", ""]
    return ["", "## Failures", "", *lines] if lines else []


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


def _import_section(cost: ImportCost | None) -> list[str]:
    if cost is None:
        return []
    lines = ["## The plugin's import cost", ""]
    if cost.error:
        return [*lines, f"Not measured: {cost.error}", ""]
    heavy = ", ".join(f"`{m}`" for m in cost.heavy) or "none"
    pulled = ", ".join(f"`{m}`" for m in cost.pulled_in) or "none"
    ours = ", ".join(f"`{m}`" for m in cost.command_modules) or "none"
    return [
        *lines,
        "| | median of " + str(cost.runs) + " |",
        "|---|---|",
        "| `python -X importtime -c 'import conda_envbundle.plugin'`, after the modules "
        f"`conda config --show` loads before ours | **{cost.plugin_us / 1000:.1f} ms** "
        f"({cost.own_us / 1000:.1f} ms in our modules' own code) |",
        f"| Other modules that import loads | {pulled} |",
        f"| Our modules loaded by `conda config --show` | {ours}: "
        f"{cost.command_us / 1000:.1f} ms |",
        f"| Codec or pipeline modules loaded by either | {heavy} |",
        "",
        "conda loads the plugin through its entry point with importlib, which `-X importtime` "
        "does not time, so the real command shows only the modules the plugin imports; the "
        "first row times the import itself. In this development install, every Python "
        "process of the virtualenv also runs setuptools' editable-install finder at startup "
        "(not counted: an installed package has none).",
        "",
    ]


def _steps_section(steps: dict | None) -> list[str]:
    if not steps:
        return []
    files = steps["files"]
    lines = [
        "## Where the CPU goes (small-files env)",
        "",
        f"`.venv/bin/python bench/profiling.py --env small` ({steps['env']} profile, "
        f"{files:,} entries): `conda bundle` and `conda unbundle` (tar.zst) run in-process "
        "through conda's CLI, bundle and target on tmpfs, while a sampler charges every "
        "Python thread's CPU clock to the step its innermost frame of ours is in, every "
        "2 ms; CPU outside Python threads (the codecs' own workers) and in child processes "
        "is counted from the process totals. A step named after a module has no entry in "
        "bench/stepprofile.py's `STEPS` yet. Hashing runs inside the read-ahead and the "
        "verification steps (the reference rows below give its floor).",
        "",
    ]
    for profile in steps["profiles"]:
        command = profile["command"].split()[1]
        cpu, wall = profile["cpu"], profile["wall"]
        lines += [
            f"**conda {command}**: {wall:.2f} s wall, {cpu:.2f} CPU-s, "
            f"**{cpu / files * 1e6:.1f} µs of CPU per entry**"
            + (f" ({profile['error']})" if profile["error"] else ""),
            "",
            "| Step | CPU s | µs per entry | share |",
            "|---|---:|---:|---:|",
        ]
        total = sum(profile["steps"].values()) or 1.0
        for step, seconds in sorted(profile["steps"].items(), key=lambda kv: -kv[1]):
            if seconds / total < 0.005:
                continue
            lines.append(
                f"| {_cell(step)} | {seconds:.2f} | {seconds / files * 1e6:.1f} | "
                f"{seconds / total:.0%} |"
            )
        lines.append("")
    lines += ["Reference costs on the same env:", "", "| Job | CPU s | µs per entry | wall s |"]
    lines.append("|---|---:|---:|---:|")
    for ref in steps["references"]:
        lines.append(
            f"| {_cell(ref['label'])} | {ref['cpu']:.2f} | {ref['cpu'] / files * 1e6:.1f} | "
            f"{ref['wall']:.2f} |"
        )
    return [*lines, ""]


def _results_sections(ctx: Context) -> list[str]:
    lines = []
    for run in ctx.envs:
        title = ENV_TITLES[run.bench_env.profile.env]
        for storage in STORAGES:
            if storage in run.skipped:
                lines += [
                    f"### {title}, {storage}",
                    "",
                    f"Not measured: {run.skipped[storage]}",
                    "",
                ]
            elif storage in run.passes:
                lines += [f"### {title}, {storage}", "", *_results(run.passes[storage]), ""]
    return lines


def _any_results(ctx: Context) -> list[Result]:
    for run in ctx.envs:
        for results in run.passes.values():
            if results:
                return results
    return []


def _passes(ctx: Context) -> dict[str, dict[str, list[Result]]]:
    return {run.bench_env.profile.env: run.passes for run in ctx.envs}


def render(ctx: Context, results_only: bool = False) -> str:
    """The whole Markdown document (``results_only``: targets and results, for the terminal)."""
    startup = sorted(ctx.startup)
    median = startup[len(startup) // 2] if startup else 0.0
    targets = ["## Targets", "", *_targets(evaluate(_passes(ctx), ctx.import_cost)), ""]
    results = ["## Results", "", *_results_sections(ctx)]
    if results_only:
        return "\n".join([*targets, *results])
    today = datetime.date.today().isoformat()
    profiles = ", ".join(run.bench_env.profile.name for run in ctx.envs)
    lines = [
        "# Performance",
        "",
        f"Generated by `{ctx.command}` (profiles: {profiles}) on {today}; the whole run took "
        f"{ctx.total_seconds / 60:.1f} min. Numbers are from one machine and change with the "
        "product: rerun to update this file.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench                      # both envs, tmpfs and disk -> docs/performance.md",
        "make bench BENCH_ARGS=--quick   # small versions -> bench/.cache/performance-quick.md",
        "make bench BENCH_ARGS='--env small --storage tmpfs'  # one env, one storage",
        ".venv/bin/python bench/profiling.py --env small      # CPU per step (--quick too)",
        "```",
        "",
        "`make bench` sets up `.venv` (`make dev`), installs bench/requirements.txt "
        "(conda-pack 0.9.2, psutil) into it and runs `.venv/bin/python bench/run.py`: on a "
        "fresh machine it first builds both envs (about 6 min on 2 cores, plus downloading the "
        "big env's wheels from PyPI), then measures for about 80 min (a third of it the "
        "small-files env on disk, where every extraction of 300,000 files takes about 2 min: "
        "`--storage tmpfs` skips the disk); `--quick` (both envs at a few percent of the size, "
        "tmpfs only) takes about 2 min. "
        "Needs gcc, objcopy, patchelf, strip, GNU tar, zstd, gzip, the pyenv CPython 3.11.7 "
        "(`ENVBUNDLE_BENCH_CPYTHON`) and, for the tmpfs rows, a writable /dev/shm with room "
        "for an env and its archives (checked; skipped with a note otherwise). "
        "`.venv/bin/python bench/run.py --help` lists the options.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in ctx.machine.items()),
        f"| Load average (1 min) at start / end | {ctx.load[0]:.2f} / {ctx.load[1]:.2f} |",
        "",
        *_load_note(ctx),
        *targets,
        "## Environments",
        "",
    ]
    for run in ctx.envs:
        lines += [f"### {ENV_TITLES[run.bench_env.profile.env]}", "", *_environment(run), ""]
    smoke = "; ".join(
        f"{run.bench_env.profile.env}: {', '.join(run.bench_env.profile.smoke_imports)}"
        for run in ctx.envs
    )
    lines += [
        *results,
        f"conda's own startup (`conda --version`, median of {len(startup)}): "
        f"**{median:.2f} s**; it is included in every `conda bundle` / `conda unbundle` row.",
        "",
        "x GNU: wall time relative to `tar | zstd -T0 -3` (pack rows) or `zstd -d | tar -x` "
        "(unpack rows). Size x GNU: archive size relative to `tar | zstd -T0 -3`. Env works: the "
        f"unpacked env's python imports its modules ({smoke}) and reports the new "
        "`sys.prefix`, `bin/synth000` finds its own and its library's rewritten prefix, the "
        "pip-installed `tabulate` script starts and (small-files env) `bin/small001-config "
        "--prefix` prints the new prefix, all with a clean environment (`PATH=/usr/bin:/bin`, "
        "no activation); n/a: plain extraction, not relocated. conda-pack rewrites every script "
        "shebang to `#!/usr/bin/env pythonX.Y`, so its scripts need `bin/` on PATH (`source "
        "bin/activate`); without it they run the system's python.",
        "",
        *_import_section(ctx.import_cost),
        *_steps_section(ctx.steps),
        "## Method",
        "",
        "- Same env, one measurement at a time, in the order of the table; each tool packs, "
        "then unpacks its own archive into the same target path, then both are deleted. "
        "Archives and targets are either on tmpfs (/dev/shm: the CPU decides) or on the disk "
        "of the env (see Machine); the env itself is on disk, read from a warm page cache. "
        "`sync` before every measurement (not timed).",
        "- Warm page cache: the env and the package cache are read once before measuring; "
        "each unpack reads the archive its pack just wrote.",
        f"- GNU tar | zstd and `conda bundle` tar.zst alternate for {ctx.key_rounds} rounds "
        "(pack A, pack B, pack A, ...; then the unpacks likewise: `zstd -d | tar -x`, "
        "`conda unbundle`, and the bundle's no-conda path), the `.sh` installer and the plain "
        f"extraction of its payload alternate for 2 rounds; the other rows run {ctx.repeat} "
        "round(s); the median is shown, with every round in parentheses when there are several. "
        "`conda-unpack` runs once, after the last extraction.",
        "- No-conda path: the bundle's tar.zst extracted with `zstd -d | tar -x`, then its "
        "`bin/conda-unpack` (a sh script running the env's python), against conda-pack's "
        "tar.zst extracted the same way, then its `bin/conda-unpack` with the env's python. "
        "The `.sh` installer (default gzip payload) against `tar -xzf` of the payload cut out "
        "of that very installer (the bytes after its `__ENVBUNDLE_PAYLOAD__` line).",
        "- On disk, every unpack writes into a target whose previous content was just deleted "
        "(and synced). The first one of a group is preceded by an untimed extraction and "
        "deletion: on this VM (ext4 mounted with `discard`), extracting right after deleting a "
        "few GB is up to 2-3x slower than on a disk that had a quiet minute, so all unpacks are "
        "measured in that same, slower state.",
        "- conda runs through the real CLI (`.venv/bin/conda`, conda 24.7.1 with the plugin), so "
        "its startup is included, with conda's home and package cache isolated under "
        "bench/.cache (the package cache the env was created from, as on a user's machine). "
        "That conda is the unmodified conda 24.7.1 vendored by conda-lock 4.0.3 (conda is not "
        "on PyPI), imported without running conda-lock's own package code, so startup time "
        "and memory are conda's.",
        "- Wall time: from process start to exit. Peak RSS: the larger of the summed RSS of all "
        "processes of the pipeline (sampled every 50 ms) and the largest single-process "
        "`ru_maxrss` (exact, as GNU `time -f %M`). MB = 10^6 bytes.",
        "- conda-pack's tar.gz is extracted with `tar -xzf`, its tar.zst with `zstd -d | tar -x`; "
        "its `conda-unpack` runs with the env's python, as after `source bin/activate`.",
        "",
        "### Exact commands",
        "",
        "`$ENV`: the env; archives are written to and `$TARGET` is inside the runs directory "
        "(see Machine); `conda`, `conda-pack`: the `.venv/bin` executables.",
        "",
        *_commands(_any_results(ctx)),
        *_notes(ctx),
        *_errors(ctx),
        "",
    ]
    return "\n".join(lines)


# Sections other benchmarks write into the same page (bench/multienv.py): carried over
KEPT_SECTIONS = ("## Several environments in one bundle",)


def _kept(old: str) -> str:
    """The :data:`KEPT_SECTIONS` of the page's previous text, each up to the next section."""
    kept = []
    for heading in KEPT_SECTIONS:
        start = old.find(f"\n{heading}\n")
        if start >= 0:
            end = old.find("\n## ", start + len(heading) + 2)
            kept.append(old[start + 1 : end if end >= 0 else None].rstrip() + "\n")
    return "\n".join(kept)


def write(path: Path, ctx: Context) -> None:
    """Write the report to ``path``, keeping what other benchmarks wrote there (the
    delta section in its place, the others at the end)."""
    from .delta import carry_over, kept_section

    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    text = render(ctx)
    delta = kept_section(old)
    if delta:
        text = carry_over(delta, text)
    kept = _kept(old)
    path.write_text(text + (f"\n{kept}" if kept else ""))
