"""The distribution-spec client's manifests, tags and referrers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dockwright.errors import DigestMismatchError, InputError
from dockwright.oci.descriptor import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index, Manifest
from dockwright.registry import (
    FetchedManifest,
    ManifestNotFound,
    RegistryClient,
    RegistryError,
    RepositoryNotFound,
)
from tests.unit.registry_fake import (
    BASE,
    BLOB,
    FakeRegistry,
    _error,
    _json,
    make_client,
)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def client(registry: FakeRegistry) -> Iterator[RegistryClient]:
    with make_client(registry) as c:
        yield c


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
