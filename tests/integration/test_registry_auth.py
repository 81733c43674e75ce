"""RegistryAuth against the real docker-registry in its three flavours (anon, basic over TLS, token).

Requests go through plain ``httpx`` here, answering a ``401`` the way the registry client does
(authorize, then send again); a second ``401`` is handed to ``authorize`` once more, which is
where wrong passwords and missing rights turn into clear errors. The last tests push and pull a
blob through :class:`~dockwright.registry.client.RegistryClient` with each flavour.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dockwright.oci.digest import Digest
from dockwright.registry import AccessDenied, RegistryClient
from dockwright.registry._session import tls_context
from dockwright.registry.auth import RegistryAuth
from dockwright.registry.credentials import Credentials, login
from tests.integration import registry_fixtures
from tests.integration.registry_fixtures import RunningRegistry

# the session-scoped registries, bound here so pytest finds them
registry_anon = registry_fixtures.registry_anon
registry_basic = registry_fixtures.registry_basic
registry_token = registry_fixtures.registry_token

pytestmark = pytest.mark.integration

MISSING = "sha256:" + "0" * 64


def _creds(registry: RunningRegistry, user: str, password: str | None = None) -> Credentials:
    return Credentials(username=user, password=password or registry.users[user])


@pytest.fixture
def http(registry_basic: RunningRegistry) -> Iterator[httpx.Client]:
    """A client trusting the test CA (it also reaches the plain-HTTP registries)."""
    with httpx.Client(verify=registry_basic.ssl_context(), timeout=10) as client:
        yield client


def _call(client: httpx.Client, auth: RegistryAuth, method: str, url: str, scope: str) -> httpx.Response:
    headers: dict[str, str] = {}
    for _ in range(3):
        response = client.request(method, url, headers=headers)
        if response.status_code != 401:
            return response
        headers = auth.authorize(response, scope)
    raise AssertionError(f"{method} {url} still answers 401 and authorize raised nothing")


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _push(repo: str) -> str:
    return f"repository:{repo}:pull,push"


def test_anonymous_registry_needs_no_credentials(registry_anon: RunningRegistry, http: httpx.Client) -> None:
    with RegistryAuth() as auth:
        assert _call(http, auth, "GET", f"{registry_anon.url}/v2/", "").status_code == 200
        upload = _call(
            http, auth, "POST", f"{registry_anon.url}/v2/auth/anon/blobs/uploads/", _push("auth/anon")
        )
        assert upload.status_code == 202


def test_basic_over_tls(registry_basic: RunningRegistry, http: httpx.Client) -> None:
    url = registry_basic.url
    assert http.get(f"{url}/v2/").status_code == 401
    with RegistryAuth(_creds(registry_basic, "alice")) as auth:
        assert _call(http, auth, "GET", f"{url}/v2/", "").status_code == 200
        head = _call(http, auth, "HEAD", f"{url}/v2/auth/basic/blobs/{MISSING}", _pull("auth/basic"))
        assert head.status_code == 404
        upload = _call(http, auth, "POST", f"{url}/v2/auth/basic/blobs/uploads/", _push("auth/basic"))
        assert upload.status_code == 202


def test_basic_wrong_password_and_no_login(registry_basic: RunningRegistry, http: httpx.Client) -> None:
    name = registry_basic.registry
    with (
        RegistryAuth(_creds(registry_basic, "alice", "wrong")) as auth,
        pytest.raises(AccessDenied) as caught,
    ):
        _call(http, auth, "GET", f"{registry_basic.url}/v2/", "")
    assert (
        caught.value.message
        == f"{name} rejected the user name 'alice' or its password: wrong user name or password"
    )
    assert caught.value.hint == f"run `dockwright login {name}` with the right user name and password"
    with (
        RegistryAuth() as anonymous,
        pytest.raises(AccessDenied, match=f"^{re.escape(name)} requires a login$"),
    ):
        _call(http, anonymous, "GET", f"{registry_basic.url}/v2/", "")


def test_basic_with_stored_credentials(
    registry_basic: RunningRegistry, http: httpx.Client, tmp_path: Path
) -> None:
    config = login(
        registry_basic.registry, "reader", registry_basic.users["reader"], config_path=tmp_path / "c.json"
    )
    with RegistryAuth.from_store(registry_basic.registry, config_path=config) as auth:
        assert _call(http, auth, "GET", f"{registry_basic.url}/v2/_catalog", "").status_code == 200


def test_token_flow_for_alice(registry_token: RunningRegistry, http: httpx.Client) -> None:
    url, issuer = registry_token.url, registry_token.issuer
    assert issuer is not None
    with RegistryAuth(_creds(registry_token, "alice")) as auth:
        assert _call(http, auth, "GET", f"{url}/v2/", "").status_code == 200
        before = len(issuer.requests)
        for _ in range(2):
            head = _call(http, auth, "HEAD", f"{url}/v2/auth/token/blobs/{MISSING}", _pull("auth/token"))
            assert head.status_code == 404
        assert len(issuer.requests) == before + 1  # the second HEAD used the cached token
        upload = _call(http, auth, "POST", f"{url}/v2/auth/token/blobs/uploads/", _push("auth/token"))
        assert upload.status_code == 202
        catalog = _call(http, auth, "GET", f"{url}/v2/_catalog", "registry:catalog:*")
        assert catalog.status_code == 200
    assert issuer.requests[-1].user == "alice"
    assert issuer.requests[-1].granted == ("registry:catalog:*",)


def test_token_reader_may_pull_but_not_push(registry_token: RunningRegistry, http: httpx.Client) -> None:
    url, name = registry_token.url, registry_token.registry
    with RegistryAuth(_creds(registry_token, "reader")) as auth:
        head = _call(http, auth, "HEAD", f"{url}/v2/auth/reader/blobs/{MISSING}", _pull("auth/reader"))
        assert head.status_code == 404
        with pytest.raises(AccessDenied) as caught:
            _call(http, auth, "POST", f"{url}/v2/auth/reader/blobs/uploads/", _push("auth/reader"))
    assert caught.value.message == f"access denied to auth/reader on {name}: user 'reader' may not pull/push"


def test_token_wrong_password_and_anonymous(registry_token: RunningRegistry, http: httpx.Client) -> None:
    url, name = registry_token.url, registry_token.registry
    with (
        RegistryAuth(_creds(registry_token, "alice", "wrong")) as auth,
        pytest.raises(AccessDenied) as caught,
    ):
        _call(http, auth, "GET", f"{url}/v2/", "")
    assert (
        caught.value.message
        == f"{name} rejected the user name 'alice' or its password: wrong user name or password"
    )
    with RegistryAuth() as anonymous:
        assert _call(http, anonymous, "GET", f"{url}/v2/", "").status_code == 200
        with pytest.raises(AccessDenied, match=f"^{re.escape(name)} requires a login for auth/anon$"):
            _call(http, anonymous, "HEAD", f"{url}/v2/auth/anon/blobs/{MISSING}", _pull("auth/anon"))


def test_token_with_an_identity_token(registry_token: RunningRegistry, http: httpx.Client) -> None:
    assert registry_token.issuer is not None
    with RegistryAuth(Credentials(identity_token="alice-identity-token")) as auth:
        upload = _call(
            http, auth, "POST", f"{registry_token.url}/v2/auth/oauth/blobs/uploads/", _push("auth/oauth")
        )
        assert upload.status_code == 202
    assert registry_token.issuer.requests[-1].method == "POST"
    with (
        RegistryAuth(Credentials(identity_token="stale")) as auth,
        pytest.raises(AccessDenied, match="identity token"),
    ):
        _call(http, auth, "GET", f"{registry_token.url}/v2/", "")


# --- through the registry client ---------------------------------------------------------------


@contextlib.contextmanager
def _client(registry: RunningRegistry, credentials: Credentials | None) -> Iterator[RegistryClient]:
    verify = tls_context(verify=True, cert_dir=registry.cert_dir)
    with (
        RegistryAuth(credentials, verify=verify) as auth,
        RegistryClient(
            registry.registry, plain_http=registry.plain_http, cert_dir=registry.cert_dir, auth=auth
        ) as client,
    ):
        yield client


def _push_and_pull(client: RegistryClient, repository: str, data: bytes) -> bytes:
    digest = Digest.of(data)
    client.upload_blob(repository, digest, len(data), lambda offset: io.BytesIO(data[offset:]))
    assert client.blob_size(repository, digest) == len(data)
    out = io.BytesIO()
    client.fetch_blob(repository, digest, out, size=len(data))
    return out.getvalue()


@pytest.mark.parametrize("flavour", ["anon", "basic", "token"])
def test_client_pushes_and_pulls_a_blob(flavour: str, request: pytest.FixtureRequest) -> None:
    registry: RunningRegistry = request.getfixturevalue(f"registry_{flavour}")
    credentials = _creds(registry, "alice") if registry.users else None
    data = f"a blob pushed to the {flavour} registry".encode()
    with _client(registry, credentials) as client:
        client.ping()
        assert _push_and_pull(client, f"client/{flavour}", data) == data


def _assert_clear(error: AccessDenied, expected: str) -> None:
    """The second 401 of one request reaches ``authorize`` again, which says why it was refused."""
    assert expected in error.message
    assert "dockwright login" in error.hint


@pytest.mark.parametrize("flavour", ["basic", "token"])
def test_client_wrong_password_is_access_denied(flavour: str, request: pytest.FixtureRequest) -> None:
    registry: RunningRegistry = request.getfixturevalue(f"registry_{flavour}")
    with (
        _client(registry, _creds(registry, "alice", "wrong")) as client,
        pytest.raises(AccessDenied) as caught,
    ):
        client.ping()
    _assert_clear(caught.value, f"{registry.registry} rejected the user name 'alice' or its password")


def test_client_reader_cannot_push(registry_token: RunningRegistry) -> None:
    data = b"reader tries to push this"
    with (
        _client(registry_token, _creds(registry_token, "reader")) as client,
        pytest.raises(AccessDenied) as caught,
    ):
        _push_and_pull(client, "client/reader", data)
    _assert_clear(caught.value, f"access denied to client/reader on {registry_token.registry}")
