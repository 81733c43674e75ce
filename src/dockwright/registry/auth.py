"""Answering a registry's ``401``: Basic credentials, or a bearer token from its token service.

:class:`RegistryAuth` implements the registry client's ``Authenticator`` protocol: on a ``401`` the
client calls ``authorize(response, scope)`` and retries with the headers it returns.

* ``Basic``: the stored user name and password. They go over plain HTTP only to a loopback host
  (or when :attr:`AuthConfig.allow_plain_http_credentials` is set); anywhere else they need TLS.
* ``Bearer realm=…,service=…,scope=…``: ``GET realm?service=…&scope=…`` (with Basic credentials
  when there are any, anonymously otherwise) and ``token`` or ``access_token`` from the JSON answer.
  With an identity token it is docker's OAuth2 ``POST`` (``grant_type=refresh_token``) instead.
  Tokens are cached per (realm, service, scopes) until ``expires_in`` (default 60 s) runs out.
* When the request being challenged already carried exactly what this object handed out, the
  credentials failed: Basic means a wrong password; Bearer with ``error="insufficient_scope"``
  means the user may not do that (``access denied to REPO``); any other Bearer error means the
  token expired or was revoked, and a fresh one is fetched. The token service answering ``401``
  means a wrong password too, ``403`` access denied.

Failures raise :class:`~dockwright.registry._errors.AccessDenied` (not retryable; its hint says to
run ``dockwright login REGISTRY``) or, when the token service cannot be reached or fails,
:class:`~dockwright.registry._errors.RegistryError` (retryable as the status says).

What this module does not do: send requests to the registry itself, parse challenges (see
:mod:`dockwright.registry.challenge`), store credentials (see
:mod:`dockwright.registry.credentials`), verify token signatures (the registry does), use the
OAuth2 password grant, or ever put a secret in a message.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from dockwright.errors import InputError, NetworkError
from dockwright.registry._errors import RETRYABLE_STATUS, AccessDenied, RegistryError
from dockwright.registry.challenge import Challenge, parse_challenges
from dockwright.registry.credentials import Credentials, find_credentials

__all__ = ["AuthConfig", "RegistryAuth"]

_TokenKey = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    """Limits and policy of :class:`RegistryAuth`.

    Attributes:
        default_token_ttl: seconds a token lives when the answer has no ``expires_in``.
        expiry_margin: renew a token this many seconds (at most half its life) before it expires.
        allow_plain_http_credentials: also send credentials over plain HTTP to non-loopback hosts.
        max_token_response: the largest token-service answer read, in bytes.
        timeout: seconds for one token request (private client only).
        client_id: the OAuth2 ``client_id`` sent with identity tokens.
    """

    default_token_ttl: float = 60.0
    expiry_margin: float = 10.0
    allow_plain_http_credentials: bool = False
    max_token_response: int = 1 << 20
    timeout: float = 30.0
    client_id: str = "dockwright"


class RegistryAuth:
    """Answers a registry's ``401`` with headers to retry with (the ``Authenticator`` protocol).

    One instance serves one registry and may be shared between threads.

    Args:
        credentials: the user's credentials, or ``None`` for anonymous access.
        client: the HTTP client for the token service (e.g. the registry client's own). Without
            one, a private client is made with ``verify`` and closed by :meth:`close`.
        verify: TLS settings of the private client: a context (e.g. the registry client's
            ``tls_context``) or a bool.
        config: limits and policy.
        clock: monotonic seconds; tests pass a fake.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        client: httpx.Client | None = None,
        verify: ssl.SSLContext | bool = True,
        config: AuthConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._config = config or AuthConfig()
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=self._config.timeout, verify=verify)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[_TokenKey, tuple[str, float]] = {}

    @classmethod
    def from_store(
        cls,
        registry: str,
        *,
        repository: str | None = None,
        config_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        verify: ssl.SSLContext | bool = True,
        config: AuthConfig | None = None,
    ) -> RegistryAuth:
        """A :class:`RegistryAuth` with the credentials stored for ``registry``, if any.

        Args:
            registry: ``host[:port]``.
            repository: lets podman's per-namespace ``auths`` keys match.
            config_path: read only this auth file (see :func:`~.credentials.find_credentials`).
            env: the environment for auth-file paths and credential helpers.
            client: as for the constructor.
            verify: as for the constructor.
            config: as for the constructor.

        Raises:
            InputError: an auth file is malformed, or its credential helper is missing or fails.
        """
        found = find_credentials(registry, repository=repository, config_path=config_path, env=env)
        return cls(found, client=client, verify=verify, config=config)

    @property
    def credentials(self) -> Credentials | None:
        """The credentials this object answers with (``repr`` hides the secrets)."""
        return self._credentials

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RegistryAuth:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def authorize(self, response: httpx.Response, scope: str) -> dict[str, str]:
        """Headers to send ``response.request`` again with.

        Args:
            response: the registry's ``401`` answer; its request tells what was sent.
            scope: space-separated scopes the request needs (``repository:NAME:pull,push``),
                or empty (``GET /v2/``).

        Raises:
            AccessDenied: a login is needed, the credentials were wrong, or access is denied.
            RegistryError: the token service could not be reached or failed.
            NetworkError: the challenge is malformed or of an unsupported scheme.
            InputError: credentials would cross plain HTTP to a non-loopback host.
        """
        request = response.request
        challenges = [c for h in response.headers.get_list("www-authenticate") for c in parse_challenges(h)]
        by_scheme = {c.scheme: c for c in reversed(challenges)}
        if "bearer" in by_scheme:
            return self._bearer(by_scheme["bearer"], request, scope)
        if "basic" in by_scheme:
            return self._basic(request, scope)
        schemes = ", ".join(sorted(by_scheme)) or "none"
        raise NetworkError(
            f"{_registry_name(request.url)} answered 401 asking for an authentication scheme "
            f"dockwright does not speak ({schemes})",
            hint="dockwright speaks the Basic and Bearer (token) schemes",
        )

    def _basic(self, request: httpx.Request, scope: str) -> dict[str, str]:
        creds = self._credentials
        if creds is None or not creds.password:
            raise _login_required(request, 401, scope)
        header = "Basic " + _b64(f"{creds.username}:{creds.password}")
        if request.headers.get("authorization") == header:
            raise _rejected(request, 401, creds)
        self._check_transport(request.url, request)
        return {"Authorization": header}

    def _bearer(self, challenge: Challenge, request: httpx.Request, scope: str) -> dict[str, str]:
        # Scopes are normalized (actions merged and sorted per resource): registries write the
        # same scope as "pull,push" or "push,pull" from one challenge to the next.
        realm = challenge.params.get("realm")
        if not realm:
            raise NetworkError(f"{_registry_name(request.url)} sent a Bearer challenge without a realm")
        service = challenge.params.get("service", "")
        scopes = _normalize_scopes(scope.split() + challenge.params.get("scope", "").split())
        key = (realm, service, scopes)
        with self._lock:
            token, expires = self._tokens.get(key, ("", 0.0))
            if token and request.headers.get("authorization") == f"Bearer {token}":
                if challenge.params.get("error") == "insufficient_scope":
                    raise _denied(request, 401, scopes, self._credentials)
                expires = 0.0  # refused before its time (revoked, clock skew): fetch a new one
            if not token or self._clock() >= expires:
                token, ttl = self._fetch(key, request)
                self._tokens[key] = (token, self._clock() + ttl - min(self._config.expiry_margin, ttl / 2))
        return {"Authorization": f"Bearer {token}"}

    def _fetch(self, key: _TokenKey, request: httpx.Request) -> tuple[str, float]:
        realm, service, scopes = key
        try:
            url = httpx.URL(realm)
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise NetworkError(
                f"{_registry_name(request.url)} names a token realm that is not a URL: {realm}"
            )
        token_request = self._token_request(url, service, scopes, request)
        try:
            answer = self._client.send(token_request, stream=True)
            try:
                body = _read_capped(answer, self._config.max_token_response, realm)
            finally:
                answer.close()
            status = answer.status_code
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"cannot get a token for {_registry_name(request.url)} from {realm}: "
                f"{type(exc).__name__}: {exc}",
                method=token_request.method,
                url=realm,
                retryable=True,
            ) from exc
        if status == 401 or (status == 400 and token_request.method == "POST"):  # 400: invalid_grant
            creds = self._credentials
            raise (
                _rejected(request, status, creds)
                if creds
                else _login_required(request, status, " ".join(scopes))
            )
        if status == 403:
            raise _denied(request, status, scopes, self._credentials)
        if status != 200:
            raise RegistryError(
                f"{token_request.method} {realm}: HTTP {status} from the token service of "
                f"{_registry_name(request.url)}",
                method=token_request.method,
                url=realm,
                status=status,
                retryable=status in RETRYABLE_STATUS,
            )
        return self._parse_token(body, realm)

    def _token_request(
        self, url: httpx.URL, service: str, scopes: tuple[str, ...], request: httpx.Request
    ) -> httpx.Request:
        creds = self._credentials
        if creds is not None and creds.identity_token:
            self._check_transport(url, request)
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token}
            form |= {"client_id": self._config.client_id, "service": service, "scope": " ".join(scopes)}
            return self._client.build_request("POST", url, data=form)
        params: tuple[tuple[str, str], ...] = (("service", service),) if service else ()
        params += tuple(("scope", s) for s in scopes)
        headers = {}
        if creds is not None and creds.password:
            self._check_transport(url, request)
            headers["Authorization"] = "Basic " + _b64(f"{creds.username}:{creds.password}")
        return self._client.build_request("GET", url, params=params, headers=headers)

    def _parse_token(self, body: bytes, realm: str) -> tuple[str, float]:
        try:
            reply = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            reply = None
        token = reply.get("token") or reply.get("access_token") if isinstance(reply, dict) else None
        if not isinstance(token, str) or not token:
            raise NetworkError(f"the token service {realm} answered without a token in a JSON object")
        ttl = reply.get("expires_in") if isinstance(reply, dict) else None
        if isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl > 0:
            return token, float(ttl)
        return token, self._config.default_token_ttl

    def _check_transport(self, url: httpx.URL, request: httpx.Request) -> None:
        if url.scheme == "https" or _is_loopback(url.host) or self._config.allow_plain_http_credentials:
            return
        raise InputError(
            f"refusing to send credentials for {_registry_name(request.url)} over plain HTTP to {url.host}",
            hint="serve the registry and its token service over TLS; over plain HTTP dockwright "
            "sends credentials only to loopback addresses",
        )


