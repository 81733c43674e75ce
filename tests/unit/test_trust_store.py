"""Metadata stores: the tag mapping, OCI artifacts in a layout and a registry, and copying."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, InputError
from dockwright.oci.descriptor import ANNOTATION_REF_NAME, OCI_EMPTY, OCI_MANIFEST
from dockwright.oci.digest import Digest
from dockwright.oci.layout import blob_path
from dockwright.trust import (
    MemoryMetadataStore,
    OciLayoutMetadataStore,
    RegistryMetadataStore,
    TrustError,
    copy_metadata,
    filename_for,
    tag_for,
)
from dockwright.trust.metadata_store import TUF_ARTIFACT_TYPE, TUF_METADATA_MEDIA_TYPE
from tests.fakeregistry import FakeRegistry, make_image
from tests.unit.trust_support import Keys, client, make_repo


@pytest.mark.parametrize(
    ("filename", "tag"),
    [
        ("1.root.json", "tuf-1.root.json"),
        ("timestamp.json", "tuf-timestamp.json"),
        ("3.snapshot.json", "tuf-3.snapshot.json"),
        ("5.bins-0f.json", "tuf-5.bins-0f.json"),
        ("12345678901234567890.ci.json", "tuf-12345678901234567890.ci.json"),
    ],
)
def test_filename_tag_mapping_is_reversible(filename: str, tag: str) -> None:
    assert tag_for(filename) == tag
    assert filename_for(tag) == filename


@pytest.mark.parametrize(
    "bad", ["root", "1.Root.json", "../x.json", "0.root.json", "a/b.json", "x" * 200 + ".json"]
)
def test_unmappable_filenames_are_refused(bad: str) -> None:
    with pytest.raises(InputError, match="invalid TUF metadata file name"):
        tag_for(bad)


@pytest.mark.parametrize("tag", ["latest", "v1.0", "sha256-" + "a" * 64, "tuf-", "tuf-root"])
def test_other_tags_are_not_metadata(tag: str) -> None:
    assert filename_for(tag) is None


def test_layout_store_keeps_artifacts_beside_images(tmp_path: Path) -> None:
    layout = tmp_path / "app"
    make_image(layout, "v1", [b"hello"])
    store = OciLayoutMetadataStore(layout)
    assert store.get("1.root.json") is None
    store.put("1.root.json", b'{"signed": 1}')
    store.put("timestamp.json", b'{"t": 1}')
    store.put("timestamp.json", b'{"t": 2}')
    assert store.get("1.root.json") == b'{"signed": 1}'
    assert store.get("timestamp.json") == b'{"t": 2}'
    assert store.names() == ["1.root.json", "timestamp.json"]
    index = json.loads((layout / "index.json").read_text())
    tags = [m.get("annotations", {}).get(ANNOTATION_REF_NAME) for m in index["manifests"]]
    # the replaced timestamp stays as an untagged entry, as skopeo leaves a re-tagged image
    assert sorted(tags, key=str) == [None, "tuf-1.root.json", "tuf-timestamp.json", "v1"]
    entry = next(m for m in index["manifests"] if tags[index["manifests"].index(m)] == "tuf-1.root.json")
    manifest = json.loads(blob_path(layout, Digest.parse(entry["digest"])).read_bytes())
    assert manifest["artifactType"] == TUF_ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == OCI_EMPTY
    assert manifest["config"]["size"] == 2
    assert [layer["mediaType"] for layer in manifest["layers"]] == [TUF_METADATA_MEDIA_TYPE]
    assert manifest["layers"][0]["annotations"]["org.opencontainers.image.title"] == "1.root.json"


def test_layout_store_detects_a_changed_blob(tmp_path: Path) -> None:
    store = OciLayoutMetadataStore(tmp_path / "l")
    store.put("1.root.json", b"original")
    blob_path(tmp_path / "l", Digest.of(b"original")).write_bytes(b"tampered")
    with pytest.raises(DigestMismatchError):
        store.get("1.root.json")


def test_layout_store_refuses_a_tuf_tag_on_an_image(tmp_path: Path) -> None:
    layout = tmp_path / "app"
    make_image(layout, "tuf-1.root.json", [b"hello"])
    with pytest.raises(TrustError, match="not a TUF metadata artifact"):
        OciLayoutMetadataStore(layout).get("1.root.json")


def test_registry_store_round_trip() -> None:
    registry = FakeRegistry()
    store = RegistryMetadataStore(registry, "team/app")
    assert store.location == "127.0.0.1:5000/team/app"
    assert store.get("1.root.json") is None
    assert store.names() == []
    store.put("1.root.json", b"root bytes")
    store.put("2.snapshot.json", b"snapshot bytes")
    assert store.get("1.root.json") == b"root bytes"
    assert store.names() == ["1.root.json", "2.snapshot.json"]
    manifest = json.loads(registry.tagged("team/app", "tuf-1.root.json"))
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["artifactType"] == TUF_ARTIFACT_TYPE
    uploads = [d for d, _ in registry.uploads]
    assert uploads.count(Digest.of(b"{}")) == 1  # the empty config is uploaded once


def test_copy_metadata_survives_copying_between_stores(tmp_path: Path) -> None:
    keys = Keys()
    source = OciLayoutMetadataStore(tmp_path / "layout")
    repo = make_repo(source, keys, bin_bits=2)
    repo.sign_tag("v1", b"manifest one")
    target = RegistryMetadataStore(FakeRegistry(), "mirror/app")
    copied = copy_metadata(source, target)
    assert copied[-1] == "timestamp.json"
    assert target.names() == source.names()
    found = client(target, tmp_path / "cache").tag("v1")
    assert found.digest == Digest.of(b"manifest one")


def test_memory_store_checks_names() -> None:
    store = MemoryMetadataStore()
    with pytest.raises(InputError):
        store.put("root", b"x")
    with pytest.raises(InputError, match=r"holds no 9\.root\.json"):
        copy_metadata(store, MemoryMetadataStore(), ["9.root.json"])
