"""The self-extracting .sh installer, run where there is only sh, tar and gzip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .support.bare import bare_path, run_bare
from .support.verify import assert_env_runs

PLACEHOLDER_MARK = "_h_env_placehold"


@pytest.fixture(scope="module")
def installer(source_env, conda_isolation, tmp_path_factory) -> Path:
    from .support.cli import CondaProcess

    out = tmp_path_factory.mktemp("installer") / "install-env.sh"
    proc = CondaProcess(conda_isolation.env)("bundle", "-p", source_env, "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def bare(tmp_path) -> str:
    return bare_path(tmp_path / "bare-bin")


def _long(base: Path) -> Path:
    return base / ("l" * (200 - len(str(base)) - 1))


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("where", ["with spaces/env", "long"])
def test_installer_file_installs_a_running_env(shell, where, installer, source_env, bare, tmp_path):
    target = _long(tmp_path) if where == "long" else tmp_path / where
    proc = run_bare([shell, installer, "-p", target], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ready at {target}" in proc.stdout
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])
    assert not [p for p in target.parent.iterdir() if ".envbundle-" in p.name]
    assert target.stat().st_mode & 0o755 == 0o755


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_installer_works_through_a_pipe(shell, installer, source_env, bare, tmp_path):
    target = tmp_path / "piped env"
    script = f"cat '{installer}' | {shell} -s -- -p '{target}'"
    proc = run_bare(["sh", "-c", script], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])


def test_installer_is_raw_payload_not_base64(installer, source_bundle):
    # gzip default vs the zstd bundle: same order of size, not a third larger.
    assert installer.stat().st_size < source_bundle.stat().st_size * 1.3
    assert installer.read_bytes().count(b"\x1f\x8b\x08") >= 1


def test_help_list_and_verify(installer, bare):
    help_ = run_bare(["sh", installer, "--help"], bare)
    assert help_.returncode == 0 and "-p PREFIX" in help_.stdout
    listing = run_bare(["sh", installer, "--list"], bare)
    assert listing.returncode == 0
    names = {line.split()[0] for line in listing.stdout.splitlines()[1:]}
    assert {"python", "foo", "foopy", "foo-data", "foo-post"} <= names
    verify = run_bare(["sh", installer, "--verify"], bare)
    assert verify.returncode == 0 and "matches its sha256" in verify.stdout


def _damaged(installer: Path, tmp_path: Path) -> Path:
    data = bytearray(installer.read_bytes())
    data[-5000] ^= 0xFF
    bad = tmp_path / "bad.sh"
    bad.write_bytes(bytes(data))
    return bad


def test_damaged_installer_is_refused_and_leaves_nothing(installer, bare, tmp_path):
    bad = _damaged(installer, tmp_path)
    verify = run_bare(["sh", bad, "--verify"], bare)
    assert verify.returncode == 1 and "damaged" in verify.stderr
    target = tmp_path / "out" / "env"
    (tmp_path / "out").mkdir()
    proc = run_bare(["sh", bad, "-p", target], bare)
    assert proc.returncode == 1, proc.stdout
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("line", "value", "message"),
    [
        ("subdir", "osx-arm64", "this environment is for osx-arm64, but this machine is"),
        ("glibc_min", "9.99", "needs glibc 9.99 or newer; this machine has glibc"),
        ("limit", "20", "bytes long; this environment's binaries take at most 20"),
    ],
)
def test_preflight_refusals_in_shell(line, value, message, installer, bare, tmp_path):
    data = installer.read_bytes()
    start = data.index(f"\n{line}='".encode()) + len(line) + 3
    end = data.index(b"'", start)
    edited = tmp_path / "edited.sh"
    edited.write_bytes(data[:start] + value.encode() + data[end:])
    target = tmp_path / "target"
    proc = run_bare(["sh", edited, "-p", target], bare)
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr
    assert not target.exists()


def test_existing_target_needs_force(installer, bare, tmp_path):
    target = tmp_path / "env"
    assert run_bare(["sh", installer, "-p", target], bare).returncode == 0
    (target / "marker").write_text("old")
    again = run_bare(["sh", installer, "-p", target], bare)
    assert again.returncode == 1 and "-f" in again.stderr
    forced = run_bare(["sh", installer, "-p", target, "-f"], bare)
    assert forced.returncode == 0, forced.stderr
    assert not (target / "marker").exists()


def test_zstd_payload_and_conda_unbundle_reads_installers(
    source_env, conda_env, conda_cli, bare, tmp_path
):
    out = tmp_path / "z.sh"
    _, err, rc = conda_cli("bundle", "-p", source_env, "-o", out, "--sh-payload", "zstd")
    assert rc == 0, err
    target = tmp_path / "zenv"
    proc = run_bare(["sh", out, "-p", target], bare)
    assert proc.returncode == 0, proc.stderr
    assert_env_runs(target, forbidden=[str(source_env), PLACEHOLDER_MARK])
    via_conda = tmp_path / "via conda"
    _, err, rc = conda_cli("unbundle", out, "-p", via_conda)
    assert rc == 0, err
    assert_env_runs(via_conda, forbidden=[str(source_env), PLACEHOLDER_MARK])


def test_dest_prefix_installer_for_env_without_python(make_env, conda_process, bare, tmp_path):
    env = make_env(["foo", "foo-data"], pip_tool=False, unmanaged_binary=False)
    dest = tmp_path / "opt" / "app"
    out = tmp_path / "app.sh"
    proc = conda_process("bundle", "-p", env, "-o", out, "--dest-prefix", dest)
    assert proc.returncode == 0, proc.stderr
    elsewhere = run_bare(["sh", out, "-p", tmp_path / "other"], bare)
    assert elsewhere.returncode == 1 and f"install it at {dest}" in elsewhere.stderr
    ok = run_bare(["sh", out, "-p", dest], bare)
    assert ok.returncode == 0, ok.stderr
    run = subprocess.run(["env", "-i", dest / "bin/foo"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == str(dest)


# --- nothing from the environment reaches the shell unquoted (issue 11) ----------------------

# Each name tries to run `touch pwned-*` in the current directory, or to end a quote, a line,
# a here-document (the template once used _LIST and _USAGE) or the header itself.
HOSTILE_NAMES = {
    "newline": "-n\necho INJECTED; touch pwned-newline\n",
    "quotes": 'it\'s "q" $(touch pwned-subst) `touch pwned-tick` \\ \\n $$ $1 ;touch pwned-semi',
    "markers": "x\n_LIST\ntouch pwned-list\n_USAGE\n__ENVBUNDLE_PAYLOAD__\n__ENVBUNDLE_STAGE2__\n",
    "non-ascii": "-ünï 'é' \t\\c\\",
}
HOSTILE_DEST = "d'est $(touch pwned-dest) `touch pwned-dest2`"


@pytest.fixture(scope="module")
def hostile_installers(channel, conda_isolation, tmp_path_factory) -> dict[str, Path]:
    """An installer per hostile name, for an env without python (so: --dest-prefix)."""
    from .support.cli import CondaProcess
    from .support.envs import create_env

    base = tmp_path_factory.mktemp("hostile-names")
    made = {}
    for key, name in HOSTILE_NAMES.items():
        prefix = base / "envs" / name
        prefix.parent.mkdir(exist_ok=True)
        create_env(prefix, channel, ["foo", "foo-data"], conda_isolation.env)
        out = base / f"{key}.sh"
        dest = base / "dest" / key / HOSTILE_DEST
        bundle = CondaProcess(conda_isolation.env)(
            "bundle", "-p", prefix, "-o", out, "--dest-prefix", dest
        )
        assert bundle.returncode == 0, bundle.stderr
        made[key] = out
    return made


def _dest(installer: Path) -> Path:
    return installer.parent / "dest" / installer.stem / HOSTILE_DEST


def _no_injection(proc, work: Path) -> None:
    # the name itself holds "echo INJECTED": only its output would be the word alone
    assert "INJECTED" not in (proc.stdout + proc.stderr).replace("echo INJECTED", "")
    assert not [p for p in work.rglob("pwned*")], list(work.rglob("*"))


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("key", HOSTILE_NAMES)
def test_hostile_name_runs_nothing_and_prints_faithfully(key, shell, hostile_installers, tmp_path):
    installer, name = hostile_installers[key], HOSTILE_NAMES[key]
    bare = bare_path(tmp_path / "bare-bin")
    work = tmp_path / "work"
    work.mkdir()
    help_ = run_bare([shell, installer, "--help"], bare, cwd=work)
    assert help_.returncode == 0 and "-p PREFIX" in help_.stdout, help_.stderr
    _no_injection(help_, work)
    listing = run_bare([shell, installer, "--list"], bare, cwd=work)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith(name + ": 2 packages, ")
    assert {line.split()[0] for line in listing.stdout.split(" bytes\n", 1)[1].splitlines()} >= {
        "foo",
        "foo-data",
    }
    _no_injection(listing, work)
    checked = run_bare([shell, installer, "--verify"], bare, cwd=work)
    assert checked.returncode == 0 and "matches its sha256" in checked.stdout, checked.stderr
    _no_injection(checked, work)
    dest = _dest(installer)
    install = run_bare([shell, installer, "-p", dest, "-f"], bare, cwd=work)
    assert install.returncode == 0, install.stdout + install.stderr
    assert f"install: {name} is ready at {dest}\n" in install.stdout
    _no_injection(install, work)
    assert not [p for p in installer.parent.rglob("pwned*")]
    run = subprocess.run(["env", "-i", dest / "bin/foo"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == str(dest)


WORDS = [
    "",
    "plain",
    "it's",
    "'",
    "''",
    "\n",
    "a\nb\n",
    "$(id)",
    "`id`",
    "\\",
    "\\'",
    '"',
    "-n",
    "é\t",
]


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_shell_word_is_read_back_exactly(shell):
    from conda_envbundle.archive.sh import shell_word

    for word in WORDS:
        script = f"nl='\n'\nprintf '%s|' {shell_word(word)}"
        proc = subprocess.run([shell, "-c", script], capture_output=True, text=True)
        assert proc.stdout == word + "|", (word, proc.stdout, proc.stderr)
        assert "\n" not in shell_word(word)


def _template_function(name: str) -> str:
    """One shell function of the installer's template, as written there."""
    from importlib import resources

    text = resources.files("conda_envbundle").joinpath("templates", "installer.sh").read_text()
    start = text.index(f"\n{name}() {{\n") + 1
    return text[start : text.index("\n}\n", start) + 3]


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_suggested_command_quotes_any_path(shell, tmp_path):
    """The installer's "activate it with" command is one word whatever the path holds."""
    marker = tmp_path / "PWNED"
    for word in [*WORDS, f"/x $(touch {marker})", "/trailing\n\n", "a'b'"]:
        script = f'{_template_function("quoted")}\neval "printf \'%s|\' $(quoted "$1")"'
        proc = subprocess.run([shell, "-c", script, shell, word], capture_output=True, text=True)
        assert proc.stdout == word + "|", (word, proc.stdout, proc.stderr)
    assert not marker.exists()


