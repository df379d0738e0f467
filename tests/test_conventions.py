"""conda's conventions (issue 12): prompts, terminals, -v logging, hints, --help, exclusive
modes, frozen environments, and options that do what they say. Everything runs the real
``conda`` executable; prompts and terminals are real pseudo-terminals."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from conda.utils import human_bytes

from .support.envs import CONDA, create_env

ROOT = Path(__file__).resolve().parent.parent
PROMPT = b"(y/[n])? "
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# a safety net so that a command waiting for input fails the test instead of hanging it
STALL = 300


def _run(env: dict, *args, cwd=None, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """``conda ...`` with no terminal anywhere (standard input: nothing, unless given)."""
    return subprocess.run(
        [CONDA, *map(str, args)],
        env=env,
        cwd=cwd,
        stdin=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def _terminal(
    env: dict, *args, answer: bytes | None = None, stdin=None, stdout=None, cwd=None
) -> tuple[int, str]:
    """Run ``conda ...`` on a pseudo-terminal (standard input, output and error unless
    ``stdin``/``stdout`` are given) and type ``answer`` when conda's prompt shows."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [CONDA, *map(str, args)],
        stdin=terminal if stdin is None else stdin,
        stdout=terminal if stdout is None else stdout,
        stderr=terminal,
        env=env,
        cwd=cwd,
    )
    os.close(terminal)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], STALL)
            if not ready:
                proc.kill()
                raise AssertionError(f"conda waits for something: {seen!r}")
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every process let go of the terminal
                break
            if not chunk:
                break
            seen += chunk
            if answer is not None and seen.endswith(PROMPT):
                os.write(controller, answer)
                answer = None
    finally:
        code = proc.wait()
        os.close(controller)
    return code, seen.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def small(tmp_path_factory, channel, conda_isolation) -> Path:
    """A small environment (compiled code and text, no python), to bundle, read-only."""
    prefix = tmp_path_factory.mktemp("conventions") / "small"
    create_env(prefix, channel, ["foo", "foo-data"], conda_isolation.env)
    return prefix


@pytest.fixture
def existing_env(source_bundle_small, conda_isolation, tmp_path) -> Path:
    """An environment made by ``conda unbundle``, with a file of the user's inside."""
    target = tmp_path / "existing env"
    proc = _run(conda_isolation.env, "unbundle", source_bundle_small, "-p", target)
    assert proc.returncode == 0, proc.stderr
    (target / "user-file").write_text("mine")
    return target


def _replaced(target: Path) -> bool:
    assert (target / "conda-meta" / "history").is_file()
    return not (target / "user-file").exists()


# --- -y/--yes and the prompt before --force replaces an environment -------------------------


def test_force_asks_on_a_terminal_and_no_keeps_the_environment(
    existing_env, source_bundle_small, conda_isolation
):
    env = conda_isolation.env
    args = ("unbundle", source_bundle_small, "-p", existing_env, "--force")
    code, shown = _terminal(env, *args, answer=b"n\n")
    assert "An environment already exists at" in shown and "Replace it with the bundle" in shown
    assert code == 0 and "Exiting." in shown  # conda's answer to "no"
    assert not _replaced(existing_env)
    code, shown = _terminal(env, *args, answer=b"y\n")
    assert code == 0, shown
    assert _replaced(existing_env)
    assert "Unbundled 2 packages" in shown


def test_force_with_no_terminal_needs_yes(existing_env, source_bundle_small, conda_isolation):
    env = conda_isolation.env
    args = ("unbundle", source_bundle_small, "-p", existing_env, "--force")
    proc = _run(env, *args)
    assert proc.returncode == 5, proc.stderr
    assert "Pass -y (--yes) with --force" in proc.stderr and "Traceback" not in proc.stderr
    assert not _replaced(existing_env)
    # the bundle on standard input leaves nobody to answer either, whatever follows
    with open(source_bundle_small, "rb") as bundle:
        piped = _run(env, "unbundle", "-", "-p", existing_env, "--force", stdin=bundle)
    assert piped.returncode == 5 and "-y" in piped.stderr
    assert not _replaced(existing_env)
    proc = _run(env, *args, "-y")
    assert proc.returncode == 0, proc.stderr
    assert _replaced(existing_env)


