"""Servers on 127.0.0.1 that the tests start and stop: a file server with range requests,
Basic authentication and ways to fail; a plain HTTP proxy; an S3-compatible store (moto).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import re
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_BLOCK = 1 << 16

# How the file server answers: "ok"; "drop": the connection is reset halfway through the
# body; "lie": a Content-Length larger than the bytes sent; "truncate": the first half of
# each file is served as if it were all of it (an interrupted upload).
MODES = ("ok", "drop", "lie", "truncate")


@dataclass
class Request:
    """One request the server answered."""

    path: str
    range: str | None
    status: int
    sent: int = 0  # body bytes written to the socket


@dataclass
class FileServer:
    """Serves the files under ``root`` at ``url`` (HTTP/1.1, range requests, If-Range)."""

    root: Path
    auth: tuple[str, str] | None = None
    ranges: bool = True
    mode: str = "ok"
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def sent(self) -> int:
        """Body bytes sent so far, over every request."""
        return sum(r.sent for r in self.requests)


class _FileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        files = self.server.files
        request = Request(self.path, self.headers.get("Range"), 0)
        files.requests.append(request)
        if files.auth and not self._authorized(files.auth):
            self._empty(request, 401, {"WWW-Authenticate": 'Basic realm="bundles"'})
            return
        path = files.root / unquote(urlsplit(self.path).path).lstrip("/")
        if not path.is_file():
            self._empty(request, 404)
            return
        data = path.read_bytes()
        if files.mode == "truncate":
            data = data[: len(data) // 2]
        self._send(request, data, hashlib.sha256(data).hexdigest()[:16])

    def _authorized(self, auth: tuple[str, str]) -> bool:
        expected = base64.b64encode(":".join(auth).encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def _empty(self, request: Request, status: int, headers: dict | None = None) -> None:
        request.status = status
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, request: Request, data: bytes, tag: str) -> None:
        etag = f'"{tag}"'
        start, stop, status = 0, len(data), 200
        wanted = _RANGE.fullmatch(self.headers.get("Range") or "")
        same = self.headers.get("If-Range") in (None, etag)
        if self.server.files.ranges and wanted and same:
            start = int(wanted[1])
            stop = min(len(data), int(wanted[2]) + 1) if wanted[2] else len(data)
            if start >= len(data):
                self._empty(request, 416, {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        request.status = status
        self.send_response(status)
        self.send_header("ETag", etag)
        if self.server.files.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        lie = 1000 if self.server.files.mode == "lie" else 0
        self.send_header("Content-Length", str(stop - start + lie))
        self.end_headers()
        self._body(request, data[start:stop])

    def _body(self, request: Request, body: bytes) -> None:
        cut = len(body) // 2 if self.server.files.mode == "drop" else len(body)
        try:
            for at in range(0, cut, _BLOCK):
                self.wfile.write(body[at : min(cut, at + _BLOCK)])
                request.sent += min(cut, at + _BLOCK) - at
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client had read enough
            self.close_connection = True
            return
        if self.server.files.mode in ("drop", "lie"):
            # a reset, not a clean end: what a dropped connection looks like
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up (a reader that had enough) are no news; the rest is."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server(_Quiet):
    files: FileServer


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Run ``server`` in a thread; its base URL. Stopped and closed on the way out."""
    thread = threading.Thread(target=server.serve_forever, name="test-server", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def file_server(
    root: Path, *, auth: tuple[str, str] | None = None, ranges: bool = True, mode: str = "ok"
) -> Iterator[FileServer]:
    """A :class:`FileServer` for ``root`` on 127.0.0.1, stopped on the way out."""
    assert mode in MODES, mode
    files = FileServer(root, auth, ranges, mode)
    server = _Server(("127.0.0.1", 0), _FileHandler)
    server.files = files
    with serving(server) as url:
        files.url = url
        yield files


# --- a forwarding proxy for http:// (no CONNECT) ---------------------------------------------


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: the body ends with it
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        target = urlsplit(self.path)  # a proxy is asked for the absolute URL
        self.server.seen.append(self.path)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")}
        headers["Connection"] = "close"
        path = target.path + (f"?{target.query}" if target.query else "")
        try:
            upstream.request("GET", path, headers=headers)
            answer = upstream.getresponse()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                    self.send_header(name, value)
            self.end_headers()
            while block := answer.read(_BLOCK):
                self.wfile.write(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            upstream.close()


class _ProxyServer(_Quiet):
    seen: list[str]


@contextlib.contextmanager
def proxy_server() -> Iterator[tuple[str, list[str]]]:
    """A proxy for http:// on 127.0.0.1: its URL and the URLs it was asked for."""
    server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
    server.seen = []
    with serving(server) as url:
        yield url, server.seen


# --- S3 ----------------------------------------------------------------------------------------


@dataclass
class S3Store:
    """moto's S3 server and what a process needs to reach it (its AWS environment)."""

    endpoint: str
    env: dict[str, str]

    def client(self):
        import boto3

        return boto3.session.Session(
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=self.endpoint)


@contextlib.contextmanager
def s3_store(config_dir: Path) -> Iterator[S3Store]:
    """moto's S3 server on 127.0.0.1, with AWS settings that point only at it (no AWS
    files of the user's are read: ``config_dir`` holds empty ones)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name in ("config", "credentials"):
            (config_dir / name).write_text("")
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_CONFIG_FILE": str(config_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        yield S3Store(endpoint, env)
    finally:
        server.stop()
