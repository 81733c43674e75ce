"""Open the two ends of a copy from their transport strings, connect to registries, and copy.

Transports (skopeo's syntax)::

    oci:DIR[:TAG]                                 an OCI image layout (read or written)
    docker-archive:FILE[:NAME[:TAG]]              a docker-archive tar (``:@N`` to read the N-th image)
    docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] a repository on a registry (tag ``latest`` if none)

:func:`copy` parses both ends, opens them, and runs :func:`~dockwright.registry.transfer.copy_image`.
When both ends are repositories of the same registry, blobs are mounted from the source repository
instead of copied. :class:`Connections` makes one :class:`~dockwright.registry.RegistryClient` per
registry (shared by both ends) with the TLS and credential settings of :class:`RegistryOptions`,
and closes them all at the end.

Plain HTTP: with ``plain_http`` None (the default), a registry is spoken to over plain HTTP when
``tls_verify`` is off **and** its host is a loopback name (``localhost``, ``127.0.0.0/8``,
``[::1]``), which is how skopeo's ``--tls-verify=false`` is used with a test registry; any other
host gets HTTPS (without certificate checks when ``tls_verify`` is off). ``plain_http=True``
forces HTTP everywhere, ``False`` forbids it.

What this module does not do: decide what to copy (see :mod:`dockwright.registry.transfer`),
store credentials (see :mod:`dockwright.registry.credentials`), or print anything.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from dockwright.net.http import RetryPolicy
from dockwright.oci.reference import DockerArchiveReference, OciReference, parse_reference
from dockwright.registry._session import tls_context
from dockwright.registry.auth import RegistryAuth
from dockwright.registry.client import RegistryClient
from dockwright.registry.credentials import Credentials
from dockwright.registry.reference import TRANSPORT, RegistryReference, parse_registry_reference
from dockwright.registry.remote import RegistryAPI, RegistrySource, RegistryTarget
from dockwright.registry.store import LayoutSource, LayoutTarget
from dockwright.registry.transfer import (
    SourceStore,
    TargetStore,
    TransferOptions,
    TransferReporter,
    TransferSummary,
    copy_image,
)

__all__ = [
    "Connections",
    "Connector",
    "Endpoint",
    "RegistryOptions",
    "copy",
    "open_source",
    "open_target",
    "parse_endpoint",
    "uses_plain_http",
]

Endpoint = RegistryReference | OciReference | DockerArchiveReference
Connector = Callable[[str], RegistryAPI]
"""Gives the client for a registry (``host[:port]``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryOptions:
    """How to reach registries.

    Attributes:
        tls_verify: check certificates (off: see the module docstring about plain HTTP).
        plain_http: True forces HTTP, False forbids it, None decides by ``tls_verify`` and host.
        cert_dir: extra CA certificates and a client certificate (``certs.d`` style).
        credentials: used for every registry instead of the stored ones (``--creds``).
        authfile: the auth file to read stored credentials from, instead of the default list.
        retry: attempts and backoff for network failures.
        max_connections: connections per registry.
        timeout: seconds for connecting and each read or write.
    """

    tls_verify: bool = True
    plain_http: bool | None = None
    cert_dir: Path | None = None
    credentials: Credentials | None = None
    authfile: Path | None = None
    retry: RetryPolicy | None = None
    max_connections: int = 8
    timeout: float = 60


def uses_plain_http(registry: str, options: RegistryOptions) -> bool:
    """Whether ``registry`` is spoken to over plain HTTP (see the module docstring)."""
    if options.plain_http is not None:
        return options.plain_http
    if options.tls_verify:
        return False
    host = registry.rpartition(":")[0] if not registry.endswith("]") and ":" in registry else registry
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _LazyAuth:
    """Makes the :class:`RegistryAuth` (credential lookup, TLS context) on the first ``401`` only."""

    def __init__(self, make: Callable[[], RegistryAuth]) -> None:
        self._make = make
        self._auth: RegistryAuth | None = None
        self._lock = threading.Lock()

    def authorize(self, challenge: httpx.Response, scope: str) -> dict[str, str]:
        """Answer the challenge with the real authenticator (see the ``Authenticator`` protocol)."""
        with self._lock:
            if self._auth is None:
                self._auth = self._make()
            auth = self._auth
        return auth.authorize(challenge, scope)

    def close(self) -> None:
        """Close the authenticator, if one was made."""
        if self._auth is not None:
            self._auth.close()


class Connections:
    """One registry client per registry, made on first use and closed by :meth:`close`.

    Thread-safe: threads asking for the same registry share one client.
    """

    def __init__(self, options: RegistryOptions | None = None) -> None:
        """Connect with ``options`` (defaults: TLS verified, stored credentials)."""
        self.options = options or RegistryOptions()
        self._clients: dict[str, RegistryClient] = {}
        self._auths: list[_LazyAuth] = []
        self._lock = threading.Lock()

    def __call__(self, registry: str) -> RegistryClient:
        """The client for ``registry`` (credentials are looked up when the registry asks for them).

        Raises:
            InputError: the certificate directory is unusable (the auth file is read, and a
                malformed one reported, on the registry's first ``401``).
        """
        with self._lock:
            client = self._clients.get(registry)
            return client if client is not None else self._connect(registry)

    def _connect(self, registry: str) -> RegistryClient:
        o = self.options
        auth = _LazyAuth(lambda: self._auth_for(registry))
        self._auths.append(auth)
        client = self._clients[registry] = RegistryClient(
            registry,
            plain_http=uses_plain_http(registry, o),
            tls_verify=o.tls_verify,
            cert_dir=o.cert_dir,
            auth=auth,
            retry=o.retry,
            max_connections=o.max_connections,
            timeout=o.timeout,
        )
        return client

    def _auth_for(self, registry: str) -> RegistryAuth:
        o = self.options
        verify = tls_context(verify=o.tls_verify, cert_dir=o.cert_dir)
        if o.credentials is not None:
            return RegistryAuth(o.credentials, verify=verify)
        return RegistryAuth.from_store(registry, config_path=o.authfile, verify=verify)

    def close(self) -> None:
        """Close every client made."""
        for client in self._clients.values():
            client.close()
        for auth in self._auths:
            auth.close()
        self._clients.clear()
        self._auths.clear()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_endpoint(text: str) -> Endpoint:
    """Parse ``oci:``, ``docker-archive:`` or ``docker://`` references.

    Raises:
        ImageReferenceError: malformed; the message points at the bad character.
    """
    if text.startswith((TRANSPORT, "docker:")):
        return parse_registry_reference(text)
    return parse_reference(text)


def open_source(ref: Endpoint, connect: Connector) -> SourceStore:
    """The store to copy from for ``ref``."""
    if isinstance(ref, RegistryReference):
        return RegistrySource(connect(ref.registry), ref)
    if isinstance(ref, OciReference):
        return LayoutSource(Path(ref.path), ref.tag)
    from dockwright.registry._archive_store import ArchiveSource  # brings tarfile: only when used

    return ArchiveSource(ref)


def open_target(ref: Endpoint, connect: Connector, *, mount_from: tuple[str, ...] = ()) -> TargetStore:
    """The store to copy into for ``ref``; ``mount_from`` names repositories of the same registry.

    Raises:
        ImageReferenceError: a docker-archive reference that selects an image to read (``:@N``).
    """
    if isinstance(ref, RegistryReference):
        return RegistryTarget(connect(ref.registry), ref, mount_from=mount_from)
    if isinstance(ref, OciReference):
        return LayoutTarget(Path(ref.path), ref.tag)
    from dockwright.registry._archive_store import ArchiveTarget

    return ArchiveTarget(ref)


def copy(
    source: str,
    destination: str,
    *,
    connect: Connector,
    options: TransferOptions | None = None,
    reporter: TransferReporter | None = None,
) -> TransferSummary:
    """Copy the image ``source`` names to ``destination`` (both in transport syntax).

    Args:
        source: e.g. ``oci:out:latest`` or ``docker://127.0.0.1:5000/app:1``.
        destination: the same syntax.
        connect: gives registry clients (a :class:`Connections`, or a fake in tests).
        options: platform, referrers and parallelism.
        reporter: progress hooks.

    Returns:
        What was copied.

    Raises:
        ImageReferenceError: a reference is malformed.
        InputError, NetworkError, VerificationError: as :func:`~dockwright.registry.transfer.copy_image`.
    """
    src, dst = parse_endpoint(source), parse_endpoint(destination)
    mount_from: tuple[str, ...] = ()
    if (
        isinstance(src, RegistryReference)
        and isinstance(dst, RegistryReference)
        and src.registry == dst.registry
    ):
        mount_from = (src.repository,)
    store = open_source(src, connect)
    try:
        return copy_image(store, open_target(dst, connect, mount_from=mount_from), options, reporter)
    finally:
        store.close()
