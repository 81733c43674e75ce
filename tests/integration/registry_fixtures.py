"""Real registries for integration tests: Debian's ``docker-registry`` on 127.0.0.1, three flavours.

Bind the fixtures you use in your test module (they are session-scoped); binding by assignment
keeps ruff quiet about test arguments that shadow an import::

    from tests.integration import registry_fixtures

    registry_basic = registry_fixtures.registry_basic

* ``registry_anon``: plain HTTP, no authentication.
* ``registry_basic``: htpasswd (bcrypt) users, served over TLS by a test CA: pass ``cert_dir``
  (it holds ``ca.crt``, as ``certs.d/<host>`` does) to the client. Every user may push and pull.
* ``registry_token``: plain HTTP, bearer tokens from :class:`tests.tokenissuer.TokenIssuer` (its
  realm on loopback). ``alice`` may pull, push and list the catalog; ``reader`` may only pull;
  anonymous requests get nothing. ``USER-identity-token`` is each user's OAuth2 refresh token.

Each is a :class:`RunningRegistry`: ``.registry`` (``127.0.0.1:PORT``), ``.plain_http``,
``.cert_dir``, ``.users`` (user -> password), ``.url``, ``.ssl_context()`` and, for the token flavour, ``.issuer``.
The registries live for the whole session, so tests use repository names of their own. Use
:func:`start_registry` (a context manager) for a private one with other users or settings.

Each process runs in its own process group, dies with the test process (``PR_SET_PDEATHSIG``),
and is stopped and waited for at teardown, also when a test or the startup failed.

What this module does not do: install ``docker-registry`` (``apt-get install docker-registry``;
tests skip without it) or reset a registry between tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.tokenissuer import TokenIssuer

__all__ = [
    "RunningRegistry",
    "registry_anon",
    "registry_basic",
    "registry_token",
    "start_registry",
]

REGISTRY_BINARY = "/usr/bin/docker-registry"
READY_TIMEOUT = 20.0
DEFAULT_USERS = {"alice": "alice-Secret-1", "reader": "reader-Secret-2"}
DEFAULT_GRANTS = {"alice": ("*",), "reader": ("pull",)}
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RunningRegistry:
    """A running registry and how to reach it."""

    flavour: str
    registry: str
    plain_http: bool
    cert_dir: Path | None
    users: Mapping[str, str]
    storage: Path
    log: Path
    issuer: TokenIssuer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` or ``https://…``."""
        return f"{'http' if self.plain_http else 'https'}://{self.registry}"

    def ssl_context(self) -> ssl.SSLContext:
        """TLS settings trusting the system CAs and the test CA (give it to ``httpx`` as ``verify``)."""
        context = ssl.create_default_context()
        if self.cert_dir is not None:
            context.load_verify_locations(cafile=self.cert_dir / "ca.crt")
        return context


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _htpasswd(users: Mapping[str, str]) -> str:
    lines = []
    for user, password in users.items():
        try:
            import bcrypt
        except ImportError:
            tool = shutil.which("htpasswd")
            if tool is None:
                pytest.skip("neither the bcrypt module nor htpasswd (apache2-utils) is installed")
            done = subprocess.run([tool, "-Bbn", user, password], capture_output=True, text=True, check=True)
            lines.append(done.stdout.strip())
        else:
            digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
            lines.append(f"{user}:{digest}")
    return "\n".join(lines) + "\n"


def _write_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A CA (``certs/ca.crt``) and a server certificate for 127.0.0.1 and localhost signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockwright test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_dir = directory / "certs"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_crt, server_key = directory / "server.crt", directory / "server.key"
    server_crt.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    server_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_dir, server_crt, server_key


def _config(port: int, storage: Path, auth: str, tls: tuple[Path, Path] | None) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    if tls is not None:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
    return "\n".join(lines) + "\n" + auth


