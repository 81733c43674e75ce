"""The reader against real images built by mmdebstrap and umoci, checked against ``umoci unpack``."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest

from dockwright.inspect.model import FileKind, FileRecord, ImageContents
from dockwright.inspect.reader import read_image
from tests.inspect_images import TarMember as M
from tests.inspect_images import make_layout
from tests.integration.conftest import MinbaseImage

pytestmark = pytest.mark.integration

STATUS = "var/lib/dpkg/status"


def _unpacked(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every path below ``root``: (kind, size of regular files, symlink target)."""
    out: dict[str, tuple[str, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", 0, "")
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", st.st_size, "")
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", 0, os.readlink(path))
            else:
                out[rel] = ("other", 0, "")
    return out


def _ours(files: dict[str, FileRecord]) -> dict[str, tuple[str, int, str]]:
    kinds = {FileKind.FILE: "file", FileKind.HARDLINK: "file", FileKind.DIR: "dir"}
    out = {}
    for path, record in files.items():
        kind = kinds.get(record.kind, record.kind.value)
        if record.kind is FileKind.SYMLINK:
            out[path] = ("symlink", 0, record.link)
        else:
            out[path] = (kind, record.size if kind == "file" else 0, "")
    return out


@pytest.fixture(scope="module")
def read_timed(minbase_image: MinbaseImage) -> tuple[ImageContents, float, int]:
    start = time.perf_counter()
    contents = read_image(minbase_image.reference, wanted=lambda p: p == STATUS)
    wall = time.perf_counter() - start
    tracemalloc.start()
    read_image(minbase_image.reference, wanted=lambda p: p == STATUS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"\nread {minbase_image.reference}: {wall:.2f} s, tracemalloc peak {peak / 1e6:.1f} MB")
    return contents, wall, peak


def test_merged_files_equal_umoci_unpack(
    minbase_image: MinbaseImage, read_timed: tuple[ImageContents, float, int]
) -> None:
    contents = read_timed[0]
    expected = _unpacked(minbase_image.rootfs)
    ours = _ours(contents.files)
    assert sorted(set(ours) ^ set(expected)) == []
    assert {p: v for p, v in ours.items() if v != expected[p]} == {}
    assert contents.warnings == ()


def test_hashes_and_wanted_contents_match_the_unpacked_files(
    minbase_image: MinbaseImage, read_timed: tuple[ImageContents, float, int]
) -> None:
    contents = read_timed[0]
    files = contents.files
    wrong = [
        path
        for path, record in files.items()
        if record.kind is FileKind.FILE
        and record.sha256 != hashlib.sha256((minbase_image.rootfs / path).read_bytes()).hexdigest()
    ]
    assert wrong == []
    assert contents.contents == {STATUS: (minbase_image.rootfs / STATUS).read_bytes()}
    assert [layer for layer, _ in contents.versions[STATUS]] == [1]  # var/ is in layer 1
    assert contents.os_release["ID"] == "debian"
    assert contents.os_release["VERSION_ID"] == "12"


def test_deletions_and_overwritten_bytes_follow_the_umoci_steps(
    minbase_image: MinbaseImage, read_timed: tuple[ImageContents, float, int]
) -> None:
    contents = read_timed[0]
    files = contents.files
    for deleted in minbase_image.deleted:
        if deleted == minbase_image.recreated:
            continue
        assert deleted not in files
        assert not any(p.startswith(deleted + "/") for p in files)
    issue = files[minbase_image.recreated]
    assert (issue.added_in, issue.layer) == (2, 2)
    assert files["etc/bash.bashrc"].layer == 1
    assert files["etc/bash.bashrc"].added_in == 0
    layers = contents.layers
    assert len(layers) == 3
    assert tuple(layer.overwritten_bytes for layer in layers) == minbase_image.overwritten
    assert layers[0].overwritten_bytes > 1_000_000  # gconv is several MB
    assert layers[1].deleted >= 3
    assert layers[2].deleted >= 1


def test_fast_and_bounded(read_timed: tuple[ImageContents, float, int]) -> None:
    _, wall, peak = read_timed
    assert wall < 5.0
    assert peak < 64 << 20


def test_docker_archive_and_dir_of_the_same_image_agree(
    minbase_image: MinbaseImage, read_timed: tuple[ImageContents, float, int]
) -> None:
    contents = read_timed[0]
    ours = _ours(contents.files)
    archived = read_image(f"docker-archive:{minbase_image.archive}:dockwright/minbase:1")
    assert _ours(archived.files) == ours
    assert [r.overwritten_bytes for r in archived.layers] == list(minbase_image.overwritten)
    assert [r.diff_id for r in archived.layers] == [r.diff_id for r in contents.layers]
    unpacked = read_image(f"dir:{minbase_image.rootfs}")
    assert _ours(unpacked.files) == ours
    assert unpacked.os_release == contents.os_release


# The merge rules against umoci's, on small layouts with the tricky orders -------------------------

TRICKY = {
    "opaque-after-entries": [
        [M("d/", kind="dir"), M("d/old", b"o"), M("d/sub/y", b"y")],
        [M("d/", kind="dir"), M("d/new", b"n"), M("d/sub/x", b"x"), M("d", kind="opaque")],
    ],
    "opaque-before-entries": [
        [M("d/", kind="dir"), M("d/old", b"o"), M("d/sub/y", b"y")],
        [M("d", kind="opaque"), M("d/", kind="dir"), M("d/new", b"n"), M("d/sub/x", b"x")],
    ],
    "whiteout-beside-same-layer-entry": [[M("a", b"lower")], [M("a", b"upper"), M("a", kind="whiteout")]],
    "parent-through-symlink": [
        [M("usr/lib/", kind="dir"), M("lib", kind="symlink", link="usr/lib")],
        [M("lib/x.so", b"elf")],
    ],
    "whiteout-through-symlink": [
        [M("usr/lib/", kind="dir"), M("usr/lib/z", b"z"), M("lib", kind="symlink", link="usr/lib")],
        [M("lib/z", kind="whiteout")],
    ],
    "file-replaces-directory": [[M("d/x", b"1"), M("d/y/z", b"2")], [M("d", b"file")]],
    "directory-replaces-file": [[M("d", b"file")], [M("d/", kind="dir"), M("d/x", b"1")]],
    "deleted-then-recreated": [[M("a/b", b"1")], [M("a", kind="whiteout")], [M("a/c", b"2")]],
}


@pytest.mark.parametrize("case", sorted(TRICKY))
def test_tricky_layer_orders_merge_as_umoci_unpacks_them(tmp_path: Path, case: str) -> None:
    if shutil.which("umoci") is None:
        pytest.skip("umoci is not installed (apt-get install -y umoci)")
    make_layout(tmp_path / "img", TRICKY[case])
    rootless = [] if os.geteuid() == 0 else ["--rootless"]
    subprocess.run(
        ["umoci", "unpack", *rootless, "--image", f"{tmp_path / 'img'}:latest", str(tmp_path / "bundle")],
        check=True,
        capture_output=True,
    )
    ours = read_image(f"oci:{tmp_path / 'img'}:latest")
    assert _ours(ours.files) == _unpacked(tmp_path / "bundle" / "rootfs")
