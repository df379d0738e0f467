"""The measurements: pack and unpack the same env with each tool, one after the other.

Every command runs as a user would type it (the real ``conda`` CLI, ``conda-pack``, GNU
tar and zstd, ``sh`` for the installer), on a warm page cache, with outputs and targets
inside one runs directory (on disk, or on tmpfs to take the disk out of the measurement).
Tools are measured in groups: the group's packs, then the unpacks of the archives they
wrote, then the archives are deleted. Within a group the commands alternate round by round
(A, B, A, B, ...), so that a slow phase of a shared machine hits both sides of a comparison
alike; each row reports the median of its rounds.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .buildenv import BenchEnv, smoke_test
from .measure import run_measured

VENV_BIN = Path(sys.executable).parent
CONDA = VENV_BIN / "conda"
CONDA_PACK = VENV_BIN / "conda-pack"
CONDA_UNPACK = "$TARGET/bin/python $TARGET/bin/conda-unpack"
"""conda-pack's unpack step, with the env's python (as after ``source bin/activate``)."""
BUNDLE_UNPACK = "$TARGET/bin/conda-unpack"
"""A bundle's own unpack step: a sh script that runs the env's python by path."""
UNZSTD = "mkdir -p $TARGET && zstd -q -d -c $OUT | tar -xf - -C $TARGET"
UNGZ = "mkdir -p $TARGET && tar -xzf $OUT -C $TARGET"
PAYLOAD_MARKER = b"\n__ENVBUNDLE_PAYLOAD__\n"
"""The line that ends a ``--format sh`` installer's header; the raw payload, an ordinary
tar.gz, follows it (conda_envbundle/archive/sh.py)."""
SH_HEADER_MAX = 4 << 20


@dataclass
class Result:
    """One row of the results table."""

    key: str
    direction: str
    """``pack`` or ``unpack``."""
    label: str
    command: str
    """The command as documented (``$ENV``, ``$TARGET`` placeholders, archive names)."""
    seconds: float = 0.0
    """Median of :attr:`runs`, plus the later steps (``conda-unpack``)."""
    peak_rss: int = 0
    size: int | None = None
    works: str = "n/a"
    """Smoke test of the unpacked env: ``yes``, ``NO: ...`` or ``n/a`` (not relocated)."""
    parts: list[tuple[str, float]] = field(default_factory=list)
    error: str = ""
    runs: list[float] = field(default_factory=list)
    """Wall time of every round of the first (or only) step."""
    notes: list[str] = field(default_factory=list)
    """Anomalies seen in the command's output (a traceback although it succeeded)."""


@dataclass(frozen=True)
class Pack:
    """A pack command writing archive ``out`` (a file name in the runs directory)."""

    key: str
    label: str
    template: str
    out: str


@dataclass(frozen=True)
class Unpack:
    """Unpack ``out`` into the target: ``first`` is timed every round, ``then`` once after."""

    key: str
    label: str
    first: tuple[str, str]
    out: str
    relocated: bool
    then: tuple[tuple[str, str], ...] = ()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _has_traceback(log: Path) -> bool:
    return log.is_file() and b"Traceback (most recent call last)" in log.read_bytes()


