"""The distribution-spec client's 401 flows: asking the authenticator per scope, refused and renewed
credentials, and the Authorization header across redirects.
"""

from __future__ import annotations

import io

import httpx
import pytest

from dockwright.oci.digest import Digest
from dockwright.registry import (
    AccessDenied,
    Anonymous,
)
from tests.unit.registry_fake import (
    BASE,
    BLOB,
    FakeRegistry,
    RecordingAuth,
    make_client,
    opener,
    serve_range,
)

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
