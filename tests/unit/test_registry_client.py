"""The distribution-spec client against an in-memory registry served through httpx.MockTransport.

:class:`FakeRegistry` keeps blobs, upload sessions, manifests and tags in dicts and answers like
the reference registry (relative ``Location`` headers with a changing ``_state``, ``Range: 0-N``,
``Docker-Content-Digest``, ``404`` on the referrers API unless enabled). ``faults`` are callables
run before routing: one may answer instead (return a response) or raise ``httpx.ReadError``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest

from dockwright.errors import DigestMismatchError, ImageReferenceError, InputError, NetworkError
from dockwright.net.http import FetchError, RetryPolicy
from dockwright.oci.descriptor import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index, Manifest
from dockwright.registry import (
    AccessDenied,
    Anonymous,
    BlobNotFound,
    FetchedManifest,
    ManifestNotFound,
    NotFoundError,
    RegistryClient,
    RegistryError,
    RepositoryNotFound,
)

BASE = "http://127.0.0.1:5000"
_ROUTE = re.compile(
    r"^/v2/(?P<repo>.+?)/(?P<kind>blobs/uploads|blobs|manifests|tags|referrers)/(?P<rest>.*)$"
)
Fault = Callable[[httpx.Request], httpx.Response | None]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def _error(status: int, code: str, message: str = "") -> httpx.Response:
    return _json(status, {"errors": [{"code": code, "message": message or code.lower()}]})


class _Dropping(httpx.SyncByteStream):
    """A response body that stops after ``data`` with a dropped connection."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self._data
        raise httpx.ReadError("connection reset by peer")


