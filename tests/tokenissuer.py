"""A small bearer-token issuer for tests, speaking docker's token-auth protocol on 127.0.0.1.

:class:`TokenIssuer` runs a ``ThreadingHTTPServer`` in a thread and answers

* ``GET /token?service=S&scope=repository:NAME:pull,push`` (Basic credentials optional), and
* ``POST /token`` with ``grant_type=refresh_token`` (docker's OAuth2 form, for identity tokens),

with ``{"token": JWT, "expires_in": N}`` (or ``access_token``, or both). The JWT is signed ES256 by
a fresh P-256 key whose self-signed certificate travels in the ``x5c`` header; give the registry
that certificate (:meth:`TokenIssuer.write_certificate`) as its ``rootcertbundle``. Claims:
``iss``, ``sub``, ``aud`` (= service), ``exp``, ``nbf``, ``iat``, ``jti`` and ``access``.

Grants are per user: ``grants={"alice": {"pull", "push"}, "reader": {"pull"}}`` grants those
actions on every repository (``"*"`` grants every action, and ``registry:catalog:*`` too); an
unknown user or wrong password gets ``401``; anonymous requests get ``anonymous`` actions. Like
real token services, a user asking for more than they may gets a token for less, and the registry
then answers ``401 insufficient_scope``. ``requests`` records every request (never passwords).

What this module does not do: TLS, the OAuth2 password grant, or per-repository grants.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

__all__ = ["TokenIssuer", "TokenRequest"]


@dataclass(frozen=True)
class TokenRequest:
    """One request the issuer answered: who asked, for what, and what was granted."""

    method: str
    user: str
    scopes: tuple[str, ...]
    status: int
    granted: tuple[str, ...] = ()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenIssuer:
    """The token server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        users: Mapping[str, str],
        grants: Mapping[str, Collection[str]],
        anonymous: Collection[str] = (),
        refresh_tokens: Mapping[str, str] | None = None,
        service: str = "dockwright-test-registry",
        issuer: str = "dockwright-test-issuer",
        expires_in: int | None = 300,
        token_field: str = "token",
    ) -> None:
        """Create the issuer (not started).

        Args:
            users: user name -> password.
            grants: user name -> actions allowed on every repository.
            anonymous: actions granted without credentials.
            refresh_tokens: identity token -> user name, for the OAuth2 ``POST``.
            service: the ``aud`` claim; the registry's ``auth.token.service``.
            issuer: the ``iss`` claim; the registry's ``auth.token.issuer``.
            expires_in: token lifetime in seconds; ``None`` leaves ``expires_in`` out.
            token_field: ``token``, ``access_token`` or ``both``.
        """
        self.users = dict(users)
        self.grants = {user: frozenset(actions) for user, actions in grants.items()}
        self.anonymous = frozenset(anonymous)
        self.refresh_tokens = dict(refresh_tokens or {})
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.token_field = token_field
        self.requests: list[TokenRequest] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = _self_signed(self._key, issuer)
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The listening port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the token issuer is not running")
        return int(self._server.server_address[1])

    @property
    def realm(self) -> str:
        """The token endpoint, for the registry's ``auth.token.realm``."""
        return f"http://127.0.0.1:{self.port}/token"

    def write_certificate(self, path: Path) -> Path:
        """Write the signing certificate (PEM) to ``path``: the registry's ``rootcertbundle``."""
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def start(self) -> TokenIssuer:
        """Listen on a free port of 127.0.0.1 and serve in a daemon thread."""
        issuer = self

        class Handler(_Handler):
            owner = issuer

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> TokenIssuer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def issue(self, user: str, scopes: Collection[str]) -> tuple[str, tuple[str, ...]]:
        """A signed JWT for ``user`` granting what ``scopes`` ask and the user may; and the grants."""
        allowed = self.grants.get(user, frozenset()) if user else self.anonymous
        access, granted = [], []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            if kind == "repository":
                ok = [a for a in wanted if a in allowed or "*" in allowed]
            else:
                ok = wanted if "*" in allowed else []
            if ok:
                access.append({"type": kind, "name": name, "actions": ok})
                granted.append(f"{kind}:{name}:{','.join(ok)}")
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": self.service,
            "exp": now + (self.expires_in or 60),
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode("ascii")]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64url(signature)}", tuple(granted)

    def answer(self, token: str) -> dict[str, Any]:
        """The JSON body for a token, with the configured field names."""
        body: dict[str, Any] = {"issued_at": datetime.datetime.now(datetime.UTC).isoformat()}
        if self.token_field in ("token", "both"):
            body["token"] = token
        if self.token_field in ("access_token", "both"):
            body["access_token"] = token
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return body

    def record(self, request: TokenRequest) -> None:
        """Append to :attr:`requests` (thread-safe)."""
        with self._lock:
            self.requests.append(request)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: TokenIssuer

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query)
        scopes = tuple(s for item in query.get("scope", []) for s in item.split())
        if split.path != "/token":
            self._send(404, {"errors": "not found"})
            return
        user = self._basic_user()
        if user is None:
            self.owner.record(TokenRequest("GET", "?", scopes, 401))
            self._send(401, {"details": "invalid credentials"}, challenge=True)
            return
        token, granted = self.owner.issue(user, scopes)
        self.owner.record(TokenRequest("GET", user, scopes, 200, granted))
        self._send(200, self.owner.answer(token))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        scopes = tuple(form.get("scope", "").split())
        user = self.owner.refresh_tokens.get(form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or user is None:
            self.owner.record(TokenRequest("POST", "?", scopes, 400))
            self._send(400, {"error": "invalid_grant"})
            return
        token, granted = self.owner.issue(user, scopes)
        self.owner.record(TokenRequest("POST", user, scopes, 200, granted))
        body = self.owner.answer(token)
        body.pop("token", None)
        body["access_token"] = token
        self._send(200, body)

    def _basic_user(self) -> str | None:
        """The authenticated user, ``""`` for anonymous, ``None`` for bad credentials."""
        header = self.headers.get("Authorization", "")
        if not header:
            return ""
        scheme, _, value = header.partition(" ")
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        if scheme.lower() != "basic" or self.owner.users.get(user) != password:
            return None
        return user

    def _send(self, status: int, body: dict[str, Any], *, challenge: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if challenge:
            self.send_header("WWW-Authenticate", 'Basic realm="token issuer"')
        self.end_headers()
        self.wfile.write(data)


def _self_signed(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
