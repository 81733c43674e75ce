"""The one small transport interface: fetch a URL as a stream of byte chunks.

:class:`Fetcher` is the interface (after python-tuf's ``FetcherInterface``): subclasses implement
``_fetch``; the public :meth:`Fetcher.fetch` in the base class enforces ``max_length`` and maps
every foreign exception to :class:`FetchError`, a :class:`~dockwright.errors.NetworkError` that
says whether trying again may help (``retryable``). :func:`call_with_retry` retries by a
:class:`RetryPolicy`. :class:`HttpxFetcher` speaks HTTP/1.1 through a pooled ``httpx.Client`` and
reads ``file://`` URLs (a local mirror); :class:`FakeFetcher` serves bytes from a dict, with
injected faults, for tests.

What this module does not do: verify anything (callers check sizes and digests against signed
metadata), cache, or decompress (``Accept-Encoding: identity``; bytes arrive as stored).
"""

from __future__ import annotations

import abc
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

from dockwright import __version__
from dockwright.errors import DigestMismatchError, DockwrightError, NetworkError

__all__ = [
    "FakeFetcher",
    "FetchError",
    "Fetcher",
    "HttpxFetcher",
    "RetryPolicy",
    "call_with_retry",
]

T = TypeVar("T")
CHUNK_SIZE = 1 << 16
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class FetchError(NetworkError):
    """A fetch failed. ``retryable`` is true for trouble that may pass (5xx, resets, timeouts).

    ``status`` is the HTTP status when the server answered, else ``None``.
    """

    def __init__(self, message: str, *, url: str, status: int | None = None, retryable: bool) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all, sleeping ``backoff_base * 2**n`` (at most
    ``backoff_max``) seconds before retry ``n + 1``; ``timeout`` seconds per network operation.
    """

    attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        return float(min(self.backoff_max, self.backoff_base * (2**retry)))


def call_with_retry(
    func: Callable[[], T], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Call ``func`` until it succeeds, retrying retryable :class:`FetchError` with backoff.

    Args:
        func: the operation; it must be safe to repeat.
        policy: attempts and backoff.
        sleep: injected for tests.

    Returns:
        What ``func`` returned.

    Raises:
        FetchError: a final error at once, or the last retryable one after ``policy.attempts``.
    """
    for attempt in range(policy.attempts):
        try:
            return func()
        except FetchError as exc:
            if not exc.retryable:
                raise
            if attempt + 1 >= policy.attempts:
                raise FetchError(
                    f"{exc.message} (gave up after {policy.attempts} attempts)",
                    url=exc.url,
                    status=exc.status,
                    retryable=True,
                ) from exc
            sleep(policy.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


class Fetcher(abc.ABC):
    """Fetches URLs as byte chunks. Implement :meth:`_fetch`; call :meth:`fetch`.

    Implementations must be safe to call from several threads at once.
    """

    @abc.abstractmethod
    def _fetch(self, url: str, *, offset: int = 0) -> Iterator[bytes]:
        """Yield the resource's bytes from ``offset`` on.

        Raise :class:`FetchError` for failures you can classify; anything else is wrapped.
        """

    def fetch(self, url: str, *, max_length: int, offset: int = 0) -> Iterator[bytes]:
        """Stream ``url`` from byte ``offset``, refusing more than ``max_length`` bytes.

        Args:
            url: ``http://``, ``https://`` or ``file://`` (as the implementation supports).
            max_length: the most bytes the caller accepts (from ``offset``).
            offset: where to start; the resource's earlier bytes are not yielded.

        Yields:
            Non-empty chunks of bytes.

        Raises:
            FetchError: network trouble or an HTTP error status.
            DigestMismatchError: more than ``max_length`` bytes (final).
        """
        received = 0
        try:
            for chunk in self._fetch(url, offset=offset):
                received += len(chunk)
                if received > max_length:
                    # more bytes than a signed size or a hard cap allow: tampering or endless data
                    raise DigestMismatchError(
                        f"GET {url}: response is larger than the expected {max_length} bytes"
                    )
                if chunk:
                    yield chunk
        except DockwrightError:
            raise
        except (ConnectionError, TimeoutError) as exc:
            raise FetchError(f"GET {url}: {exc}", url=url, retryable=True) from exc
        except Exception as exc:
            raise FetchError(f"GET {url}: {type(exc).__name__}: {exc}", url=url, retryable=False) from exc

    def fetch_bytes(self, url: str, *, max_length: int) -> bytes:
        """Fetch a whole (small) resource into memory; see :meth:`fetch`."""
        return b"".join(self.fetch(url, max_length=max_length))


def _status_error(url: str, status: int) -> FetchError:
    return FetchError(
        f"GET {url}: HTTP {status}", url=url, status=status, retryable=status in _RETRYABLE_STATUS
    )


def _read_file_url(url: str, offset: int) -> Iterator[bytes]:
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the with below, opened apart to map errors
    except FileNotFoundError as exc:
        raise FetchError(f"GET {url}: no such file", url=url, status=404, retryable=False) from exc
    except OSError as exc:
        raise FetchError(f"GET {url}: {exc}", url=url, retryable=False) from exc
    with f:
        f.seek(offset)
        while chunk := f.read(CHUNK_SIZE):
            yield chunk


class HttpxFetcher(Fetcher):
    """HTTP/1.1 through one pooled ``httpx.Client``; also ``file://`` URLs. Thread-safe.

    Resumes with a ``Range`` header; when a server ignores it (``200`` instead of ``206``) the
    first ``offset`` bytes of the full body are skipped, so the caller still gets bytes from
    ``offset``. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy | None = None,
        client: httpx.Client | None = None,
        max_connections: int = 16,
    ) -> None:
        """Create the fetcher.

        Args:
            policy: its ``timeout`` bounds connect, read, write and pool waits.
            client: a client to use instead of a new one (closed by :meth:`close` all the same).
            max_connections: size of the connection pool.
        """
        timeout = (policy or RetryPolicy()).timeout
        self._client = client or httpx.Client(
            http1=True,
            http2=False,
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": f"dockwright/{__version__}", "Accept-Encoding": "identity"},
        )

    def __enter__(self) -> HttpxFetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def _fetch(self, url: str, *, offset: int = 0) -> Iterator[bytes]:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme == "file":
            yield from _read_file_url(url, offset)
            return
        if scheme not in ("http", "https"):
            raise FetchError(f"GET {url}: unsupported URL scheme {scheme!r}", url=url, retryable=False)
        try:
            yield from self._fetch_http(url, offset)
        except httpx.TransportError as exc:
            raise FetchError(f"GET {url}: {type(exc).__name__}: {exc}", url=url, retryable=True) from exc

    def _fetch_http(self, url: str, offset: int) -> Iterator[bytes]:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self._client.stream("GET", url, headers=headers) as response:
            skip = _bytes_to_skip(url, response, offset)
            for chunk in response.iter_raw():  # as received: bytes before a drop are kept
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                if chunk:
                    yield chunk


def _bytes_to_skip(url: str, response: httpx.Response, offset: int) -> int:
    """Check the status; return how many leading body bytes precede ``offset``."""
    status = response.status_code
    if status == 206:
        start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
        if start != str(offset):
            raise FetchError(
                f"GET {url}: asked for bytes from {offset}, got Content-Range "
                f"{response.headers.get('Content-Range')!r}",
                url=url,
                status=status,
                retryable=False,
            )
        return 0
    if status == 200:
        return offset  # the server ignored Range: drop what the caller already has
    raise _status_error(url, status)


@dataclass(slots=True)
class _Fault:
    times: int
    after: int
    status: int | None


class FakeFetcher(Fetcher):
    """Serves ``files`` (URL -> bytes) from memory, records requests, and injects faults.

    Thread-safe. ``requests`` lists ``(url, offset)`` in arrival order. A missing URL answers like
    an HTTP 404.
    """

    def __init__(self, files: Mapping[str, bytes] | None = None, *, chunk_size: int = 4096) -> None:
        """Create the fake.

        Args:
            files: URL -> content.
            chunk_size: bytes per yielded chunk.
        """
        self.files: dict[str, bytes] = dict(files or {})
        self.requests: list[tuple[str, int]] = []
        self._chunk_size = chunk_size
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.Lock()

    def fail(self, url: str, *, times: int = 1, after: int = 0, status: int | None = None) -> None:
        """Make the next ``times`` requests of ``url`` fail.

        Args:
            url: the URL.
            times: how many requests fail.
            after: bytes delivered before a connection reset (ignored with ``status``).
            status: answer with this HTTP status instead of a reset.
        """
        with self._lock:
            self._faults.setdefault(url, []).append(_Fault(times, after, status))

    def _take_fault(self, url: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(url, [])
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _fetch(self, url: str, *, offset: int = 0) -> Iterator[bytes]:
        with self._lock:
            self.requests.append((url, offset))
            data = self.files.get(url)
        fault = self._take_fault(url)
        if fault is not None and fault.status is not None:
            raise _status_error(url, fault.status)
        if data is None:
            raise _status_error(url, 404)
        body = data[offset:]
        limit = len(body) if fault is None else min(fault.after, len(body))
        for start in range(0, limit, self._chunk_size):
            yield body[start : min(start + self._chunk_size, limit)]
        if fault is not None:
            raise ConnectionResetError(f"injected connection reset after {limit} bytes")
