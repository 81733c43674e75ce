from __future__ import annotations

import functools
import gzip
import hashlib
import lzma
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockwright.debian.repository import RepositoryConfig, configs_for_source, fetch_index
from dockwright.debian.sources import AptSource
from dockwright.errors import DigestMismatchError, SignatureError, UnsafeArchiveError, VerificationError
from dockwright.net.cache import BlobCache
from dockwright.net.http import FakeFetcher, HttpxFetcher
from tests.debrepo import FakePackage, write_release

MIRROR = "http://mirror.test/debian"
NOW = datetime(2024, 1, 2, tzinfo=UTC)
PACKAGES = [
    FakePackage("hello", depends="libfoo (>= 1.0)", files={"/usr/bin/hello": b"hi\n"}),
    FakePackage("libfoo", version="1:2.0-1", architecture="all"),
]


def _fake(root: Path) -> FakeFetcher:
    """A fetcher serving every file of ``root`` under MIRROR."""
    return FakeFetcher(
        {f"{MIRROR}/{p.relative_to(root)}": p.read_bytes() for p in root.rglob("*") if p.is_file()}
    )


def _config(keyring: Path, **kwargs: object) -> RepositoryConfig:
    return RepositoryConfig(uri=MIRROR, suite="stable", keyring=keyring, **kwargs)  # type: ignore[arg-type]


def _binary(root: Path) -> Path:
    return root / "dists" / "stable" / "main" / "binary-amd64"


def test_fetch_index_verifies_and_decompresses(deb_repo: Callable[..., Path], keyring: Path) -> None:
    root = deb_repo(PACKAGES)
    fetcher = _fake(root)
    [index] = fetch_index(_config(keyring), fetcher, now=NOW)
    assert index.packages == (_binary(root) / "Packages").read_bytes()
    assert b"Package: libfoo\nVersion: 1:2.0-1\nArchitecture: all\n" in index.packages
    assert (index.uri, index.suite, index.component, index.architecture) == (
        MIRROR,
        "stable",
        "main",
        "amd64",
    )
    inrelease = (root / "dists" / "stable" / "InRelease").read_bytes()
    assert index.inrelease_sha256 == hashlib.sha256(inrelease).hexdigest()
    assert index.index_path == "main/binary-amd64/Packages.xz"
    assert index.index_sha256 == hashlib.sha256((_binary(root) / "Packages.xz").read_bytes()).hexdigest()
    assert index.release.codename == "testing"
    assert [url for url, _ in fetcher.requests] == [
        f"{MIRROR}/dists/stable/InRelease",
        f"{MIRROR}/dists/stable/main/binary-amd64/Packages.xz",
    ]


@pytest.mark.parametrize(
    ("remove", "chosen"),
    [(["Packages.xz"], "Packages.gz"), (["Packages.xz", "Packages.gz"], "Packages")],
)
def test_falls_back_to_listed_variants(
    deb_repo: Callable[..., Path], keyring: Path, gpg_home: Path, remove: list[str], chosen: str
) -> None:
    root = deb_repo(PACKAGES)
    for name in remove:
        (_binary(root) / name).unlink()
    write_release(root, gnupghome=gpg_home)
    [index] = fetch_index(_config(keyring), _fake(root), now=NOW)
    assert index.index_path == f"main/binary-amd64/{chosen}"
    assert index.packages == (_binary(root) / "Packages").read_bytes()


def test_tampered_packages_is_refused_before_decompressing(
    deb_repo: Callable[..., Path], keyring: Path
) -> None:
    root = deb_repo(PACKAGES)
    fetcher = _fake(root)
    url = f"{MIRROR}/dists/stable/main/binary-amd64/Packages.xz"
    good = fetcher.files[url]
    fetcher.files[url] = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(DigestMismatchError) as info:
        fetch_index(_config(keyring), fetcher, now=NOW)
    assert str(info.value) == (
        f"{url}: sha256 mismatch: expected {hashlib.sha256(good).hexdigest()}, "
        f"got {hashlib.sha256(fetcher.files[url]).hexdigest()}"
    )


