"""OCI layout writer (atomic publish, skopeo-style tags) and verifying reader."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, InputError
from dockwright.fs.tree import Entry, EntryType
from dockwright.oci.descriptor import OCI_CONFIG, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Manifest
from dockwright.oci.layer import write_layer
from dockwright.oci.layout import OciLayoutWriter, blob_path, read_oci_layout

REF = "org.opencontainers.image.ref.name"


def _publish(target: Path, tag: str | None, content: bytes = b"hello") -> Digest:
    """Write a one-layer image whose only file holds ``content``; return its manifest digest."""
    with OciLayoutWriter(target) as layout:
        with layout.blob() as out:
            info = write_layer([Entry(path="f", type=EntryType.FILE, data=content)], out, mtime=0)
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
            "type": "layers", "diff_ids": [str(info.diff_id)]}}).encode()  # fmt: skip
        layout.add_blob(config)
        manifest = Manifest(
            config=Descriptor(media_type=OCI_CONFIG, digest=Digest.of(config), size=len(config)),
            layers=(info.descriptor(),),
        )
        return layout.commit(manifest.to_json(), tag=tag).digest


def _index(layout: Path) -> list[dict[str, object]]:
    manifests: list[dict[str, object]] = json.loads((layout / "index.json").read_bytes())["manifests"]
    return manifests


def _tags(layout: Path) -> list[tuple[str | None, str]]:
    return [(m.get("annotations", {}).get(REF), str(m["digest"])) for m in _index(layout)]  # type: ignore[attr-defined]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_new_layout_appears_whole(tmp_path: Path) -> None:
    target = tmp_path / "out"
    digest = _publish(target, "v1")
    assert (target / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
    assert _tags(target) == [("v1", str(digest))]
    assert (
        json.loads((target / "index.json").read_bytes())["mediaType"]
        == "application/vnd.oci.image.index.v1+json"
    )
    assert len(list((target / "blobs" / "sha256").iterdir())) == 3
    for name, data in _files(target / "blobs" / "sha256").items():
        assert Digest.of(data).hex == name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind
    assert {p.stat().st_mode & 0o777 for p in target.rglob("*")} == {0o644, 0o755}


def test_empty_directory_is_a_new_layout(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    _publish(tmp_path / "out", None)
    assert _tags(tmp_path / "out")[0][0] is None


def test_tags_are_added_and_replaced_like_skopeo(tmp_path: Path) -> None:
    target = tmp_path / "out"
    first = _publish(target, "v1", b"one")
    second = _publish(target, "v2", b"two")
    assert _tags(target) == [("v1", str(first)), ("v2", str(second))]
    third = _publish(target, "v1", b"three")  # v1 moves; the old entry stays, untagged
    assert _tags(target) == [(None, str(first)), ("v2", str(second)), ("v1", str(third))]
    _publish(target, "v1", b"three")  # the same image again changes nothing
    assert _tags(target) == [(None, str(first)), ("v2", str(second)), ("v1", str(third))]
    again = _publish(target, "v3", b"one")  # an untagged entry with that digest takes the tag
    assert again == first
    assert _tags(target) == [("v3", str(first)), ("v2", str(second)), ("v1", str(third))]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_unknown_index_fields_survive_an_update(tmp_path: Path) -> None:
    target = tmp_path / "out"
    _publish(target, "v1")
    index = json.loads((target / "index.json").read_bytes())
    index["annotations"] = {"keep": "me"}
    index["manifests"][0]["x-vendor"] = 1
    (target / "index.json").write_text(json.dumps(index))
    _publish(target, "v2", b"other")
    updated = json.loads((target / "index.json").read_bytes())
    assert updated["annotations"] == {"keep": "me"} and updated["manifests"][0]["x-vendor"] == 1


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda p: p.write_text("x"), "exists and is not a directory"),
        (lambda p: (p.mkdir(), (p / "x").write_text("x")), "is not empty and is not an OCI layout"),
    ],
)
def test_refuses_targets_that_are_not_layouts(
    tmp_path: Path, prepare: Callable[[Path], object], message: str
) -> None:
    target = tmp_path / "out"
    prepare(target)
    before = _files(tmp_path)
    with pytest.raises(InputError, match=message):
        _publish(target, "v1")
    assert _files(tmp_path) == before
    assert len(list(tmp_path.iterdir())) == 1


def test_a_layout_created_meanwhile_is_added_to(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with OciLayoutWriter(target) as layout:
        layout.add_blob(b"config")
        first = _publish(target, "v1")  # another writer finishes first
        second = layout.commit(b"{}", tag="v2").digest
    assert _tags(target) == [("v1", str(first)), ("v2", str(second))]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_while_writing_a_new_layout_leaves_nothing(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        OciLayoutWriter(tmp_path / "out") as layout,
        layout.blob() as out,
    ):
        out.write(b"partial layer")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_layer_keeps_the_existing_layout(tmp_path: Path) -> None:
    target = tmp_path / "out"
    _publish(target, "v1")
    before = _files(target)
    with pytest.raises(RuntimeError, match="boom"), OciLayoutWriter(target) as layout:
        layout.add_blob(b"a new blob")
        raise RuntimeError("boom")
    assert _files(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_writing_the_index_keeps_the_old_index_and_removes_new_blobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    _publish(target, "v1")
    before = _files(target)
    real_fsync = os.fsync

    def fsync_fails_for_the_index(fd: int) -> None:
        if "index.json" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_fails_for_the_index)
    with pytest.raises(OSError, match="No space left"):
        _publish(target, "v2", b"new content")
    assert _files(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in target.iterdir()) == ["blobs", "index.json", "oci-layout"]


def test_blob_with_wrong_expected_digest_is_refused(tmp_path: Path) -> None:
    with OciLayoutWriter(tmp_path / "out") as layout:
        with pytest.raises(DigestMismatchError), layout.blob(expected=Digest.of(b"x")) as out:
            out.write(b"y")
        assert layout.add_blob(b"x") == Digest.of(b"x")


def test_verified_blob_is_stored_under_the_callers_digest_or_not_at_all(tmp_path: Path) -> None:
    digest = Digest.of(b"downloaded")
    with OciLayoutWriter(tmp_path / "out") as layout:
        with pytest.raises(DigestMismatchError), layout.verified_blob(digest) as out:
            out.write(b"partial")
            raise DigestMismatchError("the download did not match")  # what a verifying caller does
        assert [p.name for p in layout._staged_blobs().iterdir()] == []
        with layout.verified_blob(digest) as out:
            out.write(b"downloaded")
        layout.commit(b"{}")
    assert blob_path(tmp_path / "out", digest).read_bytes() == b"downloaded"
    assert oct(blob_path(tmp_path / "out", digest).stat().st_mode & 0o777) == "0o644"


def test_writer_cannot_be_used_after_commit(tmp_path: Path) -> None:
    with OciLayoutWriter(tmp_path / "out") as layout:
        layout.commit(b"{}")
        with pytest.raises(RuntimeError, match="after commit"):
            layout.add_blob(b"late")


def test_reader_returns_exact_bytes(tmp_path: Path) -> None:
    target = tmp_path / "out"
    digest = _publish(target, "v1")
    image = read_oci_layout(target, "v1")
    assert image.manifest_digest == digest == Digest.of(image.manifest)
    manifest = Manifest.from_json(image.manifest)
    assert Digest.of(image.config) == manifest.config.digest
    assert image.layers == manifest.layers and manifest.media_type == OCI_MANIFEST
    assert read_oci_layout(target) == image  # the only image needs no tag


@pytest.mark.parametrize("which", ["manifest", "config", "layer"])
def test_reader_detects_a_tampered_blob(tmp_path: Path, which: str) -> None:
    target = tmp_path / "out"
    _publish(target, "v1")
    image = read_oci_layout(target, "v1")
    manifest = Manifest.from_json(image.manifest)
    digest = {
        "manifest": image.manifest_digest,
        "config": manifest.config.digest,
        "layer": image.layers[0].digest,
    }
    path = blob_path(target, digest[which])
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match="the layout was modified or is corrupt"):
        read_oci_layout(target, "v1")


def test_reader_detects_a_missing_blob(tmp_path: Path) -> None:
    target = tmp_path / "out"
    _publish(target, "v1")
    blob_path(target, read_oci_layout(target).layers[0].digest).unlink()
    with pytest.raises(DigestMismatchError, match=r"layer 0 blob sha256:.* is missing"):
        read_oci_layout(target)


def test_reader_tag_errors(tmp_path: Path) -> None:
    target = tmp_path / "out"
    _publish(target, "v1")
    _publish(target, "v2", b"other")
    with pytest.raises(InputError) as info:
        read_oci_layout(target, "v3")
    assert info.value.message == f"no image tagged 'v3' in {target}"
    assert info.value.hint == "tags here: v1, v2"
    with pytest.raises(InputError, match="holds 2 manifests; name one with oci:"):
        read_oci_layout(target)
    with pytest.raises(InputError, match="oci-layout file is missing"):
        read_oci_layout(tmp_path)


@pytest.mark.parametrize("existing", [False, True], ids=["new layout", "into an existing layout"])
def test_every_blob_is_on_disk_before_the_layout_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    target = tmp_path / "out"
    if existing:
        _publish(target, "v1")
    synced: set[int] = set()  # inodes
    published: list[Path] = []
    real_fsync, real_rename = os.fsync, Path.rename

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced.add(os.fstat(fd).st_ino)

    def rename(self: Path, to: Path) -> Path:  # how a staged blob or the staging dir gets its name
        files = [self] if self.is_file() else [p for p in self.rglob("*") if p.is_file()]
        assert [p.name for p in files if p.stat().st_ino not in synced] == []
        published.extend(files)
        return real_rename(self, to)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "rename", rename)
    _publish(target, "v2", b"new content")
    assert len([p for p in published if p.parent.name == "sha256"]) == 3  # layer, config, manifest
