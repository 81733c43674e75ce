"""The resolver against apt itself, on the real indexes of the mirror in this machine's apt sources.

The Packages.xz (and InRelease) files of every ``main`` suite are downloaded once into a pytest
temporary directory. The resolver parses them; apt reads the very same files through
``Dir::State::Lists`` and an empty dpkg status, so a mirror update between the two cannot skew
the comparison. For each package set, apt's ``Inst`` lines (names and versions) must equal the
resolver's answer.
"""

from __future__ import annotations

import lzma
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dockwright.debian.index import PackageIndex, PackageRecord, parse_packages
from dockwright.debian.resolver import resolve
from dockwright.debian.sources import host_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PACKAGE_SETS = [
    ("python3",),
    ("curl", "ca-certificates"),
    ("nginx-light",),
    ("openssl",),
    ("libpq5",),
    ("perl",),
    ("git",),
    ("bash", "coreutils"),
]
_INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", re.MULTILINE)


@dataclass(frozen=True)
class Mirror:
    index: PackageIndex
    architecture: str
    lists: Path
    status: Path


def _architecture() -> str:
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("apt-get and dpkg are needed to compare with apt")
    return subprocess.run(
        ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _list_name(uri: str, path: str) -> str:
    """Name a file the way apt's URItoFileName names it in /var/lib/apt/lists."""
    return re.sub(r"^[a-z]+://", "", f"{uri.rstrip('/')}/{path}").replace("/", "_")


def _download(client: httpx.Client, url: str) -> bytes:
    try:
        response = client.get(url)
        response.raise_for_status()
    except httpx.HTTPError as error:
        pytest.skip(f"the mirror is not reachable: {error}")
    return response.content


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    architecture = _architecture()
    sources = [source for source in host_sources() if "main" in source.components]
    if not sources:
        pytest.skip("this machine's apt sources name no deb source with the main component")
    lists = tmp_path_factory.mktemp("lists")
    (lists / "partial").mkdir()
    records: list[PackageRecord] = []
    with httpx.Client(timeout=300, follow_redirects=True) as client:
        for source in sources:
            for suite in source.suites:
                dists = f"dists/{suite}"
                packages = f"{dists}/main/binary-{architecture}/Packages"
                data = lzma.decompress(_download(client, f"{source.uri.rstrip('/')}/{packages}.xz"))
                inrelease = _download(client, f"{source.uri.rstrip('/')}/{dists}/InRelease")
                (lists / _list_name(source.uri, packages)).write_bytes(data)
                (lists / _list_name(source.uri, f"{dists}/InRelease")).write_bytes(inrelease)
                started = time.perf_counter()
                records += parse_packages(data, base_url=source.uri, suite=suite)
                print(f"parsed {suite}: {time.perf_counter() - started:.2f} s")
    status = tmp_path_factory.mktemp("dpkg") / "status"
    status.write_bytes(b"")
    index = PackageIndex(records, architectures={architecture, "all"})
    return Mirror(index=index, architecture=architecture, lists=lists, status=status)


def _apt_answer(mirror: Mirror, packages: tuple[str, ...]) -> dict[str, str]:
    command = [
        "apt-get",
        "install",
        "--simulate",
        "--no-install-recommends",
        "-o",
        f"Dir::State::status={mirror.status}",
        "-o",
        f"Dir::State::Lists={mirror.lists}",
        "-o",
        "Dir::Cache::pkgcache=",
        "-o",
        "Dir::Cache::srcpkgcache=",
        "-o",
        "APT::Get::Show-Versions=1",
        *packages,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return {name.split(":")[0]: version for name, version in _INST.findall(done.stdout)}


@pytest.mark.parametrize("packages", PACKAGE_SETS, ids=" ".join)
def test_same_packages_and_versions_as_apt(mirror: Mirror, packages: tuple[str, ...]) -> None:
    started = time.perf_counter()
    resolved = resolve(mirror.index, packages, architecture=mirror.architecture)
    print(f"resolved {' '.join(packages)}: {len(resolved)} packages in {time.perf_counter() - started:.3f} s")
    assert {record.name: record.version for record in resolved} == _apt_answer(mirror, packages)