class FakeRegistry:
    """An in-memory registry; call it with a request (it is an httpx.MockTransport handler)."""

    def __init__(self, *, token: str | None = None, referrers_api: bool = False) -> None:
        self.blobs: dict[str, dict[str, bytes]] = {}
        self.manifests: dict[str, dict[str, tuple[bytes, str]]] = {}
        self.uploads: dict[str, tuple[str, bytearray]] = {}
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self.token = token
        self.referrers_api = referrers_api
        self.tag_page: int | None = None
        self.absolute_locations = False
        self.redirect_blobs_to: str | None = None
        self.corrupt_blobs = False

    # -- helpers for tests ------------------------------------------------------------------
    def add_blob(self, repo: str, data: bytes) -> Digest:
        digest = Digest.of(data)
        self.blobs.setdefault(repo, {})[str(digest)] = data
        return digest

    def add_manifest(self, repo: str, data: bytes, media_type: str, tag: str | None = None) -> Digest:
        digest = Digest.of(data)
        stored = self.manifests.setdefault(repo, {})
        stored[str(digest)] = (data, media_type)
        if tag:
            stored[tag] = (data, media_type)
        return digest

    def seen(self, method: str | None = None) -> list[str]:
        return [f"{r.method} {r.url.raw_path.decode()}" for r in self.requests if method in (None, r.method)]

    # -- the handler ------------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        for fault in list(self.faults):
            answer = fault(request)
            if answer is not None:
                return answer
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            challenge = f'Bearer realm="{BASE}/token",service="fake"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge}, json={"errors": []})
        if request.url.path == "/v2/":
            return _json(200, {})
        match = _ROUTE.match(request.url.path)
        if not match:
            return httpx.Response(404, text="404 page not found")
        repo, kind, rest = match["repo"], match["kind"], match["rest"]
        handler = {
            "blobs/uploads": self._uploads,
            "blobs": self._blob,
            "manifests": self._manifest,
            "tags": self._tags,
            "referrers": self._referrers,
        }[kind]
        return handler(request, repo, rest)

    def _location(self, path: str) -> str:
        return f"{BASE}{path}" if self.absolute_locations else path

    def _blob(self, request: httpx.Request, repo: str, digest: str) -> httpx.Response:
        data = self.blobs.get(repo, {}).get(digest)
        if data is None:
            return _error(404, "BLOB_UNKNOWN")
        if self.redirect_blobs_to and request.method == "GET":
            return httpx.Response(307, headers={"Location": f"{self.redirect_blobs_to}/{digest}"})
        if self.corrupt_blobs:
            data = data[:-1] + bytes([data[-1] ^ 1])
        headers = {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"}
        if request.method == "HEAD":
            return httpx.Response(200, headers={**headers, "Content-Length": str(len(data))})
        return serve_range(request, data, headers)

    def _uploads(self, request: httpx.Request, repo: str, rest: str) -> httpx.Response:
        if request.method == "POST":
            return self._start(request, repo)
        session = self.uploads.get(rest)
        if session is None or session[0] != repo:
            return _error(404, "BLOB_UPLOAD_UNKNOWN")
        data = session[1]
        if request.method == "DELETE":
            del self.uploads[rest]
            return httpx.Response(204)
        if request.method == "GET":
            return httpx.Response(204, headers=self._progress(repo, rest, data))
        if request.method == "PATCH":
            first = request.headers.get("Content-Range", "0-").split("-")[0]
            if int(first) != len(data):
                return _error(416, "BLOB_UPLOAD_INVALID", "bad range")
            data.extend(request.content)
            return httpx.Response(202, headers=self._progress(repo, rest, data))
        if request.method == "PUT":
            data.extend(request.content)
            digest = request.url.params["digest"]
            if str(Digest.of(bytes(data))) != digest:
                return _error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            del self.uploads[rest]
            self.blobs.setdefault(repo, {})[digest] = bytes(data)
            headers = {"Location": f"/v2/{repo}/blobs/{digest}", "Docker-Content-Digest": digest}
            return httpx.Response(201, headers=headers)
        return httpx.Response(405)

    def _start(self, request: httpx.Request, repo: str) -> httpx.Response:
        mount, source = request.url.params.get("mount"), request.url.params.get("from")
        if mount and source and mount in self.blobs.get(source, {}):
            self.blobs.setdefault(repo, {})[mount] = self.blobs[source][mount]
            headers = {"Location": f"/v2/{repo}/blobs/{mount}", "Docker-Content-Digest": mount}
            return httpx.Response(201, headers=headers)
        session = str(uuid.uuid4())
        self.uploads[session] = (repo, bytearray())
        return httpx.Response(202, headers=self._progress(repo, session, bytearray()))

    def _progress(self, repo: str, session: str, data: bytearray) -> dict[str, str]:
        end = max(len(data) - 1, 0)  # the reference registry's "0-0" for an empty upload
        location = self._location(f"/v2/{repo}/blobs/uploads/{session}?_state={uuid.uuid4().hex}")
        return {"Location": location, "Range": f"0-{end}", "Docker-Upload-UUID": session}

    def _manifest(self, request: httpx.Request, repo: str, ref: str) -> httpx.Response:
        if request.method == "PUT":
            media_type = request.headers["Content-Type"]
            digest = self.add_manifest(repo, request.content, media_type, None if ":" in ref else ref)
            headers = {"Docker-Content-Digest": str(digest), "Location": f"/v2/{repo}/manifests/{digest}"}
            return httpx.Response(201, headers=headers)
        found = self.manifests.get(repo, {}).get(ref)
        if found is None:
            return _error(404, "MANIFEST_UNKNOWN")
        data, media_type = found
        headers = {"Content-Type": media_type, "Docker-Content-Digest": str(Digest.of(data))}
        if request.method == "HEAD":
            return httpx.Response(200, headers={**headers, "Content-Length": str(len(data))})
        return httpx.Response(200, content=data, headers=headers)

    def _tags(self, request: httpx.Request, repo: str, rest: str) -> httpx.Response:
        if repo not in self.manifests:
            return _error(404, "NAME_UNKNOWN")
        tags = sorted(ref for ref in self.manifests[repo] if ":" not in ref)
        last = request.url.params.get("last")
        if last:
            tags = [t for t in tags if t > last]
        headers = {}
        if self.tag_page is not None and len(tags) > self.tag_page:
            tags = tags[: self.tag_page]
            link = self._location(f"/v2/{repo}/tags/list?n={self.tag_page}&last={tags[-1]}")
            headers["Link"] = f'<{link}>; rel="next"'
        return _json(200, {"name": repo, "tags": tags}, headers)

    def _referrers(self, request: httpx.Request, repo: str, digest: str) -> httpx.Response:
        if not self.referrers_api:
            return httpx.Response(404, text="404 page not found")
        found = []
        for ref, (data, media_type) in self.manifests.get(repo, {}).items():
            document = json.loads(data)
            if ":" in ref and document.get("subject", {}).get("digest") == digest:
                entry = {"mediaType": media_type, "digest": ref, "size": len(data)}
                if "artifactType" in document:
                    entry["artifactType"] = document["artifactType"]
                found.append(entry)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
        return _json(200, index, {"Content-Type": OCI_INDEX})


def serve_range(request: httpx.Request, data: bytes, headers: dict[str, str]) -> httpx.Response:
    """Answer a GET with ``Range: bytes=N-`` support."""
    header = request.headers.get("Range", "")
    if header.startswith("bytes="):
        start = int(header.removeprefix("bytes=").split("-")[0])
        if start >= len(data):
            return httpx.Response(416, headers={"Content-Range": f"bytes */{len(data)}"})
        content_range = f"bytes {start}-{len(data) - 1}/{len(data)}"
        return httpx.Response(206, content=data[start:], headers={**headers, "Content-Range": content_range})
    return httpx.Response(200, content=data, headers=headers)


class RecordingAuth:
    """An Authenticator that hands out ``Bearer <token>`` and records each call."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[int, str, str]] = []

    def authorize(self, challenge: httpx.Response, scope: str) -> dict[str, str]:
        self.calls.append((challenge.status_code, challenge.headers.get("WWW-Authenticate", ""), scope))
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


def make_client(registry: FakeRegistry, **kwargs: Any) -> RegistryClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=3, backoff_base=0))
    return RegistryClient(
        "127.0.0.1:5000", plain_http=True, transport=httpx.MockTransport(registry), **kwargs
    )


@pytest.fixture
def client(registry: FakeRegistry) -> Iterator[RegistryClient]:
    with make_client(registry) as c:
        yield c


def once(
    predicate: Callable[[httpx.Request], bool], action: Callable[[httpx.Request], httpx.Response]
) -> Fault:
    """A fault that fires on the first request matching ``predicate``."""
    fired = [False]

    def fault(request: httpx.Request) -> httpx.Response | None:
        if fired[0] or not predicate(request):
            return None
        fired[0] = True
        return action(request)

    return fault


def is_(method: str, path_part: str = "") -> Callable[[httpx.Request], bool]:
    return lambda r: r.method == method and path_part in r.url.path


def raise_read_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset by peer", request=request)


BLOB = bytes(range(256)) * 1000  # 256000 bytes


def opener(data: bytes, calls: list[int] | None = None) -> Callable[[int], BinaryIO]:
    def open_at(offset: int) -> BinaryIO:
        if calls is not None:
            calls.append(offset)
        stream = io.BytesIO(data)
        stream.seek(offset)
        return stream

    return open_at


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


# -- authentication -------------------------------------------------------------------------


def test_401_asks_the_authenticator_once_per_scope_and_retries() -> None:
    registry = FakeRegistry(token="good")
    auth = RecordingAuth("good")
    digest = registry.add_blob("app", b"hello")
    with make_client(registry, auth=auth) as client:
        assert client.blob_size("app", digest) == 5
        assert client.blob_size("app", digest) == 5
        client.upload_blob("other", Digest.of(b"abc"), 3, opener(b"abc"))
    assert [(status, scope) for status, _, scope in auth.calls] == [
        (401, "repository:app:pull"),
        (401, "repository:other:pull,push"),
    ]
    assert auth.calls[0][1].startswith("Bearer realm=")
    # one 401 per scope, then the cached header goes with every request of that scope
    assert [r.headers.get("Authorization") for r in registry.requests] == [
        None,
        "Bearer good",
        "Bearer good",
        None,
        "Bearer good",
        "Bearer good",
    ]


def test_mount_asks_for_both_repositories() -> None:
    registry = FakeRegistry(token="good")
    auth = RecordingAuth("good")
    digest = registry.add_blob("base", b"layer")
    with make_client(registry, auth=auth) as client:
        assert client.mount_blob("app", digest, "base")
    assert auth.calls[0][2] == "repository:app:pull,push repository:base:pull"


def test_refused_credentials_raise_access_denied_without_looping() -> None:
    registry = FakeRegistry(token="good")
    auth = RecordingAuth("wrong")
    with make_client(registry, auth=auth) as client, pytest.raises(AccessDenied) as caught:
        client.list_tags("app")
    # the second 401 goes back to the authenticator once (to explain or refresh), then it stops
    assert len(auth.calls) == 2
    assert len(registry.requests) == 3
    assert caught.value.status == 401
    assert "log in" in caught.value.hint


def test_anonymous_explains_the_challenge() -> None:
    registry = FakeRegistry(token="good")
    with make_client(registry, auth=Anonymous()) as client, pytest.raises(AccessDenied) as caught:
        client.ping()
    assert caught.value.message == (
        f"GET {BASE}/v2/: HTTP 401: the registry asks for credentials (Bearer) for access, and none were given"
    )


def test_expired_token_is_renewed_once() -> None:
    registry = FakeRegistry(token="t1")
    auth = RecordingAuth("t1")
    with make_client(registry, auth=auth) as client:
        client.ping()
        registry.token = auth.token = "t2"
        client.ping()
    assert len(auth.calls) == 2
    assert [r.headers.get("Authorization") for r in registry.requests] == [
        None,
        "Bearer t1",
        "Bearer t1",
        "Bearer t2",
    ]


# -- blobs: HEAD and download ---------------------------------------------------------------


def test_blob_size(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    assert client.blob_size("app", digest) == len(BLOB)
    assert client.blob_size("app", Digest.of(b"absent")) is None
    assert client.blob_size("other", digest) is None


def test_fetch_blob(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("team/app", BLOB)
    out = io.BytesIO()
    progress: list[int] = []
    client.fetch_blob("team/app", digest, out, size=len(BLOB), on_progress=progress.append)
    assert out.getvalue() == BLOB
    assert progress[-1] == len(BLOB)
    assert registry.requests[0].headers["Accept-Encoding"] == "identity"


def test_fetch_blob_resumes_a_dropped_download(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    registry.faults.append(
        once(is_("GET", "/blobs/"), lambda r: httpx.Response(200, stream=_Dropping(BLOB[:100_000])))
    )
    out = io.BytesIO()
    client.fetch_blob("app", digest, out, size=len(BLOB))
    assert out.getvalue() == BLOB
    assert [r.headers.get("Range") for r in registry.requests] == [None, "bytes=100000-"]


def test_fetch_blob_keeps_resuming_while_bytes_arrive(registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)

    def drop_after_some(request: httpx.Request) -> httpx.Response | None:
        start = int(request.headers.get("Range", "bytes=0-").removeprefix("bytes=").split("-")[0])
        if request.method != "GET" or start >= 200_000:
            return None
        return httpx.Response(
            206,
            stream=_Dropping(BLOB[start : start + 40_000]),
            headers={"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"},
        )

    registry.faults.append(drop_after_some)
    out = io.BytesIO()
    with make_client(registry, retry=RetryPolicy(attempts=2, backoff_base=0)) as client:
        client.fetch_blob("app", digest, out)
    assert out.getvalue() == BLOB
    assert len(registry.requests) == 6  # 5 drops with progress do not use up the 2 attempts


def test_fetch_blob_resume_when_the_server_ignores_range(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    digest = registry.add_blob("app", BLOB)
    registry.faults.append(once(is_("GET"), lambda r: httpx.Response(200, stream=_Dropping(BLOB[:5000]))))
    registry.faults.append(lambda r: httpx.Response(200, content=BLOB) if "Range" in r.headers else None)
    out = io.BytesIO()
    client.fetch_blob("app", digest, out, size=len(BLOB))
    assert out.getvalue() == BLOB


def test_fetch_blob_resumes_from_a_partial_file(
    client: RegistryClient, registry: FakeRegistry, tmp_path: Path
) -> None:
    digest = registry.add_blob("app", BLOB)
    path = tmp_path / "partial"
    path.write_bytes(BLOB[:1000] + b"junk after the offset")
    progress: list[int] = []
    with open(path, "r+b") as out:
        client.fetch_blob("app", digest, out, size=len(BLOB), offset=1000, on_progress=progress.append)
    assert path.read_bytes() == BLOB
    assert registry.requests[0].headers["Range"] == "bytes=1000-"
    assert progress[0] > 1000


def test_fetch_blob_hashes_the_prefix_it_did_not_download(
    client: RegistryClient, registry: FakeRegistry, tmp_path: Path
) -> None:
    digest = registry.add_blob("app", BLOB)
    path = tmp_path / "partial"
    path.write_bytes(b"X" + BLOB[1:1000])
    with open(path, "r+b") as out, pytest.raises(DigestMismatchError):
        client.fetch_blob("app", digest, out, offset=1000)


def test_fetch_blob_offset_needs_a_readable_file(
    client: RegistryClient, registry: FakeRegistry, tmp_path: Path
) -> None:
    digest = registry.add_blob("app", BLOB)
    (tmp_path / "partial").write_bytes(BLOB[:10])
    with open(tmp_path / "partial", "ab") as out, pytest.raises(InputError, match="open the file 'r\\+b'"):
        client.fetch_blob("app", digest, out, offset=10)


def test_a_corrupted_byte_raises_digest_mismatch(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    registry.corrupt_blobs = True
    with pytest.raises(DigestMismatchError) as caught:
        client.fetch_blob("app", digest, io.BytesIO(), size=len(BLOB))
    assert caught.value.message.startswith(
        f"GET {BASE}/v2/app/blobs/{digest}: the bytes received have digest"
    )
    assert len(registry.requests) == 1  # never retried


def test_a_corrupted_byte_after_a_resume_is_caught(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    bad = BLOB[:50] + b"\x00" + BLOB[51:1000]
    registry.faults.append(once(is_("GET"), lambda r: httpx.Response(200, stream=_Dropping(bad))))
    with pytest.raises(DigestMismatchError):
        client.fetch_blob("app", digest, io.BytesIO())


def test_more_bytes_than_the_size_are_refused(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    with pytest.raises(DigestMismatchError, match="larger than 1000 bytes"):
        client.fetch_blob("app", digest, io.BytesIO(), size=1000)


def test_fewer_bytes_than_the_size_are_refused(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    with pytest.raises(DigestMismatchError, match=f"got {len(BLOB)} bytes, expected {len(BLOB) + 1}"):
        client.fetch_blob("app", digest, io.BytesIO(), size=len(BLOB) + 1)


def test_missing_blob_raises_blob_not_found(client: RegistryClient) -> None:
    digest = Digest.of(b"absent")
    with pytest.raises(BlobNotFound) as caught:
        client.fetch_blob("app", digest, io.BytesIO())
    assert caught.value.message == f"GET {BASE}/v2/app/blobs/{digest}: HTTP 404 BLOB_UNKNOWN: blob_unknown"
    assert isinstance(caught.value, NotFoundError)


def test_redirects_to_storage_drop_the_authorization_header() -> None:
    registry = FakeRegistry(token="good")
    digest = registry.add_blob("app", BLOB)
    registry.redirect_blobs_to = "http://127.0.0.1:9000/storage"
    storage_requests: list[httpx.Request] = []

    def storage(request: httpx.Request) -> httpx.Response | None:
        if request.url.port != 9000:
            return None
        storage_requests.append(request)
        return serve_range(request, BLOB, {})

    registry.faults.append(storage)
    out = io.BytesIO()
    with make_client(registry, auth=RecordingAuth("good")) as client:
        client.fetch_blob("app", digest, out)
    assert out.getvalue() == BLOB
    assert [str(r.url) for r in storage_requests] == [f"http://127.0.0.1:9000/storage/{digest}"]
    assert "Authorization" not in storage_requests[0].headers


def test_same_origin_redirects_keep_the_authorization_header() -> None:
    registry = FakeRegistry(token="good")
    digest = registry.add_blob("app", BLOB)
    registry.redirect_blobs_to = f"{BASE}/storage"
    registry.faults.append(
        lambda r: (
            serve_range(r, BLOB, {})
            if r.url.path.startswith("/storage/") and "Authorization" in r.headers
            else None
        )
    )
    out = io.BytesIO()
    with make_client(registry, auth=RecordingAuth("good")) as client:
        client.fetch_blob("app", digest, out)
    assert out.getvalue() == BLOB


def test_redirect_loops_stop(client: RegistryClient, registry: FakeRegistry) -> None:
    registry.faults.append(lambda r: httpx.Response(302, headers={"Location": "/v2/"}))
    with pytest.raises(RegistryError, match="more than 5 redirects"):
        client.ping()


# -- blobs: upload and mount ----------------------------------------------------------------


def test_monolithic_upload(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(BLOB)
    progress: list[int] = []
    client.upload_blob("app", digest, len(BLOB), opener(BLOB), on_progress=progress.append)
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PUT"]
    put = registry.requests[1]
    assert put.url.params["digest"] == str(digest)
    assert "_state" in put.url.params  # the Location's own query is kept
    assert put.headers["Content-Length"] == str(len(BLOB))
    assert progress[-1] == len(BLOB)


def test_monolithic_upload_restarts_after_a_failure(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(BLOB)
    calls: list[int] = []
    registry.faults.append(once(is_("PUT"), raise_read_error))
    client.upload_blob("app", digest, len(BLOB), opener(BLOB, calls))
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PUT", "POST", "PUT"]
    assert calls == [0, 0]


def test_empty_blob_upload(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(b"")
    client.upload_blob("app", digest, 0, opener(b""))
    client.upload_blob("app2", digest, 0, opener(b""), chunk_size=10)
    assert registry.blobs["app"][str(digest)] == b""
    assert registry.blobs["app2"][str(digest)] == b""


def test_chunked_upload(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(BLOB)
    calls: list[int] = []
    client.upload_blob("app", digest, len(BLOB), opener(BLOB, calls), chunk_size=100_000)
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PATCH", "PATCH", "PATCH", "PUT"]
    ranges = [r.headers["Content-Range"] for r in registry.requests if r.method == "PATCH"]
    assert ranges == ["0-99999", "100000-199999", "200000-255999"]
    assert calls == [0, 100_000, 200_000]
    final = registry.requests[-1]
    assert final.content == b""
    assert final.url.params["digest"] == str(digest)


def test_chunked_upload_resumes_from_what_the_registry_holds(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    """A PATCH drops after the registry stored part of it: ask (GET -> Range 0-N), go on at N+1."""
    digest = Digest.of(BLOB)
    calls: list[int] = []

    def store_part_then_drop(request: httpx.Request) -> httpx.Response:
        session = request.url.path.rsplit("/", 1)[1]
        registry.uploads[session][1].extend(request.content[:30_000])
        raise httpx.ReadError("connection reset by peer", request=request)

    registry.faults.append(
        once(
            lambda r: r.method == "PATCH" and r.headers["Content-Range"].startswith("100000-"),
            store_part_then_drop,
        )
    )
    client.upload_blob("app", digest, len(BLOB), opener(BLOB, calls), chunk_size=100_000)
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PATCH", "PATCH", "GET", "PATCH", "PATCH", "PUT"]
    assert calls == [0, 100_000, 130_000, 230_000]
    ranges = [r.headers["Content-Range"] for r in registry.requests if r.method == "PATCH"]
    assert ranges == ["0-99999", "100000-199999", "130000-229999", "230000-255999"]


def test_chunked_upload_with_absolute_locations_and_a_range_mismatch(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    registry.absolute_locations = True
    digest = Digest.of(BLOB)
    # the first PATCH is refused with 416 (say, a proxy replayed it): ask, then go on
    registry.faults.append(once(is_("PATCH"), lambda r: _error(416, "BLOB_UPLOAD_INVALID")))
    client.upload_blob("app", digest, len(BLOB), opener(BLOB), chunk_size=200_000)
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PATCH", "GET", "PATCH", "PATCH", "PUT"]


def test_upload_uuid_without_location(client: RegistryClient, registry: FakeRegistry) -> None:
    session = "0d9b1a0e-5d0e-4a8e-8a4c-1b1f0f0e0e0e"
    registry.uploads[session] = ("app", bytearray())
    registry.faults.append(
        once(is_("POST"), lambda r: httpx.Response(202, headers={"Docker-Upload-UUID": session}))
    )
    client.upload_blob("app", Digest.of(b"abc"), 3, opener(b"abc"))
    assert registry.seen("PUT")[0].startswith(f"PUT /v2/app/blobs/uploads/{session}?digest=sha256%3A")


def test_lost_answer_to_the_final_put_finds_the_blob_there(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    digest = Digest.of(BLOB)

    def finish_then_drop(request: httpx.Request) -> httpx.Response:
        registry.faults.clear()
        registry(request)
        raise httpx.ReadError("connection reset by peer", request=request)

    registry.faults.append(once(is_("PUT"), finish_then_drop))
    client.upload_blob("app", digest, len(BLOB), opener(BLOB), chunk_size=200_000)
    assert [r.method for r in registry.requests][-3:] == ["PUT", "PUT", "HEAD"]


def test_upload_of_wrong_bytes_raises_digest_mismatch(client: RegistryClient, registry: FakeRegistry) -> None:
    with pytest.raises(DigestMismatchError) as caught:
        client.upload_blob("app", Digest.of(b"other"), 3, opener(b"abc"))
    assert "DIGEST_INVALID" in caught.value.message
    assert caught.value.message.endswith(f"the bytes uploaded are not blob {Digest.of(b'other')}")
    assert [r.method for r in registry.requests] == ["POST", "PUT"]


def test_upload_source_that_ends_early_is_refused(client: RegistryClient, registry: FakeRegistry) -> None:
    with pytest.raises(
        DigestMismatchError, match="the upload source ended at byte 3, before the expected 10"
    ):
        client.upload_blob("app", Digest.of(b"abc"), 10, opener(b"abc"))


def test_mount_201_is_true(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("base", BLOB)
    assert client.mount_blob("app", digest, "base") is True
    assert registry.blobs["app"][str(digest)] == BLOB
    assert registry.seen() == [f"POST /v2/app/blobs/uploads/?mount=sha256%3A{digest.hex}&from=base"]


def test_mount_202_cancels_the_session_and_is_false(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(BLOB)
    assert client.mount_blob("app", digest, "base") is False
    assert [r.method for r in registry.requests] == ["POST", "DELETE"]
    assert registry.uploads == {}


# -- manifests ------------------------------------------------------------------------------


def _image(registry: FakeRegistry, repo: str = "app", tag: str | None = "v1") -> tuple[bytes, Digest]:
    config = registry.add_blob(repo, b"{}")
    layer = registry.add_blob(repo, BLOB)
    manifest = Manifest(
        config=Descriptor(media_type=OCI_EMPTY, digest=config, size=2),
        layers=(
            Descriptor(media_type="application/vnd.oci.image.layer.v1.tar", digest=layer, size=len(BLOB)),
        ),
    ).to_json()
    return manifest, registry.add_manifest(repo, manifest, OCI_MANIFEST, tag)


def test_get_manifest_by_tag_and_by_digest(client: RegistryClient, registry: FakeRegistry) -> None:
    data, digest = _image(registry)
    expected = FetchedManifest(data=data, media_type=OCI_MANIFEST, digest=digest)
    assert client.get_manifest("app", "v1") == expected
    assert client.get_manifest("app", str(digest)) == expected
    accept = registry.requests[0].headers["Accept"]
    assert OCI_MANIFEST in accept and OCI_INDEX in accept
    assert expected.descriptor == Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(data))


def test_get_manifest_checks_the_announced_digest(client: RegistryClient, registry: FakeRegistry) -> None:
    data, _ = _image(registry)
    registry.faults.append(
        lambda r: httpx.Response(
            200,
            content=data,
            headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": str(Digest.of(b"x"))},
        )
    )
    with pytest.raises(DigestMismatchError, match="the registry announced sha256:"):
        client.get_manifest("app", "v1")


def test_get_manifest_by_digest_refuses_other_bytes(client: RegistryClient, registry: FakeRegistry) -> None:
    _, digest = _image(registry)
    tampered = b'{"tampered": 1}'
    registry.faults.append(
        lambda r: httpx.Response(200, content=tampered, headers={"Content-Type": OCI_MANIFEST})
    )
    with pytest.raises(DigestMismatchError) as caught:
        client.get_manifest("app", str(digest))
    assert (
        caught.value.message
        == f"GET {BASE}/v2/app/manifests/{digest}: the bytes have digest {Digest.of(tampered)}"
    )


def test_get_manifest_is_size_capped(client: RegistryClient, registry: FakeRegistry) -> None:
    huge = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    registry.add_manifest("app", huge, OCI_MANIFEST, "big")
    with pytest.raises(RegistryError, match="the manifest is larger than 4194304 bytes"):
        client.get_manifest("app", "big")
    registry.faults.append(lambda r: httpx.Response(200, stream=httpx.ByteStream(huge)))  # no Content-Length
    with pytest.raises(RegistryError, match="the manifest is larger than 4194304 bytes"):
        client.get_manifest("app", "big")


def test_get_manifest_media_type_from_the_document(client: RegistryClient, registry: FakeRegistry) -> None:
    index = Index().to_json()
    registry.add_manifest("app", index, "application/json", "idx")
    assert client.get_manifest("app", "idx").media_type == OCI_INDEX


def test_missing_manifest(client: RegistryClient, registry: FakeRegistry) -> None:
    with pytest.raises(ManifestNotFound) as caught:
        client.get_manifest("app", "v9")
    assert (
        caught.value.message == f"GET {BASE}/v2/app/manifests/v9: HTTP 404 MANIFEST_UNKNOWN: manifest_unknown"
    )
    assert client.manifest_exists("app", "v9") is None


def test_manifest_exists(client: RegistryClient, registry: FakeRegistry) -> None:
    data, digest = _image(registry)
    expected = Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(data))
    assert client.manifest_exists("app", "v1") == expected
    assert client.manifest_exists("app", str(digest)) == expected
    assert [r.method for r in registry.requests] == ["HEAD", "HEAD"]


def test_manifest_exists_falls_back_to_get_without_headers(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    data, digest = _image(registry)
    registry.faults.append(lambda r: httpx.Response(200) if r.method == "HEAD" else None)
    assert client.manifest_exists("app", "v1") == Descriptor(
        media_type=OCI_MANIFEST, digest=digest, size=len(data)
    )
    assert [r.method for r in registry.requests] == ["HEAD", "GET"]


def test_put_manifest(client: RegistryClient, registry: FakeRegistry) -> None:
    data, digest = _image(FakeRegistry())
    assert client.put_manifest("app", "v2", data, OCI_MANIFEST) == digest
    assert client.put_manifest("app", str(digest), data, OCI_MANIFEST) == digest
    assert registry.manifests["app"]["v2"] == (data, OCI_MANIFEST)
    assert registry.requests[0].headers["Content-Type"] == OCI_MANIFEST
    assert registry.requests[0].content == data


def test_put_manifest_checks_the_stored_digest(client: RegistryClient, registry: FakeRegistry) -> None:
    registry.faults.append(
        lambda r: httpx.Response(201, headers={"Docker-Content-Digest": str(Digest.of(b"x"))})
    )
    with pytest.raises(DigestMismatchError):
        client.put_manifest("app", "v2", b"{}", OCI_MANIFEST)


def test_put_manifest_under_another_digest_is_refused(client: RegistryClient, registry: FakeRegistry) -> None:
    with pytest.raises(InputError, match="cannot put a manifest with digest"):
        client.put_manifest("app", str(Digest.of(b"x")), b"{}", OCI_MANIFEST)
    assert registry.requests == []


def test_put_manifest_refused_by_the_registry(client: RegistryClient, registry: FakeRegistry) -> None:
    registry.faults.append(lambda r: _error(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry"))
    with pytest.raises(RegistryError) as caught:
        client.put_manifest("app", "v2", b"{}", OCI_MANIFEST)
    assert caught.value.code == "MANIFEST_BLOB_UNKNOWN"


# -- tags and referrers ---------------------------------------------------------------------


@pytest.mark.parametrize("absolute", [False, True])
def test_list_tags_follows_link_pagination(
    client: RegistryClient, registry: FakeRegistry, absolute: bool
) -> None:
    for i in range(7):
        registry.add_manifest("app", b'{"n": %d}' % i, OCI_MANIFEST, f"v{i}")
    registry.tag_page = 3
    registry.absolute_locations = absolute
    assert client.list_tags("app") == [f"v{i}" for i in range(7)]
    assert registry.seen() == [
        "GET /v2/app/tags/list",
        "GET /v2/app/tags/list?n=3&last=v2",
        "GET /v2/app/tags/list?n=3&last=v5",
    ]


def test_list_tags_of_a_missing_repository(client: RegistryClient) -> None:
    with pytest.raises(RepositoryNotFound):
        client.list_tags("nothing")


def test_list_tags_null(client: RegistryClient, registry: FakeRegistry) -> None:
    registry.faults.append(lambda r: _json(200, {"name": "app", "tags": None}))
    assert client.list_tags("app") == []


def _artifact(registry: FakeRegistry, subject: Digest, size: int, artifact_type: str) -> Digest:
    manifest = Manifest(
        config=Descriptor(media_type=OCI_EMPTY, digest=Digest.of(b"{}"), size=2),
        layers=(),
        subject=Descriptor(media_type=OCI_MANIFEST, digest=subject, size=size),
        artifact_type=artifact_type,
    ).to_json()
    return registry.add_manifest("app", manifest, OCI_MANIFEST)


def test_referrers_api(client: RegistryClient, registry: FakeRegistry) -> None:
    registry.referrers_api = True
    data, subject = _image(registry)
    sbom = _artifact(registry, subject, len(data), "application/spdx+json")
    sig = _artifact(registry, subject, len(data), "application/vnd.dev.sigstore.bundle+json")
    assert {d.digest for d in client.referrers("app", subject)} == {sbom, sig}
    found = client.referrers("app", subject, artifact_type="application/spdx+json")
    assert [d.digest for d in found] == [sbom]
    assert registry.requests[-1].url.params["artifactType"] == "application/spdx+json"


def test_referrers_fall_back_to_the_tag_schema(client: RegistryClient, registry: FakeRegistry) -> None:
    _, subject = _image(registry)
    sbom = Descriptor(
        media_type=OCI_MANIFEST, digest=Digest.of(b"a"), size=1, artifact_type="application/spdx+json"
    )
    sig = Descriptor(media_type=OCI_MANIFEST, digest=Digest.of(b"b"), size=1, artifact_type="x/sig")
    index = Index(manifests=(sbom, sig)).to_json()
    registry.add_manifest("app", index, OCI_INDEX, f"sha256-{subject.hex}")
    assert client.referrers("app", subject) == [sbom, sig]
    assert client.referrers("app", subject, artifact_type="x/sig") == [sig]
    assert registry.seen()[:2] == [
        f"GET /v2/app/referrers/{subject}",
        f"GET /v2/app/manifests/sha256-{subject.hex}",
    ]
    assert registry.requests[1].headers["Accept"] == OCI_INDEX


def test_referrers_fallback_without_a_tag_is_empty(client: RegistryClient, registry: FakeRegistry) -> None:
    _, subject = _image(registry)
    assert client.referrers("app", subject) == []


def test_malformed_referrers_index(client: RegistryClient, registry: FakeRegistry) -> None:
    _, subject = _image(registry)
    registry.add_manifest("app", b'{"schemaVersion": 1}', OCI_INDEX, f"sha256-{subject.hex}")
    with pytest.raises(RegistryError, match="malformed referrers index"):
        client.referrers("app", subject)


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


def test_digest_helpers_agree() -> None:
    assert str(Digest.of(BLOB)) == "sha256:" + hashlib.sha256(BLOB).hexdigest()
