"""TUF metadata kept in a real registry (Debian's docker-registry): init, sign, resolve, copy."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockwright.oci.descriptor import OCI_EMPTY, OCI_LAYER, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Manifest
from dockwright.registry import RegistryClient
from dockwright.trust import (
    OciLayoutMetadataStore,
    RegistryMetadataStore,
    RootPins,
    TrustClient,
    copy_metadata,
    initial_root,
)
from dockwright.trust.metadata_store import TUF_ARTIFACT_TYPE
from tests.integration import registry_fixtures
from tests.integration.registry_fixtures import RunningRegistry
from tests.unit.trust_support import Keys, make_repo

pytestmark = pytest.mark.integration
registry_anon = registry_fixtures.registry_anon


@pytest.fixture
def registry(registry_anon: RunningRegistry) -> Iterator[RegistryClient]:
    with RegistryClient(registry_anon.registry, plain_http=True) as client:
        yield client


def _push_image(client: RegistryClient, repository: str, tag: str, content: bytes) -> Descriptor:
    for blob in (b"{}", content):
        digest = Digest.of(blob)
        if client.blob_size(repository, digest) is None:
            client.upload_blob(repository, digest, len(blob), lambda at, b=blob: io.BytesIO(b[at:]))
    manifest = Manifest(
        config=Descriptor(media_type=OCI_EMPTY, digest=Digest.of(b"{}"), size=2),
        layers=(Descriptor(media_type=OCI_LAYER, digest=Digest.of(content), size=len(content)),),
    ).to_json()
    digest = client.put_manifest(repository, tag, manifest, OCI_MANIFEST)
    return Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(manifest))


def test_tags_signed_in_the_registry_resolve_through_tuf(registry: RegistryClient, tmp_path: Path) -> None:
    repository = "trust/app"
    image = _push_image(registry, repository, "v1", b"layer one")
    store = RegistryMetadataStore(registry, repository)
    keys = Keys()
    repo = make_repo(store, keys, bin_bits=4)
    repo.sign_tag("v1", image)
    tags = registry.list_tags(repository)
    assert "v1" in tags and "tuf-1.root.json" in tags and "tuf-timestamp.json" in tags
    stored = json.loads(registry.get_manifest(repository, "tuf-timestamp.json").data)
    assert stored["artifactType"] == TUF_ARTIFACT_TYPE

    pins = RootPins(tmp_path / "trust")
    pins.pin(store.location, initial_root(store))
    pinned = pins.load(store.location)
    assert pinned is not None
    assert pins.path(store.location) == tmp_path / "trust" / registry.registry / "trust" / "app" / "root.json"
    trust = TrustClient(store, trusted_root=pinned, cache_dir=tmp_path / "cache")
    found = trust.tag("v1")
    assert found.digest == image.digest and found.media_type == OCI_MANIFEST
    found.check(registry.get_manifest(repository, str(found.digest)).data)

    # the trust data survives copying: the tuf- tags alone, into an offline layout
    layout = OciLayoutMetadataStore(tmp_path / "offline")
    copy_metadata(store, layout)
    offline = TrustClient(layout, trusted_root=pinned, cache_dir=tmp_path / "cache-offline")
    assert offline.tag("v1").digest == image.digest


def test_default_hash_bins_in_the_registry(registry: RegistryClient, tmp_path: Path) -> None:
    store = RegistryMetadataStore(registry, "trust/bins")
    repo = make_repo(store, Keys())
    repo.sign_tags({f"build-{i}": f"manifest {i}".encode() for i in range(300)})
    trust = TrustClient(store, trusted_root=initial_root(store), cache_dir=tmp_path)
    assert trust.tag("build-42").digest == Digest.of(b"manifest 42")
    assert len(trust.stats.files) == 5  # timestamp, snapshot, targets, bins, one bin
