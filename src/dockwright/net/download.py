"""Download many blobs in parallel into the :class:`~dockwright.net.cache.BlobCache`, verified.

:class:`Downloader` takes :class:`DownloadItem` records whose ``sha256`` and ``size`` come from a
signed source. Items already cached cost no network; the rest are fetched by a thread pool, each
digest at most once, resuming kept partials with ``Range``, retrying transient failures with
backoff (:class:`~dockwright.net.http.RetryPolicy`), and verified while streaming by the cache's
writer. A partial that turns out corrupt after a resume is discarded and fetched once more from
byte 0; a fresh download that does not match is a :class:`~dockwright.errors.DigestMismatchError`.

What this module does not do: decide what to download or where digests come from, print or draw
progress (hand in a :class:`DownloadReporter`; the CLI plugs rich in), or try other mirrors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from dockwright.errors import DigestMismatchError, InputError
from dockwright.net.cache import BlobCache
from dockwright.net.http import Fetcher, RetryPolicy, call_with_retry

__all__ = ["DownloadItem", "DownloadReporter", "Downloader"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadItem:
    """One blob to fetch: where, what it must hash to, how big, and a name for progress."""

    url: str
    sha256: str
    size: int
    name: str


class DownloadReporter:
    """Progress hooks; each does nothing by default. Subclass and override what you need.

    The :class:`Downloader` calls hooks from its worker threads but never two at once (it holds a
    lock around every call), so a reporter needs no locking of its own for these hooks.
    """

    def start(self, total_items: int, total_bytes: int) -> None:
        """Downloads begin: this many items and bytes are not cached yet."""

    def advance(self, name: str, nbytes: int) -> None:
        """``nbytes`` of ``name`` arrived (negative when a corrupt partial was discarded)."""

    def item_done(self, name: str) -> None:
        """``name`` is downloaded, verified and in the cache."""

    def finish(self) -> None:
        """All downloads ended (also called when one failed)."""


class _SerializedReporter(DownloadReporter):
    """Forwards to a reporter under one lock."""

    def __init__(self, inner: DownloadReporter) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def start(self, total_items: int, total_bytes: int) -> None:
        with self._lock:
            self._inner.start(total_items, total_bytes)

    def advance(self, name: str, nbytes: int) -> None:
        with self._lock:
            self._inner.advance(name, nbytes)

    def item_done(self, name: str) -> None:
        with self._lock:
            self._inner.item_done(name)

    def finish(self) -> None:
        with self._lock:
            self._inner.finish()


def _unique(items: Iterable[DownloadItem]) -> list[DownloadItem]:
    """One item per digest; the same digest with two sizes is an error in the caller's data."""
    seen: dict[str, DownloadItem] = {}
    for item in items:
        other = seen.setdefault(item.sha256, item)
        if other.size != item.size:
            raise InputError(
                f"{item.name} and {other.name} share sha256 {item.sha256} but not size "
                f"({item.size} != {other.size})"
            )
    return list(seen.values())


class Downloader:
    """Fetches :class:`DownloadItem` lists into a cache (see the module docstring)."""

    def __init__(
        self,
        fetcher: Fetcher,
        cache: BlobCache,
        *,
        max_workers: int = 8,
        retry: RetryPolicy | None = None,
        verify_cached: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create the downloader.

        Args:
            fetcher: the transport.
            cache: where blobs go.
            max_workers: parallel downloads.
            retry: attempts and backoff for transient failures.
            verify_cached: hash cached blobs again before trusting them.
            sleep: injected for tests.
        """
        self._fetcher = fetcher
        self._cache = cache
        self._max_workers = max_workers
        self._retry = retry or RetryPolicy()
        self._verify_cached = verify_cached
        self._sleep = sleep

    def fetch_all(
        self, items: Iterable[DownloadItem], reporter: DownloadReporter | None = None
    ) -> dict[str, Path]:
        """Make every item available in the cache.

        Args:
            items: what to fetch; duplicates by digest are fetched once.
            reporter: progress hooks.

        Returns:
            sha256 -> cached path, for every item.

        Raises:
            NetworkError: an item could not be fetched (after retries for transient trouble).
            DigestMismatchError: an item's bytes do not match its digest or size.
            InputError: two items share a digest but not a size.
        """
        wanted = _unique(items)
        paths: dict[str, Path] = {}
        missing: list[DownloadItem] = []
        for item in wanted:
            cached = self._cache.path(item.sha256, verify=self._verify_cached)
            if cached is None:
                missing.append(item)
            else:
                paths[item.sha256] = cached
        report = _SerializedReporter(reporter or DownloadReporter())
        report.start(len(missing), sum(item.size for item in missing))
        try:
            paths.update(self._run(missing, report))
        finally:
            report.finish()
        return paths

    def _run(self, items: list[DownloadItem], report: DownloadReporter) -> dict[str, Path]:
        if not items:
            return {}
        with ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="dockwright-dl") as pool:
            futures: dict[Future[Path], DownloadItem] = {
                pool.submit(self.fetch_one, item, report): item for item in items
            }
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            for future in done:
                future.result()  # re-raise the first failure
            return {futures[f].sha256: f.result() for f in futures}

    def fetch_one(self, item: DownloadItem, reporter: DownloadReporter | None = None) -> Path:
        """Fetch one item into the cache, with retries; see :meth:`fetch_all`.

        Returns:
            The cached path.
        """
        report = reporter or DownloadReporter()
        state = _Progress()
        try:
            return call_with_retry(lambda: self._attempt(item, report, state), self._retry, sleep=self._sleep)
        except DigestMismatchError:
            if not state.resumed_from:
                raise
        # The attempt resumed a kept partial that turned out corrupt; the cache removed it.
        # One more round from byte 0 (a fresh mismatch then is final).
        report.advance(item.name, -state.advanced)
        state = _Progress()
        return call_with_retry(lambda: self._attempt(item, report, state), self._retry, sleep=self._sleep)

    def _attempt(self, item: DownloadItem, report: DownloadReporter, state: _Progress) -> Path:
        with self._cache.writer(item.sha256, item.size, label=item.url) as w:
            state.resumed_from = w.offset
            if w.remaining and w.offset > state.advanced:
                report.advance(item.name, w.offset - state.advanced)  # bytes kept from earlier runs
                state.advanced = w.offset
            if w.remaining:
                for chunk in self._fetcher.fetch(item.url, max_length=w.remaining, offset=w.offset):
                    w.write(chunk)
                    report.advance(item.name, len(chunk))
                    state.advanced += len(chunk)
        path = self._cache.path(item.sha256)
        if path is None:  # pragma: no cover - the writer just renamed it into place
            raise DigestMismatchError(f"{item.url}: vanished from the cache after verification")
        report.item_done(item.name)
        return path


@dataclass(slots=True)
class _Progress:
    """Per-item state across attempts: where the last attempt started, bytes reported so far."""

    resumed_from: int = 0
    advanced: int = 0
