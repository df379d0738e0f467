"""Bundles named by URL: ``http://`` and ``https://`` through conda's own HTTP session,
``s3://`` through boto3 as conda's S3 support uses it.

conda's session brings what ``.condarc`` says for channels: ``proxy_servers``,
``ssl_verify``, ``client_ssl_cert``, retries and timeouts, credentials in the URL or in
``.netrc``, and the auth handlers of ``channel_settings``. conda's S3 adapter reads the whole
object into memory before it answers, so ``s3://`` is read with boto3 directly, set up as
that adapter sets it up (a default boto3 session: the standard AWS environment variables and
configuration files apply).

A URL is read as a seekable file of range requests (:mod:`.ranged`), so that ``--info``
reads only the first bytes and a zip bundle can be read at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import signing
from .exceptions import DownloadError, SignatureError, needs
from .ranged import Backend, Body, RemoteFile, changed, reason

# Under conda's logger, as api.py's (commands.py shows its warnings on standard error)
log = logging.getLogger("conda.envbundle")

SCHEMES = ("http", "https", "s3")
SIGNATURE_LIMIT = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def is_url(name: str | None) -> bool:
    """True when ``name`` is a URL this module reads (``http``, ``https``, ``s3``)."""
    scheme, sep, _ = (name or "").partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def shown(name: str) -> str:
    """``name`` as messages may show it: a URL without user, password, token or query
    (a presigned URL's query is its credential)."""
    if not is_url(name):
        return name
    parts = urlsplit(name)
    host = parts.netloc.rpartition("@")[2]
    path = re.sub(r"/t/[^/]+/", "/t/<TOKEN>/", parts.path, count=1)
    return urlunsplit((parts.scheme, host, path, "..." if parts.query else "", ""))


def _refused(name: str, status: int, reason: str) -> DownloadError:
    advice = {
        401: "It needs credentials: put them in the URL (https://USER:PASSWORD@...), in "
        "~/.netrc, or in an auth handler of channel_settings in .condarc.",
        403: "The credentials given are not allowed to read it.",
        404: "Check the URL.",
        407: "The proxy needs credentials: put them in proxy_servers in .condarc.",
    }.get(status, "Try again later, or ask whoever runs the server.")
    message = f"Cannot read {name}: the server answered {status} {reason}. {advice}"
    return DownloadError(f"{message} Nothing was changed.", status)


# --- http:// and https:// -----------------------------------------------------------------


class _Http:
    """Range requests through conda's session for ``url`` (its settings and credentials)."""

    def __init__(self, url: str) -> None:
        from conda.base.context import context
        from conda.gateways.connection.session import get_session
        from requests import RequestException
        from urllib3.exceptions import HTTPError

        _refuse_offline(url)
        self.url = url
        self.session = get_session(url)
        self.timeout = (context.remote_connect_timeout_secs, context.remote_read_timeout_secs)
        self.request_errors: tuple[type[BaseException], ...] = (RequestException, OSError)
        self.errors: tuple[type[BaseException], ...] = (HTTPError, RequestException, OSError)

    def open(self, start: int, stop: int | None, validator: str | None) -> Body:
        # the file's own bytes: a bundle is compressed already, and its signature covers them
        headers = {"Accept-Encoding": "identity", "Range": f"bytes={start}-"}
        if stop is not None:
            headers["Range"] += str(stop - 1)
        if validator:
            headers["If-Range"] = validator
        try:
            response = self.session.get(
                self.url, headers=headers, stream=True, timeout=self.timeout
            )
        except self.request_errors as exc:
            raise DownloadError(
                f"Cannot read {shown(self.url)}: {reason(exc)}. Nothing was changed."
            ) from None
        if response.status_code == 416 and start == 0:  # an empty file has no first byte
            response.close()
            return Body(io.BytesIO(), 0, 0, 0, None, True)
        if response.status_code not in (200, 206):
            response.close()
            raise _refused(shown(self.url), response.status_code, response.reason or "")
        return self._body(response, start)

    def _body(self, response: Any, start: int) -> Body:
        raw = response.raw
        headers = response.headers
        if headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
            raw.decode_content = True  # a server that encodes anyway: undo it
        etag = headers.get("ETag") or ""
        validator = etag if etag and not etag.startswith("W/") else headers.get("Last-Modified")
        length = headers.get("Content-Length")
        if response.status_code == 200:
            if start > 0:  # If-Range: the file is not the one read so far
                response.close()
                raise changed(shown(self.url))
            total = int(length) if length and length.isdigit() else None
            return Body(raw, 0, total, total, validator, False)
        found = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", "").strip())
        if found is None or int(found[1]) != start:
            response.close()
            raise DownloadError(
                f"{shown(self.url)}: the server answered a range request with a range it was "
                "not asked for. Download the bundle first."
            )
        end = int(found[2]) + 1
        if length is not None and length != str(end - start):
            response.close()
            raise DownloadError(
                f"{shown(self.url)}: the server's answer announces {length} bytes for a "
                f"range of {end - start}, so it cannot be trusted. Nothing was changed."
            )
        total = None if found[3] == "*" else int(found[3])
        return Body(raw, start, end, total, validator, True)


def _refuse_offline(url: str) -> None:
    from conda.base.context import context

    if context.offline:
        raise DownloadError(
            f"conda is offline (the offline setting), so {shown(url)} cannot be read. "
            "Download the bundle and give its path, or turn offline mode off."
        )


# --- s3:// -----------------------------------------------------------------------------------


class _S3:
    """Range requests with boto3, set up as conda's S3 adapter sets it up."""

    def __init__(self, url: str) -> None:
        from conda.common.url import url_to_s3_info

        with needs("boto3", "Reading a bundle from s3://"):
            from boto3.session import Session
            from botocore.exceptions import BotoCoreError, ClientError
        from urllib3.exceptions import HTTPError

        _refuse_offline(url)
        self.url = url
        bucket, key = url_to_s3_info(url)
        self.bucket, self.key = bucket, key.lstrip("/")
        self.client = Session().client("s3")
        self.client_error = ClientError
        self.request_errors: tuple[type[BaseException], ...] = (BotoCoreError, OSError)
        self.errors: tuple[type[BaseException], ...] = (BotoCoreError, HTTPError, OSError)

    def open(self, start: int, stop: int | None, validator: str | None) -> Body:
        wanted = f"bytes={start}-{'' if stop is None else stop - 1}"
        extra = {"IfMatch": validator} if validator else {}
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=wanted, **extra)
        except self.client_error as exc:
            return self._refused(exc, start)
        except self.request_errors as exc:
            raise DownloadError(
                f"Cannot read {shown(self.url)}: {reason(exc)}. Nothing was changed."
            ) from None
        body = answer["Body"]
        found = _CONTENT_RANGE.fullmatch(answer.get("ContentRange") or "")
        if found is None:  # the whole object, as a server without range requests sends it
            if start > 0:
                body.close()
                raise changed(shown(self.url))
            length = answer.get("ContentLength")
            return Body(body, 0, length, length, answer.get("ETag"), False)
        total = None if found[3] == "*" else int(found[3])
        return Body(body, int(found[1]), int(found[2]) + 1, total, answer.get("ETag"), True)

    def _refused(self, exc: Any, start: int) -> Body:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "InvalidRange" and start == 0:  # an empty object
            return Body(io.BytesIO(), 0, 0, 0, None, True)
        if code == "PreconditionFailed":
            raise changed(shown(self.url))
        raise _refused(shown(self.url), status, code or str(error.get("Message", ""))) from None