def test_tampered_inrelease_is_refused(
    deb_repo: Callable[..., Path], keyring: Path, signing_key: str
) -> None:
    root = deb_repo(PACKAGES)
    fetcher = _fake(root)
    url = f"{MIRROR}/dists/stable/InRelease"
    fetcher.files[url] = fetcher.files[url].replace(b"Suite: stable", b"Suite: stablE")
    with pytest.raises(SignatureError) as info:
        fetch_index(_config(keyring), fetcher, now=NOW)
    assert str(info.value) == (
        f"{url} has a bad signature from key {signing_key[-16:]}: it was altered or damaged"
    )


def test_expired_valid_until_is_refused_unless_disabled(deb_repo: Callable[..., Path], keyring: Path) -> None:
    root = deb_repo(PACKAGES, valid_until=NOW - timedelta(hours=1))
    with pytest.raises(SignatureError) as info:
        fetch_index(_config(keyring), _fake(root), now=NOW)
    assert str(info.value) == (
        f"{MIRROR}/dists/stable/InRelease expired at 2024-01-01 23:00:00 UTC (now 2024-01-02 00:00:00 UTC)"
    )
    [index] = fetch_index(_config(keyring, check_valid_until=False), _fake(root), now=NOW)
    assert b"Package: hello" in index.packages


def test_release_for_another_suite_is_refused(deb_repo: Callable[..., Path], keyring: Path) -> None:
    root = deb_repo(PACKAGES)
    shutil.copytree(root / "dists" / "stable", root / "dists" / "other")
    config = RepositoryConfig(uri=MIRROR, suite="other", keyring=keyring)
    with pytest.raises(VerificationError) as info:
        fetch_index(config, _fake(root), now=NOW)
    assert str(info.value) == (
        f"{MIRROR}/dists/other/InRelease is signed for suite 'stable' (codename 'testing'), not 'other': "
        "the mirror may be serving another suite"
    )
    # The codename is as good as the suite name (apt accepts either).
    testing = RepositoryConfig(uri=MIRROR, suite="testing", keyring=keyring)
    shutil.copytree(root / "dists" / "stable", root / "dists" / "testing")
    assert fetch_index(testing, _fake(root), now=NOW)[0].suite == "testing"


def test_component_not_in_release(deb_repo: Callable[..., Path], keyring: Path) -> None:
    root = deb_repo(PACKAGES)
    with pytest.raises(VerificationError) as info:
        fetch_index(_config(keyring, components=("contrib",)), _fake(root), now=NOW)
    assert str(info.value) == (
        f"{MIRROR}/dists/stable/InRelease lists no contrib/binary-amd64/Packages index (is the component right?)"
    )


@functools.cache
def _bomb_bytes(suffix: str) -> bytes:
    zeros = b"\0" * (16 << 20)  # 16 MiB in about 2 KiB (xz) or 16 KiB (gzip)
    return lzma.compress(zeros, preset=0) if suffix == ".xz" else gzip.compress(zeros, mtime=0)


def _bomb(root: Path, gpg_home: Path, *, keep_plain: bool, suffix: str = ".xz") -> None:
    """Replace the signed indexes with a small compressed file that decompresses to 16 MiB."""
    binary = _binary(root)
    (binary / "Packages.gz").unlink()
    (binary / "Packages.xz").unlink()
    (binary / f"Packages{suffix}").write_bytes(_bomb_bytes(suffix))
    if not keep_plain:
        (binary / "Packages").unlink()
    write_release(root, gnupghome=gpg_home)


@pytest.mark.parametrize("suffix", [".xz", ".gz"])
def test_bomb_is_stopped_at_the_configured_cap(
    deb_repo: Callable[..., Path], keyring: Path, gpg_home: Path, suffix: str
) -> None:
    root = deb_repo(PACKAGES)
    _bomb(root, gpg_home, keep_plain=False, suffix=suffix)
    with pytest.raises(UnsafeArchiveError) as info:
        fetch_index(_config(keyring, max_index_bytes=1 << 20), _fake(root), now=NOW)
    assert str(info.value) == (
        f"{MIRROR}/dists/stable/main/binary-amd64/Packages{suffix}: decompresses to more than 1048576 bytes "
        "(decompression bomb?)"
    )
    # Under a cap that allows it, the same file decompresses (the cap is the only thing that stopped it).
    [index] = fetch_index(_config(keyring, max_index_bytes=16 << 20), _fake(root), now=NOW)
    assert len(index.packages) == 16 << 20


