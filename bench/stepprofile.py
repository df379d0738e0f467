"""CPU-seconds of each step of ``conda bundle`` / ``conda unbundle``, per file.

The command runs in this process through conda's real CLI entry point
(``conda.cli.main.main("bundle", ...)``), while a sampling thread, every
:data:`INTERVAL` seconds, reads each Python thread's own CPU clock
(``pthread_getcpuclockid``) and charges the CPU time the thread used since the last sample
to the step the thread is in now: the innermost frame of one of our modules names it
(:data:`STEPS`; a module without an entry is shown by its own name). Sampling costs a few
per cent, not the 2-3x of a tracing profiler on code that makes millions of small calls,
so the steps add up to what the command really spends.

CPU used outside Python threads (zstd's and ISA-L's own worker threads) is the process
total minus the threads'; child processes (the interpreter that recompiles bytecode) are
counted from ``RUSAGE_CHILDREN``. Reference costs put the steps in proportion: what GNU
tar + zstd spend on the same env, and the floor of a Python loop that only lstats, only
reads, or only hashes every file.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType

INTERVAL = 0.002
OURS = "conda_envbundle."
CONDA_MODULES = ("conda.", "conda_lock._vendor.conda.")
STEPS: dict[str, str] = {
    # bundle
    "bundling.walk": "walk + lstat",
    "bundling.refusals": "walk + lstat",
    "bundling.inventory": "inventory (conda-meta records)",
    "bundling.packages": "inventory (conda-meta records)",
    "_compat:load_records": "inventory (conda-meta records)",
    "_compat:recorded_paths": "inventory (conda-meta records)",
    "_compat:installed_path": "classify",
    "bundling.sbomfacts": "SBOM facts (unowned files, pip dists)",
    "scan": "scan (read, sha256, prefix search)",
    "relocation.rules": "prefix rules (detect / rewrite)",
    "feed": "thread hand-off (feed queues)",
    "budget": "manifest (build + encode / decode)",
    "bundling.classify": "classify",
    "bundling.pycs": "classify",
    "bundling.items": "classify",
    "manifest": "manifest (build + encode / decode)",
    "bundling.readahead": "read-ahead (open, read, sha256)",
    "archive.tar:TarWriter": "tar headers + stream",
    "archive.tar:member_header": "tar headers + stream",
    "archive.tar": "tar headers + stream / tar parsing",
    "archive.codecs": "compression / decompression (calling thread)",
    "bundling.write": "output stream (hash + write)",
    "bundling.output": "output file + commit",
    # unbundle
    "archive.prefetch": "read + decompress (prefetch thread)",
    "archive.tar:TarReader": "tar parsing",
    "archive.tarread": "tar parsing",
    "unbundling.extract:_verified_data": "verification (sha256 of contents)",
    "unbundling.extract:_place": "file creation (open, write, chmod)",
    "unbundling.extract": "extraction (match members to manifest)",
    "unbundling.filewriters": "file creation (open, write, chmod)",
    "fstree": "file creation (open, write, chmod)",
    "relocation.prefix": "relocation (prefix rewriting)",
    "relocation.bytecode": "relocation (bytecode)",
    "relocation.records": "relocation (conda-meta records)",
    "unbundling.preflight": "pre-flight checks + lock",
    "unbundling.lock": "pre-flight checks + lock",
    "unbundling.commit": "commit (rename into place)",
    "unbundling.install": "install (modes, metadata, orchestration)",
}
"""Our module (``sub.module``, or ``sub.module:function`` / ``:Class``) -> step name."""
CONDA_STEP = "conda (CLI, context, plugins; no frame of ours)"
OTHER_STEP = "interpreter (no frame of ours or conda's)"
NATIVE_STEP = "native threads (zstd / ISA-L workers)"
CHILD_STEP = "child processes"


@dataclass
class StepProfile:
    """Where one command's CPU went."""

    command: str
    files: int
    wall: float = 0.0
    cpu: float = 0.0
    """Process CPU (user + system) of the command, children included."""
    steps: dict[str, float] = field(default_factory=dict)
    """Step -> CPU seconds, the sampler's own CPU excluded."""
    sampler_cpu: float = 0.0
    error: str = ""

    def rows(self) -> list[tuple[str, float, float, float]]:
        """``(step, CPU s, us per file, share)`` by decreasing CPU."""
        total = sum(self.steps.values()) or 1.0
        ordered = sorted(self.steps.items(), key=lambda kv: -kv[1])
        return [(s, cpu, cpu / self.files * 1e6, cpu / total) for s, cpu in ordered]


def _step_of_code(code: CodeType, module: str) -> str | None:
    if not module.startswith(OURS):
        return None
    sub = module[len(OURS) :]
    qualname = getattr(code, "co_qualname", code.co_name)
    cls = qualname.split(".")[0]
    for key in (f"{sub}:{code.co_name}", f"{sub}:{cls}", sub):
        if key in STEPS:
            return STEPS[key]
    return sub


class _Classifier:
    """Step of a thread's current stack (cached per code object)."""

    def __init__(self) -> None:
        self._cache: dict[CodeType, str | None] = {}

    def step(self, frame: FrameType | None) -> str:
        conda = False
        while frame is not None:
            code = frame.f_code
            if code not in self._cache:
                self._cache[code] = _step_of_code(code, frame.f_globals.get("__name__", ""))
            step = self._cache[code]
            if step is not None:
                return step
            conda = conda or frame.f_globals.get("__name__", "").startswith(CONDA_MODULES)
            frame = frame.f_back
        return CONDA_STEP if conda else OTHER_STEP


