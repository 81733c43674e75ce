"""Fetch a Debian repository's package indexes, verified from the InRelease signature down.

:func:`fetch_index` fetches ``dists/<suite>/InRelease``, verifies it with the configured keyring
(:func:`~dockwright.debian.release.verify_inrelease`), checks the suite and freshness, then for
each component and architecture fetches the best ``Packages`` variant the signed Release lists
(``.xz``, then ``.gz``, then uncompressed; through ``by-hash/SHA256`` when the Release says
``Acquire-By-Hash: yes``). The compressed bytes are checked against the signed size and sha256
*before* they are decompressed; decompression is capped (at the signed uncompressed size, else
:attr:`RepositoryConfig.max_index_bytes`) and the uncompressed sha256 is checked when listed.

What this module does not do: parse the Packages stanzas (see the index parser), fetch
``binary-all`` (bookworm lists ``Architecture: all`` packages in each ``binary-<arch>``), support
flat repositories (suites ending in ``/``), or fall back to another mirror when a check fails.
"""

from __future__ import annotations

import functools
import hashlib
import io
import lzma
import posixpath
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from dockwright.debian.release import FileHash, Release, check_freshness, parse_release, verify_inrelease
from dockwright.debian.sources import DEFAULT_KEYRING, AptSource
from dockwright.errors import DigestMismatchError, SignatureError, UnsafeArchiveError, VerificationError
from dockwright.net.cache import BlobCache
from dockwright.net.download import Downloader, DownloadItem
from dockwright.net.http import Fetcher, FetchError, RetryPolicy, call_with_retry

__all__ = ["RepositoryConfig", "VerifiedIndex", "configs_for_source", "fetch_index", "fetch_release"]

