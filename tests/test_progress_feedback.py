"""Feedback on long work (issue 12): bars with rate and time on a terminal, one line per
step in logs, nothing with -q or --json, and where a bundle's size goes."""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import posixpath
import pty
import re
import struct
import subprocess
import tarfile
import termios
from collections import Counter

from .support.envs import CONDA
from .test_cli_features import _in_terminal, _run

# tqdm's "[elapsed<remaining, rate]" after conda's "| percentage"
TIMED_BAR = re.compile(r"\| 100% \S+/\S+ \[\d\d:\d\d<\d\d:\d\d, +[\d.]+ ?\S*/s\]")
STEP_LINE = r"^{}: done, [\d,.]+ \S+ in \d+\.\d s$"


def _steps(text: str, *names: str) -> None:
    for name in names:
        assert re.search(STEP_LINE.format(name), text, re.MULTILINE), (name, text)


def test_bars_show_rate_elapsed_and_remaining(
    source_env, source_bundle_small, conda_isolation, tmp_path
):
    env = conda_isolation.env
    shown = _in_terminal([CONDA, "bundle", "-p", source_env, "-o", tmp_path / "a.tar"], env)
    for name in ("Reading", "Writing"):
        line = next(part for part in re.split(r"[\r\n]", shown) if part.startswith(name))
        assert line, shown
    assert len(TIMED_BAR.findall(shown)) >= 2, shown
    assert re.search(r"B/s\]", shown) and re.search(r"entries/s\]", shown), shown
    verify = _in_terminal([CONDA, "unbundle", source_bundle_small, "--verify"], env)
    assert "Verifying" in verify and TIMED_BAR.search(verify), verify
    assert "is intact" in verify


def test_one_line_per_step_without_a_terminal(
    source_env, source_bundle_small, conda_isolation, tmp_path
):
    env = conda_isolation.env
    proc = _run(env, "bundle", "-p", source_env, "-o", tmp_path / "a.tar.gz")
    assert proc.returncode == 0, proc.stderr
    _steps(proc.stderr, "Reading", "Writing")
    assert re.search(r"^Reading: done, [\d,]+ entries in", proc.stderr, re.MULTILINE)
    for text in (proc.stdout, proc.stderr):
        assert "\r" not in text and "\x1b" not in text and "|" not in text
    assert proc.stdout.startswith("Bundled ")  # the result alone on standard output
    unbundle = _run(env, "unbundle", source_bundle_small, "-p", tmp_path / "t")
    assert unbundle.returncode == 0, unbundle.stderr
    _steps(unbundle.stderr, "Extracting", "Relocating")
    verify = _run(env, "unbundle", source_bundle_small, "--verify")
    _steps(verify.stderr, "Verifying")


def test_quiet_and_json_say_nothing_on_the_way(
    source_env, source_bundle_small, conda_isolation, tmp_path
):
    env = conda_isolation.env
    quiet = _run(env, "bundle", "-p", source_env, "-o", tmp_path / "q.tar", "-q")
    as_json = _run(env, "bundle", "-p", source_env, "-o", tmp_path / "j.tar", "--json")
    verify = _run(env, "unbundle", source_bundle_small, "--verify", "--json")
    for proc in (quiet, as_json, verify):
        assert proc.returncode == 0, proc.stderr
        # warnings still show with -q, as conda's do; steps do not
        assert not re.search(r"^\w+: done, ", proc.stderr, re.MULTILINE), proc.stderr
        assert "\r" not in proc.stderr
    assert json.loads(as_json.stdout)["success"] and json.loads(verify.stdout)["verified"]
    in_terminal = _in_terminal(
        [CONDA, "bundle", "-p", source_env, "-o", tmp_path / "t.tar", "-q"], env
    )
    assert "Reading" not in in_terminal and "%" not in in_terminal


def test_sender_of_standard_output_draws_on_standard_error(source_env, conda_isolation, tmp_path):
    """``-o -``: the bar on the terminal of stderr, the bundle alone on stdout, and the
    summary on a line of its own (cleared first: a receiver may be drawing there)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    out = tmp_path / "sent.tar"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [CONDA, "bundle", "-p", source_env, "-o", "-", "--format", "tar"],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=terminal,
            env=conda_isolation.env,
        )
        os.close(terminal)
        shown = _read_all(controller)
        proc.wait()
    assert proc.returncode == 0, shown
    assert "Writing" in shown and TIMED_BAR.search(shown), shown
    cleared = shown.rindex("\r\x1b[K")
    assert cleared > shown.rindex("Writing") and "\nBundled " in shown[cleared:], shown
    # the bar counts in conda's units: its total is the size the summary prints
    total = re.search(r"Writing .* 100% ([\d.]+)M/([\d.]+)M ", shown)
    assert total and f"entries ({total.group(2)} MB)" in shown, shown
    with tarfile.open(out) as tar:  # nothing but the bundle went to standard output
        assert "conda-meta/envbundle/manifest.json" in tar.getnames()


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def test_where_the_size_goes_matches_the_bundle(source_env, conda_isolation, tmp_path):
    env = conda_isolation.env
    bundle = tmp_path / "b.tar"
    made = _run(env, "bundle", "-p", source_env, "-o", bundle, "-q")
    assert made.returncode == 0, made.stderr
    with tarfile.open(bundle) as tar:
        files = {m.name: m.size for m in tar.getmembers() if m.isfile()}
        records = [
            json.loads(tar.extractfile(name).read())  # type: ignore[union-attr]
            for name in files
            if re.fullmatch(r"conda-meta/[^/]+\.json", name)
        ]
    info = json.loads(_run(env, "unbundle", bundle, "--info", "--json").stdout)["sizes"]
    plan = _run(env, "bundle", "-p", source_env, "-o", tmp_path / "p.tar", "--dry-run", "--json")
    assert json.loads(plan.stdout)["sizes"] == info
    classes = info["classes"]
    for name, patterns in (
        ("bytecode", ["*.pyc"]),
        ("static_libraries", ["*.a"]),
        ("tests", ["*/tests/*", "*/test/*"]),
    ):
        matched = [s for p, s in files.items() if any(fnmatch.fnmatchcase(p, x) for x in patterns)]
        assert classes[name]["size"] == sum(matched) and classes[name]["files"] == len(matched)
        assert classes[name]["exclude"] == " ".join(f"--exclude '{p}'" for p in patterns)
    assert classes["bytecode"]["size"] > 0
    owned = {r["name"]: sum(files.get(p, 0) for p in r["files"]) for r in records}
    top = info["largest_packages"][0]
    assert top["size"] == max(owned.values()) > 0 and owned[top["name"]] == top["size"]
    directories: Counter[str] = Counter()
    for path, size in files.items():
        if "/" in path:
            directories["/".join(posixpath.dirname(path).split("/")[:4])] += size
    assert info["largest_directories"][0] == {
        "path": directories.most_common(1)[0][0],
        "size": directories.most_common(1)[0][1],
    }
    text = _run(env, "unbundle", bundle, "--info").stdout
    assert "Largest packages:" in text and f"  {top['name']}" in text
    assert "--exclude '*.pyc'" in text and "--exclude '*/tests/*'" in text
    dry = _run(env, "bundle", "-p", source_env, "-o", tmp_path / "p.tar", "--dry-run").stdout
    assert "Could be left out:" in dry and "--exclude '*.a'" in dry
