"""Stream one layer blob as its uncompressed tar, verifying the blob as the bytes pass.

A :class:`LayerStream` pulls the stored blob in 1 MiB chunks, hashes and counts them, decompresses
them (gzip, possibly multi-member, or zstd, detected from the first bytes, whatever the media type
says; anything else is read as a plain tar) and hashes the output again. When the blob's last byte
has been read it checks, in this order: the blob's size and digest against its descriptor, that the
compressed stream ended properly, and the uncompressed digest against the config's ``diff_id``.
A reader that stops early calls :meth:`LayerStream.finish` to drain and check the rest.

Gzip is inflated with ISA-L (PyPI ``isal``, about twice as fast as zlib here) when it can be
imported, else with zlib; both give the same bytes, which the ``diff_id`` check confirms.

Decompression is bounded: it runs in steps of at most 512 KiB, so a compression bomb costs time,
never memory. A thread reads and decompresses the blob at most four steps ahead of the reader
(ISA-L, zlib, zstd, file reads and sha256 release the GIL, so this overlaps with parsing the tar);
close the stream, or use it as a context manager, to stop that thread. The stored and the
uncompressed bytes are hashed in that thread, or else (``hash_in_thread`` off) in the reader's as
it takes each step: the stored bytes the thread read for that step, then the step itself. The
thread, which paces the whole read, then only reads and inflates (it hashes stored bytes itself
only when more than 4 MiB of them wait). :meth:`LayerStream.verify_stored` checks the stored blob
alone, without decompressing (for a layer whose parsed form is cached).

What this module does not do: parse the tar (see :mod:`dockwright.inspect.reader`), find blobs
(see :mod:`dockwright.inspect.source`), or decompress xz, bzip2 or encrypted layers.
"""

from __future__ import annotations

import collections
import hashlib
import queue
import threading
import zlib
from collections.abc import Callable
from typing import IO, Protocol, cast

import zstandard

from dockwright.errors import DigestMismatchError, InputError

__all__ = ["INFLATE", "LayerStream", "Readable"]

_RAW_CHUNK = 1 << 20
_GZIP_IN = 128 << 10  # compressed bytes per inflate call: keeps zlib's unconsumed-tail copies small
# Decompressed bytes produced per step: output that stays in the CPU's caches until it is hashed
# and parsed. 512 KiB steps take 4% less CPU in all than 2 MiB ones (the SBOM benchmark's image).
_OUT_CHUNK = 512 << 10
_AHEAD = 4  # steps decompressed ahead of the reader (in a thread)
_MAX_UNHASHED = 4 << 20  # stored bytes read but left for the reader to hash; past it, hashed at once
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_UNSUPPORTED = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


class _Decompressor(Protocol):
    """What ``zlib.decompressobj`` and ``isal.isal_zlib.decompressobj`` return."""

    @property
    def unused_data(self) -> bytes: ...

    @property
    def unconsumed_tail(self) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes: ...


def _zlib_gzip() -> _Decompressor:
    return zlib.decompressobj(wbits=31)


def _inflater() -> tuple[Callable[[], _Decompressor], tuple[type[Exception], ...], str]:
    """ISA-L's inflate when ``isal`` is importable (same API and output as zlib), else zlib's."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover (isal is a dependency; this is the fallback)
        return _zlib_gzip, (zlib.error,), "zlib"

    def isal_gzip() -> _Decompressor:
        return isal_zlib.decompressobj(wbits=31)

    return isal_gzip, (zlib.error, cast(type[Exception], isal_zlib.error)), "isa-l"


_new_gzip, _INFLATE_ERRORS, INFLATE = _inflater()
"""Which inflater gzip layers use: ``isa-l`` or ``zlib``."""
_CODEC_ERRORS: tuple[type[Exception], ...] = (*_INFLATE_ERRORS, zstandard.ZstdError)


class Readable(Protocol):
    """A binary source with ``read(n)`` returning at most ``n`` bytes, ``b""`` only at the end."""

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes."""