def _wait_ready(process: subprocess.Popen[bytes], url: str, verify: ssl.SSLContext, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(verify=verify, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited ({process.returncode}):\n{_tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{url}/v2/").status_code in (200, 401):
                    return
            time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer {url}/v2/ within {READY_TIMEOUT} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextlib.contextmanager
def start_registry(
    flavour: str,
    workdir: Path,
    *,
    tls: bool | None = None,
    users: Mapping[str, str] | None = None,
    grants: Mapping[str, tuple[str, ...]] | None = None,
) -> Iterator[RunningRegistry]:
    """Run one registry until the ``with`` block ends.

    Args:
        flavour: ``anon``, ``basic`` (htpasswd) or ``token``.
        workdir: an empty directory for its storage, configuration, certificates and log.
        tls: serve HTTPS with a fresh test CA (default: only for ``basic``).
        users: user -> password (default :data:`DEFAULT_USERS`; ``anon`` has none).
        grants: user -> actions, for ``token`` (default :data:`DEFAULT_GRANTS`).
    """
    if not Path(REGISTRY_BINARY).is_file():
        pytest.skip(f"{REGISTRY_BINARY} is missing (apt-get install -y docker-registry)")
    if flavour not in ("anon", "basic", "token"):
        raise ValueError(f"unknown registry flavour {flavour!r}")
    tls = flavour == "basic" if tls is None else tls
    users = {} if flavour == "anon" else dict(users or DEFAULT_USERS)
    with contextlib.ExitStack() as stack:
        auth, issuer = "", None
        if flavour == "basic":
            (workdir / "htpasswd").write_text(_htpasswd(users))
            auth = f"auth:\n  htpasswd:\n    realm: dockwright-test\n    path: {workdir / 'htpasswd'}\n"
        elif flavour == "token":
            refresh = {f"{user}-identity-token": user for user in users}
            issuer = TokenIssuer(users=users, grants=grants or DEFAULT_GRANTS, refresh_tokens=refresh)
            stack.enter_context(issuer)
            root = issuer.write_certificate(workdir / "token-signer.pem")
            auth = (
                f"auth:\n  token:\n    realm: {issuer.realm}\n    service: {issuer.service}\n"
                f"    issuer: {issuer.issuer}\n    rootcertbundle: {root}\n"
            )
        cert_dir, pair = None, None
        if tls:
            cert_dir, crt, key = _write_tls(workdir)
            pair = (crt, key)
        yield stack.enter_context(_run(flavour, workdir, auth, pair, cert_dir, users, issuer))


@contextlib.contextmanager
def _run(
    flavour: str,
    workdir: Path,
    auth: str,
    tls: tuple[Path, Path] | None,
    cert_dir: Path | None,
    users: Mapping[str, str],
    issuer: TokenIssuer | None,
) -> Iterator[RunningRegistry]:
    for attempt in range(3):  # a free port may be taken between choosing it and binding it
        port = _free_port()
        config = workdir / "config.yml"
        config.write_text(_config(port, workdir / "storage", auth, tls))
        running = RunningRegistry(
            flavour=flavour,
            registry=f"127.0.0.1:{port}",
            plain_http=tls is None,
            cert_dir=cert_dir,
            users=users,
            storage=workdir / "storage",
            log=workdir / f"registry-{attempt}.log",
            issuer=issuer,
        )
        with open(running.log, "wb") as log:
            process = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            try:
                _wait_ready(process, running.url, running.ssl_context(), running.log)
            except RuntimeError as exc:
                if "address already in use" in str(exc) and attempt < 2:
                    continue
                raise
            yield running
            return
        finally:
            _stop(process)


def _fixture(flavour: str, factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry(flavour, factory.mktemp(f"registry-{flavour}")) as running:
        yield running


@pytest.fixture(scope="session")
def registry_anon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP registry without authentication."""
    yield from _fixture("anon", tmp_path_factory)


@pytest.fixture(scope="session")
def registry_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """An HTTPS registry (test CA in ``cert_dir``) with htpasswd users alice and reader."""
    yield from _fixture("basic", tmp_path_factory)


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP registry with token auth: alice may push, reader may only pull."""
    yield from _fixture("token", tmp_path_factory)
