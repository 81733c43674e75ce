"""docker-archive writing: manifest.json, blobs, digest checks, atomic replacement."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError
from dockwright.oci.archive import ArchiveLayer, write_docker_archive
from dockwright.oci.digest import Digest
from dockwright.oci.reference import parse_docker_name


def _layer(tmp_path: Path, name: str, data: bytes) -> ArchiveLayer:
    path = tmp_path / name
    path.write_bytes(data)
    return ArchiveLayer(path=path, digest=Digest.of(data))


def test_archive_layout(tmp_path: Path) -> None:
    one, two = _layer(tmp_path, "1", b"layer one"), _layer(tmp_path, "2", b"layer two")
    config = b'{"architecture":"amd64"}'
    target = tmp_path / "image.tar"
    name = parse_docker_name("app:1.0")
    write_docker_archive(target, config=config, layers=[one, two, one], repo_tags=[name], mtime=5)
    with tarfile.open(target) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        blobs = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}  # type: ignore[union-attr]
    c, l1, l2 = Digest.of(config).hex, one.digest.hex, two.digest.hex
    assert names == [
        "manifest.json", "blobs", "blobs/sha256", f"blobs/sha256/{c}", f"blobs/sha256/{l1}", f"blobs/sha256/{l2}",
    ]  # fmt: skip
    assert manifest == [
        {
            "Config": f"blobs/sha256/{c}",
            "RepoTags": ["docker.io/library/app:1.0"],
            "Layers": [f"blobs/sha256/{l1}", f"blobs/sha256/{l2}", f"blobs/sha256/{l1}"],
        }
    ]
    assert blobs[f"blobs/sha256/{c}"] == config and blobs[f"blobs/sha256/{l2}"] == b"layer two"
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {(5, 0, 0, "")}
    assert {m.mode for m in members} == {0o644, 0o755}


def test_untagged_archive_has_empty_repo_tags(tmp_path: Path) -> None:
    target = tmp_path / "image.tar"
    write_docker_archive(target, config=b"{}", layers=[])
    with tarfile.open(target) as tar:
        assert json.loads(tar.extractfile("manifest.json").read())[0]["RepoTags"] == []  # type: ignore[union-attr]


def test_a_changed_layer_file_fails_and_keeps_the_old_archive(tmp_path: Path) -> None:
    target = tmp_path / "image.tar"
    target.write_bytes(b"previous archive")
    layer = _layer(tmp_path, "1", b"layer one")
    layer.path.write_bytes(b"layer 0ne")
    with pytest.raises(DigestMismatchError, match="has digest sha256:"):
        write_docker_archive(target, config=b"{}", layers=[layer])
    assert target.read_bytes() == b"previous archive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "image.tar"]


def test_same_inputs_same_archive(tmp_path: Path) -> None:
    layer = _layer(tmp_path, "1", b"x" * 100_000)
    outputs = []
    for name in ("a.tar", "b.tar"):
        write_docker_archive(tmp_path / name, config=b"{}", layers=[layer], mtime=7)
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
