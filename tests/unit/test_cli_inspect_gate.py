"""The ``--fail-on`` gate (exit 8) and the layer cache of ``dockwright inspect`` through the CLI, on
synthetic images and on one image that dockwright itself built from the signed fixture mirror
(:mod:`tests.e2e`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import Mirror, make_mirror, snapshot, write_project
from tests.e2e import run as run_dockwright
from tests.inspect_images import make_layout
from tests.unit.cli_inspect_support import (
    MB,
    OS_RELEASE,
    M,
    _blob,
    assert_error,
    debian_image,
    inspect_json,
    invoke,
    ok,
    stanza,
)


@pytest.fixture(autouse=True)
def _in_tmp(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # anything written to a relative path stays under tmp_path
    # The layer cache (CACHE/layers-index) of each test starts empty, outside tmp_path and $HOME.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


def test_a_malformed_fail_on_expression_is_an_input_error(tmp_path: Path) -> None:
    debian_image(tmp_path / "img")
    result = invoke("inspect", f"oci:{tmp_path / 'img'}", "--fail-on", "wasted>20MB,wated>5MB")
    assert_error(result, 2, "invalid --fail-on expression: unknown metric 'wated' (did you mean 'wasted'?)")


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
