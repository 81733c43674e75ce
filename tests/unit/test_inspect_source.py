"""Opening images: references, tags and platforms, docker-archives, dir:, malformed JSON, digests."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, ImageReferenceError, InputError
from dockwright.inspect.model import FileKind
from dockwright.inspect.reader import read_image
from dockwright.inspect.source import (
    DirReference,
    PlatformSpec,
    open_image,
    parse_platform,
    parse_source_reference,
)
from dockwright.oci.reference import OciReference
from tests.inspect_images import TarMember as M
from tests.inspect_images import blob_file, compress, layer_tar, make_docker_archive, make_index, make_layout

BASE = [M("etc/", kind="dir"), M("etc/os-release", b"ID=test\n")]


# References --------------------------------------------------------------------------------------


def test_references_of_every_transport_parse() -> None:
    assert parse_source_reference("dir:/a:b") == DirReference(path="/a:b")
    assert parse_source_reference("oci:layout:v1") == OciReference(path="layout", tag="v1")
    assert (
        str(parse_source_reference("docker-archive:a.tar:app:1"))
        == "docker-archive:a.tar:docker.io/library/app:1"
    )


def test_docker_transport_needs_pull() -> None:
    with pytest.raises(ImageReferenceError) as caught:
        parse_source_reference("docker://debian:12")
    assert caught.value.message == "docker:// needs `dockwright pull` (not yet available)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "podman:x",
            "unknown transport 'podman' in image reference 'podman:x': expected oci:DIR[:TAG], "
            "docker-archive:FILE[:NAME[:TAG]] or dir:ROOTFS\n  podman:x\n  ^",
        ),
        ("dir:", "empty directory in image reference 'dir:': expected dir:ROOTFS\n  dir:\n      ^"),
        (
            "layout",
            "missing transport in image reference 'layout': expected oci:DIR[:TAG], "
            "docker-archive:FILE[:NAME[:TAG]] or dir:ROOTFS\n  layout\n  ^",
        ),
    ],
)
def test_bad_references_point_at_the_problem(text: str, message: str) -> None:
    with pytest.raises(ImageReferenceError) as caught:
        parse_source_reference(text)
    assert caught.value.message == message


def test_platforms_parse_and_match_with_default_variants() -> None:
    assert parse_platform("linux/aarch64") == PlatformSpec("linux", "arm64", None)
    assert parse_platform("linux/arm64/v8").matches(PlatformSpec.of("linux", "arm64", None))
    assert parse_platform("linux/arm").matches(PlatformSpec.of("linux", "arm", "v6"))
    assert not parse_platform("linux/arm/v7").matches(PlatformSpec.of("linux", "arm", "v6"))
    with pytest.raises(InputError, match=r"^invalid platform 'linux': expected OS/ARCH\[/VARIANT\]"):
        parse_platform("linux")


# OCI layouts: tags and platforms -----------------------------------------------------------------


def test_a_multi_platform_index_is_chosen_by_platform(tmp_path: Path) -> None:
    make_index(
        tmp_path / "img",
        {
            "linux/amd64": [[M("amd64", b"")]],
            "linux/arm64/v8": [[M("arm64", b"")]],
            "linux/arm/v7": [[M("arm", b"")]],
        },
    )
    ref = f"oci:{tmp_path / 'img'}:latest"
    assert list(read_image(ref, platform="linux/arm64").files) == ["arm64"]
    assert list(read_image(ref, platform="linux/arm64/v8").files) == ["arm64"]
    assert list(read_image(ref, platform="linux/x86_64").files) == ["amd64"]


def test_a_multi_platform_index_without_platform_lists_the_choices(tmp_path: Path) -> None:
    index = make_index(tmp_path / "img", {"linux/amd64": [BASE], "linux/arm64/v8": [BASE]})
    ref = f"oci:{tmp_path / 'img'}:latest"
    manifests = json.loads(blob_file(tmp_path / "img", index).read_bytes())["manifests"]
    with pytest.raises(InputError) as caught:
        open_image(ref)
    assert caught.value.message == (
        f"{ref} holds 2 images; choose one:\n"
        f"  latest  linux/amd64  {manifests[0]['digest']}\n"
        f"  latest  linux/arm64/v8  {manifests[1]['digest']}"
    )
    assert caught.value.hint == "add :TAG to the reference or pass --platform OS/ARCH[/VARIANT]"
    with pytest.raises(
        InputError, match=r"has no image for linux/s390x; it has:\n  latest  linux/amd64  sha256:"
    ):
        open_image(ref, platform="linux/s390x")


def test_tags_choose_among_several_images(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[M("one", b"")]], tag="1")
    make_layout(tmp_path / "img", [[M("two", b"")]], tag="2")
    assert list(read_image(f"oci:{tmp_path / 'img'}:2").files) == ["two"]
    with pytest.raises(
        InputError, match=r"holds 2 images; choose one:\n  1  linux/amd64  sha256:\w+\n  2  linux/amd64"
    ):
        open_image(f"oci:{tmp_path / 'img'}")
    with pytest.raises(InputError) as caught:
        open_image(f"oci:{tmp_path / 'img'}:3")
    assert (caught.value.message, caught.value.hint) == (
        f"no image tagged '3' in {tmp_path / 'img'}",
        "tags here: 1, 2",
    )


def test_a_single_image_must_match_the_requested_platform(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [BASE])
    ref = f"oci:{tmp_path / 'img'}:latest"
    assert open_image(ref, platform="linux/amd64").manifest_digest.startswith("sha256:")
    with pytest.raises(InputError, match=r"has no image for linux/arm64; it has:\n  latest  linux/amd64"):
        open_image(ref, platform="linux/arm64")


def test_the_source_exposes_identity_config_and_lazy_layers(tmp_path: Path) -> None:
    digest = make_layout(tmp_path / "img", [BASE, [M("b", b"2")]], history=["FROM scratch", "COPY b /"])
    with open_image(f"oci:{tmp_path / 'img'}:latest") as source:
        assert source.manifest_digest == digest
        assert source.config["architecture"] == "amd64"
        assert [(b.index, b.created_by) for b in source.layers] == [(0, "FROM scratch"), (1, "COPY b /")]
        seen = []
        for blob, stream in source.iter_layers():
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                seen.append([m.name for m in tar])
            stream.finish()
            assert stream.diff_id == blob.diff_id
    assert seen == [["etc", "etc/os-release"], ["b"]]


# Malformed layouts and digests -------------------------------------------------------------------


def _manifest_path(layout: Path) -> Path:
    index = json.loads((layout / "index.json").read_bytes())
    return blob_file(layout, index["manifests"][0]["digest"])


def _rewrite_manifest(layout: Path, data: bytes) -> None:
    """Store ``data`` as the manifest, with a matching descriptor (so only the JSON is wrong)."""
    import hashlib

    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    blob_file(layout, digest).write_bytes(data)
    index = json.loads((layout / "index.json").read_bytes())
    index["manifests"][0].update(digest=digest, size=len(data))
    (layout / "index.json").write_text(json.dumps(index))


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (
            b"{not json",
            "REF: malformed manifest DIGEST: manifest is not valid JSON: Expecting property name",
        ),
        (b'{"schemaVersion": 1}', "REF: malformed manifest DIGEST: manifest.schemaVersion must be 2, not 1"),
        (
            b'{"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:00", "size": 1}, "layers": []}',
            "REF: malformed manifest DIGEST: manifest.config.digest: malformed sha256 digest '00'",
        ),
    ],
)
def test_malformed_manifests_are_clear_input_errors(tmp_path: Path, manifest: bytes, problem: str) -> None:
    make_layout(tmp_path / "img", [BASE])
    _rewrite_manifest(tmp_path / "img", manifest)
    ref = f"oci:{tmp_path / 'img'}:latest"
    digest = json.loads((tmp_path / "img/index.json").read_bytes())["manifests"][0]["digest"]
    with pytest.raises(InputError) as caught:
        open_image(ref)
    assert caught.value.message.startswith(problem.replace("REF", ref).replace("DIGEST", digest))


def test_a_manifest_that_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    digest = make_layout(tmp_path / "img", [BASE])
    path = _manifest_path(tmp_path / "img")
    path.write_bytes(path.read_bytes().replace(b'"layers"', b'"layers" '))
    with pytest.raises(
        DigestMismatchError, match=rf"^manifest of oci:\S+ blob {digest} \(\d+ bytes\) holds more than"
    ):
        open_image(f"oci:{tmp_path / 'img'}:latest")


def test_a_config_that_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [BASE])
    config = json.loads(_manifest_path(tmp_path / "img").read_bytes())["config"]["digest"]
    blob_file(tmp_path / "img", config).write_bytes(
        b"{}" + blob_file(tmp_path / "img", config).read_bytes()[2:]
    )
    with pytest.raises(
        DigestMismatchError, match=rf"^config of oci:\S+ blob {config} \(\d+ bytes\) holds \d+ bytes"
    ):
        open_image(f"oci:{tmp_path / 'img'}:latest")


def test_a_missing_layer_blob_is_found_before_reading(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [BASE])
    layer = json.loads(_manifest_path(tmp_path / "img").read_bytes())["layers"][0]["digest"]
    blob_file(tmp_path / "img", layer).unlink()
    with pytest.raises(DigestMismatchError, match=rf"^layer 0 \({layer}\) blob {layer} is missing from "):
        open_image(f"oci:{tmp_path / 'img'}:latest")


def test_a_directory_that_is_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^oci-layout file is missing: "):
        open_image(f"oci:{tmp_path}")
    make_layout(tmp_path / "img", [BASE])
    (tmp_path / "img/index.json").write_text('{"schemaVersion": 2, "manifests": {}}')
    with pytest.raises(InputError) as caught:
        open_image(f"oci:{tmp_path / 'img'}")
    assert caught.value.message == (
        f"{tmp_path / 'img'}/index.json is malformed: index.manifests must be an array of descriptors"
    )


# docker-archive ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("legacy", "compression"), [(False, "none"), (True, "none"), (False, "gzip")])
def test_docker_archives_read_like_layouts(tmp_path: Path, legacy: bool, compression: str) -> None:
    layers = [BASE, [M("etc/os-release", kind="whiteout"), M("x", b"1")]]
    (image_id,) = make_docker_archive(
        tmp_path / "a.tar", [(["app:1"], layers)], legacy=legacy, compression=compression
    )
    got = read_image(f"docker-archive:{tmp_path / 'a.tar'}")
    assert got.manifest_digest == image_id
    assert sorted(got.files) == ["etc", "x"]
    assert [layer.deleted for layer in got.layers] == [0, 1]
    assert got.layers[0].digest.startswith("sha256:")


def test_a_docker_archive_with_several_images_is_chosen_by_name_or_index(tmp_path: Path) -> None:
    make_docker_archive(
        tmp_path / "a.tar", [(["app:1"], [[M("one", b"")]]), (["docker.io/library/app:2"], [[M("two", b"")]])]
    )
    ref = f"docker-archive:{tmp_path / 'a.tar'}"
    assert list(read_image(f"{ref}:app:2").files) == ["two"]
    assert list(read_image(f"{ref}:@0").files) == ["one"]
    with pytest.raises(InputError) as caught:
        open_image(ref)
    assert (
        caught.value.message
        == f"{ref} holds 2 images; choose one:\n  @0  app:1\n  @1  docker.io/library/app:2"
    )
    with pytest.raises(InputError, match=r"no image named docker.io/library/app:3 in the archive"):
        open_image(f"{ref}:app:3")
    with pytest.raises(InputError, match=r"the archive holds 2 images \(@0 to @1\)"):
        open_image(f"{ref}:@5")


def test_a_docker_archive_layer_may_be_a_symlink_inside_the_archive(tmp_path: Path) -> None:
    make_docker_archive(tmp_path / "a.tar", [(["app:1"], [BASE])], legacy=True)
    with tarfile.open(tmp_path / "a.tar") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    layer = manifest[0]["Layers"][0]
    manifest[0]["Layers"] = ["link/layer.tar"]
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(tmp_path / "b.tar", "w") as out:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, __import__("io").BytesIO(data))
        link = tarfile.TarInfo("link/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, f"../{layer}"
        out.addfile(link)
    assert sorted(read_image(f"docker-archive:{tmp_path / 'b.tar'}").files) == ["etc", "etc/os-release"]


def test_not_a_docker_archive(tmp_path: Path) -> None:
    (tmp_path / "a.tar").write_bytes(layer_tar([M("x", b"1")]))
    with pytest.raises(InputError, match=r"is not a docker-archive \(it has no manifest.json\)$"):
        open_image(f"docker-archive:{tmp_path / 'a.tar'}")
    (tmp_path / "b.tar.gz").write_bytes(compress(layer_tar([M("x", b"1")]), "gzip"))
    with pytest.raises(InputError) as caught:
        open_image(f"docker-archive:{tmp_path / 'b.tar.gz'}")
    assert caught.value.message.endswith("b.tar.gz is gzip-compressed; a docker-archive is a plain tar")


def test_a_docker_archive_config_must_match_its_name(tmp_path: Path) -> None:
    make_docker_archive(tmp_path / "a.tar", [(["app:1"], [BASE])], legacy=True)
    data = bytearray((tmp_path / "a.tar").read_bytes())
    at = data.index(b'"architecture":"amd64"')
    data[at : at + 22] = b'"architecture":"arm64"'
    (tmp_path / "a.tar").write_bytes(bytes(data))
    with pytest.raises(
        DigestMismatchError, match=r"config \w+\.json has digest sha256:\w+: the archive was modified"
    ):
        open_image(f"docker-archive:{tmp_path / 'a.tar'}")


# dir: --------------------------------------------------------------------------------------------


def test_a_root_filesystem_directory_is_one_layer_walked_without_following_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    (root / "host").symlink_to("/")
    (root / "hosttmp").symlink_to(tmp_path)
    (root / "usr/bin").mkdir()
    (root / "usr/bin/tool").write_bytes(b"#!x")
    os.link(root / "usr/bin/tool", root / "usr/bin/alias")
    os.mkfifo(root / "fifo")
    got = read_image(f"dir:{root}", wanted=lambda p: p == "usr/lib/os-release")
    assert sorted(got.files) == [
        "etc", "etc/os-release", "fifo", "host", "hosttmp", "usr", "usr/bin", "usr/bin/alias", "usr/bin/tool",
        "usr/lib", "usr/lib/os-release",
    ]  # fmt: skip
    assert got.files["usr/bin/tool"].kind is FileKind.HARDLINK  # "alias" sorts first and keeps the data
    assert got.files["host"].link == "/"
    assert got.os_release == {"ID": "debian", "VERSION_ID": "12"}
    assert got.contents == {"usr/lib/os-release": b'ID=debian\nVERSION_ID="12"\n'}
    assert len(got.layers) == 1
    assert got.layers[0].digest == got.layers[0].diff_id
    assert got.config == {}
    again = read_image(f"dir:{root}")
    assert again.manifest_digest == got.manifest_digest
    (root / "usr/bin/tool").chmod(0o700)
    assert read_image(f"dir:{root}").manifest_digest != got.manifest_digest


def test_dir_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^dir:\S+: \S+ is not a directory$"):
        open_image(f"dir:{tmp_path / 'missing'}")
