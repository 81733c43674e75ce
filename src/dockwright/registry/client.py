"""A client for the OCI distribution spec: blobs, manifests, tags and referrers of one registry.

:class:`RegistryClient` speaks HTTP/1.1 through one pooled ``httpx.Client`` (thread-safe, so a
transfer engine may run several blob transfers at once). TLS is verified with the system CA
bundle plus a containers-style ``cert_dir``; plain HTTP only when asked. A ``401`` is answered by
the :class:`Authenticator` (once per scope, cached). Connection failures, ``5xx``, ``408`` and
``429`` are retried with backoff by a :class:`~dockwright.net.http.RetryPolicy`; blob downloads
and chunked uploads resume where they stopped. Every byte read is verified: blobs by size and
digest, manifests by digest (and capped at 4 MiB); wrong bytes raise
:class:`~dockwright.errors.DigestMismatchError`. Missing things raise :class:`NotFoundError`
subclasses, or return None where the method says so.

What this module does not do: decide what to copy, skip blobs already present, write the
referrers tag index (the transfer engine pushes it), delete anything, or read credentials.
"""

from __future__ import annotations

import functools
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import httpx

from dockwright import __version__
from dockwright.errors import DigestMismatchError, InputError
from dockwright.net.http import RetryPolicy
from dockwright.net.transport import DirectTransport
from dockwright.oci.descriptor import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
)
from dockwright.oci.digest import Digest
from dockwright.registry import _download, _upload
from dockwright.registry._auth_protocol import Anonymous, Authenticator, pull_scope, push_scope
from dockwright.registry._errors import ManifestNotFound, RegistryError, RepositoryNotFound
from dockwright.registry._manifest import (
    MANIFEST_LIMIT,
    check_announced,
    media_type_of,
    parse_announced,
    parse_index,
    read_document,
    tag_page,
)
from dockwright.registry._session import Session, tls_context, use_large_reads
from dockwright.registry.reference import validate_registry, validate_repository, validate_tag

__all__ = ["ALL_MANIFEST_TYPES", "MANIFEST_LIMIT", "FetchedManifest", "RegistryClient"]

ALL_MANIFEST_TYPES: tuple[str, ...] = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
"""The manifest media types :meth:`RegistryClient.get_manifest` accepts by default."""
_MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchedManifest:
    """A manifest's exact bytes as the registry served them, its media type and verified digest."""

    data: bytes
    media_type: str
    digest: Digest

    @property
    def descriptor(self) -> Descriptor:
        """A descriptor pointing at these bytes."""
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.data))


class RegistryClient:
    """Talks to one registry (``host[:port]``). Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        registry: str,
        *,
        plain_http: bool = False,
        tls_verify: bool = True,
        cert_dir: Path | None = None,
        auth: Authenticator | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 8,
        timeout: float = 60,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create the client; no request is sent yet (see :meth:`ping`).

        Args:
            registry: ``host[:port]``, e.g. ``127.0.0.1:5000``.
            plain_http: speak HTTP instead of HTTPS (only for registries on a trusted network).
            tls_verify: check the registry's certificate (turn off only for tests).
            cert_dir: extra ``*.crt`` CAs and a ``*.cert``/``*.key`` client certificate.
            auth: answers ``401`` challenges; :class:`Anonymous` (refuses them) by default.
            retry: attempts and backoff for retryable failures.
            max_connections: size of the connection pool.
            timeout: seconds for connecting and for each read or write.
            transport: an ``httpx`` transport instead of the network (tests use ``MockTransport``).
            sleep: waits between retries (injected for tests).

        Raises:
            ImageReferenceError: ``registry`` is not ``host[:port]``.
            InputError: ``cert_dir`` is missing or holds a client certificate without its key.
        """
        validate_registry(registry)
        self.registry = registry
        context = tls_context(verify=tls_verify, cert_dir=cert_dir)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        if transport is None and not _proxy_in_environment():
            # downloads read into our buffers; uploads go through httpcore, set up at the first
            # upload. httpx mounts no proxies from the environment beside a transport it is
            # given, so with a proxy set the client keeps httpx's own transports.
            def uploads() -> httpx.BaseTransport:
                use_large_reads()
                return httpx.HTTPTransport(verify=context, limits=limits)

            transport = DirectTransport(ssl_context=context, fallback=uploads, max_idle=max_connections)
        elif transport is None:
            use_large_reads()
        client = httpx.Client(
            verify=context,
            timeout=httpx.Timeout(timeout),
            limits=limits,
            headers={"User-Agent": f"dockwright/{__version__}", "Accept-Encoding": "identity"},
            follow_redirects=False,
            transport=transport,
        )
        scheme = "http" if plain_http else "https"
        self._session = Session(
            client,
            f"{scheme}://{registry}",
            auth=auth or Anonymous(),
            policy=retry or RetryPolicy(),
            sleep=sleep,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._session.client.close()

    def ping(self) -> None:
        """``GET /v2/``: check the registry speaks the distribution API (and the credentials).

        Raises:
            RegistryError: no answer, or not a registry; ``AccessDenied`` for refused credentials.
        """
        url = self._session.url("/v2/")
        self._session.retry(lambda: self._session.call("GET", url, scope=""))

    def blob_size(self, repository: str, digest: Digest) -> int | None:
        """``HEAD`` a blob: its size, or None when the repository does not hold it.

        Raises:
            RegistryError: the registry failed to answer.
            DigestMismatchError: the registry answered for another digest.
        """
        validate_repository(repository)
        return _download.blob_size(self._session, repository, digest)

    def fetch_blob(
        self,
        repository: str,
        digest: Digest,
        out: BinaryIO,
        *,
        size: int | None = None,
        offset: int = 0,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Stream a blob into ``out``, resuming dropped connections, verifying size and digest.

        Args:
            repository: the repository, e.g. ``team/app``.
            digest: the blob's digest; every byte written to ``out`` is hashed against it.
            out: where the bytes go. With ``offset``, it must be readable and seekable ("r+b"):
                its first ``offset`` bytes are read back to hash them, and anything after is cut.
            size: the expected size (from a descriptor); more or fewer bytes are refused.
            offset: bytes of the blob ``out`` already holds (resume an earlier download).
            on_progress: called with the number of the blob's bytes in ``out`` so far.

        Raises:
            BlobNotFound: the repository does not hold the blob.
            RegistryError: the registry failed (after retries) or refused access.
            DigestMismatchError: the bytes are wrong; ``out`` then holds unverified bytes.
            InputError: ``out`` cannot be read back for ``offset``.
        """
        validate_repository(repository)
        _download.fetch_blob(
            self._session, repository, digest, out, size=size, offset=offset, on_progress=on_progress
        )

    def mount_blob(self, repository: str, digest: Digest, from_repository: str) -> bool:
        """Ask the registry to link a blob from another repository of the same registry.

        Returns:
            True when mounted (``201``); False when the registry declined (``202``: the upload
            session it opened instead is cancelled), so the caller uploads the blob.

        Raises:
            RegistryError: the registry failed or refused access.
        """
        validate_repository(repository)
        validate_repository(from_repository)
        return _upload.mount_blob(self._session, repository, digest, from_repository)

    def upload_blob(
        self,
        repository: str,
        digest: Digest,
        size: int,
        open_at: Callable[[int], BinaryIO],
        *,
        chunk_size: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Upload a blob: in one ``PUT`` (``chunk_size`` None), else in ``PATCH`` chunks.

        Args:
            repository: the target repository.
            digest: the blob's digest (the registry verifies it).
            size: the blob's size in bytes.
            open_at: returns the blob's bytes from the given offset; each stream is closed after use.
                A failed monolithic upload restarts (``open_at(0)``); a chunked one asks the
                registry where it stands and goes on (``open_at(N + 1)``).
            chunk_size: bytes per ``PATCH``, or None for a monolithic upload.
            on_progress: called with the offset in the blob sent so far (it may go back on retry).

        Raises:
            RegistryError: the registry failed (after retries) or refused access.
            DigestMismatchError: the registry found other bytes than ``digest`` (or the source
                ended early).
        """
        validate_repository(repository)
        _upload.upload_blob(
            self._session, repository, digest, size, open_at, chunk_size=chunk_size, on_progress=on_progress
        )

    def get_manifest(
        self, repository: str, reference: str, *, accept: Sequence[str] = ALL_MANIFEST_TYPES
    ) -> FetchedManifest:
        """Fetch a manifest or index by tag or digest, keeping its exact bytes.

        The digest is the sha256 of the bytes; it must equal ``reference`` when that is a digest,
        and the ``Docker-Content-Digest`` header when the registry sends one.

        Raises:
            ManifestNotFound: no such tag or digest.
            RegistryError: the registry failed, refused access, or sent more than 4 MiB.
            DigestMismatchError: the bytes do not match the digest asked for or announced.
        """
        url, expected = self._manifest_url(repository, reference)
        headers = {"Accept": ", ".join(accept)}

        def attempt() -> tuple[httpx.Response, bytes]:
            response = self._session.open(
                "GET", url, scope=pull_scope(repository), headers=headers, missing=ManifestNotFound
            )
            return response, read_document(response, "manifest")

        response, data = self._session.retry(attempt)
        digest = Digest.of(data)
        check_announced(response, digest, expected)
        return FetchedManifest(data=data, media_type=media_type_of(response, data), digest=digest)

    def manifest_exists(self, repository: str, reference: str) -> Descriptor | None:
        """``HEAD`` a manifest: its descriptor, or None when there is no such tag or digest.

        Falls back to a ``GET`` when the registry leaves out the digest or size headers.

        Raises:
            RegistryError: the registry failed or refused access.
            DigestMismatchError: the registry answered a digest request with another digest.
        """
        url, expected = self._manifest_url(repository, reference)
        headers = {"Accept": ", ".join(ALL_MANIFEST_TYPES)}
        response = self._session.retry(
            lambda: self._session.call(
                "HEAD", url, scope=pull_scope(repository), ok=(200, 404), headers=headers
            )
        )
        if response.status_code == 404:
            return None
        announced = response.headers.get("Docker-Content-Digest")
        length = response.headers.get("Content-Length", "")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not announced or not length.isdigit() or not content_type:
            return self.get_manifest(repository, reference).descriptor
        digest = parse_announced(response, announced)
        if expected is not None and digest != expected:
            raise DigestMismatchError(f"HEAD {url}: the registry answered for {digest}")
        return Descriptor(media_type=content_type, digest=digest, size=int(length))

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> Digest:
        """Upload a manifest or index under a tag (or its own digest).

        Args:
            repository: the target repository; every blob and child manifest must be there.
            reference: a tag, or the digest of ``data``.
            data: the exact bytes (never re-serialized here).
            media_type: sent as ``Content-Type``.

        Returns:
            The sha256 of ``data``, which the registry confirmed when it answers with a digest.

        Raises:
            InputError: ``reference`` is a digest other than that of ``data``.
            RegistryError: the registry refused the manifest (e.g. ``MANIFEST_BLOB_UNKNOWN``).
            DigestMismatchError: the registry stored another digest.
        """
        url, expected = self._manifest_url(repository, reference)
        digest = Digest.of(data)
        if expected is not None and expected != digest:
            raise InputError(f"cannot put a manifest with digest {digest} under {expected}")
        headers = {"Content-Type": media_type}
        response = self._session.retry(
            lambda: self._session.call(
                "PUT", url, scope=push_scope(repository), ok=(201, 200), headers=headers, body=lambda: data
            )
        )
        check_announced(response, digest, None)
        return digest

    def list_tags(self, repository: str) -> list[str]:
        """List a repository's tags, following ``Link`` pagination.

        Raises:
            RepositoryNotFound: the registry does not know the repository.
            RegistryError: the registry failed or refused access.
        """
        validate_repository(repository)
        url: str | None = self._session.url(f"/v2/{repository}/tags/list")
        tags: list[str] = []
        for _ in range(_MAX_PAGES):
            if url is None:
                return tags
            response, data = self._session.retry(functools.partial(self._page, url, repository))
            tags.extend(tag_page(url, data))
            following = response.links.get("next", {}).get("url")
            url = str(response.request.url.join(following)) if following else None
        raise RegistryError(f"GET {url}: more than {_MAX_PAGES} pages of tags", method="GET", url=str(url))

    def referrers(
        self, repository: str, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """List manifests whose ``subject`` is ``digest``, optionally of one ``artifactType``.

        Uses the referrers API, and falls back to the referrers tag schema (an index tagged
        ``sha256-<hex>``) when the registry answers ``404`` (as the reference registry 2.8 does).

        Raises:
            RegistryError: the registry failed, refused access, or sent a malformed index.
        """
        validate_repository(repository)
        url = self._session.url(f"/v2/{repository}/referrers/{digest}")
        if artifact_type is not None:
            url = str(httpx.URL(url, params={"artifactType": artifact_type}))

        def attempt() -> tuple[httpx.Response, bytes]:
            response = self._session.open(
                "GET", url, scope=pull_scope(repository), ok=(200, 404), headers={"Accept": OCI_INDEX}
            )
            return response, read_document(response, "referrers index")

        response, data = self._session.retry(attempt)
        if response.status_code == 404:
            try:
                data = self.get_manifest(repository, f"sha256-{digest.hex}", accept=(OCI_INDEX,)).data
            except ManifestNotFound:
                return []
        found = parse_index(url, data).manifests
        return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]

    def _manifest_url(self, repository: str, reference: str) -> tuple[str, Digest | None]:
        validate_repository(repository)
        expected = None
        if ":" in reference:
            expected = Digest.parse(reference)
        else:
            validate_tag(reference)
        return self._session.url(f"/v2/{repository}/manifests/{reference}"), expected

    def _page(self, url: str, repository: str) -> tuple[httpx.Response, bytes]:
        response = self._session.open("GET", url, scope=pull_scope(repository), missing=RepositoryNotFound)
        return response, read_document(response, "tag list")


def _proxy_in_environment() -> bool:
    """Whether ``HTTP_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY`` (any case) is set, as httpx reads them."""
    return any(scheme in urllib.request.getproxies() for scheme in ("http", "https", "all"))
