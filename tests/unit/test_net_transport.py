"""DirectTransport: bodies read straight into a buffer, kept connections, failures as httpx's.

Each test talks to a small HTTP/1.1 server on loopback that it scripts itself: the server counts
the connections it accepted, so reuse is observed from the other side of the wire.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from dockwright.net.transport import DirectTransport, read_into

BODY = bytes(range(256)) * 12_289  # about 3 MiB, not a multiple of the buffer size
Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.connections = 0
        self.requests: list[tuple[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        self.connections += 1
        return super().get_request()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _route(self) -> None:
        self.server.requests.append((self.command, self.path))
        self.server.routes[self.path](self)

    do_GET = do_HEAD = do_PUT = _route


def _send(handler: http.server.BaseHTTPRequestHandler, body: bytes, **headers: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Handler]], _Server]]:
    servers: list[_Server] = []

    def start(routes: dict[str, Handler]) -> _Server:
        server = _Server(routes)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _client(**kwargs: Any) -> httpx.Client:
    import ssl

    fallback = kwargs.pop("fallback", None) or httpx.HTTPTransport()
    transport = DirectTransport(ssl_context=ssl.create_default_context(), fallback=lambda: fallback)
    return httpx.Client(transport=transport, timeout=kwargs.pop("timeout", 5.0), **kwargs)


def _url(server: _Server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _digest_of(response: httpx.Response, *, direct: bool = True) -> tuple[str, int]:
    digest, size, buffer = hashlib.sha256(), 0, bytearray(1 << 16)
    for view in read_into(response, buffer):
        assert (view.obj is buffer) == direct  # direct: the caller's buffer, no copy in between
        digest.update(view)
        size += len(view)
    return digest.hexdigest(), size


def test_a_body_is_read_into_the_buffer_and_the_connection_is_kept(serve: Any) -> None:
    server = serve({"/blob": lambda h: _send(h, BODY)})
    with _client() as client:
        for _ in range(3):
            with client.stream("GET", _url(server, "/blob")) as response:
                assert response.status_code == 200
                assert response.headers["Content-Length"] == str(len(BODY))
                assert _digest_of(response) == (hashlib.sha256(BODY).hexdigest(), len(BODY))
        assert server.connections == 1


def test_head_answers_and_small_bodies_keep_the_connection(serve: Any) -> None:
    server = serve(
        {
            "/blob": lambda h: _send(h, BODY, Docker_Content_Digest="sha256:x"),
            "/small": lambda h: _send(h, b"ok"),
        }
    )
    with _client() as client:
        head = client.head(_url(server, "/blob"))
        assert (head.status_code, head.headers["Docker-Content-Digest"], head.content) == (
            200,
            "sha256:x",
            b"",
        )
        assert client.get(_url(server, "/small")).content == b"ok"
        assert client.get(_url(server, "/small")).content == b"ok"  # iterated by httpx, not read_into
    assert server.connections == 1
    assert server.requests == [("HEAD", "/blob"), ("GET", "/small"), ("GET", "/small")]


def test_a_body_left_unread_closes_its_connection(serve: Any) -> None:
    server = serve({"/blob": lambda h: _send(h, BODY)})
    with _client() as client:
        with client.stream("GET", _url(server, "/blob")) as response:
            next(read_into(response, bytearray(1024)))  # stop after the first KiB
        assert client.get(_url(server, "/blob")).content == BODY
    assert server.connections == 2


def test_a_chunked_body(serve: Any) -> None:
    def chunked(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for start in range(0, len(BODY), 100_000):
            piece = BODY[start : start + 100_000]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")

    server = serve({"/chunked": chunked})
    with _client() as client:
        for _ in range(2):
            with client.stream("GET", _url(server, "/chunked")) as response:
                assert _digest_of(response) == (hashlib.sha256(BODY).hexdigest(), len(BODY))
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(serve: Any) -> None:
    def once(h: http.server.BaseHTTPRequestHandler) -> None:
        _send(h, b"ok")
        h.close_connection = True  # no "Connection: close": the client believes it is kept

    server = serve({"/once": once})
    with _client() as client:
        assert client.get(_url(server, "/once")).content == b"ok"
        time.sleep(0.1)  # the server has closed its end by now
        assert client.get(_url(server, "/once")).content == b"ok"
    assert server.connections == 2


def test_a_body_cut_short_is_a_protocol_error(serve: Any) -> None:
    def short(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(BODY)))
        h.end_headers()
        h.wfile.write(BODY[:100_000])
        h.close_connection = True

    server = serve({"/short": short, "/ok": lambda h: _send(h, b"ok")})
    with _client() as client:
        with (
            client.stream("GET", _url(server, "/short")) as response,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            _digest_of(response)
        assert client.get(_url(server, "/ok")).content == b"ok"  # on a new connection
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(_url(server, "/short"))  # read through httpx's iteration: the same


def test_a_stalled_answer_times_out(serve: Any) -> None:
    release = threading.Event()

    def stall(h: http.server.BaseHTTPRequestHandler) -> None:
        release.wait(5)

    server = serve({"/stall": stall})
    try:
        with _client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
            client.get(_url(server, "/stall"))
    finally:
        release.set()


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once it is closed
    with _client() as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/")


def test_requests_with_a_body_go_to_the_fallback(serve: Any) -> None:
    server = serve({"/get": lambda h: _send(h, b"direct")})
    seen: list[tuple[str, bytes]] = []

    def fallback(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.read()))
        return httpx.Response(201, content=b"fallback")

    with _client(fallback=httpx.MockTransport(fallback)) as client:
        assert client.put(_url(server, "/put"), content=b"data").content == b"fallback"
        assert client.get(_url(server, "/get")).content == b"direct"
    assert seen == [("PUT", b"data")]
    assert server.requests == [("GET", "/get")]


def test_the_fallback_is_made_at_the_first_request_with_a_body_and_closed_with_the_transport(
    serve: Any,
) -> None:
    import ssl

    server = serve({"/get": lambda h: _send(h, b"direct")})
    made: list[_ClosingTransport] = []

    def make() -> httpx.BaseTransport:
        made.append(_ClosingTransport(lambda request: httpx.Response(201)))
        return made[-1]

    transport = DirectTransport(ssl_context=ssl.create_default_context(), fallback=make)
    with httpx.Client(transport=transport, timeout=5.0) as client:
        assert client.get(_url(server, "/get")).content == b"direct"
        assert made == []
        client.put(_url(server, "/a"), content=b"1")
        client.post(_url(server, "/b"), content=b"2")
        assert len(made) == 1 and not made[0].closed
    assert made[0].closed


class _ClosingTransport(httpx.MockTransport):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_read_into_accepts_answers_of_other_transports() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=BODY)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        with client.stream("GET", "http://registry.invalid/blob") as response:
            assert _digest_of(response, direct=False) == (hashlib.sha256(BODY).hexdigest(), len(BODY))
        response = client.get("http://registry.invalid/blob")  # read already
        assert b"".join(bytes(v) for v in read_into(response, bytearray(10))) == BODY


def test_a_registry_client_behind_a_proxy_sends_through_it(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockwright.registry.client import RegistryClient

    proxy = serve({"http://registry.invalid/v2/": lambda h: _send(h, b"{}")})  # absolute-form targets
    monkeypatch.setenv("HTTP_PROXY", _url(proxy, ""))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with RegistryClient("registry.invalid", plain_http=True) as client:
        client.ping()
    assert proxy.requests == [("GET", "http://registry.invalid/v2/")]


def test_a_registry_client_follows_a_blob_to_another_origin_and_resumes_there(
    serve: Any, tmp_path: Any
) -> None:
    """A registry that sends blobs from elsewhere (object storage): 307 to another host and port.

    The storage drops the first answer halfway; the client resumes with ``Range`` at that origin.
    """
    from dockwright.oci.digest import Digest
    from dockwright.registry.client import RegistryClient

    cut = len(BODY) // 2
    ranges: list[str | None] = []

    def storage(h: http.server.BaseHTTPRequestHandler) -> None:
        ranges.append(h.headers.get("Range"))
        if h.headers.get("Authorization"):
            h.send_response(400)  # object storage refuses the registry's credentials
            h.end_headers()
        elif h.headers.get("Range") is None:
            h.send_response(200)
            h.send_header("Content-Length", str(len(BODY)))
            h.end_headers()
            h.wfile.write(BODY[:cut])
            h.close_connection = True
        else:
            start = int(h.headers["Range"].removeprefix("bytes=").rstrip("-"))
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
            h.send_header("Content-Length", str(len(BODY) - start))
            h.end_headers()
            h.wfile.write(BODY[start:])

    store = serve({"/blob": storage})
    digest = Digest.of(BODY)

    def redirect(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(307)
        h.send_header("Location", _url(store, "/blob"))
        h.send_header("Content-Length", "0")
        h.end_headers()

    registry = serve({f"/v2/app/blobs/{digest}": redirect})
    out = tmp_path / "blob"
    with (
        RegistryClient(f"127.0.0.1:{registry.server_address[1]}", plain_http=True) as client,
        open(out, "wb") as f,
    ):
        client.fetch_blob("app", digest, f, size=len(BODY))
    assert out.read_bytes() == BODY
    assert ranges == [None, f"bytes={cut}-"]