class _Blob:
    """The stored bytes: hashed and counted; checked against the descriptor at the end.

    With ``defer_hash`` the chunks read are queued, in order, for whichever thread calls
    :meth:`hash_pending` (the reader's, as it takes each step); the digest hashes what is left.
    """

    def __init__(self, source: Readable, what: str, digest: str, size: int | None) -> None:
        self._source = source
        self._what = what
        self._expect_digest = digest
        self._expect_size = size
        self._hash = hashlib.sha256()
        self._hash_lock = threading.Lock()  # whoever hashes takes the queue in order
        self._unhashed: collections.deque[bytes] = collections.deque()
        self._queued = 0  # bytes ever queued (by the one thread that reads)
        self._hashed = 0  # bytes hashed (under the lock)
        self.defer_hash = False
        self.size = 0
        self.done = False
        self._head = b""
        self._failure: DigestMismatchError | None = None

    @property
    def digest(self) -> str:
        with self._hash_lock:
            self._hash_queued()
            return f"sha256:{self._hash.hexdigest()}"

    def hash_pending(self) -> None:
        """Hash the chunks read so far and not hashed yet (from any thread)."""
        if self._unhashed:
            with self._hash_lock:
                self._hash_queued()

    def _hash_queued(self) -> None:
        unhashed, update = self._unhashed, self._hash.update
        while unhashed:
            chunk = unhashed.popleft()
            update(chunk)
            self._hashed += len(chunk)

    def _add(self, chunk: bytes) -> None:
        self._unhashed.append(chunk)
        self._queued += len(chunk)
        if not self.defer_hash or self._queued - self._hashed > _MAX_UNHASHED:
            self.hash_pending()

    def peek_head(self) -> bytes:
        """Read (and keep for the next :meth:`read`) the first chunk, to detect compression."""
        if not self._head and not self.done and self.size == 0:
            self._head = self._pull(_RAW_CHUNK)
        return self._head

    def read(self, n: int = _RAW_CHUNK, /) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._pull(n)

    def _pull(self, n: int) -> bytes:
        if self.done:
            if self._failure is not None:
                raise self._failure  # again: the thread that found it may have been stopped
            return b""
        chunk = self._source.read(n)
        if not chunk:
            self._check()
            return b""
        self._add(chunk)
        self.size += len(chunk)
        if self._expect_size is not None and self.size > self._expect_size:
            raise DigestMismatchError(
                f"{self._what} blob {self._expect_digest or ''} holds more than the "
                f"{self._expect_size} bytes its descriptor says: the image was modified or is corrupt"
            )
        return chunk

    def _check(self) -> None:
        self.done = True
        size_ok = self._expect_size is None or self.size == self._expect_size
        digest_ok = not self._expect_digest or self.digest == self._expect_digest
        if not (size_ok and digest_ok):
            expected = self._expect_digest or "(no digest)"
            self._failure = DigestMismatchError(
                f"{self._what} blob {expected} ({self._expect_size} bytes) holds {self.size} bytes "
                f"with digest {self.digest}: the image was modified or is corrupt"
            )
            raise self._failure

    def drain(self) -> None:
        """Read to the end (checking the digest there)."""
        self._head = b""
        while self._pull(_RAW_CHUNK):
            pass


class _Plain:
    def __init__(self, blob: _Blob) -> None:
        self._blob = blob

    def read(self, n: int) -> bytes:
        return self._blob.read(n)


class _Gzip:
    """Gzip, one or more members back to back; zero padding after the last member is allowed."""

    def __init__(self, blob: _Blob, what: str, new: Callable[[], _Decompressor]) -> None:
        self._blob = blob
        self._what = what
        self._new = new
        self._d = new()
        self._tail = b""
        self._blob_ended = False
        self._between = False  # a member ended; ``_tail`` holds what follows it

    def read(self, n: int) -> bytes:
        while True:
            if not self._tail and not self._blob_ended:
                self._tail = self._blob.read(_GZIP_IN)
                self._blob_ended = not self._tail
            if self._between:
                if not self._tail:
                    if self._blob_ended:
                        return b""
                    continue
                self._next_member()
                continue
            # With no input left this still runs once: output the inflater holds back comes out.
            out = self._d.decompress(self._tail, n)
            self._tail = self._d.unconsumed_tail
            if self._d.eof:
                # All input after the member is in unused_data (zlib may repeat it in the tail).
                self._tail = self._d.unused_data
                self._between = True
            if out:
                return out
            if self._blob_ended and not self._tail and not self._between:
                raise InputError(f"{self._what} is truncated: its gzip stream ends early")

    def _next_member(self) -> None:
        rest = self._tail
        if rest.startswith(_GZIP[:1]) and (len(rest) < 2 or rest.startswith(_GZIP)):
            self._d = self._new()
            self._between = False
            return
        if rest.strip(b"\0"):
            raise InputError(f"{self._what} has data after the end of its gzip stream")
        self._tail = b""  # zero padding


