"""``dockwright inspect``, ``sbom`` and ``diff`` end to end through the CLI, offline.

Every test runs the real command group (``dockwright.cli.main:cli``) in process on synthetic images
written byte by byte by :mod:`tests.inspect_images` (OCI layouts, an image index, docker-archives),
and one test on an image that dockwright itself built from the signed fixture mirror
(:mod:`tests.e2e`). Covered: the human and JSON reports, SBOM files (atomic) and stdout, the
semantic diff, ``--platform``, the exit codes of bad references (2), tampered blobs (5) and the
``--fail-on`` gate (8), and hostile layer members, which give warnings and never a write outside.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dockwright.cli.main import cli
from tests.e2e import Mirror, make_mirror, snapshot, write_project
from tests.e2e import run as run_dockwright
from tests.inspect_images import (
    OCI_MANIFEST,
    TarMember,
    blob_file,
    make_docker_archive,
    make_index,
    make_layout,
)

M = TarMember
MB = 1_000_000
OS_RELEASE = M(
    "etc/os-release", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
)
ENV = ["PATH=/usr/bin:/bin"]
INSPECT_KEYS = {
    "reference",
    "manifestDigest",
    "osRelease",
    "layers",
    "packages",
    "waste",
    "warnings",
    "gate",
}


def invoke(*args: str) -> Result:
    """``dockwright ARGS...`` in process, wide enough that no name is cut, without colours."""
    env = {"COLUMNS": "200", "NO_COLOR": "1", "FORCE_COLOR": None, "DOCKWRIGHT_CACHE": None}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(*args: str) -> Result:
    """``invoke`` that must exit 0 with nothing on stderr."""
    result = invoke(*args)
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    return result


def inspect_json(*args: str) -> dict[str, Any]:
    """``dockwright inspect --json ARGS...``, parsed."""
    doc: dict[str, Any] = json.loads(ok("inspect", "--json", *args).stdout)
    return doc


def assert_error(result: Result, exit_code: int, start: str) -> str:
    """The command failed with ``exit_code``, one ``error:`` line starting with ``start``, no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {start}"), result.stderr
    assert result.exit_code == exit_code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return errors[0]


