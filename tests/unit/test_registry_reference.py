"""docker:// references: the registry is always named, the distribution grammar, exact errors."""

from __future__ import annotations

import pytest

from dockwright.errors import ImageReferenceError
from dockwright.oci.digest import Digest
from dockwright.registry.reference import (
    RegistryReference,
    parse_registry_reference,
    validate_registry,
    validate_repository,
    validate_tag,
)

HEX = "0123456789abcdef" * 4
DIGEST = Digest(algorithm="sha256", hex=HEX)
SYNTAX = "docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]"


def _ref(
    registry: str, repository: str, tag: str | None = "latest", digest: Digest | None = None
) -> RegistryReference:
    return RegistryReference(registry=registry, repository=repository, tag=tag, digest=digest)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("docker://127.0.0.1:5000/app:1", _ref("127.0.0.1:5000", "app", "1")),
        ("docker://127.0.0.1:5000/app", _ref("127.0.0.1:5000", "app")),
        ("docker://localhost/app", _ref("localhost", "app")),
        ("docker://localhost:5000/team/app:v1.2-rc_3", _ref("localhost:5000", "team/app", "v1.2-rc_3")),
        ("docker://reg.example/a/b/c", _ref("reg.example", "a/b/c")),
        ("docker://reg.example/a__b/c-d.e/f--g:T_1", _ref("reg.example", "a__b/c-d.e/f--g", "T_1")),
        ("docker://[::1]:5000/app:1", _ref("[::1]:5000", "app", "1")),
        ("docker://[::1]/app", _ref("[::1]", "app")),
        (f"docker://127.0.0.1:5000/app@sha256:{HEX}", _ref("127.0.0.1:5000", "app", None, DIGEST)),
        ("docker://h.test/app:" + "x" * 128, _ref("h.test", "app", "x" * 128)),
        ("docker://h.test/app:_x", _ref("h.test", "app", "_x")),
        ("docker://Reg.Example:443/app", _ref("Reg.Example:443", "app")),
    ],
)
def test_parses(text: str, expected: RegistryReference) -> None:
    assert parse_registry_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("127.0.0.1:5000/app", "missing docker:// transport", 0),
        ("oci:dir", "missing docker:// transport", 0),
        (
            "docker://app:1",
            "missing registry host (none is implied: name it, e.g. docker://127.0.0.1:5000/app:1)",
            9,
        ),
        (
            "docker://library/app",
            "missing registry host (none is implied: name it, e.g. docker://127.0.0.1:5000/library/app)",
            9,
        ),
        (
            "docker://localhostx/app",
            "missing registry host (none is implied: name it, e.g. docker://127.0.0.1:5000/localhostx/app)",
            9,
        ),
        ("docker://", "missing registry host", 9),
        ("docker:///app", "missing registry host", 9),
        ("docker://127.0.0.1:5000", "missing repository", 23),
        ("docker://h.test/", "missing repository", 16),
        ("docker://h.test/:1", "missing repository", 16),
        ("docker://h_x.test/app", "invalid registry host", 10),
        ("docker://127.0.0.1:/app", "invalid registry host", 19),
        ("docker://127.0.0.1:123456/app", "invalid registry host", 24),
        ("docker://h.test/App", "repository name must be lowercase", 16),
        ("docker://h.test/team/aPp", "repository name must be lowercase", 22),
        ("docker://h.test/a-/b", "invalid repository name", 18),
        ("docker://h.test/a//b", "invalid repository name", 18),
        ("docker://h.test/a___b", "invalid repository name", 19),
        ("docker://h.test/app:", "invalid tag", 20),
        ("docker://h.test/app:-x", "invalid tag", 20),
        ("docker://h.test/app:a+b", "invalid tag", 21),
        ("docker://h.test/app:" + "x" * 129, "invalid tag", 148),
        ("docker://h.test/app@sha256:xyz", "invalid digest (sha256:<64 lowercase hex digits>)", 27),
        ("docker://h.test/app@sha512:aa", "invalid digest (sha256:<64 lowercase hex digits>)", 23),
        (
            f"docker://h.test/app@sha256:{HEX.upper()}",
            "invalid digest (sha256:<64 lowercase hex digits>)",
            37,
        ),
        (f"docker://h.test/app@sha256:{HEX}0", "invalid digest (sha256:<64 lowercase hex digits>)", 91),
        ("docker://h.test/app@", "invalid digest (sha256:<64 lowercase hex digits>)", 20),
        (f"docker://h.test/app:1@sha256:{HEX}", "a tag and a digest together (write one of them)", 20),
        ("docker://h.test/" + "a" * 250, "image name longer than 255 characters", 264),
    ],
)
def test_errors_show_reason_syntax_and_column(text: str, reason: str, column: int) -> None:
    with pytest.raises(ImageReferenceError) as caught:
        parse_registry_reference(text)
    expected = f"{reason} in image reference {text!r}: expected {SYNTAX}\n  {text}\n  {' ' * column}^"
    assert caught.value.message == expected
    assert caught.value.hint == f"write {SYNTAX}, e.g. docker://127.0.0.1:5000/app:1"


@pytest.mark.parametrize(
    "text",
    [
        "docker://127.0.0.1:5000/app:1",
        "docker://localhost/team/app:latest",
        f"docker://[::1]:5000/app@sha256:{HEX}",
    ],
)
def test_str_round_trips(text: str) -> None:
    assert str(parse_registry_reference(text)) == text


def test_reference_is_the_digest_or_the_tag() -> None:
    assert parse_registry_reference("docker://localhost/app").reference == "latest"
    assert parse_registry_reference("docker://localhost/app:v2").reference == "v2"
    by_digest = parse_registry_reference(f"docker://localhost/app@sha256:{HEX}")
    assert by_digest.reference == f"sha256:{HEX}"
    assert by_digest.tag is None


def test_validators() -> None:
    validate_registry("127.0.0.1:5000")
    validate_repository("team/app")
    validate_tag("v1.0")
    with pytest.raises(
        ImageReferenceError, match=r"^invalid registry address 'a/b': expected HOST\[:PORT\]$"
    ):
        validate_registry("a/b")
    with pytest.raises(ImageReferenceError, match=r"^invalid repository name '\.\./x'"):
        validate_repository("../x")
    with pytest.raises(ImageReferenceError, match=r"^invalid tag '\.x'"):
        validate_tag(".x")
