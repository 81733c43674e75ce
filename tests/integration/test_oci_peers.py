"""Our layouts and archives, read and written back by the real tools: skopeo, umoci, podman."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dockwright.fs.tree import Entry, EntryType, FileTree
from dockwright.oci.image import ImageConfig
from dockwright.oci.image_writer import ImageConfigInput, ImageResult, write_image
from dockwright.oci.layout import read_oci_layout

pytestmark = pytest.mark.integration

MTIME = 1_700_000_000
LONG_NAME = "caf\u00e9-" + "n" * 120
SETTINGS = ImageConfigInput(
    cmd=["/bin/true"], env={"PATH": "/usr/bin"}, ports=["8080"], history=["base", "app"]
)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install -y {tool})")
    return path


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, check=False)
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stderr}"
    return done.stdout


def _layers() -> list[FileTree]:
    base = FileTree()
    base.add(Entry(path="etc/os-release", type=EntryType.FILE, data=b"ID=dockwright\n"))
    base.add(Entry(path="usr/bin/tool", type=EntryType.FILE, mode=0o755, data=b"#!/bin/sh\necho hi\n"))
    base.add(Entry(path="usr/bin/alias", type=EntryType.HARDLINK, target="usr/bin/tool"))
    base.add(Entry(path="bin", type=EntryType.SYMLINK, target="usr/bin", mode=0o777))
    base.add(Entry(path="tmp", type=EntryType.DIR, mode=0o1777))
    app = FileTree()
    app.add(Entry(path=f"srv/{LONG_NAME}", type=EntryType.FILE, data=b"x" * 300_000, uid=1000, gid=1000))
    return [base, app]


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, ImageResult]:
    target = tmp_path / "layout"
    return target, write_image(_layers(), SETTINGS, f"oci:{target}:v1", mtime=MTIME)


def test_skopeo_inspect_reports_our_digests(layout: tuple[Path, ImageResult]) -> None:
    skopeo = _need("skopeo")
    target, result = layout
    raw = _run(skopeo, "inspect", "--raw", f"oci:{target}:v1").encode()
    assert raw == result.manifest
    info = json.loads(_run(skopeo, "inspect", f"oci:{target}:v1"))
    assert info["Digest"] == str(result.manifest_digest)
    assert info["Layers"] == [str(layer.digest) for layer in result.layers]
    assert (info["Architecture"], info["Os"], info["Created"]) == ("amd64", "linux", "2023-11-14T22:13:20Z")
    config = _run(skopeo, "inspect", "--config", "--raw", f"oci:{target}:v1").encode()
    assert config == result.config


def test_umoci_unpacks_the_files(layout: tuple[Path, ImageResult], tmp_path: Path) -> None:
    umoci = _need("umoci")
    target, _ = layout
    _run(umoci, "unpack", "--rootless", "--image", f"{target}:v1", tmp_path / "bundle")
    root = tmp_path / "bundle" / "rootfs"
    assert (root / "etc/os-release").read_bytes() == b"ID=dockwright\n"
    assert os.readlink(root / "bin") == "usr/bin"
    assert (root / "usr/bin/tool").stat().st_ino == (root / "usr/bin/alias").stat().st_ino
    assert (root / "usr/bin/tool").stat().st_mode & 0o777 == 0o755
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (root / "srv" / LONG_NAME).stat().st_size == 300_000
    assert int((root / "etc/os-release").stat().st_mtime) == MTIME
    spec = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert spec["process"]["args"] == ["/bin/true"]


def test_skopeo_and_we_share_one_layout(layout: tuple[Path, ImageResult]) -> None:
    skopeo = _need("skopeo")
    target, result = layout
    _run(skopeo, "copy", f"oci:{target}:v1", f"oci:{target}:v2")  # skopeo writes into our layout
    assert read_oci_layout(target, "v2").manifest_digest == result.manifest_digest
    third = write_image(_layers()[:1], ImageConfigInput(history=["base"]), f"oci:{target}:v3", mtime=MTIME)
    info = json.loads(_run(skopeo, "inspect", f"oci:{target}:v3"))  # and we write into skopeo's
    assert info["Digest"] == str(third.manifest_digest)
    assert read_oci_layout(target, "v1").manifest_digest == result.manifest_digest


def test_skopeo_accepts_the_docker_archive(tmp_path: Path) -> None:
    skopeo = _need("skopeo")
    archive = tmp_path / "image.tar"
    result = write_image(_layers(), SETTINGS, f"docker-archive:{archive}:dockwright/test:1.0", mtime=MTIME)
    _run(skopeo, "copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'other'}:x")
    _run(skopeo, "copy", f"docker-archive:{archive}:dockwright/test:1.0", f"oci:{tmp_path / 'other'}:y")
    copied = read_oci_layout(tmp_path / "other", "x")  # our reader verifies skopeo's blobs too
    ours = ImageConfig.from_json(result.config)
    theirs = ImageConfig.from_json(copied.config)
    assert theirs.rootfs.diff_ids == ours.rootfs.diff_ids
    assert theirs.config == ours.config


def test_podman_loads_the_docker_archive(tmp_path: Path) -> None:
    podman = _need("podman")
    archive = tmp_path / "image.tar"
    result = write_image(_layers(), SETTINGS, f"docker-archive:{archive}:dockwright/test:1.0", mtime=MTIME)
    with tempfile.TemporaryDirectory(prefix="dwp-") as short:  # podman caps runroot at 50 characters
        store = Path(short)  # a private store: nothing is left in the host's
        base = [
            podman,
            "--root",
            str(store / "root"),
            "--runroot",
            str(store / "run"),
            "--storage-driver",
            "vfs",
        ]
        probe = subprocess.run([*base, "info"], capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"podman cannot run here: {probe.stderr.strip()}")
        out = _run(*base, "load", "-i", archive)
        assert "docker.io/dockwright/test:1.0" in out
        image_id = _run(*base, "image", "inspect", "--format", "{{.Id}}", "dockwright/test:1.0").strip()
        assert image_id == result.config_digest.hex == hashlib.sha256(result.config).hexdigest()
