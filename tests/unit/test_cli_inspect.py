"""``dockwright inspect``, ``sbom`` and ``diff`` end to end through the CLI, offline.

Every test runs the real command group (``dockwright.cli.main:cli``) in process on synthetic images
written byte by byte by :mod:`tests.inspect_images` (OCI layouts, an image index, docker-archives).
Covered: the human and JSON reports, SBOM files (atomic) and stdout, the semantic diff and
``--platform``. Refusals are in :mod:`tests.unit.test_cli_inspect_refusals`, the ``--fail-on`` gate
and the layer cache in :mod:`tests.unit.test_cli_inspect_gate`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.inspect_images import (
    TarMember,
    blob_file,
    extract_trusted,
    make_docker_archive,
    make_index,
    make_layout,
)
from tests.unit.cli_inspect_support import (
    ENV,
    INSPECT_KEYS,
    OS_RELEASE,
    M,
    _purls,
    assert_error,
    debian_image,
    dpkg,
    inspect_json,
    invoke,
    manifest_of,
    ok,
)


@pytest.fixture(autouse=True)
def _in_tmp(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # anything written to a relative path stays under tmp_path
    # The layer cache (CACHE/layers-index) of each test starts empty, outside tmp_path and $HOME.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


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
    extract_trusted(_layer_tar_bytes(tmp_path / "img"), root)
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