class _Zstd:
    def __init__(self, blob: _Blob) -> None:
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            cast("IO[bytes]", blob), read_size=_RAW_CHUNK, read_across_frames=True, closefd=False
        )

    def read(self, n: int) -> bytes:
        data: bytes = self._reader.read(n)
        return data


class _Prefetch:
    """Runs ``produce`` in a thread, a few steps ahead of the reader.

    ISA-L, zlib, zstd and sha256 release the GIL on large buffers, so decompressing and hashing a layer
    overlaps with parsing its tar. The queue is bounded: at most ``_AHEAD`` steps wait in memory.
    The thread's last item is ``b""`` (the end, checks passed) or the exception it raised.
    """

    def __init__(self, produce: Callable[[], bytes]) -> None:
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=_AHEAD)
        self._stop = threading.Event()
        self._last: bytes | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(produce,), name="layer-prefetch", daemon=True)
        self._thread.start()

    def _run(self, produce: Callable[[], bytes]) -> None:
        while not self._stop.is_set():
            try:
                data = produce()
            except BaseException as exc:  # handed to the reader, raised there
                self._put(exc)
                return
            self._put(data)
            if not data:
                return

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def get(self) -> bytes:
        """The next step (``b""`` at the end), or raise what the thread raised."""
        if self._last is None:
            item = self._queue.get()
            if isinstance(item, BaseException) or not item:
                self._last = item
        else:
            item = self._last
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        """Stop the thread and wait for it (idempotent)."""
        self._stop.set()
        self._thread.join()

    def raise_pending(self, kind: type[BaseException]) -> None:
        """After :meth:`stop`: raise an exception of ``kind`` the thread left unread."""
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, kind):
                raise item


