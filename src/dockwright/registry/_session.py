"""The HTTP core of the registry client: one pooled ``httpx.Client``, auth per scope, redirects.

:class:`Session` sends one request and returns the streamed answer when its status is expected,
else raises a :class:`~dockwright.registry._errors.RegistryError` naming the method, URL, status
and the registry's error code. On a ``401`` from the registry it asks the
:class:`~dockwright.registry._auth_protocol.Authenticator` for headers once, caches them per
scope, and sends again. ``GET``/``HEAD`` redirects are followed by hand so that credentials go to
the registry's origin only, never to blob storage elsewhere. :func:`tls_context` builds the TLS
settings from the system CA bundle and a containers-style certificate directory.

What this module does not do: retry (callers wrap whole operations in :meth:`Session.retry`,
since only they know how to resume), or verify bodies.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from dockwright.errors import InputError
from dockwright.net.http import RetryPolicy, call_with_retry
from dockwright.net.transport import read_into
from dockwright.registry._auth_protocol import Authenticator
from dockwright.registry._errors import NotFoundError, RegistryError, status_error, transport_error

__all__ = [
    "READ_SIZE",
    "Body",
    "Session",
    "iter_body",
    "iter_body_into",
    "read_capped",
    "tls_context",
    "use_large_reads",
]

T = TypeVar("T")
Body = Callable[[], bytes | Iterable[bytes]]
"""Makes a request body; called once per send, so a retried request gets a fresh stream."""

READ_SIZE = 1 << 20
"""The most bytes one socket read takes while a body streams in (httpcore's own is 64 KiB)."""
MAX_REDIRECTS = 5
ERROR_BODY_LIMIT = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def use_large_reads() -> None:
    """Have httpcore read up to :data:`READ_SIZE` bytes per ``recv`` (a class setting it has).

    A blob then reaches h11, httpx and the hasher in up to 1 MiB pieces rather than 64 KiB ones:
    a 200 MB pull takes 15% less CPU and time. Memory grows by at most 1 MiB per connection.
    """
    import httpcore  # here, not at the top: a client that only downloads never loads it

    if getattr(httpcore.HTTP11Connection, "READ_NUM_BYTES", 0) < READ_SIZE:
        httpcore.HTTP11Connection.READ_NUM_BYTES = READ_SIZE


class _DeferredTrustContext(ssl.SSLContext):
    """A client context that loads the system CA bundle at its first handshake, not before.

    Loading the bundle takes 15-20 ms; a command that speaks plain HTTP, or finds every blob
    present, never pays it. Verification is unchanged: no handshake happens before the load.
    """

    _trust_lock = threading.Lock()
    _trust_loaded = False

    def _load_trust(self) -> None:
        with self._trust_lock:
            if not self._trust_loaded:
                self.load_default_certs(ssl.Purpose.SERVER_AUTH)
                self._trust_loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_trust()
        return super().wrap_bio(*args, **kwargs)


def tls_context(*, verify: bool, cert_dir: Path | None) -> ssl.SSLContext:
    """Build TLS settings: the system CA bundle, plus ``cert_dir`` as docker and podman read it.

    In ``cert_dir``, each ``*.crt`` is a CA certificate to trust and each ``*.cert`` is a client
    certificate whose key is the ``*.key`` of the same name. The settings are those of
    ``ssl.create_default_context()``; the system bundle is read at the first handshake.

    Args:
        verify: check the server's certificate and host name.
        cert_dir: a ``certs.d/<host>`` style directory, or None.

    Raises:
        InputError: ``cert_dir`` is missing, or a client certificate has no key.
    """
    context = _DeferredTrustContext(ssl.PROTOCOL_TLS_CLIENT)
    keylog = os.environ.get("SSLKEYLOGFILE")  # as create_default_context() honours it
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_dir is None:
        return context
    if not cert_dir.is_dir():
        raise InputError(f"certificate directory {cert_dir} does not exist")
    try:
        for ca in sorted(cert_dir.glob("*.crt")):
            context.load_verify_locations(cafile=ca)
        for cert in sorted(cert_dir.glob("*.cert")):
            key = cert.with_suffix(".key")
            if not key.is_file():
                raise InputError(f"client certificate {cert} has no key {key.name} next to it")
            context.load_cert_chain(certfile=cert, keyfile=key)
    except ssl.SSLError as exc:
        raise InputError(f"unusable certificate in {cert_dir}: {exc}") from None
    return context


def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` body bytes and close the response.

    Returns:
        The bytes and whether the body was longer than ``limit`` (the rest is not read).

    Raises:
        RegistryError: the connection dropped (retryable).
    """
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in iter_body(response):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(parts)[:limit], True
        return b"".join(parts), False
    finally:
        response.close()


class Session:
    """Sends requests to one registry; thread-safe (``httpx.Client`` is, the caches are locked)."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        *,
        auth: Authenticator,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create the session.

        Args:
            client: the pooled client (redirects off; this class follows them).
            base_url: ``scheme://host[:port]`` of the registry.
            auth: answers ``401`` challenges.
            policy: used by :meth:`retry`.
            sleep: injected for tests.
        """
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._origin = httpx.URL(self.base_url)
        self._auth = auth
        self._sleep = sleep
        self._headers: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()  # guards _headers
        self._auth_lock = threading.Lock()  # one authorize() at a time, without blocking requests

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (``/v2/...``), or of a ``Location`` relative to it."""
        return str(httpx.URL(self.base_url).join(path))

    def retry(self, func: Callable[[], T]) -> T:
        """Call ``func``, retrying retryable errors by the policy (``call_with_retry``)."""
        return call_with_retry(func, self.policy, sleep=self._sleep)

    def open(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        ok: Collection[int] = (200,),
        headers: dict[str, str] | None = None,
        body: Body | None = None,
        missing: type[NotFoundError] | None = None,
    ) -> httpx.Response:
        """Send a request and return the answer with its body unread; the caller closes it.

        Args:
            method: the HTTP method.
            url: an absolute URL (see :meth:`url`).
            scope: the token scope this request needs (see the ``Authenticator`` protocol).
            ok: statuses returned to the caller; any other raises.
            headers: extra request headers.
            body: makes the request body, once per send.
            missing: the error class for a ``404``.

        Raises:
            RegistryError: an unexpected status or no answer (retryable when it may pass).
        """
        # A 401 is answered by authorizing; a second 401 after that goes to the authenticator once
        # more, so it can say why (a wrong password, a scope the user lacks) or refresh a token
        # the registry refused early. A third is an error.
        attempts = 0
        while True:
            sent = self._cached(scope)
            response = self._send_following(method, url, scope, headers or {}, body)
            status = response.status_code
            if status == 401 and attempts < 2 and self._same_origin(response.request.url):
                read_capped(response, ERROR_BODY_LIMIT)
                self._authorize(response, scope, sent)
                attempts += 1
                continue
            if status in ok:
                return response
            text, _ = read_capped(response, ERROR_BODY_LIMIT)
            raise status_error(response, text, missing)

    def call(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        ok: Collection[int] = (200,),
        headers: dict[str, str] | None = None,
        body: Body | None = None,
        missing: type[NotFoundError] | None = None,
    ) -> httpx.Response:
        """Like :meth:`open`, but read (at most 64 KiB of) the body and close the answer."""
        response = self.open(method, url, scope=scope, ok=ok, headers=headers, body=body, missing=missing)
        read_capped(response, ERROR_BODY_LIMIT)
        return response

    def _cached(self, scope: str) -> dict[str, str] | None:
        with self._lock:
            return self._headers.get(scope)

    def _authorize(self, challenge: httpx.Response, scope: str, sent: dict[str, str] | None) -> None:
        with self._auth_lock:
            if self._cached(scope) is not sent:
                return  # another thread authorized this scope since we sent: use its headers
            headers = dict(self._auth.authorize(challenge, scope))
            with self._lock:
                self._headers[scope] = headers

    def _same_origin(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, url.port) == (self._origin.scheme, self._origin.host, self._origin.port)

    def _send_following(
        self, method: str, url: str, scope: str, headers: dict[str, str], body: Body | None
    ) -> httpx.Response:
        current = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            request_headers = dict(headers)
            if self._same_origin(current):
                request_headers.update(self._cached(scope) or {})
            request = self.client.build_request(
                method, current, headers=request_headers, content=None if body is None else body()
            )
            try:
                response = self.client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise transport_error(method, str(current), exc) from exc
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or method not in ("GET", "HEAD") or not location:
                return response
            response.close()
            current = current.join(location)
        raise RegistryError(
            f"{method} {url}: more than {MAX_REDIRECTS} redirects", method=method, url=url, retryable=False
        )


def iter_body(response: httpx.Response) -> Iterator[bytes]:
    """Yield the raw body (as stored: no content decoding), mapping drops to a retryable error.

    A response some transport already read (``httpx.MockTransport`` does) yields its content.
    """
    if response.is_stream_consumed:
        yield response.content
        return
    with _dropped_is_retryable(response):
        yield from response.iter_raw()


def iter_body_into(response: httpx.Response, buffer: bytearray) -> Iterator[memoryview]:
    """Like :func:`iter_body`, but as views of ``buffer`` when the transport can fill it
    (:func:`~dockwright.net.transport.read_into`): each view is valid until the next."""
    with _dropped_is_retryable(response):
        yield from read_into(response, buffer)


@contextlib.contextmanager
def _dropped_is_retryable(response: httpx.Response) -> Iterator[None]:
    """Map a transport failure while the body of ``response`` is read to a :class:`RegistryError`."""
    try:
        yield
    except httpx.TransportError as exc:
        raise transport_error(response.request.method, str(response.request.url), exc) from exc