def test_xz_larger_than_the_signed_uncompressed_size_is_refused(
    deb_repo: Callable[..., Path], keyring: Path, gpg_home: Path
) -> None:
    root = deb_repo(PACKAGES)
    _bomb(root, gpg_home, keep_plain=True)
    size = (_binary(root) / "Packages").stat().st_size
    with pytest.raises(DigestMismatchError) as info:
        fetch_index(_config(keyring), _fake(root), now=NOW)
    assert str(info.value) == (
        f"{MIRROR}/dists/stable/main/binary-amd64/Packages.xz: decompresses to more than the {size} bytes "
        "the signed Release lists"
    )


def test_uncompressed_hash_is_checked(deb_repo: Callable[..., Path], keyring: Path, gpg_home: Path) -> None:
    root = deb_repo(PACKAGES)
    binary = _binary(root)
    text = (binary / "Packages").read_bytes()
    other = text.replace(b"Package: hello", b"Package: hellO")
    (binary / "Packages.xz").write_bytes(lzma.compress(other))
    write_release(root, gnupghome=gpg_home)  # signs a Release whose .xz and plain entries disagree
    with pytest.raises(DigestMismatchError) as info:
        fetch_index(_config(keyring), _fake(root), now=NOW)
    assert str(info.value) == (
        f"{MIRROR}/dists/stable/main/binary-amd64/Packages (decompressed from main/binary-amd64/Packages.xz): "
        f"sha256 mismatch: expected {hashlib.sha256(text).hexdigest()}, got {hashlib.sha256(other).hexdigest()}"
    )


def test_by_hash_urls_and_fallback(deb_repo: Callable[..., Path], keyring: Path, gpg_home: Path) -> None:
    root = deb_repo(PACKAGES)
    xz = (_binary(root) / "Packages.xz").read_bytes()
    digest = hashlib.sha256(xz).hexdigest()
    (_binary(root) / "by-hash" / "SHA256").mkdir(parents=True)
    (_binary(root) / "by-hash" / "SHA256" / digest).write_bytes(xz)
    write_release(root, gnupghome=gpg_home, acquire_by_hash=True)
    fetcher = _fake(root)
    fetch_index(_config(keyring), fetcher, now=NOW)
    by_hash = f"{MIRROR}/dists/stable/main/binary-amd64/by-hash/SHA256/{digest}"
    assert fetcher.requests[-1] == (by_hash, 0)
    del fetcher.files[by_hash]
    fetcher.requests.clear()
    assert fetch_index(_config(keyring), fetcher, now=NOW)[0].packages.startswith(b"Package: hello")
    assert [url for url, _ in fetcher.requests][-2:] == [
        by_hash,
        f"{MIRROR}/dists/stable/main/binary-amd64/Packages.xz",
    ]


def test_cache_keeps_indexes_by_digest(deb_repo: Callable[..., Path], keyring: Path, tmp_path: Path) -> None:
    root = deb_repo(PACKAGES)
    cache = BlobCache(tmp_path / "cache")
    fetcher = _fake(root)
    first = fetch_index(_config(keyring), fetcher, now=NOW, cache=cache)
    fetcher.requests.clear()
    second = fetch_index(_config(keyring), fetcher, now=NOW, cache=cache)
    assert second == first
    assert [url for url, _ in fetcher.requests] == [f"{MIRROR}/dists/stable/InRelease"]
    assert cache.path(first[0].index_sha256, verify=True) is not None


def test_over_loopback_http_and_file_urls(
    deb_repo: Callable[..., Path], keyring: Path, url_for: Callable[[Path], str]
) -> None:
    root = deb_repo(PACKAGES)
    expected = (_binary(root) / "Packages").read_bytes()
    with HttpxFetcher() as fetcher:
        for uri in (url_for(root), root.as_uri()):
            config = RepositoryConfig(uri=uri, suite="stable", keyring=keyring)
            assert fetch_index(config, fetcher, now=NOW)[0].packages == expected


def test_configs_for_source(keyring: Path) -> None:
    source = AptSource(uri=MIRROR, suites=("a", "b"), components=("main",), signed_by=str(keyring))
    configs = configs_for_source(source, check_valid_until=False)
    assert [(c.suite, c.architectures, c.keyring, c.check_valid_until) for c in configs] == [
        ("a", ("amd64",), keyring, False),
        ("b", ("amd64",), keyring, False),
    ]