@pytest.mark.parametrize("how", ["--yes", "--json", "always_yes"])
def test_conda_rules_that_do_not_ask(how, existing_env, source_bundle_small, conda_isolation):
    env = dict(conda_isolation.env)
    extra = []
    if how == "always_yes":
        env["CONDA_ALWAYS_YES"] = "true"
    else:
        extra.append(how)
    # a terminal that would show a prompt: none may come (nobody types an answer)
    code, shown = _terminal(
        env, "unbundle", source_bundle_small, "-p", existing_env, "--force", *extra
    )
    assert code == 0, shown
    assert PROMPT.decode() not in shown
    assert _replaced(existing_env)
    if how == "--json":
        data = json.loads(shown[shown.index("{") :])
        assert data["replaced"] is True and data["success"] is True


def test_dry_run_over_an_environment_asks_nothing_and_says_it_would_replace(
    existing_env, source_bundle_small, conda_isolation
):
    args = ("unbundle", source_bundle_small, "-p", existing_env, "--force", "-d")
    proc = _run(conda_isolation.env, *args)
    assert proc.returncode == 0, proc.stderr
    assert "replacing the environment there" in proc.stdout
    assert not _replaced(existing_env)
    assert _run(conda_isolation.env, *args[:-2], "-d").returncode == 5  # as the real run


# --- frozen environments (CEP 22) -------------------------------------------------------------


def test_frozen_environment_is_not_replaced_without_override(
    existing_env, source_bundle_small, conda_isolation
):
    env = conda_isolation.env
    marker = existing_env / "conda-meta" / "frozen"
    marker.write_text(json.dumps({"message": "Managed by the platform team"}))
    base = ("unbundle", source_bundle_small, "-p", existing_env)
    for extra in (["--force", "-y"], ["--force", "-y", "-d"], []):
        proc = _run(env, *base, *extra)
        assert proc.returncode == 5, (extra, proc.stderr)
        assert "FrozenEnvironmentError" in proc.stderr
        assert "Managed by the platform team" in proc.stderr
        assert "--override-frozen" in proc.stderr
        assert marker.is_file() and not _replaced(existing_env)
    proc = _run(env, *base, "--force", "-y", "--override-frozen")
    assert proc.returncode == 0, proc.stderr
    assert _replaced(existing_env) and not marker.exists()


def test_bundle_of_a_frozen_environment_keeps_the_marker(make_env, conda_isolation, tmp_path):
    source = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    content = json.dumps({"message": "frozen for the paper"})
    (source / "conda-meta" / "frozen").write_text(content)
    bundle = tmp_path / "frozen.tar.zst"
    assert _run(conda_isolation.env, "bundle", "-p", source, "-o", bundle).returncode == 0
    target = tmp_path / "copy"
    proc = _run(conda_isolation.env, "unbundle", bundle, "-p", target)
    assert proc.returncode == 0, proc.stderr
    assert (target / "conda-meta" / "frozen").read_text() == content


# --- standard input and output that are terminals --------------------------------------------


def test_unbundle_from_a_terminal_refuses_at_once(conda_isolation, tmp_path):
    code, shown = _terminal(conda_isolation.env, "unbundle", "-", "-p", tmp_path / "t")
    assert code == 1, shown
    assert "Standard input is a terminal" in shown and "Traceback" not in shown
    assert list(tmp_path.iterdir()) == []