def _read_capped(response: httpx.Response, limit: int, realm: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise NetworkError(f"the answer of the token service {realm} exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _registry_name(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _access_denied(request: httpx.Request, status: int, message: str, hint: str) -> AccessDenied:
    return AccessDenied(message, method=request.method, url=str(request.url), status=status, hint=hint)


def _login_required(request: httpx.Request, status: int, scope: str) -> AccessDenied:
    registry = _registry_name(request.url)
    what = f" for {', '.join(_repositories(scope.split()))}" if scope.strip() else ""
    return _access_denied(
        request,
        status,
        f"{registry} requires a login{what}",
        f"run `dockwright login {registry}` and try again",
    )


def _rejected(request: httpx.Request, status: int, creds: Credentials) -> AccessDenied:
    registry = _registry_name(request.url)
    if creds.identity_token:
        what = "the stored identity token"
    else:
        what = f"the user name {creds.username!r} or its password"
    source = f" (from {creds.source})" if creds.source else ""
    return _access_denied(
        request,
        status,
        f"{registry} rejected {what}{source}: wrong user name or password",
        f"run `dockwright login {registry}` with the right user name and password",
    )


def _denied(
    request: httpx.Request, status: int, scopes: tuple[str, ...], creds: Credentials | None
) -> AccessDenied:
    if creds is None:
        return _login_required(request, status, " ".join(scopes))
    registry = _registry_name(request.url)
    who = f"user {creds.username!r}" if creds.username else "the stored identity"
    names = ", ".join(_repositories(list(scopes))) or registry
    actions = sorted({a for s in scopes for a in s.rpartition(":")[2].split(",") if a and ":" in s})
    may_not = "/".join(actions) or "access it"
    return _access_denied(
        request,
        status,
        f"access denied to {names} on {registry}: {who} may not {may_not}",
        f"ask the registry's operator for access, or run `dockwright login {registry}` as another user",
    )


def _repositories(scopes: list[str]) -> list[str]:
    """``repository:NAME:ACTIONS`` gives NAME; other scopes stay as they are."""
    out = []
    for item in scopes:
        kind, _, rest = item.partition(":")
        name = rest.rpartition(":")[0]
        out.append(name if kind.startswith("repository") and name else item)
    return list(dict.fromkeys(out))


def _normalize_scopes(scopes: list[str]) -> tuple[str, ...]:
    """Merge ``type:name:actions`` scopes per resource, with sorted actions, in a stable order."""
    merged: dict[str, set[str]] = {}
    for item in scopes:
        resource, sep, actions = item.rpartition(":")
        if not sep or not resource:
            merged.setdefault(item, set())
            continue
        merged.setdefault(resource, set()).update(a for a in actions.split(",") if a)
    return tuple(
        f"{resource}:{','.join(sorted(actions))}" if actions else resource
        for resource, actions in sorted(merged.items())
    )
