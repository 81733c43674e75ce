"""Session fixtures for integration tests: a real multi-layer Debian image built by other tools.

``minbase_image`` is ``mmdebstrap --variant=minbase --include=jq bookworm`` from the host's apt
mirror, split by ``umoci`` into three layers with deletions (umoci writes the whiteouts):

* layer 0: the root filesystem without ``usr/share`` and ``var``;
* layer 1: ``usr/share`` and ``var`` added; ``etc/issue``, ``etc/issue.net`` and the directory
  ``usr/lib/<triplet>/gconv`` deleted; ``etc/bash.bashrc`` changed; ``usr/bin/jq`` chmod-ed
  (umoci ships it again);
* layer 2: ``etc/issue`` created again, the directory ``usr/share/doc/jq`` deleted.

The build takes about a minute, so it is cached under ``~/.cache/dockwright-tests/<version>/``
(``$DOCKWRIGHT_TEST_CACHE`` overrides the base) and reused while :data:`MINBASE_VERSION` is
unchanged; bump it when the recipe changes. The cache holds the layout, ``umoci unpack``'s bundle
of the final image, a docker-archive of it written by skopeo, and ``expected.json`` (the deleted
paths and the overwritten bytes per layer, computed from the files before each step).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockwright.debian.sources import host_sources

MINBASE_VERSION = "minbase-jq-v1"
TAG = "x"


@dataclass(frozen=True)
class MinbaseImage:
    """The cached image: its layout, an unpacked copy, a docker-archive, and what the steps did."""

    layout: Path
    rootfs: Path
    archive: Path
    deleted: tuple[str, ...]
    recreated: str
    overwritten: tuple[int, ...]

    @property
    def reference(self) -> str:
        """``oci:LAYOUT:x``."""
        return f"oci:{self.layout}:{TAG}"


def _cache_base() -> Path:
    return Path(os.environ.get("DOCKWRIGHT_TEST_CACHE", Path.home() / ".cache" / "dockwright-tests"))


def _run(*args: str | Path, timeout: int = 900) -> None:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def _mirror_line() -> str:
    for source in host_sources():
        if "bookworm" in source.suites and "main" in source.components:
            return f"deb [signed-by={source.keyring}] {source.uri} bookworm main"
    pytest.skip("the host's apt sources have no bookworm main source to build from")


def _regular_files(root: Path) -> dict[str, tuple[int, int]]:
    """Regular files below ``root``: path -> (inode, size)."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_file() and not path.is_symlink():
                out[str(path.relative_to(root))] = (st.st_ino, st.st_size)
    return out


def _hidden_bytes(before: dict[str, tuple[int, int]], gone: set[str]) -> int:
    """Bytes of inodes all of whose paths are in ``gone`` (each inode once)."""
    paths_by_inode: dict[int, set[str]] = {}
    sizes: dict[int, int] = {}
    for path, (inode, size) in before.items():
        paths_by_inode.setdefault(inode, set()).add(path)
        sizes[inode] = size
    return sum(sizes[i] for i, paths in paths_by_inode.items() if paths <= gone)


def _under(files: dict[str, tuple[int, int]], directory: str) -> set[str]:
    return {p for p in files if p.startswith(directory + "/")}


def _build(work: Path) -> dict[str, object]:
    rootfs_tar = work / "rootfs.tar"
    _run(
        "mmdebstrap",
        "--variant=minbase",
        "--include=jq",
        "--skip=check/qemu",
        "bookworm",
        rootfs_tar,
        _mirror_line(),
    )
    layout, bundle = work / "layout", work / "bundle"
    _run("umoci", "init", "--layout", layout)
    _run("umoci", "new", "--image", f"{layout}:{TAG}")
    _run("umoci", "unpack", "--image", f"{layout}:{TAG}", bundle)
    root = bundle / "rootfs"
    tar_x = ("tar", "-C", root, "--numeric-owner", "-xpf", rootfs_tar)
    _run(*tar_x, "--exclude=./usr/share", "--exclude=./var")
    _run("umoci", "repack", "--refresh-bundle", "--image", f"{layout}:{TAG}", bundle)

    layer0 = _regular_files(root)
    _run(*tar_x, "./usr/share", "./var")
    gconv = next(iter(sorted(root.glob("usr/lib/*/gconv"))), root / "usr/lib/apt")
    deleted = ["etc/issue", "etc/issue.net", str(gconv.relative_to(root))]
    (root / "etc/issue").unlink()
    (root / "etc/issue.net").unlink()
    shutil.rmtree(gconv)
    with open(root / "etc/bash.bashrc", "a") as f:
        f.write("# changed by the dockwright test fixture\n")
    (root / "usr/bin/jq").chmod(0o700)
    gone0 = {"etc/issue", "etc/issue.net", "etc/bash.bashrc", "usr/bin/jq"} | _under(layer0, deleted[2])
    _run("umoci", "repack", "--refresh-bundle", "--image", f"{layout}:{TAG}", bundle)

    layer1 = _regular_files(root)
    (root / "etc/issue").write_text("Dockwright test image \\n \\l\n")
    shutil.rmtree(root / "usr/share/doc/jq")
    deleted.append("usr/share/doc/jq")
    gone1 = _under(layer1, "usr/share/doc/jq") - set(layer0)
    _run("umoci", "repack", "--refresh-bundle", "--image", f"{layout}:{TAG}", bundle)

    _run("umoci", "unpack", "--image", f"{layout}:{TAG}", work / "unpacked")
    _run("skopeo", "copy", f"oci:{layout}:{TAG}", f"docker-archive:{work / 'image.tar'}:dockwright/minbase:1")
    rootfs_tar.unlink()
    shutil.rmtree(bundle)
    layer1_new = {p: v for p, v in layer1.items() if p not in layer0 or v != layer0[p]}
    return {
        "deleted": deleted,
        "recreated": "etc/issue",
        "overwritten": [_hidden_bytes(layer0, gone0), _hidden_bytes(layer1_new, gone1), 0],
    }


@pytest.fixture(scope="session")
def minbase_image() -> MinbaseImage:
    """The three-layer minbase+jq image (built once, then cached; see the module docstring)."""
    for tool in ("mmdebstrap", "umoci", "skopeo", "tar"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install -y {tool})")
    if os.geteuid() != 0:
        pytest.skip("building the minbase image needs root (mmdebstrap, umoci unpack)")
    cache = _cache_base() / MINBASE_VERSION
    if not (cache / "expected.json").is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{MINBASE_VERSION}.", dir=cache.parent))
        try:
            expected = _build(work)
            (work / "expected.json").write_text(json.dumps(expected, indent=1))
            if cache.exists():
                shutil.rmtree(cache)
            work.rename(cache)
        except RuntimeError as exc:
            shutil.rmtree(work, ignore_errors=True)
            pytest.skip(f"could not build the minbase image: {exc}")
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    expected = json.loads((cache / "expected.json").read_text())
    return MinbaseImage(
        layout=cache / "layout",
        rootfs=cache / "unpacked" / "rootfs",
        archive=cache / "image.tar",
        deleted=tuple(expected["deleted"]),
        recreated=expected["recreated"],
        overwritten=tuple(expected["overwritten"]),
    )