class Suite:
    """Runs the measurements and collects :class:`Result` rows."""

    def __init__(
        self, bench_env: BenchEnv, runs_dir: Path, repeat: int, *, on_disk: bool = True
    ) -> None:
        self.bench_env = bench_env
        self.env_dir = bench_env.prefix
        self.runs_dir = runs_dir
        self.target = runs_dir / "target"
        self.repeat = repeat
        self.on_disk = on_disk
        """On disk, the first unpack of a group is preceded by an untimed one (see group)."""
        self.conda_env = bench_env.conda_env()
        self.results: list[Result] = []

    # -- one command -------------------------------------------------------------------

    def _render(self, template: str, out: str) -> str:
        """The shell command: placeholders and tool names replaced by absolute paths."""
        return (
            template.replace("$OUT", shlex.quote(str(self.runs_dir / out)))
            .replace("$ENV", shlex.quote(str(self.env_dir)))
            .replace("$TARGET", shlex.quote(str(self.target)))
            .replace("conda-pack ", f"{shlex.quote(str(CONDA_PACK))} ")
            .replace("conda ", f"{shlex.quote(str(CONDA))} ")
        )

    def _once(self, result: Result, template: str, out: str, reset: Callable[[], None]) -> bool:
        """One round of ``template`` for ``result``; False (``result.error`` set) if it failed."""
        reset()
        os.sync()
        log = self.runs_dir / f"{result.key}.log"
        run = run_measured(self._render(template, out), env=self.conda_env, log=log)
        if run.returncode != 0:
            result.error = f"exit {run.returncode}:\n{run.output}"
            print(f"    {result.label}: FAILED: {result.error}", flush=True)
            return False
        result.runs.append(run.seconds)
        result.peak_rss = max(result.peak_rss, run.peak_rss)
        note = f"printed a Python traceback although it exited 0 (log: {log.name})"
        if _has_traceback(log) and note not in result.notes:
            result.notes.append(note)
        print(f"    {result.label}: {run.seconds:.2f} s", flush=True)
        return True

    def _smoke(self, prefix: Path) -> str:
        """``yes``; ``only with bin/ on PATH (without: <why>)``; or ``NO: <why>``."""
        errors = (RuntimeError, OSError, subprocess.CalledProcessError)
        try:
            smoke_test(prefix, self.bench_env.profile)
        except errors as exc:
            plain = str(exc).strip()[:160]
        else:
            return "yes"
        try:
            smoke_test(prefix, self.bench_env.profile, activated=True)
        except errors as exc:
            return f"NO: {str(exc).strip()[:160]}"
        return f"only with bin/ on PATH (without: {plain})"

    # -- a group -----------------------------------------------------------------------

    def group(
        self, packs: list[Pack], unpacks: list[Unpack], rounds: int, *, condition: bool = False
    ) -> None:
        """Packs alternating for ``rounds``, then unpacks alternating; then clean up.

        ``condition``: before the first timed unpack, extract and delete once (untimed). On
        this VM's disk (ext4 with online discard) writing is much slower right after a large
        deletion; every later unpack follows the deletion of the previous target, so the
        first one must too, or it alone runs on a "fresh" disk.
        """
        packed = self._packs(packs, rounds)
        unpacks = [u for u in unpacks if u.out in packed]
        if condition and self.on_disk and unpacks:
            self._condition(unpacks[0])
        self._unpacks(unpacks, rounds)
        for pack in packs:
            _remove(self.runs_dir / pack.out)

    def _packs(self, packs: list[Pack], rounds: int) -> set[str]:
        """Measure ``packs``; return the archives written."""
        rows = [Result(p.key, "pack", p.label, p.template.replace("$OUT", p.out)) for p in packs]
        for _ in range(rounds):
            for pack, row in zip(packs, rows, strict=True):
                if not row.error:
                    archive = self.runs_dir / pack.out
                    self._once(row, pack.template, pack.out, lambda a=archive: _remove(a))
        for pack, row in zip(packs, rows, strict=True):
            if not row.error:
                row.seconds = statistics.median(row.runs)
                row.size = (self.runs_dir / pack.out).stat().st_size
        self.results += rows
        return {p.out for p, row in zip(packs, rows, strict=True) if not row.error}

    def _condition(self, unpack: Unpack) -> None:
        """Run ``unpack``'s first step once, untimed, and delete its output."""
        print(f"    conditioning the disk: {unpack.label} (not timed)", flush=True)
        _remove(self.target)
        cmd = self._render(unpack.first[1], unpack.out)
        subprocess.run(["sh", "-c", cmd], env=self.conda_env, check=False, capture_output=True)
        _remove(self.target)

    def _unpacks(self, unpacks: list[Unpack], rounds: int) -> None:
        """Measure ``unpacks``; the last round also runs the later steps and the smoke test."""
        rows = []
        for u in unpacks:
            command = " && ".join(t for _, t in (u.first, *u.then)).replace("$OUT", u.out)
            rows.append(Result(u.key, "unpack", u.label, command))
        for index in range(rounds):
            for unpack, row in zip(unpacks, rows, strict=True):
                if row.error:
                    continue
                reset = lambda: _remove(self.target)  # noqa: E731
                if self._once(row, unpack.first[1], unpack.out, reset) and index == rounds - 1:
                    self._finish_unpack(unpack, row)
                _remove(self.target)
        self.results += rows

    def _finish_unpack(self, unpack: Unpack, row: Result) -> None:
        """After the last round: the later steps (timed once), then the smoke test."""
        row.seconds = statistics.median(row.runs)
        row.parts.append((unpack.first[0], row.seconds))
        for name, template in unpack.then:
            step = Result(row.key, "unpack", f"{row.label}: {name}", template)
            if not self._once(step, template, unpack.out, lambda: None):
                row.error = f"{name}: {step.error}"
                return
            row.parts.append((name, step.runs[0]))
            row.seconds += step.runs[0]
            row.peak_rss = max(row.peak_rss, step.peak_rss)
            row.notes += step.notes
        row.works = self._smoke(self.target) if unpack.relocated else "n/a"
        print(f"    works: {row.works}", flush=True)

    # -- the groups ----------------------------------------------------------------------

    def key_comparison(self, gnu: bool = True, bundle: bool = True, rounds: int = 2) -> None:
        """GNU tar | zstd -3 and ``conda bundle`` (tar.zst), and back, alternating; the bundle
        is unpacked both ways: ``conda unbundle``, and ``tar -x`` + ``bin/conda-unpack``."""
        packs, unpacks = [], []
        if gnu:
            tar = "tar -cf - -C $ENV . | zstd -q -T0 -3 -o $OUT"
            packs.append(Pack("pack.gnu", "GNU tar | zstd -T0 -3", tar, "gnu.tar.zst"))
            unpacks.append(
                Unpack(
                    "unpack.gnu", "zstd -d | GNU tar -x", ("extract", UNZSTD), "gnu.tar.zst", False
                )
            )
        if bundle:
            packs.append(self._bundle_pack("tar.zst"))
            unpacks.append(self._bundle_unpack("tar.zst"))
            unpacks.append(
                Unpack(
                    "unpack.bundle.no-conda",
                    "bundle tar.zst: untar + bin/conda-unpack (no conda)",
                    ("extract", UNZSTD),
                    "bundle.tar.zst",
                    True,
                    (("conda-unpack", BUNDLE_UNPACK),),
                )
            )
        self.group(packs, unpacks, rounds, condition=True)

    def installer(self) -> None:
        """``conda bundle -o x.sh`` (gzip payload), then ``sh x.sh -p`` against plain
        ``tar -xzf`` of the very payload the installer carries, alternating."""
        pack = Pack("pack.bundle.sh", "conda bundle (sh)", "conda bundle -p $ENV -o $OUT", "x.sh")
        if self._packs([pack], self.repeat):
            _cut_payload(self.runs_dir / "x.sh", self.runs_dir / "payload.tar.gz")
            run_sh = ("install", "sh $OUT -p $TARGET")
            unpacks = [
                Unpack("unpack.bundle.sh", "sh installer (x.sh -p)", run_sh, "x.sh", True),
                Unpack(
                    "unpack.sh-payload",
                    "plain tar -xzf of the installer's payload",
                    ("extract", UNGZ),
                    "payload.tar.gz",
                    False,
                ),
            ]
            self._unpacks(unpacks, max(self.repeat, 2))
        for name in ("x.sh", "payload.tar.gz"):
            _remove(self.runs_dir / name)

    def bundle_gz(self) -> None:
        """``conda bundle -o x.tar.gz``, then ``conda unbundle``."""
        self.group([self._bundle_pack("tar.gz")], [self._bundle_unpack("tar.gz")], self.repeat)

    def conda_pack(self, fmt: str) -> None:
        """conda-pack 0.9.2 to ``fmt``; untar; ``conda-unpack`` with the env's python."""
        out = f"conda-pack.{fmt}"
        threads = " -j -1" if fmt == "tar.gz" else ""
        pack = Pack(
            f"pack.conda-pack.{fmt}",
            f"conda-pack --format {fmt}{threads}",
            f"conda-pack -q -p $ENV -o $OUT --format {fmt}{threads}",
            out,
        )
        unpacking = Unpack(
            f"unpack.conda-pack.{fmt}",
            f"conda-pack {fmt}: untar + conda-unpack",
            ("extract", UNGZ if fmt == "tar.gz" else UNZSTD),
            out,
            True,
            (("conda-unpack", CONDA_UNPACK),),
        )
        self.group([pack], [unpacking], self.repeat)

    @staticmethod
    def _bundle_pack(fmt: str) -> Pack:
        out = f"bundle.{fmt}"
        return Pack(
            f"pack.bundle.{fmt}", f"conda bundle ({fmt})", "conda bundle -p $ENV -o $OUT", out
        )

    @staticmethod
    def _bundle_unpack(fmt: str) -> Unpack:
        step = ("unbundle", "conda unbundle $OUT -p $TARGET")
        return Unpack(
            f"unpack.bundle.{fmt}", f"conda unbundle ({fmt})", step, f"bundle.{fmt}", True
        )


def _cut_payload(installer: Path, payload: Path) -> None:
    """Copy the payload of ``installer`` (everything after its header) to ``payload``."""
    with installer.open("rb") as src:
        head = src.read(SH_HEADER_MAX)
        at = head.find(PAYLOAD_MARKER)
        if at < 0:
            raise RuntimeError(f"{installer}: no payload marker in its first {SH_HEADER_MAX} bytes")
        src.seek(at + len(PAYLOAD_MARKER))
        with payload.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
