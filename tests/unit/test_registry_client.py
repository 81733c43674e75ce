"""The distribution-spec client against :class:`tests.unit.registry_fake.FakeRegistry`: ping, errors,
retries and TLS settings.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockwright.errors import ImageReferenceError, InputError, NetworkError
from dockwright.net.http import FetchError, RetryPolicy
from dockwright.oci.digest import Digest
from dockwright.registry import (
    RegistryClient,
    RegistryError,
)
from tests.unit.registry_fake import (
    BASE,
    BLOB,
    FakeRegistry,
    _error,
    is_,
    make_client,
    once,
    raise_read_error,
)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def client(registry: FakeRegistry) -> Iterator[RegistryClient]:
    with make_client(registry) as c:
        yield c


# -- ping, errors, retries ------------------------------------------------------------------


def test_ping(client: RegistryClient, registry: FakeRegistry) -> None:
    client.ping()
    assert registry.seen() == ["GET /v2/"]
    assert registry.requests[0].headers["User-Agent"].startswith("dockwright/")


def test_5xx_is_retried_then_succeeds(client: RegistryClient, registry: FakeRegistry) -> None:
    registry.faults.append(once(is_("GET"), lambda r: _error(503, "UNAVAILABLE")))
    client.ping()
    assert registry.seen() == ["GET /v2/", "GET /v2/"]


def test_persistent_5xx_gives_up_with_url_and_status(registry: FakeRegistry) -> None:
    registry.faults.append(lambda r: _error(500, "UNKNOWN", "storage on fire"))
    slept: list[float] = []
    client = make_client(registry, retry=RetryPolicy(attempts=3), sleep=slept.append)
    with client, pytest.raises(FetchError) as caught:
        client.blob_size("app", Digest.of(b"x"))
    assert caught.value.message == (
        f"HEAD {BASE}/v2/app/blobs/{Digest.of(b'x')}: HTTP 500 UNKNOWN: storage on fire "
        "(gave up after 3 attempts)"
    )
    assert caught.value.status == 500
    assert slept == [0.5, 1.0]
    assert isinstance(caught.value, NetworkError)


def test_4xx_is_not_retried_and_names_the_registry_error(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    registry.faults.append(lambda r: _error(400, "NAME_INVALID", "invalid repository name"))
    with pytest.raises(RegistryError) as caught:
        client.list_tags("app")
    assert (
        caught.value.message == f"GET {BASE}/v2/app/tags/list: HTTP 400 NAME_INVALID: invalid repository name"
    )
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (400, "NAME_INVALID", False)
    assert len(registry.requests) == 1


def test_connection_errors_are_retried(registry: FakeRegistry) -> None:
    registry.faults.append(once(is_("GET"), raise_read_error))
    with make_client(registry) as client:
        client.ping()
    assert len(registry.requests) == 2


def test_bad_arguments_are_refused_before_any_request(client: RegistryClient, registry: FakeRegistry) -> None:
    with pytest.raises(ImageReferenceError):
        client.get_manifest("../etc", "latest")
    with pytest.raises(ImageReferenceError):
        client.get_manifest("app", "a/b")
    with pytest.raises(InputError):
        client.get_manifest("app", "sha256:1234")
    with pytest.raises(ImageReferenceError):
        RegistryClient("127.0.0.1:5000/app")
    assert registry.requests == []


# -- TLS settings ---------------------------------------------------------------------------


def test_cert_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        RegistryClient("127.0.0.1:5000", cert_dir=tmp_path / "missing")


def test_client_cert_needs_its_key(tmp_path: Path) -> None:
    (tmp_path / "client.cert").write_text("x")
    with pytest.raises(
        InputError, match=r"client certificate .*client\.cert has no key client\.key next to it"
    ):
        RegistryClient("127.0.0.1:5000", cert_dir=tmp_path)


def test_cert_dir_loads_cas_and_client_pairs(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "ca.crt").write_bytes(pem)
    (tmp_path / "client.cert").write_bytes(pem)
    (tmp_path / "client.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    RegistryClient("127.0.0.1:5000", cert_dir=tmp_path).close()
    (tmp_path / "ca.crt").write_text("not a certificate")
    with pytest.raises(InputError, match="unusable certificate in"):
        RegistryClient("127.0.0.1:5000", cert_dir=tmp_path)


def test_system_cas_are_loaded_at_the_first_handshake_with_create_default_contexts_settings() -> None:
    import ssl

    from dockwright.registry import tls_context

    reference = ssl.create_default_context()
    context = tls_context(verify=True, cert_dir=None)
    for setting in ("check_hostname", "verify_mode", "options", "minimum_version", "verify_flags"):
        assert getattr(context, setting) == getattr(reference, setting), setting
    assert context.cert_store_stats()["x509_ca"] == 0  # not read yet: plain HTTP never pays for it
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="registry.test")
    assert context.cert_store_stats()["x509_ca"] == reference.cert_store_stats()["x509_ca"] > 0
    with (
        socket.socket() as sock,
        context.wrap_socket(sock, server_hostname="registry.test", do_handshake_on_connect=False),
    ):
        pass
    assert context.cert_store_stats()["x509_ca"] == reference.cert_store_stats()["x509_ca"]


def test_digest_helpers_agree() -> None:
    assert str(Digest.of(BLOB)) == "sha256:" + hashlib.sha256(BLOB).hexdigest()


def test_a_client_loads_httpcore_only_to_send_a_body_and_then_reads_in_pieces_of_up_to_1_mib() -> None:
    # a fresh interpreter: another test of this run may have imported httpcore already
    script = """
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from dockwright.registry import RegistryClient
from dockwright.registry._session import READ_SIZE

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_PUT(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201); self.send_header("Content-Length", "0")
        self.send_header("Docker-Content-Digest", "sha256:" + "0" * 64); self.end_headers()
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
with RegistryClient(f"127.0.0.1:{server.server_address[1]}", plain_http=True) as client:
    client.ping()
    assert "httpcore" not in sys.modules, "a download-only client imported httpcore"
    try:
        client.put_manifest("app", "1", b"{}", "application/vnd.oci.image.manifest.v1+json")
    except Exception:
        pass  # the answer's digest is wrong on purpose; the body was sent
import httpcore
assert httpcore.HTTP11Connection.READ_NUM_BYTES >= READ_SIZE > 64 << 10  # httpcore's own: 64 KiB
"""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