@pytest.fixture(autouse=True)
def _in_tmp(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # anything written to a relative path stays under tmp_path
    # The layer cache (CACHE/layers-index) of each test starts empty, outside tmp_path and $HOME.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


# Synthetic Debian-like images -------------------------------------------------------------------


def stanza(name: str, version: str, *, source: str = "", arch: str = "amd64", size: int = 0) -> str:
    """One installed dpkg status stanza."""
    lines = [f"Package: {name}", "Status: install ok installed", f"Architecture: {arch}"]
    lines += [f"Source: {source}"] if source else []
    lines += [f"Version: {version}"]
    lines += [f"Installed-Size: {size}"] if size else []
    return "\n".join([*lines, f"Description: {name}"]) + "\n"


def dpkg(
    packages: dict[str, tuple[str, dict[str, bytes]]], sources: dict[str, str] | None = None
) -> list[TarMember]:
    """The status database, ``info/*.list`` files and files of ``packages`` (name -> version, files)."""
    sources = sources or {}
    status = "\n".join(stanza(n, v, source=sources.get(n, "")) for n, (v, _) in packages.items())
    members = [M("var/lib/dpkg/status", status.encode())]
    for name, (_, files) in packages.items():
        listing = "".join(f"/{path}\n" for path in files)
        members.append(M(f"var/lib/dpkg/info/{name}:amd64.list", listing.encode()))
        members += [M(path, data) for path, data in files.items()]
    return members


def debian_image(path: Path, *, tag: str = "latest") -> str:
    """Two packages over two layers; the second layer rewrites and deletes files of the first."""
    base = [
        OS_RELEASE,
        *dpkg(
            {
                "libc6": ("2.36-9+deb12u4", {"usr/lib/x86_64-linux-gnu/libc.so.6": b"\x7fELF" + bytes(4000)}),
                "hello": ("2.10-3", {"usr/bin/hello": b"\x7fELF" + bytes(1000)}),
            },
            {"libc6": "glibc"},
        ),
        M("usr/share/doc/hello/changelog.gz", bytes(3000)),
        M("tmp/big.log", bytes(50_000)),
    ]
    second = [M("tmp/big.log", kind="whiteout"), M("usr/bin/hello", b"\x7fELF" + bytes(2000))]
    return make_layout(path, [base, second], tag=tag, history=["debootstrap", "RUN rm /tmp/big.log"])


def manifest_of(layout: Path, digest: str) -> dict[str, Any]:
    """The parsed manifest (or index) blob ``digest`` of a layout."""
    data: dict[str, Any] = json.loads(blob_file(layout, digest).read_bytes())
    return data


# inspect ----------------------------------------------------------------------------------------


def test_inspect_prints_layers_packages_waste_and_largest_paths(tmp_path: Path) -> None:
    digest = debian_image(tmp_path / "img")
    out = ok("inspect", f"oci:{tmp_path / 'img'}").stdout
    assert out.startswith(f"image oci:{tmp_path / 'img'} {digest}\n")
    for heading in ("Layers", "Packages (2)", "Waste", "Largest paths"):
        assert heading in out
    assert "debootstrap" in out and "RUN rm /tmp/big.log" in out  # layer history
    assert "hello" in out and "2.10-3" in out and "libc6" in out and "2.36-9+deb12u4" in out
    assert "efficiency" in out and "could save" in out
    assert "reclaimable" in out and "usr/share/doc/hello/changelog.gz" in out
    assert "warning" not in out


def test_inspect_json_has_the_documented_structure(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    digest = debian_image(layout)
    doc = inspect_json(f"oci:{layout}")
    assert set(doc) == INSPECT_KEYS
    assert doc["reference"] == f"oci:{layout}"
    assert doc["manifestDigest"] == digest
    assert doc["osRelease"]["ID"] == "debian" and doc["osRelease"]["VERSION_ID"] == "12"

    manifest = manifest_of(layout, digest)
    assert [layer["digest"] for layer in doc["layers"]] == [d["digest"] for d in manifest["layers"]]
    assert [layer["size"] for layer in doc["layers"]] == [d["size"] for d in manifest["layers"]]
    assert [layer["index"] for layer in doc["layers"]] == [0, 1]
    assert [layer["created_by"] for layer in doc["layers"]] == ["debootstrap", "RUN rm /tmp/big.log"]
    assert doc["layers"][1]["deleted"] == 1
    # tmp/big.log (50 000 bytes) is deleted and usr/bin/hello (1004 bytes) rewritten by layer 1
    assert doc["layers"][0]["overwritten_bytes"] == 50_000 + 1004

    by_name = {p["name"]: p for p in doc["packages"]}
    assert set(by_name) == {"hello", "libc6"}
    assert by_name["libc6"]["purl"] == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert by_name["hello"]["purl"] == "pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-12"
    for package in doc["packages"]:
        assert package["type"] == "deb" and package["location"] == "var/lib/dpkg/status"
        assert (package["layer_added"], package["layer_changed"], package["files"]) == (0, 0, 1)
        assert package["dev"] is False

    waste = doc["waste"]
    assert waste["reclaimable_bytes"] == 51_004
    assert waste["efficiency"] == pytest.approx(1 - 51_004 / waste["shipped_bytes"])
    categories = {c["key"]: c for c in waste["categories"]}
    assert categories["docs"]["bytes"] == 3000
    assert [p["path"] for p in categories["docs"]["paths"]] == ["usr/share/doc/hello/changelog.gz"]
    assert waste["wasted_bytes"] == 51_004 + 3000 and waste["dev_packages"] == []
    assert doc["warnings"] == []
    assert doc["gate"] == {"expression": None, "passed": True, "reasons": []}


def test_every_transport_gives_the_same_packages(tmp_path: Path) -> None:
    layers = [[OS_RELEASE, *dpkg({"hello": ("2.10-3", {"usr/bin/hello": b"hi"})})]]
    make_layout(tmp_path / "img", layers)
    make_docker_archive(tmp_path / "img.tar", [(["example/hello:1"], layers)])
    root = tmp_path / "rootfs"
    with tarfile.open(fileobj=io.BytesIO(_layer_tar_bytes(tmp_path / "img"))) as tar:
        tar.extractall(root, filter="tar")
    purls = []
    for ref in (f"oci:{tmp_path / 'img'}:latest", f"docker-archive:{tmp_path / 'img.tar'}", f"dir:{root}"):
        doc = inspect_json(ref)
        assert doc["reference"] == ref and doc["warnings"] == []
        purls.append([p["purl"] for p in doc["packages"]])
    assert purls == [["pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-12"]] * 3


def _layer_tar_bytes(layout: Path) -> bytes:
    index = json.loads((layout / "index.json").read_bytes())
    manifest = manifest_of(layout, index["manifests"][0]["digest"])
    return gzip.decompress(blob_file(layout, manifest["layers"][0]["digest"]).read_bytes())


# sbom -------------------------------------------------------------------------------------------


def _spdx_subject(doc: dict[str, Any]) -> dict[str, Any]:
    [described] = doc["documentDescribes"]
    [subject] = [p for p in doc["packages"] if p["SPDXID"] == described]
    assert isinstance(subject, dict)
    return subject


def _purls(packages: list[dict[str, Any]]) -> set[str]:
    return {
        ref["referenceLocator"]
        for p in packages
        for ref in p.get("externalRefs", [])
        if ref["referenceType"] == "purl" and not ref["referenceLocator"].startswith("pkg:oci/")
    }


def test_sbom_spdx_is_written_atomically_with_the_image_as_subject(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    digest = debian_image(layout)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "image.spdx.json").write_text("old content")
    result = ok("sbom", f"oci:{layout}", "--format", "spdx-json", "-o", str(out_dir / "image.spdx.json"))
    assert result.stdout == ""
    assert sorted(p.name for p in out_dir.iterdir()) == ["image.spdx.json"]  # no temp file left
    doc = json.loads((out_dir / "image.spdx.json").read_text())
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
    subject = _spdx_subject(doc)
    assert subject["versionInfo"] == digest
    assert subject["primaryPackagePurpose"] == "CONTAINER"
    assert subject["checksums"] == [{"algorithm": "SHA256", "checksumValue": digest.removeprefix("sha256:")}]
    assert {"DESCRIBES", "CONTAINS"} == {r["relationshipType"] for r in doc["relationships"]}
    expected = {p["purl"] for p in inspect_json(f"oci:{layout}")["packages"]}
    assert _purls(doc["packages"]) == expected and len(expected) == 2


def test_sbom_cyclonedx_to_a_file_and_to_stdout(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    digest = debian_image(layout)
    target = tmp_path / "new" / "dir" / "bom.json"
    assert ok("sbom", f"oci:{layout}", "--format", "cyclonedx-json", "-o", str(target)).stdout == ""
    assert sorted(p.name for p in target.parent.iterdir()) == ["bom.json"]
    doc = json.loads(target.read_text())
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    component = doc["metadata"]["component"]
    assert (component["type"], component["version"], component["bom-ref"]) == ("container", digest, digest)
    assert component["hashes"] == [{"alg": "SHA-256", "content": digest.removeprefix("sha256:")}]
    assert {c["purl"] for c in doc["components"]} == {
        p["purl"] for p in inspect_json(f"oci:{layout}")["packages"]
    }

    stdout = ok("sbom", f"oci:{layout}", "--format", "cyclonedx-json").stdout
    assert json.loads(stdout)["metadata"]["component"]["version"] == digest
    spdx = json.loads(ok("sbom", f"oci:{layout}").stdout)  # spdx-json is the default
    assert _spdx_subject(spdx)["versionInfo"] == digest


def test_sbom_to_an_unwritable_path_is_an_input_error(tmp_path: Path) -> None:
    debian_image(tmp_path / "img")
    (tmp_path / "a-file").write_text("x")
    result = invoke("sbom", f"oci:{tmp_path / 'img'}", "-o", str(tmp_path / "a-file" / "sbom.json"))
    assert_error(result, 2, f"cannot write {tmp_path / 'a-file' / 'sbom.json'}: ")
    assert (tmp_path / "a-file").read_text() == "x"
    assert invoke("sbom", f"oci:{tmp_path / 'img'}", "--format", "spdx-tag-value").exit_code == 2


# diff -------------------------------------------------------------------------------------------


def _diff_pair(layout: Path) -> tuple[str, str]:
    def image(tag: str, version: str, conf: bytes, mode: str, extra: list[TarMember]) -> str:
        packages = {
            "libc6": ("2.36-9", {"usr/lib/libc.so.6": b"libc"}),
            "app": (version, {"usr/bin/app": f"app {version}".encode()}),
        }
        layers = [[OS_RELEASE, *dpkg(packages), M("etc/app.conf", conf), M("etc/same", b"same"), *extra]]
        return make_layout(layout, layers, tag=tag, config={"config": {"Env": [*ENV, f"APP_MODE={mode}"]}})

    image("a", "1.0-1", b"debug=1\n", "dev", [M("usr/share/old", b"gone")])
    image("b", "1.2-1", b"debug=0\n", "prod", [M("usr/share/new", b"new")])
    return f"oci:{layout}:a", f"oci:{layout}:b"


def test_diff_json_shows_the_upgrade_the_changed_file_and_the_env(tmp_path: Path) -> None:
    a, b = _diff_pair(tmp_path / "img")
    doc = json.loads(ok("diff", a, b, "--json").stdout)
    assert (doc["old_reference"], doc["new_reference"]) == (a, b)
    packages = doc["packages"]
    assert packages["added"] == packages["removed"] == packages["downgraded"] == []
    [upgrade] = packages["upgraded"]
    assert (upgrade["type"], upgrade["name"], upgrade["old_version"], upgrade["new_version"]) == (
        "deb",
        "app",
        "1.0-1",
        "1.2-1",
    )
    files = doc["files"]
    assert [f["path"] for f in files["added"]] == ["usr/share/new"]
    assert [f["path"] for f in files["removed"]] == ["usr/share/old"]
    changed = {f["path"]: f for f in files["changed"]}
    assert changed["etc/app.conf"]["changes"] == ["content"]
    assert changed["usr/bin/app"]["changes"] == ["content"]
    assert "etc/same" not in changed and "var/lib/dpkg/status" in changed
    assert [(c["field"], c["key"], c["old"], c["new"]) for c in doc["config"]] == [
        ("Env", "APP_MODE", "dev", "prod")
    ]
    assert set(doc["sizes"]) == {"compressed", "uncompressed", "files"}
    assert doc["sizes"]["files"]["delta"] == doc["sizes"]["files"]["new"] - doc["sizes"]["files"]["old"]


def test_diff_human_output_names_the_changes(tmp_path: Path) -> None:
    a, b = _diff_pair(tmp_path / "img")
    out = ok("diff", a, b).stdout
    assert out.startswith(f"{a} → {b}\n")
    for text in ("Sizes", "Packages (1 changed)", "app", "1.0-1", "1.2-1", "etc/app.conf", "usr/share/new"):
        assert text in out
    assert "Configuration" in out and "APP_MODE" in out and "prod" in out
    same = ok("diff", a, a).stdout
    assert "no package, file or configuration changes" in same


# --platform -------------------------------------------------------------------------------------


def test_platform_picks_one_image_of_a_multi_arch_index(tmp_path: Path) -> None:
    layout = tmp_path / "multi"
    index = make_index(
        layout,
        {
            "linux/amd64": [[OS_RELEASE, *dpkg({"hello": ("1.0", {"usr/bin/hello": b"amd64"})})]],
            "linux/arm64/v8": [[OS_RELEASE, *dpkg({"hello": ("2.0", {"usr/bin/hello": b"arm64"})})]],
        },
    )
    digests = {
        "/".join(filter(None, (m["platform"]["os"], m["platform"]["architecture"]))): m["digest"]
        for m in manifest_of(layout, index)["manifests"]
    }
    ref = f"oci:{layout}:latest"
    choose = invoke("inspect", ref)
    assert_error(choose, 2, f"{ref} holds 2 images; choose one:")
    assert digests["linux/arm64"] in choose.stderr and "--platform" in choose.stderr

    amd64 = inspect_json(ref, "--platform", "linux/amd64")
    arm64 = inspect_json(ref, "--platform", "linux/arm64")  # the v8 variant is the default
    assert (amd64["manifestDigest"], arm64["manifestDigest"]) == (
        digests["linux/amd64"],
        digests["linux/arm64"],
    )
    assert [p["version"] for p in amd64["packages"]] == ["1.0"]
    assert [p["purl"] for p in arm64["packages"]] == ["pkg:deb/debian/hello@2.0?arch=amd64&distro=debian-12"]

    sbom = json.loads(ok("sbom", ref, "--platform", "linux/arm64/v8").stdout)
    assert _spdx_subject(sbom)["versionInfo"] == digests["linux/arm64"]
    diff = json.loads(ok("diff", ref, ref, "--platform", "linux/arm64", "--json").stdout)
    assert diff["packages"]["upgraded"] == [] and diff["config"] == []

    assert_error(
        invoke("inspect", ref, "--platform", "linux/s390x"), 2, f"{ref} has no image for linux/s390x"
    )
    assert_error(invoke("inspect", ref, "--platform", "amd64"), 2, "invalid platform 'amd64'")


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


def _blob(layout: Path, which: str) -> Path:
    index = json.loads((layout / "index.json").read_bytes())
    manifest_digest = index["manifests"][0]["digest"]
    if which == "manifest":
        return blob_file(layout, manifest_digest)
    manifest = manifest_of(layout, manifest_digest)
    return blob_file(
        layout, manifest["config"]["digest"] if which == "config" else manifest["layers"][-1]["digest"]
    )


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


def test_a_malformed_fail_on_expression_is_an_input_error(tmp_path: Path) -> None:
    debian_image(tmp_path / "img")
    result = invoke("inspect", f"oci:{tmp_path / 'img'}", "--fail-on", "wasted>20MB,wated>5MB")
    assert_error(result, 2, "invalid --fail-on expression: unknown metric 'wated' (did you mean 'wasted'?)")


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


# The --fail-on gate -----------------------------------------------------------------------------


def _planted_image(layout: Path) -> str:
    """gcc-12 and cpp (with files) in dpkg, pytest in site-packages, and an apt cache."""
    status = "\n".join(
        [
            stanza("libc6", "2.36-9+deb12u4", source="glibc", size=12000),
            stanza("gcc-12", "12.2.0-14", size=70000),
            stanza("cpp", "4:12.2.0-3", source="gcc-defaults (1.205)", size=100),
        ]
    )
    site = "usr/local/lib/python3.11/site-packages"
    base = [
        OS_RELEASE,
        M("var/lib/dpkg/status", status.encode()),
        M("var/lib/dpkg/info/libc6:amd64.list", b"/.\n/usr\n/usr/lib/libc.so.6\n"),
        M(
            "var/lib/dpkg/info/gcc-12.list",
            b"/.\n/usr/bin\n/usr/bin/x86_64-linux-gnu-gcc-12\n/usr/bin/gcc-12\n",
        ),
        M("var/lib/dpkg/info/cpp.list", b"/usr/bin/cpp\n/usr/bin/x86_64-linux-gnu-cpp\n"),
        M("usr/lib/libc.so.6", b"\x7fELF" + bytes(100_000)),
        M("usr/bin/x86_64-linux-gnu-gcc-12", b"\x7fELF" + bytes(800_000)),
        M("usr/bin/gcc-12", kind="symlink", link="x86_64-linux-gnu-gcc-12"),
        M("usr/bin/x86_64-linux-gnu-cpp", b"\x7fELF" + bytes(300_000)),
        M("usr/bin/cpp", kind="symlink", link="x86_64-linux-gnu-cpp"),
    ]
    python = [
        M(
            f"{site}/pytest-8.0.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: pytest\nVersion: 8.0.0\n",
        ),
        M(
            f"{site}/pytest-8.0.0.dist-info/RECORD",
            b"pytest/__init__.py,,\npytest-8.0.0.dist-info/METADATA,,\n",
        ),
        M(f"{site}/pytest/__init__.py", b"# pytest\n" * 2000),
    ]
    apt = [
        M("var/cache/apt/archives/foo.deb", bytes(5 * MB)),
        M("var/lib/apt/lists/x_Packages", b"Package: foo\nVersion: 1\n\n" * 100),
    ]
    return make_layout(layout, [base, python, apt])


GATE = "wasted>1MB,dev-packages,efficiency<0.95"


def test_the_gate_catches_a_compiler_pytest_and_an_apt_cache(tmp_path: Path) -> None:
    ref = f"oci:{tmp_path / 'img'}:latest"
    _planted_image(tmp_path / "img")
    result = invoke("inspect", ref, "--fail-on", GATE)
    assert result.exit_code == 8, result.stderr
    line = assert_error(result, 8, "the image fails --fail-on: wasted ")
    for name in ("gcc-12", "cpp", "pytest", "apt archives", "apt lists"):
        assert name in line
        assert name in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("✗ ")]
    assert [f.split()[1] for f in failed] == ["wasted", "dev-packages"]  # efficiency is 1.0: not failed
    assert "5.0 MB package caches" in failed[0]
    assert "var/cache/apt/archives/foo.deb" in result.stdout

    doc = json.loads(invoke("inspect", ref, "--json", "--fail-on", GATE).stdout)
    assert doc["gate"]["expression"] == GATE and doc["gate"]["passed"] is False
    assert len(doc["gate"]["reasons"]) == 2
    assert doc["gate"]["reasons"][1].startswith("dev-packages 3 > 0: gcc-12 (")
    assert {p["name"] for p in doc["packages"] if p["dev"]} == {"gcc-12", "cpp", "pytest"}
    assert {(p["name"], p["type"]) for p in doc["packages"]} == {
        ("libc6", "deb"),
        ("gcc-12", "deb"),
        ("cpp", "deb"),
        ("pytest", "pypi"),
    }
    categories = {c["key"]: c for c in doc["waste"]["categories"]}
    assert categories["caches"]["bytes"] > 5 * MB
    assert {k["label"] for k in categories["caches"]["kinds"]} == {"apt archives", "apt lists"}
    assert {d["name"] for d in doc["waste"]["dev_packages"]} == {"gcc-12", "cpp", "pytest"}

    for rule in ("caches>1MB", "dev-packages>=3", "dev>1MB"):
        assert invoke("inspect", ref, "--fail-on", rule).exit_code == 8, rule
    for rule in ("caches>10MB", "dev-packages>3", "efficiency<0.95", "reclaimable>0"):
        assert invoke("inspect", ref, "--fail-on", rule).exit_code == 0, rule


@pytest.fixture(scope="module")
def mirror(
    tmp_path_factory: pytest.TempPathFactory, http_server: str, keyring: Path, gpg_home: Path
) -> Mirror:
    """The signed fixture repository of :mod:`tests.e2e`, served on loopback."""
    base = tmp_path_factory.getbasetemp()
    return make_mirror(
        tmp_path_factory.mktemp("inspect-mirror") / "repo", http_server, base, keyring, gpg_home
    )


def test_a_clean_dockwright_image_passes_the_gate_and_is_cataloged_exactly(
    tmp_path: Path, mirror: Mirror
) -> None:
    spec = write_project(tmp_path / "proj", mirror)
    cache, layout = tmp_path / "cache", tmp_path / "image"
    built = run_dockwright(cache, "build", str(spec), "-o", f"oci:{layout}:v1", "--json")
    assert (built.exit_code, built.stderr) == (0, "")
    digest = json.loads(built.stdout)["manifestDigest"]
    lock = json.loads((spec.parent / "dockwright.lock").read_text())
    ref = f"oci:{layout}:v1"
    before = snapshot(layout)

    result = ok("inspect", ref, "--fail-on", "wasted>0,dev-packages")
    assert "✓ --fail-on: passed" in result.stdout
    doc = inspect_json(ref, "--fail-on", "wasted>0,dev-packages,efficiency<1")
    assert doc["manifestDigest"] == digest
    assert doc["gate"] == {"expression": "wasted>0,dev-packages,efficiency<1", "passed": True, "reasons": []}
    assert doc["waste"]["wasted_bytes"] == 0 and doc["waste"]["efficiency"] == 1.0
    assert doc["warnings"] == []
    found = {(p["name"], p["version"], p["architecture"]) for p in doc["packages"]}
    assert found == {(p["name"], p["version"], p["architecture"]) for p in lock["packages"]}
    assert {p["location"] for p in doc["packages"]} == {
        f"var/lib/dpkg/status.d/{p['name']}" for p in lock["packages"]
    }
    assert snapshot(layout) == before  # inspection never writes into the layout


# The layer cache --------------------------------------------------------------------------------


def _stable_sbom(path: Path) -> dict[str, Any]:
    """An SPDX document without what changes on every run (time stamps, the namespace)."""
    doc: dict[str, Any] = json.loads(path.read_text())
    doc.pop("documentNamespace")
    doc["creationInfo"].pop("created")
    for package in doc["packages"]:
        for note in package.get("annotations", ()):
            note.pop("annotationDate")
    return doc


def test_the_layer_cache_is_filled_reused_and_skipped_with_no_cache(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    debian_image(layout)
    ref = f"oci:{layout}"
    index = Path(os.environ["XDG_CACHE_HOME"]) / "dockwright" / "layers-index"
    ok("sbom", ref, "--no-cache", "-o", "plain.json")
    ok("inspect", ref, "--no-cache")
    ok("diff", ref, ref, "--no-cache")
    assert not index.exists()

    ok("sbom", ref, "-o", "cold.json")
    assert len(list(index.iterdir())) == 2  # one entry per layer
    ok("sbom", ref, "-o", "warm.json")
    assert _stable_sbom(tmp_path / "warm.json") == _stable_sbom(tmp_path / "cold.json")
    assert _stable_sbom(tmp_path / "warm.json") == _stable_sbom(tmp_path / "plain.json")
    assert inspect_json(ref) == inspect_json(ref, "--no-cache")

    elsewhere = tmp_path / "elsewhere"
    ok("--cache-dir", str(elsewhere), "sbom", ref, "-o", "other.json")
    assert len(list((elsewhere / "layers-index").iterdir())) == 2


def test_a_cached_layer_whose_blob_changed_is_refused(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    debian_image(layout)
    ref = f"oci:{layout}:latest"
    ok("sbom", ref, "-o", "sbom.json")  # fills the cache
    path = _blob(layout, "layer")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    for args in (["inspect", ref], ["sbom", ref], ["diff", ref, ref]):
        assert_error(invoke(*args), 5, "layer 1 (sha256:")


def test_sbom_spdx_loads_no_cyclonedx_diff_gate_or_waste_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    layout = tmp_path / "img"
    debian_image(layout)
    script = (
        "import sys\n"
        "from dockwright.cli.main import cli\n"
        f"cli.main(['sbom', 'oci:{layout}', '-o', '{tmp_path / 'out.json'}'], standalone_mode=False)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    modules = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "dockwright.inspect.sbom.spdx" in modules
    unwanted = ("cyclonedx", "py_serializable", "dockwright.inspect.diff", "dockwright.inspect.gate")
    assert [m for m in modules if m.startswith((*unwanted, "dockwright.inspect.waste"))] == []