_CHUNK = 1 << 16
_VARIANTS = (".xz", ".gz", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryConfig:
    """One suite of one repository, the key that must sign it, and the limits that apply.

    ``check_valid_until`` may be turned off for snapshot mirrors whose InRelease is past its
    ``Valid-Until`` on purpose; every signature and digest is still checked.
    """

    uri: str
    suite: str
    components: tuple[str, ...] = ("main",)
    architectures: tuple[str, ...] = ("amd64",)
    keyring: Path = DEFAULT_KEYRING
    check_valid_until: bool = True
    max_inrelease_bytes: int = 32 << 20
    max_index_bytes: int = 1 << 30
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def dist_url(self) -> str:
        """``<uri>/dists/<suite>/``."""
        return f"{self.uri.rstrip('/')}/dists/{self.suite}/"


def configs_for_source(
    source: AptSource, *, architectures: tuple[str, ...] = ("amd64",), check_valid_until: bool = True
) -> list[RepositoryConfig]:
    """One :class:`RepositoryConfig` per suite of an apt source.

    Args:
        source: from :func:`~dockwright.debian.sources.host_sources`.
        architectures: used when the source names none.
        check_valid_until: see :class:`RepositoryConfig`.

    Returns:
        The configs, in the source's suite order.
    """
    return [
        RepositoryConfig(
            uri=source.uri,
            suite=suite,
            components=source.components,
            architectures=source.architectures or architectures,
            keyring=source.keyring,
            check_valid_until=check_valid_until,
        )
        for suite in source.suites
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedIndex:
    """A Packages index whose every byte was checked against a signed Release.

    ``index_path`` is the Release-relative file that was fetched (e.g.
    ``main/binary-amd64/Packages.xz``) and ``index_sha256`` its signed digest.
    """

    uri: str
    suite: str
    component: str
    architecture: str
    packages: bytes = field(repr=False)
    inrelease_sha256: str
    release: Release = field(repr=False)
    index_path: str
    index_sha256: str


def fetch_release(
    config: RepositoryConfig, fetcher: Fetcher, *, now: datetime | None = None
) -> tuple[Release, str]:
    """Fetch, verify and check ``dists/<suite>/InRelease``.

    Args:
        config: the repository.
        fetcher: the transport.
        now: the current time (for tests); defaults to the clock.

    Returns:
        The release and the sha256 of the InRelease bytes as fetched.

    Raises:
        NetworkError: InRelease could not be fetched.
        SignatureError: unsigned, badly signed, unknown key, expired, or dated in the future.
        VerificationError: the Release is malformed or for another suite.
    """
    url = config.dist_url + "InRelease"
    try:
        data = call_with_retry(
            lambda: fetcher.fetch_bytes(url, max_length=config.max_inrelease_bytes), config.retry
        )
    except FetchError as exc:
        if exc.status == 404 and _exists(fetcher, config.dist_url + "Release"):
            raise SignatureError(
                f"{url} does not exist but {config.dist_url}Release does: the repository is not "
                "signed with an InRelease file (a detached Release.gpg is not accepted)"
            ) from None
        raise
    release = parse_release(verify_inrelease(data, config.keyring, name=url))
    names = {release.suite, release.codename} - {""}
    if names and config.suite not in names:
        raise VerificationError(
            f"{url} is signed for suite {release.suite!r} (codename {release.codename!r}), "
            f"not {config.suite!r}: the mirror may be serving another suite"
        )
    check_freshness(release, now or datetime.now(UTC), config.check_valid_until, name=url)
    return release, hashlib.sha256(data).hexdigest()


def _exists(fetcher: Fetcher, url: str) -> bool:
    try:
        for _ in fetcher.fetch(url, max_length=1 << 30):
            return True
    except FetchError:
        return False
    return True


def fetch_index(
    config: RepositoryConfig, fetcher: Fetcher, *, now: datetime | None = None, cache: BlobCache | None = None
) -> list[VerifiedIndex]:
    """Fetch and verify the Packages index of every configured component and architecture.

    Args:
        config: the repository.
        fetcher: the transport.
        now: the current time (for tests); defaults to the clock.
        cache: keep the compressed indexes here by digest (streamed to disk, reused next time);
            without it they are held in memory while checked.

    Returns:
        One index per (component, architecture), in config order.

    Raises:
        NetworkError: a file could not be fetched.
        SignatureError: see :func:`fetch_release`.
        DigestMismatchError: an index does not match the signed Release.
        UnsafeArchiveError: an index decompresses beyond ``max_index_bytes``.
        VerificationError: the signed Release lists no Packages index for a component/arch.
    """
    release, inrelease_sha256 = fetch_release(config, fetcher, now=now)
    found = []
    for component in config.components:
        for arch in config.architectures:
            path, packages = _fetch_packages(config, fetcher, release, f"{component}/binary-{arch}", cache)
            found.append(
                VerifiedIndex(
                    uri=config.uri,
                    suite=config.suite,
                    component=component,
                    architecture=arch,
                    packages=packages,
                    inrelease_sha256=inrelease_sha256,
                    release=release,
                    index_path=path,
                    index_sha256=release.files[path].sha256,
                )
            )
    return found


def _fetch_packages(
    config: RepositoryConfig, fetcher: Fetcher, release: Release, directory: str, cache: BlobCache | None
) -> tuple[str, bytes]:
    """Fetch the best listed variant of ``<directory>/Packages``; return its path and content."""
    base = f"{directory}/Packages"
    suffix = next((s for s in _VARIANTS if base + s in release.files), None)
    if suffix is None:
        raise VerificationError(f"{config.dist_url}InRelease lists no {base} index (is the component right?)")
    path, entry = base + suffix, release.files[base + suffix]
    plain = release.files.get(base)
    urls = _urls(config, release, path, entry)
    label = config.dist_url + path
    with _open_verified(fetcher, cache, urls, entry, config.retry, label) as stream:
        data = _decompress(stream, suffix, plain, config.max_index_bytes, label)
    if plain is not None:
        _check(data, plain, f"{config.dist_url}{base} (decompressed from {path})")
    return path, data


def _urls(config: RepositoryConfig, release: Release, path: str, entry: FileHash) -> list[str]:
    canonical = config.dist_url + path
    if not release.acquire_by_hash:
        return [canonical]
    by_hash = f"{config.dist_url}{posixpath.dirname(path)}/by-hash/SHA256/{entry.sha256}"
    return [by_hash, canonical]  # mirrors that lack by-hash get the canonical name; same checks


def _open_verified(
    fetcher: Fetcher,
    cache: BlobCache | None,
    urls: list[str],
    entry: FileHash,
    retry: RetryPolicy,
    label: str,
) -> BinaryIO:
    """A stream of the file's bytes, checked against ``entry`` before anyone reads them."""
    for i, url in enumerate(urls):
        try:
            if cache is not None:
                item = DownloadItem(url=url, sha256=entry.sha256, size=entry.size, name=label)
                return open(Downloader(fetcher, cache, retry=retry).fetch_one(item), "rb")
            data = call_with_retry(functools.partial(fetcher.fetch_bytes, url, max_length=entry.size), retry)
            _check(data, entry, url)
            return io.BytesIO(data)
        except FetchError as exc:
            if exc.status != 404 or i + 1 == len(urls):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _check(data: bytes, entry: FileHash, label: str) -> None:
    if len(data) != entry.size:
        raise DigestMismatchError(f"{label}: size mismatch: expected {entry.size} bytes, got {len(data)}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise DigestMismatchError(f"{label}: sha256 mismatch: expected {entry.sha256}, got {actual}")


def _decompress(src: BinaryIO, suffix: str, plain: FileHash | None, limit: int, label: str) -> bytes:
    """Decompress at most ``cap + 1`` bytes, so a bomb never grows past the cap in memory."""
    cap = plain.size if plain is not None else limit
    if suffix == ".xz":
        out = _unxz(src, cap, label)
    elif suffix == ".gz":
        out = _gunzip(src, cap, label)
    else:
        out = bytearray(src.read(cap + 1))
    if len(out) > cap:
        if plain is not None:
            raise DigestMismatchError(
                f"{label}: decompresses to more than the {cap} bytes the signed Release lists"
            )
        raise UnsafeArchiveError(f"{label}: decompresses to more than {cap} bytes (decompression bomb?)")
    return bytes(out)


def _unxz(src: BinaryIO, cap: int, label: str) -> bytearray:
    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    out = bytearray()
    try:
        while not d.eof and len(out) <= cap:
            chunk = b""
            if d.needs_input:
                chunk = src.read(_CHUNK)
                if not chunk:
                    raise VerificationError(f"{label}: truncated xz data")
            out += d.decompress(chunk, cap + 1 - len(out))
    except lzma.LZMAError as exc:
        raise VerificationError(f"{label}: corrupt xz data: {exc}") from exc
    return out


def _gunzip(src: BinaryIO, cap: int, label: str) -> bytearray:
    d = zlib.decompressobj(wbits=31)
    out, pending = bytearray(), b""
    try:
        while not d.eof and len(out) <= cap:
            if not pending and not (pending := src.read(_CHUNK)):
                out += d.flush()
                break
            out += d.decompress(pending, cap + 1 - len(out))
            pending = d.unconsumed_tail
    except zlib.error as exc:
        raise VerificationError(f"{label}: corrupt gzip data: {exc}") from exc
    if not d.eof and len(out) <= cap:
        raise VerificationError(f"{label}: truncated gzip data")
    return out