def test_bundle_onto_a_terminal_refuses(small, conda_isolation, tmp_path):
    code, shown = _terminal(
        conda_isolation.env, "bundle", "-p", small, "-o", "-", stdin=subprocess.DEVNULL
    )
    assert code == 1, shown
    assert "Standard output is a terminal" in shown
    assert ZSTD_MAGIC.decode("latin-1") not in shown and "\x00" not in shown
    # a pipe is what -o - is for
    piped = subprocess.run(
        [CONDA, "bundle", "-p", small, "-o", "-"],
        env=conda_isolation.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    assert piped.returncode == 0 and piped.stdout.startswith(ZSTD_MAGIC)


# --- --dry-run exits as the real run would ----------------------------------------------------


def test_bundle_dry_run_exits_like_the_real_run(make_env, conda_isolation, tmp_path):
    from .support.envs import add_editable_install

    env = make_env(["python", "foo"], pip_tool=False, unmanaged_binary=False)
    add_editable_install(env, "pep660")
    out = tmp_path / "x.tar.zst"
    real = _run(conda_isolation.env, "bundle", "-p", env, "-o", out)
    dry = _run(conda_isolation.env, "bundle", "-p", env, "-o", out, "-d")
    assert real.returncode == dry.returncode == 1
    assert "editable install (would stop the bundle): edpkg" in dry.stdout
    assert "EditableInstallError" in dry.stderr
    as_json = _run(conda_isolation.env, "bundle", "-p", env, "-o", out, "-d", "--json")
    assert as_json.returncode == 1
    error = json.loads(as_json.stdout)
    assert error["exception_name"] == "EditableInstallError" and "edpkg" in error["message"]
    ignored = _run(conda_isolation.env, "bundle", "-p", env, "-o", out, "-d", "--ignore-editable")
    assert ignored.returncode == 0, ignored.stderr
    assert not out.exists()


# --- -v and -vv log phases and decisions through conda's logging ------------------------------


def test_verbose_logs_phases_and_decisions(small, conda_isolation, tmp_path):
    env = conda_isolation.env
    source = small
    bundle = tmp_path / "b.tar.zst"
    quiet = _run(env, "bundle", "-p", source, "-o", bundle)
    # without -v: only the one line per step that a run with no terminal prints
    assert quiet.returncode == 0 and "Reading the environment" not in quiet.stderr
    assert len(quiet.stderr.splitlines()) == 2, quiet.stderr
    once = _run(env, "bundle", "-p", source, "-o", bundle, "--force", "-v")
    assert once.returncode == 0, once.stderr
    assert f"Reading the environment at {source}" in once.stderr
    assert re.search(r"\d+ files from pristine package-cache copies", once.stderr)
    assert "Writing a tar.zst bundle (compression level 3, " in once.stderr
    assert ": from the package cache (" not in once.stderr  # per file: -vv only
    twice = _run(env, "bundle", "-p", source, "-o", bundle, "--force", "-vv")
    per_file = r"^bin/foo: from the package cache \(.*\), binary placeholder"
    assert re.search(per_file, twice.stderr, re.M)
    target = tmp_path / "t"
    unbundled = _run(env, "unbundle", bundle, "-p", target, "-v")
    assert unbundled.returncode == 0, unbundled.stderr
    assert re.search(r"^Relocated \d+ files for the new path: .*binary", unbundled.stderr, re.M)
    assert "bin/foo: binary rewrite of" not in unbundled.stderr
    again = _run(env, "unbundle", bundle, "-p", tmp_path / "u", "-vv")
    assert "bin/foo: binary rewrite of" in again.stderr


# --- hints and names ---------------------------------------------------------------------------


def test_activation_hint_uses_the_name_and_quotes_paths(
    source_bundle_small, conda_isolation, tmp_path
):
    env = conda_isolation.env
    named = _run(env, "unbundle", source_bundle_small, "-n", "hinted")
    assert named.returncode == 0, named.stderr
    assert "To activate it: conda activate hinted\n" in named.stdout
    spaced = tmp_path / "with space" / "env"
    proc = _run(env, "unbundle", source_bundle_small, "-p", spaced)
    assert f"To activate it: conda activate {shlex.quote(str(spaced))}\n" in proc.stdout
    assert shlex.split(proc.stdout.splitlines()[-1])[-1] == str(spaced)


def test_base_is_bundled_under_its_conda_name(make_env, conda_isolation, tmp_path):
    root = make_env(["foo"], pip_tool=False, unmanaged_binary=False)
    env = {**conda_isolation.env, "CONDA_ROOT_PREFIX": str(root)}
    proc = _run(env, "bundle", "-n", "base", "-d", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"into {tmp_path / 'base.tar.zst'} (tar.zst); it can be unbundled at" in proc.stdout
    assert "target paths up to" not in proc.stdout


def test_demo_quotes_paths(capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import demo
    finally:
        sys.path.remove(str(ROOT / "tools"))
    demo.step(["true", Path("/tmp/a dir/x")], dict(os.environ))
    shown = capsys.readouterr().out.strip()
    assert shlex.split(shown.removeprefix("$ ")) == ["true", "/tmp/a dir/x"]


# --- --help, and modes that exclude each other -----------------------------------------------


@pytest.mark.parametrize("command", ["bundle", "unbundle"])
def test_help_reads_like_a_conda_command(command, conda_isolation):
    env = {**conda_isolation.env, "COLUMNS": "80"}
    text = _run(env, command, "--help").stdout
    description = text.split("\n\n", 1)[1].split("\noptions:\n")[0]
    assert all(len(line) <= 80 for line in text.splitlines())
    assert len(description.splitlines()) > 3  # wrapped, not one long line
    examples = text.split("\nExamples:\n", 1)[1]
    commands = [line.strip() for line in examples.splitlines() if line.startswith("    conda ")]
    assert len(commands) >= 3
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "docs" / "cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    for line in commands:
        for part in line.split(" | "):
            words = shlex.split(part)
            if words[1] == command:
                reference.parser_for(command).parse_args(words[2:])


def test_inspect_modes_exclude_each_other_and_targets(source_bundle_small, conda_isolation):
    env = conda_isolation.env
    both = _run(env, "unbundle", source_bundle_small, "--info", "--verify")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    trio = _run(env, "unbundle", source_bundle_small, "--info", "--list", "--verify")
    assert trio.returncode == 2
    for mode, extra, named in (
        ("--info", ["-p", "/tmp/x"], "-p/--prefix"),
        ("--info", ["-n", "x"], "-n/--name"),
        ("--list", ["--force"], "--force"),
        ("--verify", ["--dry-run"], "--dry-run"),
    ):
        proc = _run(env, "unbundle", source_bundle_small, mode, *extra)
        assert proc.returncode == 1, proc.stderr
        assert f"{mode} only reads the bundle: drop {named}" in proc.stderr


# --- options that must do what they say ------------------------------------------------------


def test_zip_compress_level_reaches_zipfile(small, conda_isolation, tmp_path):
    sizes = {}
    for level in ("0", "9"):
        out = tmp_path / f"l{level}.zip"
        proc = _run(
            conda_isolation.env, "bundle", "-p", small, "-o", out, "--compress-level", level
        )
        assert proc.returncode == 0, proc.stderr
        sizes[level] = out.stat().st_size
        assert subprocess.run(["unzip", "-tq", out], capture_output=True).returncode == 0
    assert sizes["0"] > sizes["9"] * 2


@pytest.mark.parametrize(
    ("fmt", "level", "range_"),
    [
        ("tar.zst", "-1", "1 to 22"),
        ("tar.zst", "0", "1 to 22"),
        ("tar.gz", "-1", "0 to 9"),
        ("zip", "10", "0 to 9"),
        ("tar.bz2", "0", "1 to 9"),
        ("tar.xz", "-1", "0 to 9"),
    ],
)
def test_levels_outside_the_codec_range_are_refused(
    fmt, level, range_, small, conda_isolation, tmp_path
):
    out = tmp_path / f"x.{fmt}"
    proc = _run(conda_isolation.env, "bundle", "-p", small, "-o", out, "--compress-level", level)
    assert proc.returncode == 1
    assert f"Compression level {level} is out of range for {fmt} ({range_})" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_level_settings_are_per_codec_and_named_when_wrong(small, conda_isolation, tmp_path):
    condarc = tmp_path / "xdg" / "conda" / ".condarc"
    condarc.parent.mkdir(parents=True)
    condarc.write_text("plugins:\n  bundle_gzip_level: 0\n")
    env = {**conda_isolation.env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    # gzip level 0 applies to tar.gz: the bytes of --compress-level 0, not the default's ...
    stored = tmp_path / "stored.tar.gz"
    assert _run(env, "bundle", "-p", small, "-o", stored).returncode == 0
    given = tmp_path / "given.tar.gz"
    args = ("bundle", "-p", small, "-o", given, "--compress-level", "0")
    assert _run(conda_isolation.env, *args).returncode == 0
    default = tmp_path / "default.tar.gz"
    assert _run(conda_isolation.env, "bundle", "-p", small, "-o", default).returncode == 0
    assert stored.read_bytes() == given.read_bytes() != default.read_bytes()
    # ... and leaves zstd alone
    assert _run(env, "bundle", "-p", small, "-o", tmp_path / "z.tar.zst").returncode == 0
    # a wrong value names the setting, never an option that was not given
    condarc.write_text("plugins:\n  bundle_zstd_level: 0\n")
    proc = _run(env, "bundle", "-p", small, "-o", tmp_path / "bad.tar.zst")
    assert proc.returncode == 1
    assert "out of range for tar.zst (1 to 22)" in proc.stderr
    assert "bundle_zstd_level" in proc.stderr and "--compress-level" not in proc.stderr
    # an sh installer takes its payload codec's level and setting
    proc = _run(
        env,
        "bundle",
        "-p",
        small,
        "-o",
        tmp_path / "i.sh",
        "--sh-payload",
        "zstd",
        "--compress-level",
        "19",
    )
    assert proc.returncode == 0, proc.stderr
    proc = _run(env, "bundle", "-p", small, "-o", tmp_path / "j.sh", "--sh-payload", "zstd")
    assert proc.returncode == 1 and "bundle_zstd_level" in proc.stderr
    threads = {**conda_isolation.env, "CONDA_PLUGINS_BUNDLE_THREADS": "-2"}
    proc = _run(threads, "bundle", "-p", small, "-o", tmp_path / "t.tar.zst")
    assert proc.returncode == 1 and "CONDA_PLUGINS_BUNDLE_THREADS" in proc.stderr
    assert "--threads" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "default.tar.gz",
        "given.tar.gz",
        "i.sh",
        "stored.tar.gz",
        "xdg",
        "z.tar.zst",
    ]


def test_output_that_is_a_directory_is_named_at_once(small, conda_isolation, tmp_path):
    out = tmp_path / "dir"
    out.mkdir()
    for extra in ([], ["--force"]):
        proc = _run(conda_isolation.env, "bundle", "-p", small, "-o", out, *extra)
        assert proc.returncode == 5
        assert f"{out} is a directory; give a file name with -o" in proc.stderr
        assert "Pass --force" not in proc.stderr
    assert list(out.iterdir()) == []


def test_summary_and_info_print_one_size(source_bundle_small, conda_isolation, tmp_path):
    env = conda_isolation.env
    # the same bundle again, for its summary line
    out = tmp_path / "again.tar.zst"
    info = _run(env, "unbundle", source_bundle_small, "--info").stdout
    shown = human_bytes(source_bundle_small.stat().st_size)
    assert f"({shown})" in info.splitlines()[0]
    data = json.loads(_run(env, "unbundle", source_bundle_small, "--info", "--json").stdout)
    assert human_bytes(data["content_size"]) in info
    prefix = tmp_path / "env"
    assert _run(env, "unbundle", source_bundle_small, "-p", prefix).returncode == 0
    summary = _run(env, "bundle", "-p", prefix, "-o", out).stdout
    again = _run(env, "unbundle", out, "--info").stdout
    size = re.search(r"tar\.zst, (.+?), sha256", summary)[1]
    assert size == human_bytes(out.stat().st_size)
    assert f"{out} ({size})" in again.splitlines()[0]
    assert re.search(r"\((.+?)\) from", summary)[1] in again  # the content size too


def test_uncached_warning_is_the_one_the_docs_quote(make_env, conda_isolation, tmp_path):
    import shutil

    pkgs = tmp_path / "pkgs"
    env = make_env(["foo", "foo-data"], pip_tool=False, unmanaged_binary=False, pkgs_dir=pkgs)
    shutil.rmtree(pkgs)
    proc = _run(conda_isolation.env, "bundle", "-p", env, "-o", tmp_path / "u.tar.zst")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    quoted = [
        quote
        for quote in re.findall(r"`(N [^`]*|Target paths can be at most N[^`]*)`", page)
        if "package cache" in quote or quote.startswith("Target")
    ]
    assert len(quoted) == 2, quoted
    for quote in quoted:
        parts = [re.escape(p) for p in re.split(r"\bN\b|\(\.\.\.\)|\.\.\.", quote)]
        pattern = r"warning: " + r"(?:\d+|\(.+?\)|.*)".join(parts)
        assert any(re.match(pattern, w) for w in warnings), (quote, warnings)


def test_filters_may_not_remove_what_makes_an_environment(small, conda_isolation, tmp_path):
    out = tmp_path / "x.tar.zst"
    for filters in (["--exclude", "conda-meta/*"], ["--exclude", "conda-meta/foo-*.json"]):
        proc = _run(conda_isolation.env, "bundle", "-p", small, "-o", out, *filters)
        assert proc.returncode == 1, proc.stderr
        assert "conda would not recognise the result as an environment" in proc.stderr
        assert list(tmp_path.iterdir()) == []
    kept = ["--exclude", "conda-meta/*", "--include", "conda-meta/*.json"]
    kept += ["--include", "conda-meta/history"]
    proc = _run(conda_isolation.env, "bundle", "-p", small, "-o", out, *kept)
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / "t"
    assert _run(conda_isolation.env, "unbundle", out, "-p", target).returncode == 0
    listed = _run(conda_isolation.env, "list", "-p", target, "--json")
    assert {p["name"] for p in json.loads(listed.stdout)} == {"foo", "foo-data"}


def _closed(stream: str, *args: object, env: dict) -> subprocess.CompletedProcess:
    """conda with standard input (``<&-``) or output (``>&-``) closed, as a shell does."""
    line = " ".join(shlex.quote(str(a)) for a in (CONDA, *args))
    return subprocess.run(
        ["sh", "-c", f"{line} {stream} 2>&1"], env=env, capture_output=True, text=True
    )


def test_closed_standard_streams_are_errors_not_tracebacks(
    existing_env, source_bundle_small, small, conda_isolation, tmp_path
):
    env = conda_isolation.env
    proc = _closed("<&-", "unbundle", source_bundle_small, "-p", existing_env, "--force", env=env)
    assert proc.returncode == 5 and "Pass -y (--yes)" in proc.stdout, proc.stdout
    assert not _replaced(existing_env)
    proc = _closed("<&-", "unbundle", "-", "-p", tmp_path / "new", env=env)
    assert proc.returncode == 1 and "standard input is closed" in proc.stdout.lower()
    assert "Traceback" not in proc.stdout and not (tmp_path / "new").exists()
    proc = subprocess.run(
        ["sh", "-c", f"{CONDA} bundle -p {shlex.quote(str(small))} -o - >&-"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "standard output is closed" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr
