"""Upload blobs: monolithic (``POST`` + ``PUT``), chunked (``POST``, ``PATCH``..., ``PUT``), mount.

A monolithic upload that fails is restarted from a new session. A chunked upload that fails asks
the registry how much it holds (``GET <location>`` answers ``Range: 0-N``) and goes on from byte
``N + 1``, re-opening the source there with ``open_at``. Each answer's ``Location`` (relative or
absolute) replaces the previous one, as the spec requires; ``Docker-Upload-UUID`` stands in for a
missing ``Location``.

What this module does not do: check whether the blob is already there (the caller asks
``blob_size`` first), hash the source (the registry checks every byte against the ``?digest=`` it
is given, as the distribution spec requires; its refusal raises
:class:`~dockwright.errors.DigestMismatchError`), or upload in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from dockwright.errors import DigestMismatchError
from dockwright.oci.digest import Digest
from dockwright.registry._auth_protocol import pull_scope, push_scope
from dockwright.registry._download import blob_size
from dockwright.registry._errors import NotFoundError, RegistryError
from dockwright.registry._session import Session

__all__ = ["mount_blob", "upload_blob"]

Progress = Callable[[int], None]
OpenAt = Callable[[int], BinaryIO]
_READ_CHUNK = 1 << 20
_OCTETS = "application/octet-stream"


class _UploadUnknown(NotFoundError):
    """The registry forgot the upload session (expired, or finished by a lost answer)."""


@dataclass(slots=True)
class _Upload:
    """A chunked upload in progress: where to send next, and what the registry confirmed."""

    location: str
    offset: int = 0
    stale: bool = False


def upload_blob(
    session: Session,
    repository: str,
    digest: Digest,
    size: int,
    open_at: OpenAt,
    *,
    chunk_size: int | None,
    on_progress: Progress | None,
) -> None:
    """Upload a blob; see :meth:`RegistryClient.upload_blob`."""
    if chunk_size is None:
        session.retry(lambda: _monolithic(session, repository, digest, size, open_at, on_progress))
        return
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    try:
        _chunked(session, repository, digest, size, open_at, chunk_size, on_progress)
    except _UploadUnknown:
        # the registry forgot the session (expired; or 2.8 cancelled it because a lost answer left
        # our Location's signed offset behind): start over, once
        _chunked(session, repository, digest, size, open_at, chunk_size, on_progress)


def mount_blob(session: Session, repository: str, digest: Digest, from_repository: str) -> bool:
    """Mount a blob from another repository; see :meth:`RegistryClient.mount_blob`."""
    scope = f"{push_scope(repository)} {pull_scope(from_repository)}"
    url = session.url(f"/v2/{repository}/blobs/uploads/")
    url = str(httpx.URL(url, params={"mount": str(digest), "from": from_repository}))

    def attempt() -> httpx.Response:
        headers = {"Content-Length": "0"}
        return session.call("POST", url, scope=scope, ok=(201, 202), headers=headers, body=lambda: b"")

    response = session.retry(attempt)
    if response.status_code == 201:
        _check_digest(response, digest)
        return True
    # 202: the registry opened an ordinary upload session instead; cancel it
    location = _location(session, repository, response)
    session.retry(lambda: session.call("DELETE", location, scope=scope, ok=(200, 202, 204, 404)))
    return False


def _start(session: Session, repository: str) -> str:
    url = session.url(f"/v2/{repository}/blobs/uploads/")
    headers = {"Content-Length": "0"}
    response = session.call(
        "POST", url, scope=push_scope(repository), ok=(202,), headers=headers, body=lambda: b""
    )
    return _location(session, repository, response)


def _location(session: Session, repository: str, response: httpx.Response) -> str:
    """The upload URL from ``Location`` (relative to the request) or ``Docker-Upload-UUID``."""
    location = response.headers.get("Location")
    if location:
        return str(response.request.url.join(location))
    uuid = response.headers.get("Docker-Upload-UUID")
    if uuid:
        return session.url(f"/v2/{repository}/blobs/uploads/{uuid}")
    request = response.request
    raise RegistryError(
        f"{request.method} {request.url}: HTTP {response.status_code} without a Location header",
        method=request.method,
        url=str(request.url),
        status=response.status_code,
    )


def _source(open_at: OpenAt, start: int, length: int, on_progress: Progress | None) -> Iterator[bytes]:
    """Yield ``length`` bytes of the source from ``start``; the stream is closed at the end."""
    stream = open_at(start)
    try:
        sent = 0
        while sent < length:
            chunk = stream.read(min(_READ_CHUNK, length - sent))
            if not chunk:
                raise DigestMismatchError(
                    f"the upload source ended at byte {start + sent}, before the expected {start + length}"
                )
            sent += len(chunk)
            yield chunk
            if on_progress is not None:
                on_progress(start + sent)
    finally:
        stream.close()


def _monolithic(
    session: Session,
    repository: str,
    digest: Digest,
    size: int,
    open_at: OpenAt,
    on_progress: Progress | None,
) -> None:
    location = _start(session, repository)
    _finish(
        session,
        repository,
        location,
        digest,
        headers={"Content-Type": _OCTETS, "Content-Length": str(size)},
        body=lambda: _source(open_at, 0, size, on_progress),
    )


def _chunked(
    session: Session,
    repository: str,
    digest: Digest,
    size: int,
    open_at: OpenAt,
    chunk_size: int,
    on_progress: Progress | None,
) -> None:
    upload = _Upload(location=session.retry(lambda: _start(session, repository)))
    while True:
        session.retry(
            lambda: _next_chunk(session, repository, upload, size, open_at, chunk_size, on_progress)
        )
        if upload.offset >= size and not upload.stale:
            break
    try:
        session.retry(
            lambda: _finish(session, repository, upload.location, digest, headers={"Content-Length": "0"})
        )
    except _UploadUnknown:
        # a retried PUT whose first answer was lost finds the session closed: done if the blob is
        if blob_size(session, repository, digest) != size:
            raise


def _next_chunk(
    session: Session,
    repository: str,
    upload: _Upload,
    size: int,
    open_at: OpenAt,
    chunk_size: int,
    on_progress: Progress | None,
) -> None:
    """Send the next chunk (after asking the registry where it stands, if the last one failed)."""
    if upload.stale:
        _query(session, repository, upload)
    if upload.offset >= size:
        return
    start, end = upload.offset, min(upload.offset + chunk_size, size)
    headers = {
        "Content-Type": _OCTETS,
        "Content-Range": f"{start}-{end - 1}",
        "Content-Length": str(end - start),
    }
    try:
        response = session.call(
            "PATCH",
            upload.location,
            scope=push_scope(repository),
            ok=(202, 204),
            headers=headers,
            body=lambda: _source(open_at, start, end - start, on_progress),
            missing=_UploadUnknown,
        )
    except RegistryError as exc:
        if exc.status == 416:  # the registry holds a different amount: ask it, then go on
            exc.retryable = True
        upload.stale = exc.retryable
        raise
    upload.location = _location(session, repository, response)
    upload.offset = _confirmed(response, end, upload.offset)


def _query(session: Session, repository: str, upload: _Upload) -> None:
    """Ask the registry how many bytes of the upload it holds (``Range: 0-N``)."""
    response = session.call(
        "GET", upload.location, scope=push_scope(repository), ok=(200, 204), missing=_UploadUnknown
    )
    upload.offset = _confirmed(response, upload.offset, upload.offset)
    if response.headers.get("Location") or response.headers.get("Docker-Upload-UUID"):
        upload.location = _location(session, repository, response)
    upload.stale = False


def _confirmed(response: httpx.Response, default: int, previous: int) -> int:
    """The byte count in ``Range: 0-N`` (N + 1), or ``default`` without the header.

    The reference registry writes ``0-0`` for an empty upload as well as for one byte; having
    sent nothing confirmed yet (``previous == 0``), read it as empty.
    """
    first, _, last = response.headers.get("Range", "").removeprefix("bytes=").partition("-")
    if first != "0" or not last.isdigit():
        return default
    if last == "0":
        return 1 if previous >= 1 else 0
    return int(last) + 1


def _finish(
    session: Session,
    repository: str,
    location: str,
    digest: Digest,
    *,
    headers: dict[str, str],
    body: Callable[[], Iterator[bytes]] | None = None,
) -> None:
    """``PUT <location>?digest=`` (with the body, or none after chunks) and check the answer."""
    url = str(httpx.URL(location).copy_merge_params({"digest": str(digest)}))
    try:
        response = session.call(
            "PUT",
            url,
            scope=push_scope(repository),
            ok=(201, 204),
            headers=headers,
            body=body or (lambda: b""),
            missing=_UploadUnknown,
        )
    except RegistryError as exc:
        if exc.code in ("DIGEST_INVALID", "SIZE_INVALID"):
            raise DigestMismatchError(
                f"the registry refused blob {digest} ({exc.code}): the bytes sent do not have that digest",
                hint="the source's copy of this blob changed or is corrupt; rebuild or re-fetch it",
            ) from exc
        raise
    _check_digest(response, digest)


def _check_digest(response: httpx.Response, digest: Digest) -> None:
    header = response.headers.get("Docker-Content-Digest")
    if header and header != str(digest):
        request = response.request
        raise DigestMismatchError(
            f"{request.method} {request.url}: the registry stored {header}, expected {digest}"
        )