# --- the checksum covers the header too ------------------------------------------------------


def _with_added_line(installer: Path, tmp_path: Path) -> Path:
    data = installer.read_bytes()
    at = data.index(b"\nset -u\n") + len(b"\nset -u\n")
    edited = tmp_path / "edited.sh"
    edited.write_bytes(data[:at] + b": an added command\n" + data[at:])
    return edited


def test_added_header_line_fails_shell_verify(installer, bare, tmp_path):
    edited = _with_added_line(installer, tmp_path)
    proc = run_bare(["sh", edited, "--verify"], bare)
    assert proc.returncode == 1
    assert "this installer is damaged or was changed: its sha256 is" in proc.stderr


def test_added_header_line_fails_conda_unbundle(installer, conda_process, tmp_path):
    from .support.cli import assert_clean_error
    from .support.crafted import tree

    edited = _with_added_line(installer, tmp_path)
    before = tree(tmp_path)
    proc = conda_process("unbundle", edited, "--verify")
    assert_clean_error(proc, "ChecksumMismatchError", "does not match the sha256 in its header")
    proc = conda_process("unbundle", edited, "-p", tmp_path / "env")
    assert_clean_error(proc, "ChecksumMismatchError", "does not match the sha256 in its header")
    assert tree(tmp_path) == before


