"""Against the real mirror named by this machine's apt sources: verify bookworm and its index."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from dockwright.debian.repository import RepositoryConfig, configs_for_source, fetch_index, fetch_release
from dockwright.debian.sources import host_sources
from dockwright.net.cache import BlobCache
from dockwright.net.http import HttpxFetcher

pytestmark = pytest.mark.integration


def _bookworm_main() -> RepositoryConfig:
    for source in host_sources():
        # This machine's apt may point at a snapshot mirror whose InRelease is past Valid-Until;
        # apt here runs with Acquire::Check-Valid-Until "false" for that reason. dockwright makes
        # the same choice, explicitly: signatures and digests are still checked, only the expiry
        # date of the (old but genuinely signed) Release is not.
        for config in configs_for_source(source, check_valid_until=False):
            if config.suite == "bookworm" and "main" in config.components:
                return dataclasses.replace(config, components=("main",), architectures=("amd64",))
    pytest.skip("no bookworm main source in this machine's apt sources")


def test_real_bookworm_inrelease_and_packages(tmp_path: Path) -> None:
    config = _bookworm_main()
    with HttpxFetcher() as fetcher:
        started = time.perf_counter()
        release, inrelease_sha256 = fetch_release(config, fetcher)
        release_seconds = time.perf_counter() - started
        assert release.codename == "bookworm"
        assert "main/binary-amd64/Packages.xz" in release.files

        started = time.perf_counter()
        [index] = fetch_index(config, fetcher, cache=BlobCache(tmp_path / "cache"))
        index_seconds = time.perf_counter() - started
    assert index.inrelease_sha256 == inrelease_sha256
    assert index.index_path == "main/binary-amd64/Packages.xz"
    assert index.packages.startswith(b"Package: ")
    assert b"\nPackage: python3\n" in index.packages
    print(f"\nInRelease fetch+verify {release_seconds:.3f}s; Packages fetch+verify {index_seconds:.3f}s")
