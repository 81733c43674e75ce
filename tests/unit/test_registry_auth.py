"""Challenge parsing and RegistryAuth's Basic and token flows over httpx.MockTransport."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from dockwright.errors import InputError, NetworkError
from dockwright.registry._auth_protocol import Authenticator
from dockwright.registry._errors import AccessDenied, RegistryError
from dockwright.registry.auth import AuthConfig, RegistryAuth
from dockwright.registry.challenge import Challenge, parse_challenge, parse_challenges
from dockwright.registry.credentials import Credentials

REGISTRY = "127.0.0.1:5000"
REALM = "http://127.0.0.1:5001/token"
ALICE = Credentials(username="alice", password="s3cret", source="/tmp/config.json")

# --- challenge parsing -------------------------------------------------------------------------

PARSED = [
    ('Basic realm="test"', [Challenge("basic", {"realm": "test"})]),
    (
        'Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push"',
        [
            Challenge(
                "bearer",
                {"realm": "http://127.0.0.1:1/token", "service": "reg", "scope": "repository:a/b:pull,push"},
            )
        ],
    ),
    (
        'Basic realm="a", Bearer realm="b",service="c"',
        [Challenge("basic", {"realm": "a"}), Challenge("bearer", {"realm": "b", "service": "c"})],
    ),
    ('BEARER Realm="x"', [Challenge("bearer", {"realm": "x"})]),
    ("Bearer realm=x, service=y", [Challenge("bearer", {"realm": "x", "service": "y"})]),
    ('Basic realm = "x"', [Challenge("basic", {"realm": "x"})]),
    (r'Basic realm="a \"quoted\" \\ realm"', [Challenge("basic", {"realm": r'a "quoted" \ realm'})]),
    ('Basic realm="a, b", charset="UTF-8"', [Challenge("basic", {"realm": "a, b", "charset": "UTF-8"})]),
    ("Negotiate", [Challenge("negotiate")]),
    ("Negotiate abc+/==", [Challenge("negotiate", token68="abc+/==")]),
    (
        'Negotiate abc==, Basic realm="x"',
        [Challenge("negotiate", token68="abc=="), Challenge("basic", {"realm": "x"})],
    ),
    ('Negotiate, Basic realm="x"', [Challenge("negotiate"), Challenge("basic", {"realm": "x"})]),
    (" , Basic realm=x ,, ", [Challenge("basic", {"realm": "x"})]),
    ('Bearer realm="x",, service="y",', [Challenge("bearer", {"realm": "x", "service": "y"})]),
    ("", []),
]


@pytest.mark.parametrize(("header", "expected"), PARSED)
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert list(parse_challenges(header)) == expected


ERRORS = [
    ('="x"', 1, "expected an auth scheme, found '='"),
    ('Bearer realm="unterminated', 27, "expected a closing '\"', found end of header"),
    ('Bearer realm="a" service="b"', 18, "expected ',' between challenges, found 's'"),
    ('Bearer realm="a", realm="b"', 19, "parameter 'realm' given twice"),
    ('Bearer realm="a",service=@', 26, "expected a token or a quoted string, found '@'"),
    ("Bearer @", 8, "expected a token68 or a parameter, found '@'"),
    ('Basic realm="a\\', 16, "expected a character after '\\', found end of header"),
]


@pytest.mark.parametrize(("header", "column", "problem"), ERRORS)
def test_parse_errors_point_at_the_column(header: str, column: int, problem: str) -> None:
    with pytest.raises(NetworkError) as caught:
        parse_challenges(header)
    caret = " " * (column + 1) + "^"
    expected = f"malformed WWW-Authenticate header at column {column}: {problem}\n  {header}\n{caret}"
    assert caught.value.message == expected


def test_parse_challenge_takes_the_first_and_refuses_empty() -> None:
    assert parse_challenge('Basic realm="a", Bearer realm="b"') == Challenge("basic", {"realm": "a"})
    with pytest.raises(NetworkError, match=r"^empty WWW-Authenticate header ' ': expected a challenge$"):
        parse_challenge(" ")


# --- helpers --------------------------------------------------------------------------------


def _challenged(
    challenge: str | None,
    *,
    url: str = f"http://{REGISTRY}/v2/a/b/blobs/uploads/",
    sent: str | None = None,
    method: str = "POST",
) -> httpx.Response:
    headers = {"Authorization": sent} if sent else {}
    request = httpx.Request(method, url, headers=headers)
    return httpx.Response(401, headers={"WWW-Authenticate": challenge} if challenge else {}, request=request)


def _bearer(scope: str = "", error: str = "") -> str:
    extra = (f',scope="{scope}"' if scope else "") + (f',error="{error}"' if error else "")
    return f'Bearer realm="{REALM}",service="reg"{extra}'


class TokenService:
    """A MockTransport handler for the token realm; records requests."""

    def __init__(self, answers: list[httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = answers
        self.count = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.count += 1
        if self.answers:
            return self.answers.pop(0)
        return httpx.Response(200, json={"token": f"t{self.count}", "expires_in": 300})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _auth(
    handler: Callable[[httpx.Request], httpx.Response],
    credentials: Credentials | None = None,
    **kwargs: object,
) -> RegistryAuth:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return RegistryAuth(credentials, client=client, **kwargs)  # type: ignore[arg-type]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_registry_auth_is_an_authenticator() -> None:
    with RegistryAuth() as registry_auth:
        auth: Authenticator = registry_auth
        assert callable(auth.authorize)


def test_threads_share_one_token() -> None:
    service = TokenService()
    auth = _auth(service, ALICE)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda _: auth.authorize(_challenged(_bearer()), "repository:a/b:pull"), range(32))
        )
    assert answers == [{"Authorization": "Bearer t1"}] * 32
    assert service.count == 1


# --- Basic -----------------------------------------------------------------------------------


def test_basic_answers_with_the_credentials() -> None:
    auth = _auth(TokenService(), ALICE)
    assert auth.authorize(_challenged('Basic realm="r"'), "repository:a/b:pull") == {
        "Authorization": _basic("alice", "s3cret")
    }


def test_basic_wrong_password_names_the_registry_and_login() -> None:
    auth = _auth(TokenService(), ALICE)
    with pytest.raises(AccessDenied) as caught:
        auth.authorize(_challenged('Basic realm="r"', sent=_basic("alice", "s3cret")), "")
    assert caught.value.message == (
        "127.0.0.1:5000 rejected the user name 'alice' or its password (from /tmp/config.json): "
        "wrong user name or password"
    )
    assert caught.value.hint == "run `dockwright login 127.0.0.1:5000` with the right user name and password"
    assert caught.value.status == 401
    assert not caught.value.retryable


def test_basic_without_credentials_asks_for_a_login() -> None:
    with pytest.raises(AccessDenied) as caught:
        _auth(TokenService()).authorize(_challenged('Basic realm="r"'), "repository:a/b:pull")
    assert caught.value.message == "127.0.0.1:5000 requires a login for a/b"
    assert caught.value.hint == "run `dockwright login 127.0.0.1:5000` and try again"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://registry.invalid/v2/", False),
        ("http://registry.invalid:8080/v2/", False),
        ("https://registry.invalid/v2/", True),
        ("http://localhost:5000/v2/", True),
        ("http://127.0.0.7:5000/v2/", True),
        ("http://[::1]:5000/v2/", True),
    ],
)
def test_basic_needs_tls_or_loopback(url: str, allowed: bool) -> None:
    auth = _auth(TokenService(), ALICE)
    if allowed:
        assert "Authorization" in auth.authorize(_challenged('Basic realm="r"', url=url), "")
        return
    with pytest.raises(InputError) as caught:
        auth.authorize(_challenged('Basic realm="r"', url=url), "")
    host = httpx.URL(url).host
    assert caught.value.message.startswith("refusing to send credentials for registry.invalid")
    assert caught.value.message.endswith(f"over plain HTTP to {host}")
    relaxed = _auth(TokenService(), ALICE, config=AuthConfig(allow_plain_http_credentials=True))
    assert "Authorization" in relaxed.authorize(_challenged('Basic realm="r"', url=url), "")


# --- Bearer ----------------------------------------------------------------------------------


def test_anonymous_token_flow_sends_service_and_scope() -> None:
    service = TokenService()
    auth = _auth(service)
    headers = auth.authorize(_challenged(_bearer()), "repository:a/b:pull")
    assert headers == {"Authorization": "Bearer t1"}
    (sent,) = service.requests
    assert sent.method == "GET"
    assert str(sent.url.copy_with(query=None)) == REALM
    assert urllib.parse.parse_qsl(sent.url.query.decode()) == [
        ("service", "reg"),
        ("scope", "repository:a/b:pull"),
    ]
    assert "authorization" not in sent.headers


def test_token_flow_with_credentials_and_access_token_field() -> None:
    service = TokenService([httpx.Response(200, json={"access_token": "abc"})])
    auth = _auth(service, ALICE)
    assert auth.authorize(_challenged(_bearer()), "repository:a/b:pull,push") == {
        "Authorization": "Bearer abc"
    }
    assert service.requests[0].headers["authorization"] == _basic("alice", "s3cret")


def test_tokens_are_cached_per_scope_until_they_expire() -> None:
    service, clock = TokenService(), Clock()
    auth = _auth(service, ALICE, clock=clock)
    pull = auth.authorize(_challenged(_bearer()), "repository:a/b:pull")
    assert auth.authorize(_challenged(_bearer()), "repository:a/b:pull") == pull
    assert auth.authorize(_challenged(_bearer()), "repository:c/d:pull") == {"Authorization": "Bearer t2"}
    clock.now += 300 - 10 - 1  # expires_in 300, renewed 10 s early
    assert auth.authorize(_challenged(_bearer()), "repository:a/b:pull") == pull
    clock.now += 1
    assert auth.authorize(_challenged(_bearer()), "repository:a/b:pull") == {"Authorization": "Bearer t3"}
    assert service.count == 3


def test_default_lifetime_is_60_seconds() -> None:
    service, clock = TokenService([httpx.Response(200, json={"token": "a"})] * 2), Clock()
    auth = _auth(service, clock=clock)
    auth.authorize(_challenged(_bearer()), "")
    clock.now += 49.9
    auth.authorize(_challenged(_bearer()), "")
    assert service.count == 1
    clock.now += 0.2
    auth.authorize(_challenged(_bearer()), "")
    assert service.count == 2


def test_challenge_scope_joins_the_requested_one() -> None:
    service = TokenService()
    auth = _auth(service)
    auth.authorize(_challenged(_bearer(scope="repository:a/b:pull")), "repository:a/b:pull")
    auth.authorize(_challenged(_bearer(scope="repository:src:pull")), "repository:a/b:pull,push")
    scopes = [
        [v for k, v in urllib.parse.parse_qsl(r.url.query.decode()) if k == "scope"] for r in service.requests
    ]
    assert scopes == [["repository:a/b:pull"], ["repository:a/b:pull,push", "repository:src:pull"]]


def test_insufficient_scope_with_our_token_is_access_denied() -> None:
    reader = Credentials(username="reader", password="pw")
    auth = _auth(TokenService(), reader)
    headers = auth.authorize(_challenged(_bearer()), "repository:team/app:pull,push")
    retried = _challenged(
        _bearer("repository:team/app:pull,push", "insufficient_scope"), sent=headers["Authorization"]
    )
    with pytest.raises(AccessDenied) as caught:
        auth.authorize(retried, "repository:team/app:pull,push")
    assert (
        caught.value.message == "access denied to team/app on 127.0.0.1:5000: user 'reader' may not pull/push"
    )
    assert caught.value.hint.startswith("ask the registry's operator for access")


def test_insufficient_scope_with_another_token_fetches_one() -> None:
    auth = _auth(TokenService(), ALICE)
    retried = _challenged(_bearer(error="insufficient_scope"), sent="Bearer someone-elses")
    assert auth.authorize(retried, "repository:a/b:push") == {"Authorization": "Bearer t1"}


def test_anonymous_insufficient_scope_asks_for_a_login() -> None:
    auth = _auth(TokenService())
    headers = auth.authorize(_challenged(_bearer()), "repository:a/b:pull")
    with pytest.raises(AccessDenied, match=r"^127\.0\.0\.1:5000 requires a login for a/b$"):
        auth.authorize(
            _challenged(_bearer(error="insufficient_scope"), sent=headers["Authorization"]),
            "repository:a/b:pull",
        )


def test_a_refused_token_is_replaced() -> None:
    service = TokenService()
    auth = _auth(service, ALICE)
    first = auth.authorize(_challenged(_bearer()), "repository:a/b:pull")
    again = auth.authorize(
        _challenged(_bearer(error="invalid_token"), sent=first["Authorization"]), "repository:a/b:pull"
    )
    assert again == {"Authorization": "Bearer t2"}


@pytest.mark.parametrize(
    ("status", "credentials", "message"),
    [
        (
            401,
            ALICE,
            "127.0.0.1:5000 rejected the user name 'alice' or its password (from /tmp/config.json): wrong user name or password",
        ),
        (401, None, "127.0.0.1:5000 requires a login for a/b"),
        (403, ALICE, "access denied to a/b on 127.0.0.1:5000: user 'alice' may not pull"),
        (403, None, "127.0.0.1:5000 requires a login for a/b"),
    ],
)
def test_token_service_refusals(status: int, credentials: Credentials | None, message: str) -> None:
    auth = _auth(TokenService([httpx.Response(status)]), credentials)
    with pytest.raises(AccessDenied) as caught:
        auth.authorize(_challenged(_bearer()), "repository:a/b:pull")
    assert caught.value.message == message
    assert caught.value.status == status


def test_token_service_failures_are_registry_errors() -> None:
    auth = _auth(TokenService([httpx.Response(503)]))
    with pytest.raises(RegistryError) as caught:
        auth.authorize(_challenged(_bearer()), "")
    assert caught.value.message == f"GET {REALM}: HTTP 503 from the token service of 127.0.0.1:5000"
    assert caught.value.retryable

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(
        RegistryError, match=r"^cannot get a token for 127\.0\.0\.1:5000 from .*ConnectError"
    ) as err:
        _auth(refuse).authorize(_challenged(_bearer()), "")
    assert err.value.retryable


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json=["token"]),
        httpx.Response(200, json={"token": ""}),
        httpx.Response(200, json={"expires_in": 60}),
    ],
)
def test_answers_without_a_token(answer: httpx.Response) -> None:
    with pytest.raises(NetworkError, match=f"^the token service {re.escape(REALM)} answered without a token"):
        _auth(TokenService([answer])).authorize(_challenged(_bearer()), "")


def test_token_answer_size_is_capped() -> None:
    big = httpx.Response(200, content=b"x" * 2000)
    auth = _auth(TokenService([big]), config=AuthConfig(max_token_response=1000))
    with pytest.raises(
        NetworkError, match=f"^the answer of the token service {re.escape(REALM)} exceeds 1000 bytes$"
    ):
        auth.authorize(_challenged(_bearer()), "")


def test_identity_token_uses_the_oauth2_refresh_grant() -> None:
    service = TokenService([httpx.Response(200, json={"access_token": "fresh", "expires_in": 120})])
    auth = _auth(service, Credentials(identity_token="refresh-me"))
    assert auth.authorize(_challenged(_bearer()), "repository:a/b:pull") == {"Authorization": "Bearer fresh"}
    (sent,) = service.requests
    assert sent.method == "POST"
    assert dict(urllib.parse.parse_qsl(sent.content.decode())) == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-me",
        "client_id": "dockwright",
        "service": "reg",
        "scope": "repository:a/b:pull",
    }


def test_identity_token_rejected_by_the_token_service() -> None:
    auth = _auth(
        TokenService([httpx.Response(400, json={"error": "invalid_grant"})]), Credentials(identity_token="x")
    )
    with pytest.raises(AccessDenied, match=r"^127\.0\.0\.1:5000 rejected the stored identity token: wrong"):
        auth.authorize(_challenged(_bearer()), "")


def test_credentials_never_go_to_a_plain_http_realm_elsewhere() -> None:
    challenge = 'Bearer realm="http://auth.invalid/token",service="reg"'
    with pytest.raises(InputError, match=r"over plain HTTP to auth\.invalid$"):
        _auth(TokenService(), ALICE).authorize(_challenged(challenge), "")
    assert _auth(TokenService()).authorize(_challenged(challenge), "") == {"Authorization": "Bearer t1"}


@pytest.mark.parametrize(
    ("challenge", "message"),
    [
        (
            None,
            "127.0.0.1:5000 answered 401 asking for an authentication scheme dockwright does not speak (none)",
        ),
        (
            "Negotiate abc==",
            "127.0.0.1:5000 answered 401 asking for an authentication scheme dockwright does not speak (negotiate)",
        ),
        ('Bearer service="reg"', "127.0.0.1:5000 sent a Bearer challenge without a realm"),
        ('Bearer realm="/token"', "127.0.0.1:5000 names a token realm that is not a URL: /token"),
    ],
)
def test_unusable_challenges(challenge: str | None, message: str) -> None:
    with pytest.raises(NetworkError) as caught:
        _auth(TokenService(), ALICE).authorize(_challenged(challenge), "")
    assert caught.value.message == message


def test_bearer_is_preferred_over_basic() -> None:
    challenge = f'Basic realm="r", {_bearer()}'
    assert _auth(TokenService(), ALICE).authorize(_challenged(challenge), "") == {
        "Authorization": "Bearer t1"
    }


def test_from_store_reads_the_stored_credentials(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    entry = base64.b64encode(b"alice:s3cret").decode()
    config.write_text(json.dumps({"auths": {REGISTRY: {"auth": entry}}}))
    with RegistryAuth.from_store(REGISTRY, config_path=config) as auth:
        assert auth.credentials == Credentials(username="alice", password="s3cret", source=str(config))
        assert "s3cret" not in repr(auth.credentials)
    with RegistryAuth.from_store("127.0.0.1:6000", config_path=config) as anonymous:
        assert anonymous.credentials is None


def test_scopes_are_merged_whatever_order_the_registry_writes_them_in() -> None:
    from dockwright.registry.auth import _normalize_scopes

    assert _normalize_scopes(["repository:a/b:push,pull", "repository:a/b:pull"]) == (
        "repository:a/b:pull,push",
    )
    assert _normalize_scopes(["repository:a/b:pull,push"]) == _normalize_scopes(["repository:a/b:push,pull"])
    assert _normalize_scopes(["repository:z:pull", "registry:catalog:*"]) == (
        "registry:catalog:*",
        "repository:z:pull",
    )
