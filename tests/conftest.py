"""Shared fixtures: a test signing key, signed Debian repositories, and a loopback HTTP server.

``http_server`` serves pytest's base temporary directory, so every ``tmp_path`` (and every
repository ``deb_repo`` builds) is reachable; ``url_for(path)`` gives a path's URL. The server
honours ``Range: bytes=N-`` / ``bytes=N-M`` and injects faults chosen by query parameters:

- ``?drop=N``: send the headers for the full answer but only N body bytes, then close;
- ``?status=S``: answer HTTP S with an empty body;
- ``?times=K``: the fault applies to the first K requests of that exact path and query (default 1);
- ``?norange=1``: ignore ``Range`` and always answer 200 with the whole file.

``http_requests`` lists ``(path with query, Range header or "")`` seen during the current test.
"""

from __future__ import annotations

import http.server
import shutil
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.debrepo import FakePackage, build_repo, kill_agent, make_keyring

_LOCK = threading.Lock()
_FAULT_COUNTS: dict[str, int] = {}
_REQUESTS: list[tuple[str, str]] = []


class RangeRequestHandler(http.server.BaseHTTPRequestHandler):
    """Serves files under ``root`` with Range support and injected faults (see module docstring)."""

    protocol_version = "HTTP/1.1"
    root = Path("/nonexistent")

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Serve a file, a range of it, or an injected fault."""
        with _LOCK:
            _REQUESTS.append((self.path, self.headers.get("Range", "")))
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        fault = self._fault_applies(query)
        if fault and "status" in query:
            self._send_empty(int(query["status"]))
            return
        path = (self.root / urllib.parse.unquote(split.path).lstrip("/")).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            self._send_empty(404)
            return
        data = path.read_bytes()
        start, end = self._range(len(data), query)
        if start is None:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = data[start:end]
        self.send_response(206 if (start, end) != (0, len(data)) else 200)
        if (start, end) != (0, len(data)):
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault and "drop" in query:
            self.wfile.write(body[: int(query["drop"])])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _fault_applies(self, query: dict[str, str]) -> bool:
        if "drop" not in query and "status" not in query:
            return False
        with _LOCK:
            seen = _FAULT_COUNTS.get(self.path, 0)
            _FAULT_COUNTS[self.path] = seen + 1
        return seen < int(query.get("times", "1"))

    def _range(self, size: int, query: dict[str, str]) -> tuple[int | None, int]:
        header = self.headers.get("Range", "")
        if not header.startswith("bytes=") or query.get("norange"):
            return 0, size
        first, _, last = header.removeprefix("bytes=").partition("-")
        start = int(first)
        end = min(int(last) + 1, size) if last else size
        return (start, end) if start < size else (None, size)

    def _send_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="session")
def _test_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, Path]]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    fingerprint, keyring = make_keyring(home)
    yield home, fingerprint, keyring
    kill_agent(home)


@pytest.fixture(scope="session")
def gpg_home(_test_key: tuple[Path, str, Path]) -> Path:
    """A GNUPGHOME holding one passphrase-less ed25519 signing key (the default signer)."""
    return _test_key[0]


@pytest.fixture(scope="session")
def signing_key(_test_key: tuple[Path, str, Path]) -> str:
    """The fingerprint of the key in ``gpg_home``."""
    return _test_key[1]


@pytest.fixture(scope="session")
def keyring(_test_key: tuple[Path, str, Path]) -> Path:
    """A binary keyring with the public key of ``gpg_home``'s key."""
    return _test_key[2]


@pytest.fixture
def deb_repo(tmp_path: Path, gpg_home: Path) -> Callable[..., Path]:
    """Build a signed repository into a fresh directory under ``tmp_path`` and return its root.

    Call as ``deb_repo(packages, **build_repo_keywords)``; packages default to one ``hello``.
    """
    counter = iter(range(1_000_000))

    def build(packages: list[FakePackage] | None = None, **kwargs: object) -> Path:
        root = tmp_path / f"repo{next(counter)}"
        pkgs = packages if packages is not None else [FakePackage("hello", files={"/usr/bin/hello": b"hi\n"})]
        build_repo(root, pkgs, gnupghome=gpg_home, **kwargs)  # type: ignore[arg-type]
        return root

    return build


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT``) of a loopback server for pytest's base temp dir."""
    root = tmp_path_factory.getbasetemp().resolve()
    handler = type("Handler", (RangeRequestHandler,), {"root": root})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def url_for(http_server: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], str]:
    """``url_for(path)``: the ``http_server`` URL of a path under pytest's base temp dir."""
    base = tmp_path_factory.getbasetemp().resolve()

    def url(path: Path) -> str:
        return f"{http_server}/{urllib.parse.quote(str(path.resolve().relative_to(base)))}"

    return url


@pytest.fixture
def http_requests() -> Iterator[list[tuple[str, str]]]:
    """Requests the loopback server saw during this test: ``(path?query, Range header)``."""
    with _LOCK:
        _REQUESTS.clear()
    yield _REQUESTS


@pytest.fixture
def gpg_factory(tmp_path: Path) -> Iterator[Callable[..., tuple[Path, str, Path]]]:
    """``gpg_factory(**make_keyring_keywords)`` -> ``(home, fingerprint, keyring)`` for another key."""
    homes: list[Path] = []

    def make(**kwargs: object) -> tuple[Path, str, Path]:
        home = tmp_path / f"gnupg-other{len(homes)}"
        homes.append(home)
        fingerprint, ring = make_keyring(home, **kwargs)  # type: ignore[arg-type]
        return home, fingerprint, ring

    yield make
    for home in homes:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)
