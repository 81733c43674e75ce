"""An in-memory distribution-spec registry served through httpx.MockTransport, and client helpers.

:class:`FakeRegistry` keeps blobs, upload sessions, manifests and tags in dicts and answers like
the reference registry (relative ``Location`` headers with a changing ``_state``, ``Range: 0-N``,
``Docker-Content-Digest``, ``404`` on the referrers API unless enabled). ``faults`` are callables
run before routing: one may answer instead (return a response) or raise ``httpx.ReadError``.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import httpx

from dockwright.net.http import RetryPolicy
from dockwright.oci.descriptor import OCI_INDEX
from dockwright.oci.digest import Digest
from dockwright.registry import RegistryClient

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


def make_client(registry: FakeRegistry, **kwargs: Any) -> RegistryClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=3, backoff_base=0))
    return RegistryClient(
        "127.0.0.1:5000", plain_http=True, transport=httpx.MockTransport(registry), **kwargs
    )


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
