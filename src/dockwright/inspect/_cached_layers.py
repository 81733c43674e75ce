"""The cached parsed forms of an image's layers, each handed out only after its blob is verified.

:class:`CachedLayers` loads, from a :class:`~dockwright.inspect._layer_cache.LayerCache`, the
forms of the layers it holds, and checks each layer's blob against its digest (in background
threads when the source can open layers concurrently) and the cached tar's diff_id against the
config's before :meth:`CachedLayers.take` hands the form out.

What this module does not do: store layers in the cache, read tars, or apply a form to the merged
tree (:mod:`dockwright.inspect.reader` does).
"""

from __future__ import annotations

import threading

from dockwright.errors import DigestMismatchError
from dockwright.inspect._image_source import ImageSource, LayerBlob
from dockwright.inspect._layer_cache import CachedLayer, LayerCache

__all__ = ["CachedLayers"]


class CachedLayers:
    """The cached forms of an image's layers, each handed out only once its blob is verified.

    Blobs are hashed in two background threads when the source allows opening layers concurrently
    (a layout's files), while this thread loads the entries; otherwise each blob is hashed when
    its layer is reached.
    """

    def __init__(self, source: ImageSource, cache: LayerCache, need_hashes: bool, indexes: list[int]) -> None:
        """Hand out the layers ``indexes``: those the cache held when the read began (a layer read
        meanwhile, by the child process say, and stored since, is not taken from the cache)."""
        self._source = source
        self._cache = cache
        self._need_hashes = need_hashes
        self._indexes = indexes
        self._results: dict[int, BaseException | None] = {}
        self._done = {i: threading.Event() for i in self._indexes}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loaded: dict[int, CachedLayer | None] = {}
        if source.parallel_layers and self._indexes:
            for lane in (self._indexes[0::2], self._indexes[1::2]):
                if lane:
                    thread = threading.Thread(target=self._verify_all, args=(lane,), name="layer-verify")
                    thread.daemon = True
                    thread.start()
                    self._threads.append(thread)
            for blob in source.layers:  # meanwhile
                if blob.index in self._done:
                    self._loaded[blob.index] = cache.load(blob.digest, need_hashes=need_hashes)

    def _verify(self, index: int) -> None:
        try:
            with self._source.open_layer(index) as stream:
                stream.verify_stored()
        except BaseException as exc:  # raised in the reader's thread when the layer is reached
            self._results[index] = exc
        else:
            self._results[index] = None
        self._done[index].set()

    def _verify_all(self, indexes: list[int]) -> None:
        for index in indexes:
            if self._stop.is_set():
                return
            self._verify(index)

    def take(self, blob: LayerBlob) -> CachedLayer | None:
        """The cached form of ``blob``'s layer, or None to read it from the blob.

        Raises:
            DigestMismatchError: the blob does not have its digest, or the cached tar does not have
                the diff_id the config names.
        """
        if blob.index not in self._done:
            return None
        if blob.index in self._loaded:
            layer = self._loaded.pop(blob.index)
        else:
            layer = self._cache.load(blob.digest, need_hashes=self._need_hashes)
        if not self._threads:
            if layer is None:
                return None  # read from the blob, which checks it anyway
            self._verify(blob.index)
        self._done[blob.index].wait()
        failure = self._results[blob.index]
        if failure is not None:
            raise failure
        if layer is None:
            return None
        if blob.diff_id and layer.diff_id != blob.diff_id:
            raise DigestMismatchError(
                f"{blob.what} uncompressed has digest {layer.diff_id}, but the image config "
                f"says its diff_id is {blob.diff_id}: the image was modified or is corrupt"
            )
        return layer

    def close(self) -> None:
        """Stop verifying (after an error) and wait for the thread."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
