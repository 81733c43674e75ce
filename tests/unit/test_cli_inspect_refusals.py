"""``dockwright inspect``, ``sbom`` and ``diff`` refusing input through the CLI, offline: the exit codes
of bad references and malformed manifests (2) and tampered blobs (5), and hostile layer members,
which give warnings and never a write outside.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.inspect_images import (
    OCI_MANIFEST,
    TarMember,
    blob_file,
    make_layout,
)
from tests.unit.cli_inspect_support import (
    OS_RELEASE,
    M,
    _blob,
    _purls,
    assert_error,
    debian_image,
    dpkg,
    inspect_json,
    invoke,
    ok,
)


@pytest.fixture(autouse=True)
def _in_tmp(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # anything written to a relative path stays under tmp_path
    # The layer cache (CACHE/layers-index) of each test starts empty, outside tmp_path and $HOME.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


# Errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["inspect", "sbom", "diff"])
def test_an_unknown_transport_is_one_error_line_and_exit_2(command: str) -> None:
    args = ["bogus:/x", "bogus:/x"] if command == "diff" else ["bogus:/x"]
    result = invoke(command, *args)
    assert_error(result, 2, "unknown transport 'bogus' in image reference 'bogus:/x'")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("oci:{tmp}/missing", "oci:{tmp}/missing: {tmp}/missing is not a directory"),
        ("oci:{tmp}", "oci-layout file is missing: "),
        (
            "docker-archive:{tmp}/missing.tar",
            "docker-archive:{tmp}/missing.tar: no such file {tmp}/missing.tar",
        ),
        ("docker://debian:12", "missing registry host (none is implied: name it"),
        ("dir:{tmp}/missing", "dir:{tmp}/missing"),
    ],
)
def test_a_missing_image_is_one_error_line_and_exit_2(tmp_path: Path, ref: str, message: str) -> None:
    result = invoke("inspect", ref.format(tmp=tmp_path))
    assert_error(result, 2, message.format(tmp=tmp_path))
    assert result.stdout == ""


def _rewrite_manifest(layout: Path, data: bytes) -> None:
    """Store ``data`` as the manifest with a matching descriptor, so only the document is wrong."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob_file(layout, digest).write_bytes(data)
    index = json.loads((layout / "index.json").read_bytes())
    index["manifests"][0].update(digest=digest, size=len(data))
    (layout / "index.json").write_text(json.dumps(index))


