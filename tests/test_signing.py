"""Signatures (issue 17): OpenSSH's format, made by ``conda bundle --sign`` or by
``ssh-keygen -Y sign``, checked offline by ``conda unbundle`` and by ``ssh-keygen -Y verify``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import conda_envbundle
from conda_envbundle.exceptions import SignatureError
from conda_envbundle.manifest import MANIFEST_PATH

from .support.cli import assert_clean_error
from .support.envs import CONDA, create_env

NAMESPACE = "conda-envbundle"


def _run(env: dict, *args, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CONDA, *map(str, args)], env=env, stdin=stdin, capture_output=True, text=True, check=False
    )


def _keygen(*args, stdin=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh-keygen", *map(str, args)], stdin=stdin, capture_output=True, env=env, check=False
    )


def _keypair(where: Path, name: str) -> Path:
    """A new ed25519 key without passphrase; returns the private key's path."""
    key = where / f"{name}_ed25519"
    assert _keygen("-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).returncode == 0
    return key


def _allowed(where: Path, **signers: Path) -> Path:
    """An allowed-signers file: principal -> private key (its public half is listed)."""
    lines = []
    for principal, key in signers.items():
        kind, blob = Path(f"{key}.pub").read_text().split()[:2]
        lines.append(f'{principal} namespaces="{NAMESPACE}" {kind} {blob}\n')
    path = where / "allowed_signers"
    path.write_text("".join(lines))
    return path


def _ssh_verify(allowed: Path, principal: str, message: Path, signature: Path) -> bool:
    """Check with OpenSSH alone, as a site without conda-envbundle would."""
    with open(message, "rb") as fh:
        proc = _keygen(
            *("-Y", "verify", "-f", allowed, "-I", principal, "-n", NAMESPACE, "-s", signature),
            stdin=fh,
        )
    return proc.returncode == 0


@pytest.fixture
def keys(tmp_path) -> dict[str, Path]:
    where = tmp_path / "keys"
    where.mkdir()
    found = {name: _keypair(where, name) for name in ("alice", "bob")}
    found["allowed"] = _allowed(where, alice=found["alice"])
    return found


@pytest.fixture
def small_env(make_env) -> Path:
    return make_env(["foo", "foo-data"], pip_tool=False, unmanaged_binary=False)


@pytest.mark.parametrize("fmt", ["tar.zst", "zip", "sh", "dir"])
def test_signed_by_us_verified_by_ssh_keygen_and_by_us(
    fmt, small_env, keys, conda_isolation, tmp_path
):
    out = tmp_path / ("b" if fmt == "dir" else f"b.{fmt}")
    proc = _run(
        conda_isolation.env,
        *("bundle", "-p", small_env, "-o", out, "--format", fmt, "--sign", keys["alice"]),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    signature = Path(json.loads(proc.stdout)["signature"])
    assert signature == Path(f"{out}.sig") and signature.read_text().startswith(
        "-----BEGIN SSH SIGNATURE-----"
    )
    signed = out / MANIFEST_PATH if fmt == "dir" else out
    assert _ssh_verify(keys["allowed"], "alice", signed, signature)
    target = tmp_path / "target"
    proc = _run(
        conda_isolation.env,
        *("unbundle", out, "-p", target, "--allowed-signers", keys["allowed"]),
        *("--require-signature", "--json"),
    )
    assert proc.returncode == 0, proc.stderr
    verified = json.loads(proc.stdout)["signature"]
    assert verified["signer"] == "alice" and verified["key"].startswith("ED25519 key SHA256:")
    assert (target / "bin" / "foo").exists()


def test_signed_by_ssh_keygen_verified_by_us(source_bundle_small, keys, conda_isolation, tmp_path):
    bundle = tmp_path / "small.tar.zst"
    shutil.copy(source_bundle_small, bundle)
    made = _keygen("-Y", "sign", "-f", keys["alice"], "-n", NAMESPACE, bundle)
    assert made.returncode == 0, made.stderr
    proc = _run(
        conda_isolation.env,
        *("unbundle", bundle, "--verify", "--allowed-signers", keys["allowed"], "--json"),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["signature"]["signer"] == "alice"
    text = _run(
        conda_isolation.env, "unbundle", bundle, "--verify", "--allowed-signers", keys["allowed"]
    )
    assert f"Signature {bundle}.sig: good, by alice (ED25519 key SHA256:" in text.stdout
    # from standard input, the signature named
    with open(bundle, "rb") as stdin:
        proc = _run(
            conda_isolation.env,
            *("unbundle", "-", "-p", tmp_path / "env", "--allowed-signers", keys["allowed"]),
            *("--signature", f"{bundle}.sig", "--require-signature"),
            stdin=stdin,
        )
    assert proc.returncode == 0, proc.stderr
    assert "good, by alice" in proc.stdout and (tmp_path / "env" / "bin" / "foo").exists()


@pytest.fixture
def signed_installer(small_env, keys, tmp_path) -> Path:
    out = tmp_path / "signed" / "b.sh"
    out.parent.mkdir()
    conda_envbundle.bundle(str(small_env), str(out), sign=str(keys["alice"]))
    return out


def _header_offset(data: bytes) -> int:
    """A byte inside the installer's shell header (its second line, a comment)."""
    return data.index(b"\n") + 3


@pytest.mark.parametrize("where", ["start", "middle", "end", "sh header"])
def test_a_changed_byte_anywhere_is_refused(
    where, signed_installer, keys, conda_isolation, tmp_path
):
    data = bytearray(signed_installer.read_bytes())
    offset = {"start": 0, "middle": len(data) // 2, "end": len(data) - 1}.get(where)
    offset = _header_offset(data) if offset is None else offset
    data[offset] ^= 0x01
    changed = tmp_path / "changed.sh"
    changed.write_bytes(bytes(data))
    shutil.copy(f"{signed_installer}.sig", f"{changed}.sig")
    assert not _ssh_verify(keys["allowed"], "alice", changed, Path(f"{changed}.sig"))
    target = tmp_path / "target"
    proc = _run(
        conda_isolation.env,
        *("unbundle", changed, "-p", target, "--allowed-signers", keys["allowed"]),
    )
    assert_clean_error(proc, "does not match its signature", "Nothing was changed")
    assert proc.returncode == 7
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["keys", "signed", "changed.sh", "changed.sh.sig", "env0"]
    )


def test_another_signer_is_refused(signed_installer, keys, conda_isolation, tmp_path):
    bob_signed = tmp_path / "bob.sh"
    shutil.copy(signed_installer, bob_signed)
    assert _keygen("-Y", "sign", "-f", keys["bob"], "-n", NAMESPACE, bob_signed).returncode == 0
    target = tmp_path / "target"
    proc = _run(
        conda_isolation.env,
        *("unbundle", bob_signed, "-p", target, "--allowed-signers", keys["allowed"]),
    )
    assert_clean_error(proc, "was not made by a key of")
    assert proc.returncode == 7 and not target.exists()
    # a signature in another namespace (for another purpose) is refused too
    shutil.copy(signed_installer, bob_signed)
    os.unlink(f"{bob_signed}.sig")
    assert _keygen("-Y", "sign", "-f", keys["alice"], "-n", "file", bob_signed).returncode == 0
    proc = _run(
        conda_isolation.env,
        *("unbundle", bob_signed, "-p", target, "--allowed-signers", keys["allowed"]),
    )
    assert_clean_error(proc, "does not match its signature")
    assert proc.returncode == 7 and not target.exists()


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_ino, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def test_required_signature_refuses_unsigned_and_leaves_the_target(
    source_bundle_small, keys, conda_isolation, tmp_path
):
    target = tmp_path / "target"
    assert _run(conda_isolation.env, "unbundle", source_bundle_small, "-p", target).returncode == 0
    before = _tree(target)
    settings = {
        **conda_isolation.env,
        "CONDA_PLUGINS_UNBUNDLE_REQUIRE_SIGNATURE": "true",
        "CONDA_PLUGINS_UNBUNDLE_ALLOWED_SIGNERS": str(keys["allowed"]),
    }
    proc = _run(settings, "unbundle", source_bundle_small, "-p", target, "--force", "-y")
    assert_clean_error(proc, "A valid signature is required", "is not signed")
    assert proc.returncode == 7
    assert _tree(target) == before
    # required, but nobody to trust: refused as clearly
    proc = _run(
        conda_isolation.env,
        *("unbundle", source_bundle_small, "-p", tmp_path / "t2", "--require-signature"),
    )
    assert_clean_error(proc, "no allowed signers are given")
    assert not (tmp_path / "t2").exists()
    # standard input has no signature beside it
    with open(source_bundle_small, "rb") as stdin:
        proc = _run(settings, "unbundle", "-", "-p", tmp_path / "t3", stdin=stdin)
    assert_clean_error(proc, "pass --signature FILE")
    assert not (tmp_path / "t3").exists()


def test_directory_bundle_changed_after_signing(small_env, keys, conda_isolation, tmp_path):
    out = tmp_path / "dir-bundle"
    conda_envbundle.bundle(str(small_env), str(out), fmt="dir", sign=str(keys["alice"]))
    trust = ("--allowed-signers", keys["allowed"], "--require-signature")
    # a file's content: the signed manifest names its sha256
    (out / "bin" / "foo").write_bytes(b"changed")
    proc = _run(conda_isolation.env, "unbundle", out, "-p", tmp_path / "t", *trust)
    assert_clean_error(proc, "bin/foo")
    assert proc.returncode == 3 and not (tmp_path / "t").exists()
    # the manifest itself
    manifest = out / MANIFEST_PATH
    manifest.write_bytes(manifest.read_bytes().replace(b'"foo"', b'"fob"', 1))
    proc = _run(conda_isolation.env, "unbundle", out, "-p", tmp_path / "t", *trust)
    assert_clean_error(proc, "does not match its signature")
    assert proc.returncode == 7 and not (tmp_path / "t").exists()


def test_sign_with_a_key_in_ssh_agent(small_env, keys, conda_isolation, tmp_path):
    started = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True)
    found = dict(
        part.split("=", 1)
        for line in started.stdout.splitlines()
        for part in line.split(";")[:1]
        if "=" in part
    )
    agent = {**conda_isolation.env, **found}
    try:
        added = subprocess.run(
            ["ssh-add", "-q", keys["alice"]], env=agent, capture_output=True, check=False
        )
        assert added.returncode == 0, added.stderr
        # only the agent holds the private key now
        keys["alice"].rename(tmp_path / "elsewhere")
        out = tmp_path / "agent.tar.gz"
        proc = _run(
            agent, *("bundle", "-p", small_env, "-o", out, "--sign", f"{keys['alice']}.pub")
        )
        assert proc.returncode == 0, proc.stderr
        assert f"wrote its signature to {out}.sig" in proc.stdout
        assert _ssh_verify(keys["allowed"], "alice", out, Path(f"{out}.sig"))
        # without the agent, the public key alone cannot sign: nothing is written
        lost = {k: v for k, v in agent.items() if k != "SSH_AUTH_SOCK"}
        again = tmp_path / "again"
        again.mkdir()
        proc = _run(
            lost,
            *("bundle", "-p", small_env, "-o", again / "b.tar.gz"),
            *("--sign", f"{keys['alice']}.pub"),
        )
        assert_clean_error(proc, "ssh-keygen could not sign", "Nothing was written")
        assert list(again.iterdir()) == []
    finally:
        os.kill(int(found["SSH_AGENT_PID"]), signal.SIGTERM)


def test_python_api(small_env, keys, tmp_path):
    out = tmp_path / "api.tar.zst"
    result = conda_envbundle.bundle(
        str(small_env), str(out), sign=str(keys["alice"]), sbom=["cyclonedx"]
    )
    assert result.signature == f"{out}.sig" and result.sbom == {"cyclonedx": f"{out}.cdx.json"}
    made = conda_envbundle.unbundle(
        str(out),
        str(tmp_path / "env"),
        allowed_signers=str(keys["allowed"]),
        require_signature=True,
    )
    assert made.signature is not None and made.signature.signer == "alice"
    with pytest.raises(SignatureError, match="not made by a key"):
        conda_envbundle.verify(str(out), allowed_signers=str(_allowed(tmp_path, bob=keys["bob"])))


APPROVAL = Path(__file__).resolve().parent.parent / "docs" / "approval.md"


def _approval_steps() -> list[tuple[str, str]]:
    """``(role, script)`` of each bash block of docs/approval.md; its first line names
    the role."""
    blocks = re.findall(r"```bash\n(.*?)```", APPROVAL.read_text(encoding="utf-8"), re.S)
    return [(block.splitlines()[0].lstrip("# "), block) for block in blocks]


def test_the_approval_page_step_by_step(channel, conda_isolation, tmp_path):
    """docs/approval.md run as written: the builder and the receiving site each with
    their own home and envs directory, the files carried between them."""
    sides = {}
    for side in ("build machine", "receiving site"):
        base = tmp_path / side.replace(" ", "-")
        (base / "home" / ".ssh").mkdir(parents=True)
        sides[side] = {
            **conda_isolation.env,
            "HOME": str(base / "home"),
            "CONDA_ENVS_DIRS": str(base / "envs"),
            "PATH": f"{Path(CONDA).parent}{os.pathsep}{os.environ['PATH']}",
        }
    sides["review"] = sides["receiving site"]
    builder = sides["build machine"]
    _keypair(Path(builder["HOME"]) / ".ssh", "builder").rename(
        Path(builder["HOME"]) / ".ssh" / "id_ed25519"
    )
    Path(builder["HOME"], ".ssh", "builder_ed25519.pub").rename(
        Path(builder["HOME"]) / ".ssh" / "id_ed25519.pub"
    )
    create_env(Path(builder["CONDA_ENVS_DIRS"]) / "myenv", channel, ["foo"], builder)
    work = tmp_path / "files"  # what is carried from one side to the other
    work.mkdir()
    steps = _approval_steps()
    assert [role for role, _ in steps] == [
        "build machine",
        "review",
        "receiving site",
        "receiving site",
    ]
    outputs = []
    for role, script in steps:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=work,
            env=sides[role],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, f"{role}:\n{script}\n{proc.stdout}\n{proc.stderr}"
        outputs.append(proc.stdout + proc.stderr)
    digest = hashlib.sha256((work / "myenv.tar.zst").read_bytes()).hexdigest()
    assert outputs[1].count(digest) == 2  # sha256sum and the SBOM agree
    assert "pkg:conda/foo@1.2.3" in outputs[1]
    assert 'Good "conda-envbundle" signature for builder@example.org' in outputs[2]
    made = Path(sides["receiving site"]["CONDA_ENVS_DIRS"]) / "myenv"
    assert (made / "bin" / "foo").exists()
    assert "good, by builder@example.org" in outputs[3]
