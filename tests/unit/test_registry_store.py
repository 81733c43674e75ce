"""Local image stores: OCI layouts (tags, referrers, verified readers) and docker-archives (built manifests)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockwright.errors import DigestMismatchError, InputError
from dockwright.inspect.source import open_image
from dockwright.oci.descriptor import (
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
)
from dockwright.oci.digest import Digest
from dockwright.oci.image import Manifest
from dockwright.oci.layout import blob_path
from dockwright.oci.reference import DockerArchiveReference
from dockwright.registry.content import (
    ManifestBytes,
    copy_verified,
    manifest_media_type,
    open_range,
    referrer_descriptor,
    subject_of,
)
from dockwright.registry.store import ArchiveSource, ArchiveTarget, LayoutSource, LayoutTarget
from dockwright.registry.transfer import copy_image
from tests.fakeregistry import make_image, random_bytes

CONFIG = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}


def _layer_tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _archive(
    path: Path, layers: list[tuple[bytes, bytes]], *, links: bool = False, diff_ids: list[str] | None = None
) -> None:
    """A docker-archive in the legacy layout: ``<id>/layer.tar`` (optionally a symlink) and ``<hex>.json``.

    ``layers`` holds (stored bytes, uncompressed tar) pairs.
    """
    config = dict(
        CONFIG,
        rootfs={
            "type": "layers",
            "diff_ids": diff_ids or [f"sha256:{hashlib.sha256(u).hexdigest()}" for _, u in layers],
        },
    )
    config_bytes = json.dumps(config).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    names = [f"l{i}/layer.tar" for i in range(len(layers))]
    with tarfile.open(path, "w") as tar:
        manifest = json.dumps([{"Config": config_name, "RepoTags": ["app:1"], "Layers": names}]).encode()
        for name, data in [("manifest.json", manifest), (config_name, config_bytes)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for i, (stored, _) in enumerate(layers):
            info = tarfile.TarInfo(names[i])
            if links and i > 0:
                info.type, info.linkname = tarfile.SYMTYPE, "../l0/layer.tar"
                tar.addfile(info)
            else:
                info.size = len(stored)
                tar.addfile(info, io.BytesIO(stored))


# --- manifests ----------------------------------------------------------------------------------


def test_manifest_media_type() -> None:
    assert manifest_media_type(b'{"mediaType":"' + DOCKER_MANIFEST.encode() + b'"}') == DOCKER_MANIFEST
    assert manifest_media_type(b'{"schemaVersion":2,"manifests":[]}') == OCI_INDEX
    assert manifest_media_type(b'{"schemaVersion":2,"layers":[]}', OCI_MANIFEST) == OCI_MANIFEST
    with pytest.raises(InputError, match="schema 1"):
        manifest_media_type(b'{"schemaVersion":1}')
    with pytest.raises(InputError, match="not valid JSON"):
        manifest_media_type(b"nope")


def test_referrer_descriptor_takes_artifact_type_or_config_type() -> None:
    subject = {"mediaType": OCI_MANIFEST, "digest": str(Digest.of(b"x")), "size": 1}
    with_type = ManifestBytes.of(
        json.dumps({"artifactType": "a/b", "subject": subject, "annotations": {"k": "v"}}).encode()
    )
    d = referrer_descriptor(with_type)
    assert (d.artifact_type, d.annotations, d.digest) == ("a/b", {"k": "v"}, with_type.digest)
    assert subject_of(with_type) == Digest.of(b"x")
    plain = ManifestBytes.of(json.dumps({"config": {"mediaType": "c/d"}}).encode(), OCI_MANIFEST)
    assert referrer_descriptor(plain).artifact_type == "c/d" and subject_of(plain) is None


def test_copy_verified_refuses_wrong_bytes() -> None:
    descriptor = ManifestBytes.of(b'{"layers":[]}', OCI_MANIFEST).descriptor
    out = io.BytesIO()
    copy_verified(io.BytesIO(b'{"layers":[]}'), descriptor, out, lambda n: None, "here")
    assert out.getvalue() == b'{"layers":[]}'
    with pytest.raises(DigestMismatchError, match="from here holds 13 bytes"):
        copy_verified(io.BytesIO(b'{"layers":{}}'), descriptor, io.BytesIO(), lambda n: None, "here")
    with pytest.raises(DigestMismatchError, match="holds 14 bytes"):
        copy_verified(io.BytesIO(b'{"layers":[]} '), descriptor, io.BytesIO(), lambda n: None, "here")


def test_open_range_reads_and_seeks(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    with open_range(path, 2, 5) as f:
        assert f.read() == b"23456"
        f.seek(1)
        assert f.read(2) == b"34"
        assert f.tell() == 3


# --- layouts ------------------------------------------------------------------------------------


def test_layout_source_picks_by_tag(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    one = make_image(layout, "one", [b"1"])
    make_image(layout, "two", [b"2"])
    assert LayoutSource(layout, "one").resolve().data == one.manifest
    with pytest.raises(InputError, match="holds 2 images") as info:
        LayoutSource(layout).resolve()
    assert info.value.hint == "tags here: one, two"
    with pytest.raises(InputError, match="no image tagged 'three'"):
        LayoutSource(layout, "three").resolve()
    with pytest.raises(InputError, match="oci-layout file is missing"):
        LayoutSource(tmp_path / "nothing").resolve()


def test_layout_opener_reads_as_stored_from_any_offset(tmp_path: Path) -> None:
    # An upload's bytes are verified by the registry (test_transfer: a corrupt blob is never pushed)
    layout = tmp_path / "l"
    built = make_image(layout, "t", [random_bytes(5000)])
    layer = built.layers[0].descriptor()
    path = blob_path(layout, layer.digest)
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    open_at = LayoutSource(layout, "t").opener(layer)
    assert open_at is not None
    with open_at(0) as f:
        assert f.read() == bytes(data)
    with open_at(10) as f:
        assert f.read() == bytes(data[10:])
    with pytest.raises(DigestMismatchError, match="missing"):
        LayoutSource(layout, "t").opener(ManifestBytes.of(b"{}", OCI_MANIFEST).descriptor)


def test_layout_target_adds_to_an_existing_layout(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    first = make_image(src, "a", [b"a"])
    second = make_image(src, "b", [b"b"])
    copy_image(LayoutSource(src, "a"), LayoutTarget(dst, "a"))
    summary = copy_image(LayoutSource(src, "b"), LayoutTarget(dst, "b"))
    assert summary.blobs_sent == 2  # its config and layer; nothing else was there to skip
    assert LayoutSource(dst, "a").resolve().data == first.manifest
    assert LayoutSource(dst, "b").resolve().data == second.manifest
    again = copy_image(LayoutSource(src, "a"), LayoutTarget(dst, "c"))
    assert (again.blobs_sent, again.blobs_skipped) == (0, 2)


# --- docker-archives ----------------------------------------------------------------------------


def test_archive_manifest_matches_the_builders(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    built = make_image(tmp_path, None, [b"x", b"y"], target=f"docker-archive:{archive}:app:1")
    top = ArchiveSource(DockerArchiveReference(path=str(archive))).resolve()
    assert top.data == built.manifest and top.media_type == OCI_MANIFEST
    manifest = Manifest.from_json(top.data)
    assert manifest.config.media_type == OCI_CONFIG
    assert {layer.media_type for layer in manifest.layers} == {OCI_LAYER_GZIP}


def test_archive_legacy_layout_with_links_and_plain_layers(tmp_path: Path) -> None:
    archive = tmp_path / "legacy.tar"
    tar = _layer_tar("hello", b"hi\n")
    _archive(archive, [(tar, tar), (tar, tar)], links=True)
    source = ArchiveSource(DockerArchiveReference(path=str(archive)))
    manifest = Manifest.from_json(source.resolve().data)
    assert [layer.media_type for layer in manifest.layers] == [OCI_LAYER, OCI_LAYER]
    assert manifest.layers[0].digest == Digest.of(tar) == manifest.layers[1].digest
    out = io.BytesIO()
    source.copy_blob(manifest.layers[1], out, lambda n: None)
    assert out.getvalue() == tar


def test_archive_zstd_layers(tmp_path: Path) -> None:
    archive = tmp_path / "z.tar"
    tar = _layer_tar("z", b"zstd\n" * 100)
    _archive(archive, [(zstandard.ZstdCompressor().compress(tar), tar)])
    manifest = Manifest.from_json(ArchiveSource(DockerArchiveReference(path=str(archive))).resolve().data)
    assert manifest.layers[0].media_type == OCI_LAYER_ZSTD


def test_archive_layer_must_match_its_diff_id(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tar"
    tar = _layer_tar("hello", b"hi\n")
    _archive(archive, [(gzip.compress(tar), tar)], diff_ids=[str(Digest.of(b"something else"))])
    with pytest.raises(DigestMismatchError, match="uncompresses to"):
        ArchiveSource(DockerArchiveReference(path=str(archive))).resolve()


def test_archive_refusals(tmp_path: Path) -> None:
    compressed = tmp_path / "c.tar.gz"
    compressed.write_bytes(gzip.compress(b"x" * 1024))
    with pytest.raises(InputError, match="is compressed"):
        ArchiveSource(DockerArchiveReference(path=str(compressed))).resolve()
    with pytest.raises(InputError, match="no such file"):
        ArchiveSource(DockerArchiveReference(path=str(tmp_path / "missing.tar"))).resolve()


def test_archive_target_writes_a_readable_archive(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    built = make_image(layout, "t", [b"content\n"])
    archive = tmp_path / "out.tar"
    copy_image(LayoutSource(layout, "t"), ArchiveTarget(DockerArchiveReference(path=str(archive))))
    assert ArchiveSource(DockerArchiveReference(path=str(archive))).resolve().data == built.manifest
    with open_image(f"docker-archive:{archive}") as source:
        assert source.manifest_digest == str(built.config_digest)