class Sampler(threading.Thread):
    """Charge each Python thread's CPU time to the step it is in (see module docstring)."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="envbundle-bench-sampler")
        self.cpu_ns: Counter[str] = Counter()
        self.own_ns = 0
        self._classifier = _Classifier()
        self._last: dict[int, int] = {i: _thread_cpu(i) for i in sys._current_frames()}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(INTERVAL):
            self._sample()
        self._sample()
        self.own_ns = time.thread_time_ns()

    def _sample(self) -> None:
        me = threading.get_ident()
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            now = _thread_cpu(ident)
            before = self._last.get(ident, 0)
            self._last[ident] = now
            delta = now - before if now >= before else now  # a reused thread id
            if delta > 0:
                self.cpu_ns[self._classifier.step(frame)] += delta

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _thread_cpu(ident: int) -> int:
    try:
        return time.clock_gettime_ns(time.pthread_getcpuclockid(ident))
    except OSError:  # the thread has just ended
        return 0


def _cpu_now() -> tuple[float, float]:
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def profile_conda(args: list[str], files: int) -> StepProfile:
    """Run ``conda *args`` in this process under :class:`Sampler`."""
    from conda.cli.main import main

    result = StepProfile("conda " + " ".join(args), files)
    own0, kids0 = _cpu_now()
    started = time.perf_counter()
    sampler = Sampler()
    sampler.start()
    try:
        code = main(*args)
    finally:
        sampler.stop()
    result.wall = time.perf_counter() - started
    own1, kids1 = _cpu_now()
    if code:
        result.error = f"exit {code}"
    sampled = {step: ns / 1e9 for step, ns in sampler.cpu_ns.items()}
    result.sampler_cpu = sampler.own_ns / 1e9
    native = (own1 - own0) - sum(sampled.values()) - result.sampler_cpu
    if native > 0.005:
        sampled[NATIVE_STEP] = native
    if kids1 - kids0 > 0.005:
        sampled[CHILD_STEP] = kids1 - kids0
    result.steps = sampled
    result.cpu = (own1 - own0) + (kids1 - kids0) - result.sampler_cpu
    return result


@dataclass
class Reference:
    """CPU seconds of a reference job over the same env (``what``: how it was done)."""

    label: str
    cpu: float
    wall: float


def _shell_cpu(label: str, cmd: str) -> Reference:
    _, kids0 = _cpu_now()
    started = time.perf_counter()
    subprocess.run(["sh", "-c", cmd], check=True)
    wall = time.perf_counter() - started
    _, kids1 = _cpu_now()
    return Reference(label, kids1 - kids0, wall)


def _python_cpu(label: str, job) -> Reference:
    own0, _ = _cpu_now()
    started = time.perf_counter()
    job()
    wall = time.perf_counter() - started
    own1, _ = _cpu_now()
    return Reference(label, own1 - own0, wall)


def _paths(prefix: Path) -> list[str]:
    found = []
    for root, _, names in os.walk(prefix):
        found += [os.path.join(root, name) for name in names]
    return found


def _lstat_all(prefix: Path) -> None:
    for path in _paths(prefix):
        os.lstat(path)


def _read_all(paths: list[str]) -> None:
    for path in paths:
        with open(path, "rb") as f:
            f.read()


def _hash_all(paths: list[str]) -> None:
    for path in paths:
        with open(path, "rb") as f:
            hashlib.sha256(f.read())


def references(prefix: Path, work: Path) -> list[Reference]:
    """GNU tar + zstd both ways, and Python floors (walk + lstat, read, read + sha256)."""
    archive, target = work / "gnu.tar.zst", work / "gnu-target"
    q_env, q_archive, q_target = (f"'{p}'" for p in (prefix, archive, target))
    files = [p for p in _paths(prefix) if not os.path.islink(p)]
    refs = [
        _shell_cpu(
            "GNU tar -c | zstd -T0 -3", f"tar -cf - -C {q_env} . | zstd -q -T0 -3 -o {q_archive}"
        ),
        _shell_cpu(
            "zstd -d | GNU tar -x",
            f"mkdir -p {q_target} && zstd -q -d -c {q_archive} | tar -xf - -C {q_target}",
        ),
        _python_cpu("Python: os.walk + lstat of every entry", lambda: _lstat_all(prefix)),
        _python_cpu("Python: open + read + close every file", lambda: _read_all(files)),
        _python_cpu("Python: open + read + sha256 every file", lambda: _hash_all(files)),
    ]
    shutil.rmtree(target, ignore_errors=True)
    archive.unlink(missing_ok=True)
    return refs


def render_text(profile: StepProfile) -> str:
    """A plain-text table of one profile (for the terminal)."""
    lines = [
        f"== {profile.command}: {profile.wall:.2f} s wall, {profile.cpu:.2f} CPU-s, "
        f"{profile.cpu / profile.files * 1e6:.1f} us/file over {profile.files:,} entries"
        + (f" ({profile.error})" if profile.error else ""),
    ]
    for step, cpu, per_file, share in profile.rows():
        lines.append(f"  {cpu:8.2f} s {per_file:8.1f} us/file {share:6.1%}  {step}")
    lines.append(f"  (sampler's own CPU, excluded: {profile.sampler_cpu:.2f} s)")
    return "\n".join(lines)


def render_references(refs: list[Reference], files: int) -> str:
    """Plain-text lines of the reference costs."""
    lines = ["== reference costs on the same env"]
    for ref in refs:
        per_file = ref.cpu / files * 1e6
        lines.append(
            f"  {ref.cpu:8.2f} CPU-s {per_file:8.1f} us/file ({ref.wall:.2f} s wall)  {ref.label}"
        )
    return "\n".join(lines)
