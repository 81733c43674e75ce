"""Descriptors, image config, manifest and index: canonical bytes, validation, unknown fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockwright.errors import InputError
from dockwright.oci.descriptor import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, Descriptor, Platform
from dockwright.oci.digest import Digest
from dockwright.oci.image import (
    ContainerConfig,
    History,
    ImageConfig,
    Index,
    Manifest,
    RootFS,
    canonical_json,
    rfc3339,
)

D1 = Digest.of(b"one")
D2 = Digest.of(b"two")


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": ["é", {"d": None, "c": True}]}) == (
        '{"a":["é",{"c":true,"d":null}],"b":1}'.encode()
    )


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1700000000) == "2023-11-14T22:13:20Z"


def test_descriptor_round_trip_keeps_unknown_fields() -> None:
    data = {
        "mediaType": OCI_MANIFEST,
        "digest": str(D1),
        "size": 7,
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8", "x-future": 1},
        "x-vendor": {"keep": ["me"]},
    }
    descriptor = Descriptor.from_dict(data)
    assert descriptor.platform == Platform(
        architecture="arm64", os="linux", variant="v8", extra={"x-future": 1}
    )
    assert descriptor.to_dict() == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "descriptor must be a JSON object, not an array"),
        ({"digest": str(D1), "size": 1}, "descriptor.mediaType must be a string, not null"),
        (
            {"mediaType": "x", "digest": "md5:00", "size": 1},
            ("descriptor.digest: unsupported digest algorithm 'md5': only sha256 is accepted"),
        ),
        (
            {"mediaType": "x", "digest": str(D1), "size": -1},
            "descriptor.size must be a non-negative integer, not -1",
        ),
        (
            {"mediaType": "x", "digest": str(D1), "size": True},
            ("descriptor.size must be a non-negative integer, not True"),
        ),
        (
            {"mediaType": "x", "digest": str(D1), "size": 1, "annotations": {"a": 1}},
            ("descriptor.annotations['a'] must be a string, not a number"),
        ),
    ],
)
def test_descriptor_rejects(data: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        Descriptor.from_dict(data)
    assert info.value.message == message


def _config() -> ImageConfig:
    return ImageConfig(
        architecture="amd64",
        os="linux",
        created="1970-01-01T00:00:00Z",
        config=ContainerConfig(
            user="app",
            env=("PATH=/usr/bin", "A=1"),
            entrypoint=("/bin/app",),
            cmd=(),
            exposed_ports=("8080/tcp",),
            working_dir="/srv",
            labels={"k": "v"},
        ),
        rootfs=RootFS(diff_ids=(D1, D2)),
        history=(History(created="1970-01-01T00:00:00Z", created_by="base"), History(created_by="app")),
    )


def test_config_serializes_as_the_spec_says() -> None:
    decoded = json.loads(_config().to_json())
    assert decoded == {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "User": "app",
            "Env": ["PATH=/usr/bin", "A=1"],
            "Entrypoint": ["/bin/app"],
            "Cmd": [],
            "ExposedPorts": {"8080/tcp": {}},
            "WorkingDir": "/srv",
            "Labels": {"k": "v"},
        },
        "rootfs": {"type": "layers", "diff_ids": [str(D1), str(D2)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "base"}, {"created_by": "app"}],
    }


def test_config_round_trip_is_byte_identical_and_keeps_unknown_fields() -> None:
    data = json.loads(_config().to_json())
    data["config"]["Healthcheck"] = {"Test": ["CMD", "true"]}
    data["os.version"] = "10"
    raw = canonical_json(data)
    assert ImageConfig.from_json(raw).to_json() == raw


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"rootfs": {"type": "dirs", "diff_ids": []}}, "config.rootfs.type must be 'layers', not 'dirs'"),
        ({"architecture": None}, "config.architecture must be a string, not null"),
        ({"config": {"Env": "A=1"}}, "config.config.Env must be an array of strings, not a string"),
        ({"history": [{"empty_layer": "yes"}]}, "config.history[0].empty_layer must be a boolean"),
    ],
)
def test_config_rejects(patch: dict[str, Any], message: str) -> None:
    data = {**json.loads(_config().to_json()), **patch}
    with pytest.raises(InputError) as info:
        ImageConfig.from_dict(data)
    assert info.value.message == message


def test_config_from_json_rejects_non_json() -> None:
    with pytest.raises(InputError, match="image config is not valid JSON"):
        ImageConfig.from_json(b"\xff{")


def _manifest(**kwargs: Any) -> Manifest:
    return Manifest(
        config=Descriptor(media_type=OCI_CONFIG, digest=D1, size=3),
        layers=(Descriptor(media_type=OCI_LAYER_GZIP, digest=D2, size=5),),
        **kwargs,
    )


def test_manifest_serialization() -> None:
    raw = _manifest(annotations={"a": "b"}).to_json()
    assert raw == canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": str(D1), "size": 3},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": str(D2), "size": 5}],
            "annotations": {"a": "b"},
        }
    )
    assert Manifest.from_json(raw) == _manifest(annotations={"a": "b"})


def test_manifest_subject_and_artifact_type_round_trip() -> None:
    subject = Descriptor(media_type=OCI_MANIFEST, digest=D1, size=9)
    manifest = _manifest(subject=subject, artifact_type="application/spdx+json")
    assert Manifest.from_json(manifest.to_json()) == manifest


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"schemaVersion": 1}, "manifest.schemaVersion must be 2, not 1"),
        ({"layers": None}, "manifest.layers must be an array of descriptors"),
        (
            {"layers": [{"mediaType": "x", "digest": "nope", "size": 1}]},
            ("manifest.layers[0].digest: malformed digest 'nope': expected sha256:<64 hex digits>"),
        ),
    ],
)
def test_manifest_rejects(patch: dict[str, Any], message: str) -> None:
    data = {**_manifest().to_dict(), **patch}
    with pytest.raises(InputError) as info:
        Manifest.from_dict(data)
    assert info.value.message == message


def test_index_round_trip() -> None:
    raw = canonical_json(
        {
            "schemaVersion": 2,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": str(D1), "size": 3}],
            "x-extra": 1,
        }
    )
    index = Index.from_json(raw)
    assert index.media_type is None
    assert index.to_json() == raw
    assert Index().to_dict() == {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [],
    }
