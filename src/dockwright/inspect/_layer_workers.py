"""Read the later layers of an image in a second process while the reader reads the first ones.

Inflating gzip and hashing release the GIL, but parsing tar headers and applying members do not:
threads reading two layers at once spend their time waiting for each other. So, on Linux with
two cores or more, :class:`LayerWorkers` forks one child that reads a suffix of the layers to read
(about half of their stored bytes, never the first layer) while the reader reads the others in
order. The child streams each of its layers (:class:`~dockwright.inspect._layer_stream.LayerStream`:
blob hashed, inflated, tar hashed, both digests checked), prepares each member for the merged tree
(:data:`~dockwright.inspect._layer_entries.Entry`: name normalized, action, wanted or not, data
hashed and kept) and sends the layer's entries through a pipe; a thread of the reader's unpickles
them as they come. The reader applies them in layer order through the same code as a streamed or
cached layer, so the merged tree, the warnings and the layer accounting are those of a read one
layer after another. Then, for a reader that keeps a layer cache, the child encodes the cache entry
of each layer it read (:func:`~dockwright.inspect._layer_cache.encode`) at the lowest priority, on a
core the reader leaves idle, sends its head (all but the kept bytes, which the reader has) and
stores the entry in the cache itself, so the reader, busy applying the layers, need not write it.
Once it has applied every layer, the reader stores those the child has not stored yet (as the child
encoded them, or encoded by itself if they come too late: the same bytes either way). A child
killed while it writes leaves no temporary file: the reader removes them.

The child does not know the merged tree: it keeps the bytes of members whose *name* is wanted (or
is an os-release file), up to half of the reader's budget. A member the reader wants through a
path the child could not see (a parent directory that a lower layer made a symlink) has no kept
bytes and is read again after the pass, as for a cached form that lacks them.

Whatever goes wrong in the child (a digest mismatch, a corrupt or hostile tar, a GNU sparse member,
whose hole budget is kept in layer order, or the child dying) makes :meth:`LayerWorkers.take`
return None for that layer and the ones after it: the reader reads them itself, so errors and
warnings are exactly those of a read one layer after another. The child takes no lock of the
parent's and imports nothing (its streams inflate in a thread of their own, as in the reader); it
ends with ``os._exit`` (nothing of the parent's is flushed or closed twice), and is killed and
reaped by :meth:`LayerWorkers.close`. It is forked before the reader starts any thread, and only
when no other thread runs in the process (a library caller's threads, a progress bar): the reader
then reads every layer itself. Memory: the child streams one layer at a time; what it sends (and
keeps until it has encoded them all) grows with the number of members and the kept bytes, never
with file sizes.

What this module does not do: apply members to the merged tree, write the layer cache, or read
layers of sources that cannot open them concurrently (``ImageSource.parallel_layers``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from dockwright.inspect._image_source import ImageSource
from dockwright.inspect._late_reads import MAX_OS_RELEASE, OS_RELEASE
from dockwright.inspect._layer_cache import CachedLayer, EncodedLayer, LayerCache, encode
from dockwright.inspect._layer_entries import FILE, Entry, entry_of_header, kept_bytes, member_of, with_data
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect._tarsafe import check_end, tar_errors
from dockwright.inspect._tarstream import TarHeader, TarReader, open_tar

__all__ = ["LayerEnd", "LayerJob", "LayerWorkers", "read_member_data", "split"]

_LENGTH = 8  # bytes of the big-endian length before each message
# Messages from the child, pickled, each (kind, layer index, ...): (_ENTRIES, index, entries,
# LayerEnd) for each layer it read, in order, or (_STOPPED, index) for the one it leaves to the
# reader (and the ones after it); then, for a reader with a cache, (_CACHE_HEAD, index, head) for
# each layer it read, each followed by (_STORED, index) once the child has stored it.
_ENTRIES = "entries"
_STOPPED = "stopped"
_CACHE_HEAD = "cache-head"
_STORED = "stored"


@dataclass(frozen=True, slots=True)
class LayerEnd:
    """A layer read to its end and verified: how its tar ended (``zero``, ``empty`` or ``none`` for
    a blob of no bytes), the stored blob's digest and size, the tar's digest and size."""

    end: str
    digest: str
    diff_id: str
    size: int
    uncompressed_size: int


class _ReadItYourself(Exception):
    """The child leaves this layer to the reader (a sparse member)."""


def read_member_data(tar: TarReader, info: TarHeader, hashing: bool, keep: bool) -> tuple[str, bytes | None]:
    """The sha256 (``""`` unless ``hashing``) of a regular member's data, and the data itself when
    ``keep``; the data is skipped when neither is asked for."""
    if not hashing and not keep:
        tar.skip(info)
        return "", None
    digest = hashlib.sha256() if hashing else None
    parts: list[bytes | memoryview] | None = [] if keep else None
    for chunk in tar.data(info):
        if digest is not None:
            digest.update(chunk)
        if parts is not None:
            parts.append(chunk)
    sha = digest.hexdigest() if digest is not None else ""
    return sha, (b"".join(parts) if parts is not None else None)


def split(indexes: list[int], sizes: list[int]) -> list[int]:
    """The layers (a suffix of ``indexes``) to read in the child: about half the stored bytes,
    at least the last layer, never the first one; ``[]`` when there are fewer than two."""
    if len(indexes) < 2:
        return []
    half = sum(max(size, 0) for size in sizes) / 2
    taken, size_taken = 0, 0
    while taken < len(indexes) - 1:
        size = max(sizes[-1 - taken], 0)
        if taken and size_taken + size > half:
            break
        taken += 1
        size_taken += size
    return indexes[-taken:]


def _cached_layer(entries: list[Entry], end: LayerEnd, hashed: bool) -> CachedLayer:
    """The parsed form of a layer the child read, for the cache."""
    return CachedLayer(
        digest=end.digest,
        diff_id=end.diff_id,
        size=end.size,
        uncompressed_size=end.uncompressed_size,
        hashed=hashed,
        end=end.end,
        members=[member_of(entry) for entry in entries],
        contents=kept_bytes(entries),
    )


class LayerJob:
    """One layer as the child read it: its entries (with their kept bytes) and how it ended."""

    __slots__ = ("_hashed", "_index", "_workers", "end", "entries")

    def __init__(
        self, entries: list[Entry], end: LayerEnd, *, hashed: bool, workers: LayerWorkers, index: int
    ) -> None:
        self.entries = entries
        self.end = end
        self._hashed = hashed
        self._workers = workers
        self._index = index

    def store(self, cache: LayerCache) -> None:
        """Put the layer's entry in ``cache`` (the workers'), unless the child has stored it there."""
        if not self._workers.stored(self._index):
            cache.store(self.cache_entry())

    def cache_entry(self) -> EncodedLayer:
        """The layer's entry for the cache: as the child encoded it if that has arrived, else
        encoded here; the same bytes either way."""
        head = self._workers.cache_head(self._index)
        if head is None:
            return encode(_cached_layer(self.entries, self.end, self._hashed))
        return EncodedLayer(digest=self.end.digest, head=head, contents=kept_bytes(self.entries))


def _alone() -> bool:
    """Whether no thread but this one runs: forking while another runs could hand the child a lock
    that thread held (in OpenSSL, say), never to be released in the child."""
    return threading.active_count() == 1


class LayerWorkers:
    """Reads some of the layers ``indexes`` of ``source`` in a child process (module docstring)."""

    def __init__(
        self,
        source: ImageSource,
        indexes: list[int],
        *,
        wanted: Callable[[str], bool],
        max_kept: int,
        hash_files: bool,
        cache: LayerCache | None = None,
    ) -> None:
        """Fork the child (or not, see the module docstring); ``cache`` is the reader's layer
        cache (None: the child encodes no entries, since nobody stores them)."""
        self._order = split(indexes, [source.layers[i].size for i in indexes])
        self._hash_files = hash_files
        self._cache = cache
        self._arrived = threading.Condition()
        self._messages: dict[tuple[str, int], tuple[object, ...]] = {}
        self._ended = False  # the pipe is closed: no more messages
        self._stopped = False  # no more entries: the child left the rest to the reader
        self._pid = 0
        self._thread: threading.Thread | None = None
        if not self._order or not _alone() or sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2:
            self._order = []
            return
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            self._order = []
            return
        if pid == 0:  # the child: read, send, and leave without running any of the parent's cleanup
            code = 1
            try:
                os.close(read_end)
                _Child(source, wanted, max_kept // 2, hash_files, write_end).run(self._order, cache)
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        self._pid = pid
        self._thread = threading.Thread(
            target=self._collect, args=(read_end,), name="layer-child", daemon=True
        )
        self._thread.start()

    def take(self, index: int) -> LayerJob | None:
        """The entries the child read for layer ``index``; None to read it here (not the child's,
        or the child could not read it, or an earlier one)."""
        if index not in self._order:
            return None
        got = self._wait(index)
        if got is None:
            self._order = []  # the child stopped: the reader reads the rest
            return None
        entries, end = cast(tuple[list[Entry], LayerEnd], got)
        return LayerJob(entries, end, hashed=self._hash_files, workers=self, index=index)

    def cache_head(self, index: int) -> bytes | None:
        """The head of the cache entry the child encoded for layer ``index``, if it has arrived."""
        with self._arrived:
            got = self._messages.pop((_CACHE_HEAD, index), None)
        return cast(bytes, got[0]) if got is not None else None

    def stored(self, index: int) -> bool:
        """Whether the child has stored the cache entry of layer ``index``."""
        with self._arrived:
            return (_STORED, index) in self._messages

    def _wait(self, index: int) -> tuple[object, ...] | None:
        """The entries of layer ``index`` (waiting for them), or None if the child stopped before."""
        key = (_ENTRIES, index)
        with self._arrived:
            while key not in self._messages and not (self._stopped or self._ended):
                self._arrived.wait()
            return self._messages.pop(key, None)

    def close(self) -> None:
        """Stop the child (if it still runs) and reap it; wait for the collecting thread."""
        if self._pid:
            pid, status = self._pid, 0
            self._pid = 0
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                status = os.waitpid(pid, 0)[1]
            if self._cache is not None and os.WIFSIGNALED(status):  # killed, maybe while storing
                self._cache.discard_temporaries(pid)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _collect(self, fd: int) -> None:
        """In a thread of the reader: unpickle each message from the child as it comes (the reader
        meanwhile reads its own layers), until the pipe closes."""
        try:
            with os.fdopen(fd, "rb") as pipe:
                while len(head := pipe.read(_LENGTH)) == _LENGTH:
                    length = int.from_bytes(head, "big")
                    body = pipe.read(length)
                    if len(body) != length:
                        break  # the child died while sending
                    # Our own child's bytes, through a pipe only it and this process hold.
                    kind, index, *rest = pickle.loads(body)  # noqa: S301
                    with self._arrived:
                        if kind == _STOPPED:
                            self._stopped = True
                        else:
                            self._messages[(kind, index)] = tuple(rest)
                        self._arrived.notify_all()
        finally:
            with self._arrived:
                self._ended = True
                self._arrived.notify_all()


class _Child:
    """What the child process does: read its layers in order and send each one down the pipe."""

    def __init__(
        self, source: ImageSource, wanted: Callable[[str], bool], max_kept: int, hash_files: bool, fd: int
    ) -> None:
        self._source = source
        self._wanted = wanted
        self._kept_left = max_kept
        self._hash_files = hash_files
        self._fd = fd

    def run(self, indexes: list[int], cache: LayerCache | None) -> None:
        """Read and send the layers ``indexes`` in order, then (with a ``cache``) the heads of the
        cache entries of those read, storing each entry in ``cache``."""
        read: list[tuple[int, list[Entry], LayerEnd]] = []
        for index in indexes:
            try:
                entries, end = self._read(index)
            except BaseException:  # the reader reads it again itself, and raises what it finds
                self._send((_STOPPED, index))
                break
            self._send((_ENTRIES, index, entries, end))
            if cache is not None and self._source.layers[index].digest:  # as the reader would store
                read.append((index, entries, end))
        # The reader needs the cache entries only after its own layers: until then, take only a
        # core it leaves idle (it encodes an entry itself if this one comes too late).
        os.nice(19)
        for index, entries, end in read:
            encoded = encode(_cached_layer(entries, end, self._hash_files))
            self._send((_CACHE_HEAD, index, encoded.head))
            if cache is not None and cache.store(encoded):
                self._send((_STORED, index))

    def _send(self, message: tuple[object, ...]) -> None:
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        data = memoryview(len(body).to_bytes(_LENGTH, "big") + body)
        while data:
            data = data[os.write(self._fd, data) :]

    def _read(self, index: int) -> tuple[list[Entry], LayerEnd]:
        blob = self._source.layers[index]
        with self._source.open_layer(index) as stream:
            stream.hash_in_thread = False  # the stream's thread inflates; this one hashes blob and tar
            with tar_errors(blob, stream):
                entries, end = self._entries(stream)
                stream.finish()
            return entries, LayerEnd(end, stream.blob_digest, stream.diff_id, stream.blob_size, stream.size)

    def _entries(self, stream: LayerStream) -> tuple[list[Entry], str]:
        tar = open_tar(stream)
        if tar is None:
            return [], "none"
        entries: list[Entry] = []
        wanted = self._wanted
        while (info := tar.next()) is not None:
            if info.sparse is not None:
                raise _ReadItYourself
            entry = entry_of_header(info, wanted)
            if entry[0] == FILE:  # its action
                data = read_member_data(tar, info, self._hash_files, self._keeps(entry))
                entry = with_data(entry, *data)
            entries.append(entry)
        check_end(tar)
        return entries, tar.end

    def _keeps(self, entry: Entry) -> bool:
        """Whether to keep a file's bytes: its path is wanted (or os-release), and the budget allows."""
        _, _, path, _, _, size, *_, wanted = entry
        if not (wanted or (path in OS_RELEASE and size <= MAX_OS_RELEASE)):
            return False
        if size > self._kept_left:
            return False
        self._kept_left -= size
        return True
