"""A real Notary v1 peer for integration tests: Debian's ``notary-server`` and ``notary`` client.

* :func:`start_notary_server`: ``notary-server`` on 127.0.0.1 (memory storage, local trust
  service, plain HTTP), dying with the test process; yields its URL.
* :class:`NotaryCLI`: the ``notary`` client with its own trust directory and passphrases in the
  environment (``init``, ``addhash``, ``publish``, ``lookup``).
* :class:`LoopbackProxy`: a plain-HTTP proxy on 127.0.0.1 in front of a server that counts the
  response bytes per path and may rewrite a response (tests flip bytes in it).

What this module does not do: install the peer (``apt-get install -y notary``; tests skip
without it) or speak TLS.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib import parse

import httpx
import pytest

__all__ = ["LoopbackProxy", "NotaryCLI", "start_notary_server"]

SERVER_BINARY = "notary-server"
CLIENT_BINARY = "notary"
PASSPHRASE = "notary-test-passphrase"
_PR_SET_PDEATHSIG = 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def require_notary() -> None:
    """Skip the test unless both notary binaries are installed."""
    for tool in (SERVER_BINARY, CLIENT_BINARY):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (apt-get install -y notary)")


@contextlib.contextmanager
def start_notary_server(workdir: Path) -> Iterator[str]:
    """Run ``notary-server`` on loopback until the ``with`` block ends; yield ``http://127.0.0.1:PORT``."""
    require_notary()
    port = _free_port()
    config = workdir / "server.json"
    config.write_text(
        json.dumps(
            {
                "server": {"http_addr": f"127.0.0.1:{port}"},
                "trust_service": {"type": "local"},
                "storage": {"backend": "memory"},
                "logging": {"level": "warning"},
            }
        )
    )
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [SERVER_BINARY, "-config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"notary-server exited: {(workdir / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_notary_server/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("notary-server did not become ready")
            time.sleep(0.05)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


class NotaryCLI:
    """The ``notary`` client against ``server``, with its own trust directory."""

    def __init__(self, server: str, trust_dir: Path) -> None:
        self.server = server
        self.trust_dir = trust_dir
        self.env = dict(os.environ)
        for role in ("ROOT", "TARGETS", "SNAPSHOT", "DELEGATION"):
            self.env[f"NOTARY_{role}_PASSPHRASE"] = PASSPHRASE

    def run(self, *args: str, server: str | None = None, timeout: float = 600) -> str:
        """Run ``notary -s SERVER -d TRUST_DIR ARGS``; return stdout (raise with stderr on failure)."""
        done = subprocess.run(
            [CLIENT_BINARY, "-s", server or self.server, "-d", str(self.trust_dir), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"notary {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def publish_hashes(self, gun: str, tags: dict[str, tuple[int, str]], *, init: bool = True) -> None:
        """``init`` (once), ``addhash`` each tag (length, sha256 hex), then one ``publish``."""
        if init:
            self.run("init", gun)
        for tag, (length, sha256) in tags.items():
            self.run("addhash", gun, tag, str(length), "--sha256", sha256)
        self.run("publish", gun)

    def root_cert(self, gun: str) -> bytes:
        """The root certificate the client generated for ``gun`` (from its trusted root.json)."""
        import base64

        root = json.loads((self.trust_dir / "tuf" / gun / "metadata" / "root.json").read_bytes())
        signed = root["signed"]
        keyid = signed["roles"]["root"]["keyids"][0]
        return base64.b64decode(signed["keys"][keyid]["keyval"]["public"])


class LoopbackProxy:
    """A plain-HTTP proxy on 127.0.0.1 to ``upstream``; counts bytes and may rewrite responses.

    ``rewrite(path, body) -> body`` sees every ``GET`` response body (``path`` without the query).
    ``bytes_by_path`` counts the response body bytes sent; :meth:`reset` clears it.
    """

    def __init__(self, upstream: str, rewrite: Callable[[str, bytes], bytes] | None = None) -> None:
        target = parse.urlsplit(upstream)
        self.rewrite = rewrite
        self.bytes_by_path: dict[str, int] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream_conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream_conn.request(self.command, self.path, body=body, headers=headers)
                response = upstream_conn.getresponse()
                data = response.read()
                path = parse.urlsplit(self.path).path
                if proxy.rewrite is not None and self.command == "GET":
                    data = proxy.rewrite(path, data)
                with proxy._lock:
                    proxy.bytes_by_path[path] = proxy.bytes_by_path.get(path, 0) + len(data)
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream_conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_PATCH = do_DELETE = _forward

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"http://{self.address}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def total(self) -> int:
        """All response body bytes sent so far."""
        with self._lock:
            return sum(self.bytes_by_path.values())

    def reset(self) -> None:
        """Forget the counts."""
        with self._lock:
            self.bytes_by_path.clear()