def open_url(url: str) -> RemoteFile:
    """The bundle at ``url`` (see :func:`is_url`) as a seekable file."""
    backend: Backend = _S3(url) if url.lower().startswith("s3://") else _Http(url)
    return RemoteFile(shown(url), backend)


# --- signatures of bundles named by URL ------------------------------------------------------


@contextlib.contextmanager
def checked(bundle: str, trust: signing.Trust) -> Iterator[signing.Checked]:
    """:func:`.signing.checked`, also for a bundle or a signature named by URL.

    The signature (``trust.signature``, default the bundle's URL + ``.sig``) is fetched
    the same way into a private file first; signing then copies the bundle into its
    private directory, verifies the copy and installs from it, as for a file.
    """
    url = trust.signature or bundle + signing.SUFFIX
    if not trust.allowed_signers or not is_url(url):  # signing reads a signature file
        with signing.checked(bundle, trust) as found:
            yield found
        return
    with tempfile.TemporaryDirectory(prefix="conda-envbundle-signature-") as private:
        local = os.path.join(private, "signature")
        if not _fetch_signature(url, local, required=trust.signature is not None):
            if trust.require:
                raise SignatureError(
                    f"A valid signature is required, and {shown(bundle)} is not signed: "
                    f"there is no {shown(url)}. Nothing was changed."
                )
            # as signing says for a file: trusted signers were given, yet nothing was checked
            log.warning(
                "warning: %s is not signed, so its signature was not checked. "
                "--require-signature refuses unsigned bundles.",
                shown(bundle),
            )
            yield signing.Checked(bundle)
            return
        with signing.checked(bundle, dataclasses.replace(trust, signature=local)) as found:
            if found.signature is not None:
                found.signature = dataclasses.replace(found.signature, signature=shown(url))
            yield found


def _fetch_signature(url: str, local: str, *, required: bool) -> bool:
    """Copy the signature at ``url`` to ``local``; False when it is not there and not
    ``required`` (the default ``<bundle URL>.sig``)."""
    try:
        with open_url(url) as remote:
            data = remote.read(SIGNATURE_LIMIT + 1)
    except DownloadError as exc:
        if exc.status == 404 and not required:
            return False
        raise
    if len(data) > SIGNATURE_LIMIT:
        raise SignatureError(f"{shown(url)} is too large to be a signature.")
    with open(local, "xb") as out:
        out.write(data)
    return True
