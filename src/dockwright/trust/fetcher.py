"""A python-tuf fetcher that reads metadata from a :class:`MetadataStore` instead of HTTP.

``tuf.ngclient.Updater`` asks its fetcher for URLs ``<metadata base URL><file name>``.
:class:`StoreFetcher` answers those under :data:`METADATA_BASE_URL` with the store's bytes, so
the stock ``Updater`` verifies metadata kept in a registry repository or an OCI layout. A missing
file answers ``DownloadHTTPError(..., 404)``, which the ``Updater`` reads as "no newer root" or
"no metadata". Bytes are handed over in chunks, so ``FetcherInterface`` cuts a file off once it
passes the length the signed metadata allows (the endless-data check).

Store failures (a registry that did not answer) are raised as they are; python-tuf wraps them in
``DownloadError`` and :func:`~dockwright.trust._tuf_errors.map_tuf_error` unwraps them again.

What this module does not do: download targets (image manifests are fetched by digest through the
registry client, and compared with the target's length and sha256), retry, or verify anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib import parse

from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient.fetcher import FetcherInterface

from dockwright.trust.metadata_store import TAG_PREFIX, MetadataStore, filename_for

__all__ = ["METADATA_BASE_URL", "FetchStats", "StoreFetcher"]

METADATA_BASE_URL = "tuf-store:///metadata/"
"""The ``metadata_base_url`` to give ``Updater`` with a :class:`StoreFetcher`."""

_CHUNK = 64 * 1024


@dataclass(slots=True)
class FetchStats:
    """What a fetcher served: files read from the store and their bytes."""

    files: list[str] = field(default_factory=list)
    bytes: int = 0


class StoreFetcher(FetcherInterface):
    """Serve ``Updater`` metadata requests from a :class:`MetadataStore`."""

    def __init__(self, store: MetadataStore) -> None:
        """Serve files of ``store``; :attr:`stats` counts what was read."""
        self._store = store
        self.stats = FetchStats()

    def _fetch(self, url: str) -> Iterator[bytes]:
        """Return the bytes of the file ``url`` names, in chunks.

        Raises:
            DownloadHTTPError: 404 for a URL outside :data:`METADATA_BASE_URL`, a name that is not
                a metadata file name (a delegated role named ``../x``), or a missing file.
        """
        if not url.startswith(METADATA_BASE_URL):
            raise DownloadHTTPError(f"{url}: only TUF metadata is served from {self._store.location}", 404)
        name = parse.unquote(url.removeprefix(METADATA_BASE_URL))
        # read eagerly: errors raised while iterating would escape FetcherInterface's wrapping
        data = self._store.get(name) if filename_for(TAG_PREFIX + name) == name else None
        if data is None:
            raise DownloadHTTPError(f"{self._store.location} holds no {name}", 404)
        self.stats.files.append(name)
        self.stats.bytes += len(data)
        return (data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK))