class LayerStream:
    """The uncompressed tar of one layer, checked against its digests when read to the end.

    Attributes (valid after the end was read): ``blob_digest``, ``blob_size`` (stored bytes),
    ``diff_id`` and ``size`` (uncompressed), and ``compression`` (``gzip``, ``zstd`` or ``none``,
    known from construction).
    """

    def __init__(
        self,
        source: Readable,
        *,
        what: str,
        digest: str = "",
        size: int | None = None,
        diff_id: str = "",
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """Wrap ``source``, the stored blob.

        Args:
            source: the blob bytes, read in chunks.
            what: how messages name the layer, e.g. ``layer 2 (sha256:ab12...)``.
            digest: the blob's expected ``sha256:...`` ("" when the format gives none).
            size: the blob's expected size in bytes (None when unknown).
            diff_id: the expected digest of the uncompressed tar ("" when unknown).
            on_close: called once by :meth:`close` (to close the underlying file).

        Raises:
            InputError: the blob uses a compression dockwright cannot read.
        """
        self._what = what
        self._blob = _Blob(source, what, digest, size)
        self._expect_diff_id = diff_id
        self._hash = hashlib.sha256()
        self._size = 0
        self._ended = False
        self._out = b""
        self._pos = 0
        self._on_close = on_close
        self._prefetch: _Prefetch | None = None
        self.hash_in_thread = True
        """Hash the stored and the uncompressed bytes in the thread (the default) or in the
        reader's thread, as it takes each step: set it before reading, to whichever thread has less
        to do."""
        head = self._blob.peek_head()
        self._codec: _Plain | _Gzip | _Zstd
        if head.startswith(_GZIP):
            self.compression, self._codec = "gzip", _Gzip(self._blob, what, _new_gzip)
        elif head.startswith(_ZSTD):
            self.compression, self._codec = "zstd", _Zstd(self._blob)
        else:
            for magic, name in _UNSUPPORTED.items():
                if head.startswith(magic):
                    raise InputError(f"{what} is compressed with {name}, which layers may not use")
            self.compression, self._codec = "none", _Plain(self._blob)

    @property
    def blob_digest(self) -> str:
        """``sha256:...`` of the stored bytes read so far (the blob's digest once ended)."""
        return self._blob.digest

    @property
    def blob_size(self) -> int:
        """Stored bytes read so far."""
        return self._blob.size

    @property
    def diff_id(self) -> str:
        """``sha256:...`` of the uncompressed bytes read so far (for a plain tar, the blob's)."""
        if self.compression == "none":
            return self._blob.digest  # the same bytes: hashed once
        return f"sha256:{self._hash.hexdigest()}"

    @property
    def size(self) -> int:
        """Uncompressed bytes read so far."""
        return self._blob.size if self.compression == "none" else self._size

    def read_step(self) -> bytes:
        """The rest of the current step, or the next whole step (no copy); ``b""`` at the end.

        Raises:
            DigestMismatchError: the blob does not match its descriptor (found at its end).
            InputError: the compressed data is corrupt or truncated, or the diff_id is wrong.
        """
        if self._pos >= len(self._out) and (self._ended or not self._fill()):
            return b""
        data = self._out[self._pos :] if self._pos else self._out
        self._out, self._pos = b"", 0
        return data

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` uncompressed bytes (fewer is not the end; ``b""`` is).

        Raises:
            DigestMismatchError: the blob does not match its descriptor (found at its end).
            InputError: the compressed data is corrupt or truncated, or the diff_id is wrong.
        """
        n = size if size is not None and size > 0 else _OUT_CHUNK
        if self._pos >= len(self._out) and (self._ended or not self._fill()):
            return b""
        data = self._out[self._pos : self._pos + n]
        self._pos += len(data)
        return data

    def start(self) -> None:
        """Start decompressing ahead now rather than at the first read (idempotent); set
        ``hash_in_thread`` before."""
        self._started()

    def _started(self) -> _Prefetch:
        if self._prefetch is None:
            self._blob.defer_hash = not self.hash_in_thread
            self._prefetch = _Prefetch(self._produce)
        return self._prefetch

    def _fill(self) -> bool:
        """Put the next decompressed step in the buffer; False (after the end checks) at the end."""
        data = self._started().get()
        self._out, self._pos = data, 0
        if not data:
            self._ended = True
            self._check_diff_id()
            return False
        if not self.hash_in_thread:
            self._blob.hash_pending()
            if self.compression != "none":
                self._hash.update(data)
                self._size += len(data)
        return True

    def _produce(self) -> bytes:
        """In the thread: the next step, hashed; ``b""`` once the blob is read and checked."""
        try:
            data = self._codec.read(_OUT_CHUNK)
        except _CODEC_ERRORS as exc:
            self._blob.drain()  # a corrupt blob is a digest mismatch first
            raise InputError(f"{self._what} has corrupt {self.compression} data: {exc}") from None
        if not data:
            self._blob.drain()
        elif self.hash_in_thread and self.compression != "none":
            self._hash.update(data)
            self._size += len(data)
        return data

    def verify_stored(self) -> None:
        """Read the stored blob to its end and check its size and digest; decompress nothing.

        Raises:
            DigestMismatchError: the blob does not match its descriptor.
        """
        if self._prefetch is not None or self._ended:
            raise RuntimeError("verify_stored() is for a stream nothing was read from")
        self._blob.drain()

    def _check_diff_id(self) -> None:
        if self._expect_diff_id and self.diff_id != self._expect_diff_id:
            raise DigestMismatchError(
                f"{self._what} uncompressed has digest {self.diff_id}, but the image config "
                f"says its diff_id is {self._expect_diff_id}: the image was modified or is corrupt"
            )

    def finish(self) -> None:
        """Read and check whatever the consumer left unread (tar padding, or all of it).

        Raises:
            DigestMismatchError: the blob or its uncompressed bytes do not match their digests.
            InputError: the compressed data is corrupt or truncated.
        """
        self._out, self._pos = b"", 0
        while not self._ended and self._fill():
            pass

    def verify_after_error(self) -> None:
        """After a parse error: raise DigestMismatchError if the blob itself is corrupt.

        A tampered blob makes the tar look malformed; the digest names the real cause.
        """
        if self._ended:
            return
        if self._prefetch is not None:
            self._prefetch.stop()  # the blob is ours alone from here on
            self._prefetch.raise_pending(DigestMismatchError)
        self._blob.drain()

    def close(self) -> None:
        """Stop decompressing ahead and release the underlying file (idempotent)."""
        if self._prefetch is not None:
            self._prefetch.stop()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()

    def __enter__(self) -> LayerStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
