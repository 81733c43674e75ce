"""write_image: config and manifest from settings, both targets, reproducibility."""

from __future__ import annotations

import dataclasses
import json
import tarfile
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, ImageReferenceError, InputError
from dockwright.fs.tree import Entry, EntryType, FileTree
from dockwright.oci.digest import Digest
from dockwright.oci.image import ImageConfig, Manifest
from dockwright.oci.image_writer import ImageConfigInput, PrebuiltLayer, build_config, write_image
from dockwright.oci.layer import LayerInfo, write_layer
from dockwright.oci.layout import read_oci_layout
from dockwright.oci.reference import OciReference

MTIME = 1_700_000_000


def _tree(text: bytes = b"hi") -> FileTree:
    tree = FileTree()
    tree.add(Entry(path="etc/hello", type=EntryType.FILE, data=text))
    return tree


SETTINGS = ImageConfigInput(
    entrypoint=["/bin/app"],
    cmd=["--serve"],
    env={"PATH": "/usr/bin", "LANG": "C.UTF-8", "A": "1"},
    workdir="/srv",
    user="1000:1000",
    ports=["8080", "53/udp", "8080/tcp"],
    labels={"org.opencontainers.image.title": "app"},
    annotations={"org.opencontainers.image.source": "https://example.com"},
    history=["base", "app"],
)


def test_config_from_settings() -> None:
    layers = [
        LayerInfo(digest=Digest.of(b"1"), diff_id=Digest.of(b"a"), size=1, uncompressed_size=2),
        LayerInfo(digest=Digest.of(b"2"), diff_id=Digest.of(b"b"), size=1, uncompressed_size=2),
    ]
    config = json.loads(build_config(SETTINGS, layers, mtime=MTIME).to_json())
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["config"] == {
        "Entrypoint": ["/bin/app"],
        "Cmd": ["--serve"],
        "Env": ["PATH=/usr/bin", "LANG=C.UTF-8", "A=1"],  # the user's order
        "WorkingDir": "/srv",
        "User": "1000:1000",
        "ExposedPorts": {"53/udp": {}, "8080/tcp": {}},
        "Labels": {"org.opencontainers.image.title": "app"},
    }
    assert config["rootfs"]["diff_ids"] == [str(Digest.of(b"a")), str(Digest.of(b"b"))]
    assert [h["created_by"] for h in config["history"]] == ["base", "app"]
    one_layer = json.loads(build_config(ImageConfigInput(created=0), layers[:1], mtime=MTIME).to_json())
    assert one_layer["history"] == [{"created": "1970-01-01T00:00:00Z", "created_by": "dockwright"}]
    assert "Entrypoint" not in one_layer["config"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            ImageConfigInput(ports=["http"]),
            "invalid port 'http': expected PORT or PORT/tcp|udp|sctp, e.g. 8080/tcp",
        ),
        (
            ImageConfigInput(ports=["70000"]),
            "invalid port '70000': expected PORT or PORT/tcp|udp|sctp, e.g. 8080/tcp",
        ),
        (ImageConfigInput(env={"A=B": "1"}), "invalid environment variable name 'A=B'"),
        (ImageConfigInput(history=["a", "b"]), "2 history entries for 0 layers"),
    ],
)
def test_bad_settings(settings: ImageConfigInput, message: str) -> None:
    with pytest.raises(InputError) as info:
        build_config(settings, [], mtime=0)
    assert info.value.message == message


def test_oci_target_round_trips_through_the_reader(tmp_path: Path) -> None:
    target = tmp_path / "layout"
    result = write_image(
        [_tree(), [Entry(path="srv", type=EntryType.DIR, mode=0o755)]],
        SETTINGS,
        f"oci:{target}:v1",
        mtime=MTIME,
        annotations={"extra": "yes"},
    )
    assert result.target == OciReference(path=str(target), tag="v1")
    image = read_oci_layout(target, "v1")
    assert (image.manifest, image.manifest_digest, image.config) == (
        result.manifest,
        result.manifest_digest,
        result.config,
    )
    manifest = Manifest.from_json(image.manifest)
    assert manifest.annotations == {"org.opencontainers.image.source": "https://example.com", "extra": "yes"}
    assert [layer.digest for layer in manifest.layers] == [info.digest for info in result.layers]
    config = ImageConfig.from_json(image.config)
    assert config.rootfs.diff_ids == tuple(info.diff_id for info in result.layers)


