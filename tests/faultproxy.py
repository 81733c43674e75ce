"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a real registry, for integration tests.

:class:`FaultProxy` forwards every request to ``upstream`` (``host:port``, plain HTTP) unchanged,
``Host`` header included, so the registry's ``Location`` URLs point back at the proxy. Rules
(:meth:`FaultProxy.add`) pick requests by method and a regular expression searched in the path
(query included) and apply to ``times`` of them, after letting ``after`` pass:

- ``status``: answer ``status`` (e.g. 503) without forwarding (the request body is read first);
- ``drop``: forward, send the answer's headers and ``at`` body bytes, then close the connection;
- ``truncate``: like ``drop``, but the close comes after a clean write of the ``at`` bytes and a
  pause (the client sees a body shorter than its ``Content-Length``);
- ``corrupt``: forward, and flip one bit of the answer's body byte ``at``;
- ``slow``: forward, sleeping ``delay`` seconds before each 64 KiB of the answer's body;
- ``drop_request``: forward the request with only its first ``at`` body bytes, then close both
  connections without answering (an upload interrupted mid-chunk: the registry keeps what came);
- ``corrupt_request``: forward the request with body byte ``at`` flipped.

``log`` lists ``(method, path, action)`` for every request, ``action`` being ``""`` when no rule
applied, and ``range`` headers are kept in ``ranges`` to see resumed downloads.

What this module does not do: TLS (put it in front of a plain-HTTP registry), or HTTP/2.
"""

from __future__ import annotations

import email.message
import http.client
import http.server
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["FaultProxy", "Rule"]

_CHUNK = 1 << 16
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


@dataclass
class Rule:
    """Which requests to spoil, how, and how many more times."""

    action: str
    path: str
    method: str | None = None
    times: int = 1
    at: int = 0
    status: int = 503
    delay: float = 0.0
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        """True when the request is one to spoil (counting down ``after`` first)."""
        if self.times <= 0 or self.method not in (None, method) or re.search(self.path, path) is None:
            return False
        if self.after > 0:
            self.after -= 1
            return False
        return True


class FaultProxy:
    """Forwarding proxy with injected faults (see the module docstring); a context manager."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []
        self.ranges: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` to give clients instead of the registry's address."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add(
        self, action: str, path: str, *, method: str | None = None, times: int = 1, **params: float
    ) -> Rule:
        """Add a rule; ``params`` are ``at``, ``status``, ``delay`` and ``after`` (matches to let pass first)."""
        rule = Rule(action, path, method, times, **params)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule and forget the log."""
        with self._lock:
            self.rules.clear()
            self.log.clear()
            self.ranges.clear()

    def actions(self) -> list[str]:
        """The actions applied so far, in order."""
        with self._lock:
            return [action for _, _, action in self.log if action]

    def _take(self, method: str, path: str, headers: email.message.Message) -> Rule | None:
        with self._lock:
            if headers.get("Range"):
                self.ranges.append((path, headers["Range"]))
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.times -= 1
                    self.log.append((method, path, rule.action))
                    return rule
            self.log.append((method, path, ""))
        return None

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        rule = self.proxy._take(self.command, self.path, self.headers)
        body = self._body()
        action = rule.action if rule else ""
        if rule is not None and action == "status":
            self.send_response(rule.status)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            return
        if rule is not None and action == "corrupt_request" and rule.at < len(body):
            body = body[: rule.at] + bytes([body[rule.at] ^ 0x01]) + body[rule.at + 1 :]
        upstream = http.client.HTTPConnection(self.proxy.upstream, timeout=60)
        try:
            self._forward(upstream, body, rule)
        finally:
            upstream.close()

    def _forward(self, upstream: http.client.HTTPConnection, body: bytes, rule: Rule | None) -> None:
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                upstream.putheader(name, value)
        if body or self.command in ("PUT", "POST", "PATCH"):
            upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders()
        if rule is not None and rule.action == "drop_request":
            upstream.send(body[: rule.at])
            time.sleep(0.2)  # let the registry store what arrived before it sees the connection end
            self.close_connection = True
            return
        upstream.send(body)
        response = upstream.getresponse()
        headers = [(n, v) for n, v in response.getheaders() if n.lower() not in _HOP_BY_HOP]
        whole = None
        if response.getheader("Content-Length") is None and self.command != "HEAD":
            whole = response.read()  # chunked upstream: send it with a length instead
            headers.append(("Content-Length", str(len(whole))))
        self.send_response(response.status, response.reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        self._relay(iter([whole]) if whole else _chunks(response), rule)

    def _relay(self, chunks: Iterator[bytes], rule: Rule | None) -> None:
        sent = 0
        for chunk in chunks:
            if rule is not None and rule.action == "slow":
                time.sleep(rule.delay)
            if rule is not None and rule.action in ("drop", "truncate") and sent + len(chunk) >= rule.at:
                self.wfile.write(chunk[: rule.at - sent])
                self.wfile.flush()
                if rule.action == "truncate":
                    time.sleep(0.1)
                self.close_connection = True
                return
            if rule is not None and rule.action == "corrupt" and sent <= rule.at < sent + len(chunk):
                i = rule.at - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0x01]) + chunk[i + 1 :]
            self.wfile.write(chunk)
            sent += len(chunk)


def _chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while chunk := response.read(_CHUNK):
        yield chunk
