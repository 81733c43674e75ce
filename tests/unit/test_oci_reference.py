"""Transport reference parsing: skopeo's rules, and errors that show the syntax and the spot."""

from __future__ import annotations

import pytest

from dockwright.errors import ImageReferenceError
from dockwright.oci.reference import (
    DockerArchiveReference,
    DockerName,
    OciReference,
    Reference,
    parse_docker_name,
    parse_reference,
)


def _name(domain: str, path: str, tag: str = "latest") -> DockerName:
    return DockerName(domain=domain, path=path, tag=tag)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci:/path/dir:latest", OciReference(path="/path/dir", tag="latest")),
        ("oci:out", OciReference(path="out")),
        ("oci:out:", OciReference(path="out")),  # skopeo: an empty tag is no tag
        ("oci:./out:v1.2-rc_3", OciReference(path="./out", tag="v1.2-rc_3")),
        ("oci:/tmp/a:b:c", OciReference(path="/tmp/a", tag="b:c")),  # split at the FIRST colon
        ("oci:out:example.com/app:1.0", OciReference(path="out", tag="example.com/app:1.0")),
        ("oci:out:a--b", OciReference(path="out", tag="a--b")),
        ("docker-archive:out.tar", DockerArchiveReference(path="out.tar")),
        (
            "docker-archive:out.tar:app",
            DockerArchiveReference(path="out.tar", name=_name("docker.io", "library/app")),
        ),
        (
            "docker-archive:/x/out.tar:app:1.0",
            DockerArchiveReference(path="/x/out.tar", name=_name("docker.io", "library/app", "1.0")),
        ),
        (
            "docker-archive:o.tar:me/app:v1",
            DockerArchiveReference(path="o.tar", name=_name("docker.io", "me/app", "v1")),
        ),
        (
            "docker-archive:o.tar:localhost:5000/a/b:1.0",
            DockerArchiveReference(path="o.tar", name=_name("localhost:5000", "a/b", "1.0")),
        ),
        (
            "docker-archive:o.tar:localhost/app",
            DockerArchiveReference(path="o.tar", name=_name("localhost", "app")),
        ),
        (
            "docker-archive:o.tar:index.docker.io/me/app",
            DockerArchiveReference(path="o.tar", name=_name("docker.io", "me/app")),
        ),
        (
            "docker-archive:o.tar:ghcr.io/o/a__b.c-d:T_1",
            DockerArchiveReference(path="o.tar", name=_name("ghcr.io", "o/a__b.c-d", "T_1")),
        ),
        ("docker-archive:o.tar:@2", DockerArchiveReference(path="o.tar", source_index=2)),
    ],
)
def test_parses(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("oci:/d:t", "oci:/d:t"),
        ("oci:d:", "oci:d"),
        ("docker-archive:f:app", "docker-archive:f:docker.io/library/app:latest"),
        ("docker-archive:f:@0", "docker-archive:f:@0"),
    ],
)
def test_str_round_trips(text: str, canonical: str) -> None:
    assert str(parse_reference(text)) == canonical
    assert parse_reference(canonical) == parse_reference(text)


OCI = "expected oci:DIR[:TAG]"
ARCHIVE = "expected docker-archive:FILE[:NAME[:TAG]]"
ANY = "expected oci:DIR[:TAG] or docker-archive:FILE[:NAME[:TAG]]"
BAD_TAG = "invalid tag (letters and digits, joined by one of - . _ : @ + or --, parts split by /)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("out", f"missing transport in image reference 'out': {ANY}\n  out\n  ^"),
        (
            "docker://x",
            f"unknown transport 'docker' in image reference 'docker://x': {ANY}\n  docker://x\n  ^",
        ),
        ("oci:", f"empty directory in image reference 'oci:': {OCI}\n  oci:\n      ^"),
        ("oci::v1", f"empty directory in image reference 'oci::v1': {OCI}\n  oci::v1\n      ^"),
        (
            "oci:d:bad tag",
            f"{BAD_TAG} in image reference 'oci:d:bad tag': {OCI}\n  oci:d:bad tag\n           ^",
        ),
        ("oci:d:a..b", f"{BAD_TAG} in image reference 'oci:d:a..b': {OCI}\n  oci:d:a..b\n          ^"),
        ("oci:d:-a", f"{BAD_TAG} in image reference 'oci:d:-a': {OCI}\n  oci:d:-a\n        ^"),
        ("oci:d:a-", f"{BAD_TAG} in image reference 'oci:d:a-': {OCI}\n  oci:d:a-\n          ^"),
        ("oci:d:é", f"{BAD_TAG} in image reference 'oci:d:é': {OCI}\n  oci:d:é\n        ^"),
        (
            "docker-archive:",
            f"empty file name in image reference 'docker-archive:': {ARCHIVE}\n  docker-archive:\n                 ^",
        ),
        (
            "docker-archive:f:App",
            f"repository name must be lowercase in image reference 'docker-archive:f:App': {ARCHIVE}\n"
            "  docker-archive:f:App\n                   ^",
        ),
        (
            "docker-archive:f:app@sha256:00",
            "digest not allowed (archives name images by tag) in image reference "
            f"'docker-archive:f:app@sha256:00': {ARCHIVE}\n  docker-archive:f:app@sha256:00\n"
            "                      ^",
        ),
        (
            "docker-archive:f:app:",
            f"invalid tag in image reference 'docker-archive:f:app:': {ARCHIVE}\n"
            "  docker-archive:f:app:\n                       ^",
        ),
        (
            "docker-archive:f:app:-x",
            f"invalid tag in image reference 'docker-archive:f:app:-x': {ARCHIVE}\n"
            "  docker-archive:f:app:-x\n                       ^",
        ),
        (
            "docker-archive:f:my_host:5000/a",
            f"invalid registry host in image reference 'docker-archive:f:my_host:5000/a': {ARCHIVE}\n"
            "  docker-archive:f:my_host:5000/a\n                     ^",
        ),
        (
            "docker-archive:f:a//b",
            f"invalid repository name in image reference 'docker-archive:f:a//b': {ARCHIVE}\n"
            "  docker-archive:f:a//b\n                     ^",
        ),
        (
            "docker-archive:f:@x",
            f"invalid source index (@N takes a number) in image reference 'docker-archive:f:@x': {ARCHIVE}\n"
            "  docker-archive:f:@x\n                    ^",
        ),
    ],
)
def test_rejects_with_syntax_and_caret(text: str, message: str) -> None:
    with pytest.raises(ImageReferenceError) as info:
        parse_reference(text)
    assert info.value.message == message
    assert info.value.exit_code == 2


def test_name_length_limit() -> None:
    with pytest.raises(ImageReferenceError, match="longer than 255"):
        parse_reference("docker-archive:f:" + "a" * 256)


def test_parse_docker_name_alone() -> None:
    assert parse_docker_name("app:1") == _name("docker.io", "library/app", "1")
    assert str(parse_docker_name("app")) == "docker.io/library/app:latest"
    with pytest.raises(ImageReferenceError) as info:
        parse_docker_name("A")
    assert info.value.message == (
        "repository name must be lowercase in image reference 'A': expected NAME[:TAG]\n  A\n  ^"
    )