ONE_LAYER = dataclasses.replace(SETTINGS, history=["all"])


def test_rebuilds_are_bit_identical(tmp_path: Path) -> None:
    first = write_image([_tree()], ONE_LAYER, f"oci:{tmp_path / 'a'}:t", mtime=MTIME)
    second = write_image([_tree()], ONE_LAYER, f"oci:{tmp_path / 'b'}:t", mtime=MTIME)
    archive = write_image([_tree()], ONE_LAYER, f"docker-archive:{tmp_path / 'c.tar'}:app:t", mtime=MTIME)
    assert first.manifest == second.manifest == archive.manifest
    changed = write_image([_tree(b"ho")], ONE_LAYER, f"oci:{tmp_path / 'a'}:t", mtime=MTIME)
    assert changed.manifest_digest != first.manifest_digest


def test_docker_archive_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "image.tar"
    result = write_image([_tree()], ONE_LAYER, f"docker-archive:{target}:app:1.0", mtime=MTIME)
    with tarfile.open(target) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["docker.io/library/app:1.0"]
    assert config == result.config
    assert Digest.of(layer) == result.layers[0].digest
    assert sorted(p.name for p in target.parent.iterdir()) == ["image.tar"]  # temp layers are gone


def test_docker_archive_source_index_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageReferenceError, match="selects an image to read"):
        write_image([_tree()], ONE_LAYER, f"docker-archive:{tmp_path / 'x.tar'}:@0", mtime=MTIME)
    assert list(tmp_path.iterdir()) == []


def test_settings_are_checked_before_any_layer_is_written(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="2 history entries for 1 layers"):
        write_image([_tree()], SETTINGS, f"oci:{tmp_path / 'layout'}", mtime=MTIME)
    assert list(tmp_path.iterdir()) == []


def test_failed_layer_leaves_no_archive_and_no_temp_files(tmp_path: Path) -> None:
    bad = [Entry(path="/abs", type=EntryType.FILE)]
    with pytest.raises(Exception, match="not a normalized path"):
        write_image([_tree(), bad], SETTINGS, f"docker-archive:{tmp_path / 'x.tar'}", mtime=MTIME)
    with pytest.raises(Exception, match="not a normalized path"):
        write_image([_tree(), bad], SETTINGS, f"oci:{tmp_path / 'layout'}", mtime=MTIME)
    assert list(tmp_path.iterdir()) == []


def _prebuilt(tmp_path: Path, tree: FileTree) -> PrebuiltLayer:
    path = tmp_path / "cache-blob"
    with open(path, "wb") as out:
        info = write_layer(tree.entries(), out, mtime=MTIME)
    return PrebuiltLayer(info=info, path=path, comment="cached")


@pytest.mark.parametrize("kind", ["oci", "docker-archive"])
def test_prebuilt_layers_give_the_same_image(tmp_path: Path, kind: str) -> None:
    cached = _prebuilt(tmp_path, _tree())
    fresh = write_image([_tree()], ONE_LAYER, f"{kind}:{tmp_path / 'a'}", mtime=MTIME)
    reused = write_image([cached], ONE_LAYER, f"{kind}:{tmp_path / 'b'}", mtime=MTIME)
    assert reused.manifest == fresh.manifest and reused.layers == fresh.layers


@pytest.mark.parametrize("kind", ["oci", "docker-archive"])
@pytest.mark.parametrize("damage", ["bytes", "digest"])
def test_a_damaged_prebuilt_layer_is_refused(tmp_path: Path, kind: str, damage: str) -> None:
    cached = _prebuilt(tmp_path, _tree())
    if damage == "bytes":
        data = bytearray(cached.path.read_bytes())
        data[-1] ^= 1
        cached.path.write_bytes(bytes(data))
    else:
        cached = dataclasses.replace(cached, info=dataclasses.replace(cached.info, digest=Digest.of(b"x")))
    with pytest.raises(DigestMismatchError, match="is not the layer recorded for it"):
        write_image([cached], ONE_LAYER, f"{kind}:{tmp_path / 'out'}", mtime=MTIME)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache-blob"]
