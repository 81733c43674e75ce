"""The store fetcher, the mapping of python-tuf's errors, and the package's public surface."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuf.api import exceptions as tuf_exceptions

import dockwright.trust as trust
from dockwright.errors import NetworkError
from dockwright.registry import RegistryError
from dockwright.trust import (
    EndlessDataError,
    FreezeAttackError,
    MemoryMetadataStore,
    MixAndMatchError,
    RollbackAttackError,
    StoreFetcher,
    TrustDataMissingError,
    TrustError,
    TrustSignatureError,
)
from dockwright.trust._tuf_errors import map_tuf_error
from dockwright.trust.fetcher import METADATA_BASE_URL
from tests.unit.trust_support import Keys, client, make_repo


def test_fetcher_serves_store_files_in_chunks() -> None:
    store = MemoryMetadataStore()
    store.put("timestamp.json", b"x" * 200_000)
    fetcher = StoreFetcher(store)
    assert fetcher.download_bytes(METADATA_BASE_URL + "timestamp.json", 300_000) == b"x" * 200_000
    assert fetcher.stats.files == ["timestamp.json"] and fetcher.stats.bytes == 200_000
    with pytest.raises(tuf_exceptions.DownloadLengthMismatchError):
        fetcher.download_bytes(METADATA_BASE_URL + "timestamp.json", 100_000)


@pytest.mark.parametrize(
    "url",
    [
        METADATA_BASE_URL + "2.root.json",
        METADATA_BASE_URL + "..%2Fsecret.json",
        METADATA_BASE_URL + "Upper.json",
        "https://127.0.0.1/metadata/timestamp.json",
        "tuf-store:///targets/tags/v1",
    ],
)
def test_fetcher_answers_404_for_anything_else(url: str) -> None:
    fetcher = StoreFetcher(MemoryMetadataStore())
    with pytest.raises(tuf_exceptions.DownloadHTTPError) as caught:
        fetcher.download_bytes(url, 1000)
    assert caught.value.status_code == 404


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (tuf_exceptions.ExpiredMetadataError("timestamp.json is expired"), FreezeAttackError,
         "repo: freeze attack (expired metadata): timestamp.json is expired"),
        (tuf_exceptions.BadVersionNumberError("New timestamp version 2 must be >= 3"), RollbackAttackError,
         "repo: rollback attack (older metadata than already trusted): New timestamp version 2 must be >= 3"),
        (tuf_exceptions.BadVersionNumberError("Expected bins-0f v3, got v2."), MixAndMatchError,
         "repo: mix-and-match attack (metadata from different repository states): Expected bins-0f v3, got v2."),
        (tuf_exceptions.BadVersionNumberError("Expected snapshot version 4, got 3"), MixAndMatchError,
         "repo: mix-and-match attack (metadata from different repository states): Expected snapshot version 4, got 3"),
        (tuf_exceptions.LengthOrHashMismatchError("Length mismatch"), MixAndMatchError,
         "repo: mix-and-match attack (metadata from different repository states): Length mismatch"),
        (tuf_exceptions.UnsignedMetadataError("ci was signed by 0/1 keys"), TrustSignatureError,
         "repo: arbitrary software installation (bad or missing signatures): ci was signed by 0/1 keys"),
        (tuf_exceptions.DownloadLengthMismatchError("too long"), EndlessDataError,
         "repo: endless data attack (oversized metadata): too long"),
        (tuf_exceptions.DownloadHTTPError("holds no x.json", 404), TrustDataMissingError,
         "repo: missing trust data: holds no x.json"),
        (tuf_exceptions.RepositoryError("odd"), TrustError, "repo: untrusted metadata: odd"),
    ],
)  # fmt: skip
def test_tuf_errors_map_to_attack_classes(error: Exception, kind: type[TrustError], message: str) -> None:
    mapped = map_tuf_error(error, "repo")
    assert type(mapped) is kind
    assert mapped.message == message
    assert mapped.hint and mapped.exit_code == 5


def test_store_failures_pass_through_unchanged(tmp_path: Path) -> None:
    store = MemoryMetadataStore("127.0.0.1:5000/team/app")
    make_repo(store, Keys(), bin_bits=1)
    pinned = store.files["1.root.json"]

    class Broken(MemoryMetadataStore):
        def get(self, name: str) -> bytes | None:
            raise RegistryError("GET ...: HTTP 503", method="GET", url="http://x", status=503, retryable=True)

    broken = Broken(store.location)
    with pytest.raises(RegistryError, match="HTTP 503"):
        client(broken, tmp_path, pinned).tag("v1")
    other = map_tuf_error(tuf_exceptions.DownloadError("connection reset"), "repo")
    assert isinstance(other, NetworkError) and not isinstance(other, TrustError)


def test_public_surface_is_sorted_and_importable() -> None:
    # constants, then classes, then functions, each alphabetical (ruff's RUF022 order)
    assert trust.__all__ == sorted(trust.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    for name in trust.__all__:
        assert getattr(trust, name) is not None