def test_untouched_installer_passes_conda_verify(installer, conda_process):
    proc = conda_process("unbundle", installer, "--verify")
    assert proc.returncode == 0, proc.stderr


def test_shell_verify_needs_the_file_and_a_sha256_tool(installer, tmp_path):
    bare = Path(bare_path(tmp_path / "bare-bin"))
    piped = run_bare(["sh", "-c", f"cat '{installer}' | sh -s -- --verify"], str(bare))
    assert piped.returncode == 1 and "not through a pipe" in piped.stderr
    (bare / "sha256sum").unlink()
    none = run_bare(["sh", installer, "--verify"], str(bare))
    assert none.returncode == 1 and "no sha256 tool" in none.stderr
    for tool in ("shasum", "perl"):
        (bare / tool).symlink_to(shutil.which(tool))
    shasum = run_bare(["sh", installer, "--verify"], str(bare))
    assert shasum.returncode == 0 and "matches its sha256" in shasum.stdout, shasum.stderr


# --- the payload's codec decides the compression levels --------------------------------------


def _payload(installer: Path) -> bytes:
    from conda_envbundle.archive.sh import PAYLOAD_MARKER

    data = installer.read_bytes()
    return data[data.index(PAYLOAD_MARKER) + len(PAYLOAD_MARKER) :]


def test_zstd_payload_takes_zstd_levels_and_default(source_env, conda_env, conda_cli, tmp_path):
    def installer(name: str, *level: str) -> bytes:
        out = tmp_path / name
        args = ("bundle", "-p", source_env, "-o", out, "--sh-payload", "zstd", *level)
        _, err, rc = conda_cli(*args)
        assert rc == 0, err
        payload = _payload(out)
        assert payload.startswith(b"\x28\xb5\x2f\xfd"), "the payload is no zstd stream"
        return payload

    strong = installer("strong.sh", "--compress-level", "15")  # beyond gzip's 0 to 9
    fast = installer("fast.sh", "--compress-level", "1")
    assert len(strong) < len(fast)
    # bundles are reproducible: the default level is zstd's 3 (not gzip's 6)
    default = installer("default.sh")
    assert default == installer("three.sh", "--compress-level", "3")
    assert default != installer("six.sh", "--compress-level", "6")


def test_gzip_payload_keeps_gzip_levels(source_env, conda_env, conda_cli, tmp_path):
    from conda_envbundle.exceptions import EnvBundleError

    out = tmp_path / "gzip.sh"
    args = ("bundle", "-p", source_env, "-o", out, "--compress-level", "15")
    _, _, exc = conda_cli(*args, raises=EnvBundleError)
    assert "out of range for tar.gz (0 to 9)" in str(exc.value)
    assert not out.exists()