def _docker_archive(path: Path, manifest: bytes) -> None:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("index-not-json", "{layout}/index.json is malformed"),
        ("manifest-not-json", "{ref}: malformed manifest sha256:"),
        ("manifest-schema-1", "{ref}: malformed manifest sha256:"),
        ("manifest-bad-layer-digest", "{ref}: malformed manifest sha256:"),
        ("archive-not-json", "manifest.json of docker-archive:"),
        ("archive-traversal", "{ref}: manifest.json names ../../etc/passwd, which the archive does not hold"),
    ],
)
def test_malformed_manifests_are_input_errors(tmp_path: Path, damage: str, message: str) -> None:
    layout = tmp_path / "img"
    make_layout(layout, [[M("a", b"1")]])
    ref = f"oci:{layout}:latest"
    if damage == "index-not-json":
        (layout / "index.json").write_text("{")
    elif damage == "manifest-not-json":
        _rewrite_manifest(layout, b"{not json")
    elif damage == "manifest-schema-1":
        _rewrite_manifest(layout, b'{"schemaVersion": 1}')
    elif damage == "manifest-bad-layer-digest":
        config = {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        }
        bad = {"mediaType": OCI_MANIFEST, "digest": "md5:abc", "size": 1}
        _rewrite_manifest(
            layout, json.dumps({"schemaVersion": 2, "config": config, "layers": [bad]}).encode()
        )
    else:
        ref = f"docker-archive:{tmp_path / 'bad.tar'}"
        entry = [{"Config": "../../etc/passwd", "RepoTags": ["x:1"], "Layers": ["/etc/hostname"]}]
        _docker_archive(
            tmp_path / "bad.tar", b"[{" if damage == "archive-not-json" else json.dumps(entry).encode()
        )
    result = invoke("inspect", ref)
    assert_error(result, 2, message.format(layout=layout, ref=ref))
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("which", "how", "start"),
    [
        ("layer", "flip-first", "layer 1 (sha256:"),
        ("layer", "flip-middle", "layer 1 (sha256:"),
        ("layer", "flip-last", "layer 1 (sha256:"),
        ("layer", "truncate", "layer 1 (sha256:"),
        ("layer", "append", "layer 1 (sha256:"),
        ("config", "flip-middle", "config of oci:"),
        ("manifest", "append", "manifest of oci:"),
    ],
)
def test_a_blob_that_does_not_match_its_digest_exits_5(
    tmp_path: Path, which: str, how: str, start: str
) -> None:
    layout = tmp_path / "img"
    debian_image(layout)
    path = _blob(layout, which)
    data = bytearray(path.read_bytes())
    if how.startswith("flip"):
        data[{"flip-first": 0, "flip-middle": len(data) // 2, "flip-last": -1}[how]] ^= 0x55
    elif how == "truncate":
        del data[len(data) // 2 :]
    else:
        data += b" "
    path.write_bytes(bytes(data))
    ref = f"oci:{layout}:latest"
    for args in (["inspect", ref], ["sbom", ref, "-o", str(tmp_path / "sbom.json")], ["diff", ref, ref]):
        result = invoke(*args)
        assert_error(result, 5, start)
        assert result.stdout == ""
    assert not (tmp_path / "sbom.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["img"]  # and no temp file either


def test_a_layer_that_is_not_a_tar_is_an_input_error(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[OS_RELEASE], b"this is not a tar archive" * 40])
    line = assert_error(invoke("inspect", f"oci:{tmp_path / 'img'}"), 2, "layer 1 (sha256:")
    assert line.endswith(") is not a valid tar archive: invalid header at offset 0")


# Hostile images ---------------------------------------------------------------------------------


def _tree(directory: Path) -> dict[str, str]:
    """Every path below ``directory`` (symlinks not followed) with its kind and content digest."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(directory))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _hostile_layers(marker: str) -> list[list[TarMember]]:
    return [
        [
            OS_RELEASE,
            *dpkg({"hello": ("2.10-3", {"usr/bin/hello": b"hi"})}),
            M(f"../../{marker}-traversal", b"climbs out"),
            M(f"a/../../../{marker}-traversal2", b"climbs out"),
            M(f"/tmp/{marker}-absolute", b"absolute"),
            M("out", kind="symlink", link=f"/tmp/{marker}-dir"),
            M("up", kind="symlink", link="../../../../../../.."),
            M("loop1", kind="symlink", link="loop2"),
            M("loop2", kind="symlink", link="loop1"),
            M("hard", kind="hardlink", link="no/such/target"),
            M("etc/passwd", kind="hardlink", link="/etc/passwd"),
            M("huge", b"tail", kind="sparse", size=6 << 30),
        ],
        [
            M("out/written-through-symlink", b"x"),
            M(f"up/tmp/{marker}-up", b"x"),
            M("loop1/below-a-loop", b"x"),
        ],
    ]


HOSTILE_CODES = {
    "path-traversal",
    "absolute-path",
    "symlink-loop",
    "hardlink-missing-target",
    "sparse-not-hashed",
}


def test_hostile_members_give_warnings_a_full_report_and_no_write_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"dockwright-escape-{uuid.uuid4().hex}"
    layout = tmp_path / "img"
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    make_layout(layout, _hostile_layers(marker))
    make_layout(tmp_path / "empty", [[M("placeholder", b"")]])
    ref = f"oci:{layout}:latest"
    monkeypatch.chdir(work)
    before, parent_before = _tree(tmp_path), sorted(os.listdir(tmp_path.parent))

    doc = inspect_json(ref)
    codes = {w["code"] for w in doc["warnings"]}
    assert codes >= HOSTILE_CODES, doc["warnings"]
    assert {w["path"] for w in doc["warnings"] if w["code"] == "symlink-loop"} == {"loop1/below-a-loop"}
    assert [p["name"] for p in doc["packages"]] == ["hello"]  # the rest of the image is still read
    assert doc["gate"]["passed"] is True

    human = ok("inspect", ref).stdout
    assert human.count("warning: ") == len(doc["warnings"])
    assert "huge has 6442450940 bytes of holes; not hashed" in human
    assert "hard is a hard link to missing no/such/target" in human

    ok("sbom", ref, "-o", "sbom.json")
    assert _purls(json.loads((work / "sbom.json").read_text())["packages"]) == {
        "pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-12"
    }
    (work / "sbom.json").unlink()

    # Every member landed inside the image: the diff from an empty image lists where.
    diff = json.loads(ok("diff", f"oci:{tmp_path / 'empty'}", ref, "--json").stdout)
    added = {f["path"] for f in diff["files"]["added"]}
    assert {
        f"{marker}-traversal",
        f"{marker}-traversal2",
        f"tmp/{marker}-absolute",
        f"tmp/{marker}-dir/written-through-symlink",
        f"tmp/{marker}-up",
        "huge",
    } <= added
    assert all(not p.startswith("/") and ".." not in p.split("/") for p in added)
    assert "loop1/below-a-loop" not in added
    assert "etc/passwd" not in added  # a hard link to the host's /etc/passwd is a link to itself: skipped

    assert _tree(tmp_path) == before
    assert sorted(os.listdir(tmp_path.parent)) == parent_before
    for escaped in (
        f"/tmp/{marker}-absolute",
        f"/tmp/{marker}-dir",
        f"/tmp/{marker}-up",
        f"/{marker}-traversal",
    ):
        assert not os.path.lexists(escaped)


def test_a_header_built_to_exhaust_memory_is_refused_with_exit_6(tmp_path: Path) -> None:
    info = tarfile.TarInfo("big-pax")
    info.pax_headers = {"comment": "x" * (2 << 20)}
    make_layout(tmp_path / "img", [[M("a", b"1"), M("big-pax", info.tobuf(tarfile.PAX_FORMAT), kind="raw")]])
    result = invoke("inspect", f"oci:{tmp_path / 'img'}")
    line = assert_error(result, 6, "layer 0 (sha256:")
    assert line.endswith(
        ") holds a hostile tar header: extended header of 2097169 bytes at offset 1024 (the limit is 1048576)"
    )
    assert result.stdout == ""


def test_a_layer_without_the_end_marker_is_a_marked_partial_result(tmp_path: Path) -> None:
    from tests.inspect_images import layer_tar

    layer = layer_tar([OS_RELEASE, *dpkg({"hello": ("1.0", {"usr/bin/hello": b"hi"})})], end=False)
    make_layout(tmp_path / "img", [layer])
    doc = inspect_json(f"oci:{tmp_path / 'img'}")
    assert [w["code"] for w in doc["warnings"]] == ["no-end-marker"]
    assert [p["name"] for p in doc["packages"]] == ["hello"]
