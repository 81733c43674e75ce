from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, InputError, NetworkError
from dockwright.net.cache import BlobCache
from dockwright.net.download import Downloader, DownloadItem, DownloadReporter
from dockwright.net.http import FakeFetcher, FetchError, HttpxFetcher, RetryPolicy

BASE = "http://mirror.test/debian/pool"


def _blob(n: int, size: int = 50_000) -> bytes:
    return hashlib.sha256(str(n).encode()).digest() * (size // 32)


def _item(url: str, data: bytes, name: str | None = None) -> DownloadItem:
    return DownloadItem(url=url, sha256=hashlib.sha256(data).hexdigest(), size=len(data), name=name or url)


class Recorder(DownloadReporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.bytes = 0

    def start(self, total_items: int, total_bytes: int) -> None:
        self.events.append(("start", str(total_items), str(total_bytes)))

    def advance(self, name: str, nbytes: int) -> None:
        self.bytes += nbytes

    def item_done(self, name: str) -> None:
        self.events.append(("done", name))

    def finish(self) -> None:
        self.events.append(("finish",))


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_downloader(tmp_path: Path, sleeps: list[float]) -> Callable[..., Downloader]:
    def make(fetcher: FakeFetcher | HttpxFetcher, **kwargs: object) -> Downloader:
        kwargs.setdefault("retry", RetryPolicy(attempts=3, backoff_base=0.5))
        return Downloader(fetcher, BlobCache(tmp_path / "cache"), sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]

    return make


def test_downloads_in_parallel_and_reports(make_downloader: Callable[..., Downloader]) -> None:
    blobs = {f"{BASE}/{i}.deb": _blob(i) for i in range(12)}
    fetcher = FakeFetcher(blobs)
    items = [_item(url, data, name=f"p{i}") for i, (url, data) in enumerate(blobs.items())]
    reporter = Recorder()
    paths = make_downloader(fetcher, max_workers=4).fetch_all(items, reporter)
    assert {paths[i.sha256].read_bytes() for i in items} == set(blobs.values())
    assert reporter.events[0] == ("start", "12", str(sum(len(b) for b in blobs.values())))
    assert sorted(e for e in reporter.events if e[0] == "done") == sorted(
        ("done", f"p{i}") for i in range(12)
    )
    assert reporter.events[-1] == ("finish",)
    assert reporter.bytes == sum(len(b) for b in blobs.values())


def test_cached_items_cost_no_network(make_downloader: Callable[..., Downloader]) -> None:
    data = _blob(1)
    fetcher = FakeFetcher({f"{BASE}/a.deb": data})
    downloader = make_downloader(fetcher)
    first = downloader.fetch_all([_item(f"{BASE}/a.deb", data)])
    fetcher.requests.clear()
    reporter = Recorder()
    assert downloader.fetch_all([_item(f"{BASE}/a.deb", data)], reporter) == first
    assert fetcher.requests == []
    assert reporter.events == [("start", "0", "0"), ("finish",)]


def test_same_digest_is_fetched_once(make_downloader: Callable[..., Downloader]) -> None:
    data = _blob(2)
    fetcher = FakeFetcher({f"{BASE}/a.deb": data, f"{BASE}/b.deb": data})
    paths = make_downloader(fetcher).fetch_all([_item(f"{BASE}/a.deb", data), _item(f"{BASE}/b.deb", data)])
    assert len(paths) == 1
    assert len(fetcher.requests) == 1


def test_two_downloaders_on_one_cache_fetch_a_digest_once(tmp_path: Path) -> None:
    data = _blob(8, size=2_000_000)
    fetcher = FakeFetcher({f"{BASE}/a.deb": data}, chunk_size=1000)
    item = _item(f"{BASE}/a.deb", data)
    results: list[Path] = []

    def run() -> None:
        results.extend(Downloader(fetcher, BlobCache(tmp_path / "cache")).fetch_all([item]).values())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert results[0].read_bytes() == data
    assert fetcher.requests == [(f"{BASE}/a.deb", 0)]


def test_same_digest_with_two_sizes_is_an_input_error(make_downloader: Callable[..., Downloader]) -> None:
    sha = "a" * 64
    items = [
        DownloadItem(url="u1", sha256=sha, size=1, name="a"),
        DownloadItem(url="u2", sha256=sha, size=2, name="b"),
    ]
    with pytest.raises(InputError) as info:
        make_downloader(FakeFetcher()).fetch_all(items)
    assert str(info.value) == f"b and a share sha256 {sha} but not size (2 != 1)"


def test_connection_reset_is_retried_and_resumed(
    make_downloader: Callable[..., Downloader], sleeps: list[float]
) -> None:
    url, data = f"{BASE}/a.deb", _blob(3)
    fetcher = FakeFetcher({url: data})
    fetcher.fail(url, after=12_000)
    fetcher.fail(url, after=8_000)
    reporter = Recorder()
    paths = make_downloader(fetcher).fetch_all([_item(url, data)], reporter)
    assert paths[hashlib.sha256(data).hexdigest()].read_bytes() == data
    assert fetcher.requests == [(url, 0), (url, 12_000), (url, 20_000)]
    assert sleeps == [0.5, 1.0]
    assert reporter.bytes == len(data)


def test_persistent_failure_gives_up_with_a_network_error(
    make_downloader: Callable[..., Downloader], sleeps: list[float]
) -> None:
    url, data = f"{BASE}/a.deb", _blob(4)
    fetcher = FakeFetcher({url: data})
    fetcher.fail(url, times=3, status=503)
    with pytest.raises(NetworkError) as info:
        make_downloader(fetcher).fetch_all([_item(url, data)])
    assert str(info.value) == f"GET {url}: HTTP 503 (gave up after 3 attempts)"
    assert sleeps == [0.5, 1.0]


def test_not_found_is_final(make_downloader: Callable[..., Downloader], sleeps: list[float]) -> None:
    url = f"{BASE}/missing.deb"
    fetcher = FakeFetcher()
    with pytest.raises(FetchError) as info:
        make_downloader(fetcher).fetch_all([_item(url, b"x")])
    assert str(info.value) == f"GET {url}: HTTP 404"
    assert (info.value.status, info.value.retryable) == (404, False)
    assert sleeps == []
    assert len(fetcher.requests) == 1


def test_corrupted_bytes_leave_nothing_in_the_cache(
    make_downloader: Callable[..., Downloader], tmp_path: Path
) -> None:
    url, data = f"{BASE}/a.deb", _blob(5)
    item = _item(url, data)
    corrupt = data[:100] + b"!" + data[101:]
    with pytest.raises(DigestMismatchError) as info:
        make_downloader(FakeFetcher({url: corrupt})).fetch_all([item])
    assert str(info.value) == (
        f"{url}: sha256 mismatch: expected {item.sha256}, got {hashlib.sha256(corrupt).hexdigest()}"
    )
    assert list((tmp_path / "cache" / "sha256").iterdir()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_oversized_response_is_refused(make_downloader: Callable[..., Downloader]) -> None:
    url, data = f"{BASE}/a.deb", _blob(6)
    item = _item(url, data[:1000])
    with pytest.raises(DigestMismatchError) as info:
        make_downloader(FakeFetcher({url: data})).fetch_all([item])
    assert str(info.value) == f"GET {url}: response is larger than the expected 1000 bytes"


def test_corrupt_partial_is_discarded_and_fetched_again(
    make_downloader: Callable[..., Downloader], tmp_path: Path
) -> None:
    url, data = f"{BASE}/a.deb", _blob(7)
    item = _item(url, data)
    (tmp_path / "cache" / "tmp").mkdir(parents=True)
    (tmp_path / "cache" / "tmp" / f"{item.sha256}.partial").write_bytes(b"\0" * 1000)
    fetcher = FakeFetcher({url: data})
    reporter = Recorder()
    paths = make_downloader(fetcher).fetch_all([item], reporter)
    assert paths[item.sha256].read_bytes() == data
    assert fetcher.requests == [(url, 1000), (url, 0)]
    assert reporter.bytes == len(data)


# Against the loopback HTTP server, through httpx.


@pytest.fixture
def served(tmp_path: Path, url_for: Callable[[Path], str]) -> tuple[bytes, str]:
    data = os.urandom(300_000)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "blob.deb").write_bytes(data)
    return data, url_for(tmp_path / "www" / "blob.deb")


def _partial(tmp_path: Path, data: bytes, size: int) -> None:
    (tmp_path / "cache" / "tmp").mkdir(parents=True)
    (tmp_path / "cache" / "tmp" / f"{hashlib.sha256(data).hexdigest()}.partial").write_bytes(data[:size])


def test_http_resume_of_a_partial_uses_range(
    served: tuple[bytes, str],
    tmp_path: Path,
    make_downloader: Callable[..., Downloader],
    http_requests: list[tuple[str, str]],
) -> None:
    data, url = served
    _partial(tmp_path, data, 100_000)
    with HttpxFetcher() as fetcher:
        paths = make_downloader(fetcher).fetch_all([_item(url, data)])
    assert paths[hashlib.sha256(data).hexdigest()].read_bytes() == data
    assert [r[1] for r in http_requests] == ["bytes=100000-"]


def test_http_server_ignoring_range_still_gives_the_right_bytes(
    served: tuple[bytes, str], tmp_path: Path, make_downloader: Callable[..., Downloader]
) -> None:
    data, url = served
    _partial(tmp_path, data, 100_000)
    with HttpxFetcher() as fetcher:
        paths = make_downloader(fetcher).fetch_all([_item(url + "?norange=1", data)])
    assert paths[hashlib.sha256(data).hexdigest()].read_bytes() == data


def test_http_dropped_connection_is_retried_with_range(
    served: tuple[bytes, str],
    make_downloader: Callable[..., Downloader],
    http_requests: list[tuple[str, str]],
    sleeps: list[float],
) -> None:
    data, url = served
    with HttpxFetcher() as fetcher:
        paths = make_downloader(fetcher).fetch_all([_item(url + "?drop=70000", data)])
    assert paths[hashlib.sha256(data).hexdigest()].read_bytes() == data
    assert [r[1] for r in http_requests] == ["", "bytes=70000-"]
    assert sleeps == [0.5]


def test_http_connection_dropped_every_time_is_a_network_error(
    served: tuple[bytes, str], make_downloader: Callable[..., Downloader], tmp_path: Path
) -> None:
    data, url = served
    url += "?drop=1000&times=99"
    with HttpxFetcher() as fetcher, pytest.raises(FetchError) as info:
        make_downloader(fetcher).fetch_all([_item(url, data)])
    assert info.value.retryable
    assert str(info.value).startswith(f"GET {url}: RemoteProtocolError: ")
    assert str(info.value).endswith(" (gave up after 3 attempts)")
    assert (tmp_path / "cache" / "tmp" / f"{hashlib.sha256(data).hexdigest()}.partial").stat().st_size == 3000


def test_http_status_errors(served: tuple[bytes, str], sleeps: list[float]) -> None:
    _, url = served
    with HttpxFetcher() as fetcher:
        with pytest.raises(FetchError) as info:
            fetcher.fetch_bytes(url + ".missing", max_length=10)
        assert (str(info.value), info.value.status, info.value.retryable) == (
            f"GET {url}.missing: HTTP 404",
            404,
            False,
        )
        with pytest.raises(FetchError) as info:
            fetcher.fetch_bytes(url + "?status=502", max_length=10)
        assert (info.value.status, info.value.retryable) == (502, True)


def test_file_urls(tmp_path: Path) -> None:
    (tmp_path / "a b.deb").write_bytes(b"0123456789")
    url = (tmp_path / "a b.deb").as_uri()
    with HttpxFetcher() as fetcher:
        assert fetcher.fetch_bytes(url, max_length=10) == b"0123456789"
        assert b"".join(fetcher.fetch(url, max_length=10, offset=4)) == b"456789"
        with pytest.raises(FetchError) as info:
            fetcher.fetch_bytes(url + "x", max_length=10)
        assert (str(info.value), info.value.retryable) == (f"GET {url}x: no such file", False)


def test_unsupported_scheme() -> None:
    with HttpxFetcher() as fetcher, pytest.raises(FetchError) as info:
        fetcher.fetch_bytes("ftp://mirror.test/x", max_length=1)
    assert str(info.value) == "GET ftp://mirror.test/x: unsupported URL scheme 'ftp'"


def test_retry_policy_backoff() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    assert [policy.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)
