"""Detached signatures in OpenSSH's format (``ssh-keygen -Y sign``), checked offline.

OpenSSH does the cryptography: keys stay where their owners keep them (a key file, or
ssh-agent for a public key whose private half it holds), and anyone can check a
signature with ``ssh-keygen -Y verify`` and an allowed-signers file, without
conda-envbundle. A file bundle's signature covers every byte of the file (an installer's
header too); a directory bundle's covers its manifest, which names the sha256 of every
file that ``conda unbundle`` then checks.

What is verified is what is installed: a signed bundle is first copied to a private
temporary directory, the copy is verified and the environment is made from that copy,
so nothing that changes the original meanwhile (a swapped or rewritten file) is read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .exceptions import BundleFormatError, EnvBundleError, SignatureError, TargetWriteError
from .manifest import MANIFEST_PATH, Manifest

# Under conda's logger, as api.py's (commands.py shows its warnings on standard error)
log = logging.getLogger("conda.envbundle")

NAMESPACE = "conda-envbundle"
SUFFIX = ".sig"
_BLOCK = 1 << 20
# an allowed-signers file is a few lines per trusted key
_MAX_ALLOWED_SIGNERS = 16 << 20
_GOOD = re.compile(r"with (?P<key>\S+ key \S+)")


@dataclass(frozen=True)
class Trust:
    """Whom ``conda unbundle`` trusts: an allowed-signers file (OpenSSH's format); with
    ``require``, a bundle without a valid signature of one of them is refused.
    ``signature`` is the signature file (default: the bundle's path + ``.sig``)."""

    allowed_signers: str | None = None
    require: bool = False
    signature: str | None = None


@dataclass(frozen=True)
class Verified:
    """A good signature: who made it (the allowed-signers principal), with which key,
    and the signature file."""

    signer: str
    key: str
    signature: str


def keygen() -> str:
    """OpenSSH's ``ssh-keygen``, which signs and verifies."""
    found = shutil.which("ssh-keygen")
    if found is None:
        raise EnvBundleError(
            "Signatures need OpenSSH's ssh-keygen, which is not on PATH. Install OpenSSH's "
            "client (Debian/Ubuntu: openssh-client; conda-forge: openssh)."
        )
    return found


def signature_path(bundle: str) -> str:
    """Where a bundle's signature is, beside it: ``<bundle>.sig``."""
    return os.path.normpath(bundle) + SUFFIX


def signed_part(bundle: str, fmt: str) -> str:
    """The file a signature covers: the bundle file, or a directory bundle's manifest."""
    return os.path.join(bundle, MANIFEST_PATH) if fmt == "dir" else bundle


def check_key(key: str) -> None:
    """Refuse a signing key that is not a readable file, before anything is read."""
    keygen()
    if not os.path.isfile(key) or not os.access(key, os.R_OK):
        raise EnvBundleError(
            f"The signing key {key} is not a readable file. Give a private key file, or "
            "the public key of a private key that ssh-agent holds."
        )


def sign(path: str, key: str) -> bytes:
    """The signature of the file at ``path`` with ``key`` (ssh-keygen asks for a
    passphrase on the terminal if the key has one)."""
    with open(path, "rb") as message:
        proc = subprocess.run(
            [keygen(), "-Y", "sign", "-f", key, "-n", NAMESPACE],
            stdin=message,
            capture_output=True,
            check=False,
        )
    if proc.returncode != 0 or not proc.stdout:
        raise EnvBundleError(
            f"ssh-keygen could not sign with {key}: {_said(proc.stderr)}. Nothing was "
            "written. Check the key (or that ssh-agent holds it), and its passphrase."
        )
    return proc.stdout


def verify(message: BinaryIO, signature: str, allowed_signers: str) -> Verified:
    """Check ``signature`` of the bytes ``message`` reads (a seekable file), against
    ``allowed_signers``."""
    tool = keygen()
    found = _find_principals(tool, signature, allowed_signers)
    principals = found.stdout.decode("utf-8", "replace").split()
    if found.returncode != 0 or not principals:
        raise SignatureError(
            f"{signature} was not made by a key of {allowed_signers} "
            f"({_said(found.stderr) or 'no allowed signer has its key'}). Nothing was "
            "changed. Get the bundle from whoever the site trusts, or ask to add its key."
        )
    command = [tool, "-Y", "verify", "-f", allowed_signers, "-n", NAMESPACE, "-s", signature]
    refused = None
    candidates = _candidates(tool, signature, allowed_signers, principals[0])
    with contextlib.closing(candidates):  # its temporary directory goes when this returns
        for principal in candidates:
            message.seek(0)
            checked = subprocess.run(
                [*command, "-I", principal], stdin=message, capture_output=True, check=False
            )
            if checked.returncode == 0:
                good = _GOOD.search(checked.stdout.decode("utf-8", "replace"))
                return Verified(principal, good["key"] if good else "", signature)
            refused = refused or checked
    assert refused is not None
    raise SignatureError(
        f"The bundle does not match its signature {signature} "
        f"({_said(refused.stdout + refused.stderr)}): it was changed after it was signed, "
        "the signature is another file's, or its key is not allowed for bundles. Nothing "
        "was changed."
    )


def _find_principals(
    tool: str, signature: str, allowed_signers: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [tool, "-Y", "find-principals", "-s", signature, "-f", allowed_signers],
        capture_output=True,
        check=False,
    )


def _candidates(
    tool: str, signature: str, allowed_signers: str, first: str
) -> Generator[str, None, None]:
    """``first`` (what find-principals names), then, only while none verifies, every
    other principal whose own line lists the signature's key. find-principals names only
    the first line with the key, and that line may allow it for other namespaces only (a
    key listed for git, then for bundles); verifying as another principal checks that
    principal's lines, so it trusts nothing the file does not."""
    yield first
    tried = {first}
    with open(allowed_signers, "rb") as fh:
        lines = fh.read(_MAX_ALLOWED_SIGNERS).splitlines()
    with tempfile.TemporaryDirectory(prefix="conda-envbundle-signers-") as private:
        single = os.path.join(private, "allowed_signers")
        for line in lines:
            if not line.strip() or line.lstrip().startswith(b"#"):
                continue
            with open(single, "wb") as out:
                out.write(line + b"\n")
            found = _find_principals(tool, signature, single)
            named = found.stdout.decode("utf-8", "replace").split() if found.returncode == 0 else []
            for principal in named:
                if principal not in tried:
                    tried.add(principal)
                    yield principal


def _said(stderr: bytes) -> str:
    """What ssh-keygen said, on one line, without its progress notes."""
    lines = stderr.decode("utf-8", "replace").splitlines()
    return " ".join(line for line in lines if "standard input" not in line).strip()


# --- unbundle: what is installed is what was verified -----------------------------------------


@dataclass
class Checked:
    """Where to read a bundle from once its signature is settled, and how to check that
    the manifest read is the one verified (a directory bundle's)."""

    source: str | BinaryIO
    signature: Verified | None = None
    manifest_digest: str | None = None

    def accept(self, manifest: Manifest) -> None:
        """Refuse a manifest other than the verified one (a directory bundle changed
        between verification and reading)."""
        from .sbom import manifest_digest

        if self.manifest_digest is not None and manifest_digest(manifest) != self.manifest_digest:
            raise SignatureError(
                "The bundle's manifest changed after its signature was verified. Nothing "
                "was changed; make sure nothing writes to the bundle, and try again."
            )


@contextlib.contextmanager
def checked(bundle: str, trust: Trust) -> Iterator[Checked]:
    """The bundle at ``bundle`` (``-``: standard input), its signature verified as
    ``trust`` says. Without allowed signers nothing is verified; with them a bundle with
    a signature file must match it; with ``trust.require`` it must have one.
    """
    if trust.require and not trust.allowed_signers:
        raise SignatureError(
            "A valid signature is required (unbundle_require_signature), but no allowed "
            "signers are given. Pass --allowed-signers FILE or set unbundle_allowed_signers."
        )
    if trust.signature and not trust.allowed_signers:
        raise SignatureError(
            "A signature file is given but no allowed signers to check it against. Pass "
            "--allowed-signers FILE or set unbundle_allowed_signers."
        )
    allowed = trust.allowed_signers
    if allowed and not (os.path.isfile(allowed) and os.access(allowed, os.R_OK)):
        raise SignatureError(
            f"The allowed signers file {allowed} is not a readable file. Check "
            "--allowed-signers or the unbundle_allowed_signers setting. Nothing was changed."
        )
    signature = trust.signature or (None if bundle == "-" else signature_path(bundle))
    if not trust.allowed_signers or not _has_signature(bundle, signature, trust):
        yield Checked(sys.stdin.buffer if bundle == "-" else bundle)
        return
    assert signature is not None
    if bundle != "-" and os.path.isdir(bundle):
        yield _checked_directory(bundle, signature, trust.allowed_signers)
        return
    with _private_copy(bundle) as copy:
        with open(copy, "rb") as message:
            verified = verify(message, signature, trust.allowed_signers)
        yield Checked(copy, verified)


def _has_signature(bundle: str, signature: str | None, trust: Trust) -> bool:
    """Whether there is a signature to verify; refuses a required one that is missing."""
    if signature is not None and os.path.isfile(signature):
        return True
    if trust.signature is not None:
        raise SignatureError(f"The signature file {signature} does not exist.")
    if trust.require:
        where = (
            "Standard input has no signature beside it: pass --signature FILE."
            if signature is None
            else f"There is no {signature}."
        )
        raise SignatureError(
            f"A valid signature is required, and {bundle} is not signed. {where} Nothing "
            "was changed."
        )
    # trusted signers are given, so the user expects a check: say that none was made
    # (whoever can swap the bundle can remove its signature too)
    log.warning(
        "warning: %s is not signed, so its signature was not checked. "
        "--require-signature refuses unsigned bundles.",
        "standard input" if bundle == "-" else bundle,
    )
    return False


def _checked_directory(bundle: str, signature: str, allowed_signers: str) -> Checked:
    """A directory bundle: verify its manifest's bytes, remember what they say."""
    from .budget import MAX_MANIFEST_SIZE
    from .sbom import manifest_digest

    try:
        with open(os.path.join(bundle, MANIFEST_PATH), "rb") as fh:
            raw = fh.read(MAX_MANIFEST_SIZE + 1)
    except OSError as exc:
        raise BundleFormatError(f"Cannot read the manifest of {bundle}: {exc.strerror}.") from exc
    if len(raw) > MAX_MANIFEST_SIZE:
        raise BundleFormatError(f"The manifest of {bundle} is too large: it is damaged.")
    with tempfile.TemporaryFile() as message:
        message.write(raw)
        message.seek(0)
        verified = verify(message, signature, allowed_signers)
    # signed by a trusted key: parsing it costs what the signer made it cost
    return Checked(bundle, verified, manifest_digest(Manifest.from_bytes(raw)))


@contextlib.contextmanager
def _private_copy(bundle: str) -> Iterator[str]:
    """The bundle copied into a new directory only this user can enter, removed after."""
    with tempfile.TemporaryDirectory(prefix="conda-envbundle-verify-") as private:
        copy = os.path.join(private, "bundle")
        try:
            with (
                (
                    contextlib.nullcontext(sys.stdin.buffer) if bundle == "-" else _opened(bundle)
                ) as source,
                open(copy, "xb") as out,
            ):
                shutil.copyfileobj(source, out, _BLOCK)
        except OSError as exc:
            raise TargetWriteError(
                f"Cannot copy the bundle to {private} to verify its signature: "
                f"{exc.strerror or exc}. Set TMPDIR to a directory with room for it."
            ) from exc
        yield copy


def _opened(path: str) -> BinaryIO:
    from . import sources

    if sources.is_url(path):
        return sources.open_url(path)  # type: ignore[return-value]
    try:
        return open(path, "rb")
    except OSError as exc:
        raise BundleFormatError(f"Cannot read {path}: {exc.strerror}.") from None
