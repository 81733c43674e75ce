"""Read the later layers of an image in a second process while the reader reads the first ones.

Inflating gzip and hashing release the GIL, but parsing tar headers and applying members do not:
threads reading two layers at once spend their time waiting for each other. So, on Linux with
two cores or more, :class:`LayerWorkers` forks one child that reads a suffix of the layers to read
(about half of their stored bytes, never the first layer) while the reader reads the others in
order. The child streams each of its layers (:class:`~dockwright.inspect._layer_stream.LayerStream`:
blob hashed, inflated, tar hashed, both digests checked), parses its tar headers into
:data:`~dockwright.inspect._layer_cache.Member` rows with the bytes kept for them, and sends each
layer, in order, through a pipe; a thread of the reader's collects them. The reader applies them in
layer order through the same code that replays a cached layer, so the merged
tree, the warnings and the layer accounting are those of a read one layer after another.

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
then reads every layer itself. Memory: the
child streams one layer at a time; what it sends grows with the number of members and the kept
bytes, never with file sizes.

What this module does not do: apply members to the merged tree, use the layer cache, or read
layers of sources that cannot open them concurrently (``ImageSource.parallel_layers``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from dockwright.inspect._image_source import ImageSource
from dockwright.inspect._late_reads import MAX_OS_RELEASE, OS_RELEASE
from dockwright.inspect._layer_cache import Member
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect._tarsafe import check_end, normalize_name, tar_errors
from dockwright.inspect._tarstream import TarHeader, TarReader, open_tar

__all__ = ["LayerEnd", "LayerJob", "LayerWorkers", "Record", "read_member_data", "split"]

Record = tuple[Member, bytes | None]
"""A member's row and the bytes the child kept for it (None: none kept)."""
_LENGTH = 8  # bytes of the big-endian length before each message


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


@dataclass(frozen=True, slots=True)
class LayerJob:
    """One layer as the child read it: its members with their kept bytes, and how it ended."""

    records: list[Record]
    end: LayerEnd


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
    ) -> None:
        self._order = split(indexes, [source.layers[i].size for i in indexes])
        self._messages: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
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
                _Child(source, wanted, max_kept // 2, hash_files, write_end).run(self._order)
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
        """The records the child read for layer ``index``; None to read it here (not the child's,
        or the child could not read it, or an earlier one)."""
        if index not in self._order:
            return None
        while self._order:
            expected = self._order.pop(0)
            message = self._messages.get()
            # Our own child's bytes, through a pipe only it and this process hold.
            got = pickle.loads(message) if message else None  # noqa: S301
            if got is None or got[0] != expected:
                self._order = []  # the child stopped: the reader reads the rest
                return None
            if expected == index:
                _, records, end = got
                return None if end is None else LayerJob(records, end)
        return None

    def close(self) -> None:
        """Stop the child (if it still runs) and reap it; wait for the collecting thread."""
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._pid = 0
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _collect(self, fd: int) -> None:
        """In a thread of the reader: each message from the child, then None at the end."""
        with os.fdopen(fd, "rb") as pipe:
            while len(head := pipe.read(_LENGTH)) == _LENGTH:
                body = pipe.read(int.from_bytes(head, "big"))
                self._messages.put(body)
        self._messages.put(None)


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

    def run(self, indexes: list[int]) -> None:
        for index in indexes:
            try:
                records, end = self._read(index)
                message = pickle.dumps((index, records, end), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # the reader reads it again itself, and raises what it finds
                message = pickle.dumps((index, None, None))
                self._send(message)
                return
            self._send(message)

    def _send(self, message: bytes) -> None:
        data = memoryview(len(message).to_bytes(_LENGTH, "big") + message)
        while data:
            data = data[os.write(self._fd, data) :]

    def _read(self, index: int) -> tuple[list[Record], LayerEnd]:
        blob = self._source.layers[index]
        with self._source.open_layer(index) as stream:
            stream.hash_in_thread = False  # the stream's thread inflates; this one hashes the tar
            with tar_errors(blob, stream):
                records, end = self._members(stream)
                stream.finish()
            return records, LayerEnd(end, stream.blob_digest, stream.diff_id, stream.blob_size, stream.size)

    def _members(self, stream: LayerStream) -> tuple[list[Record], str]:
        tar = open_tar(stream)
        if tar is None:
            return [], "none"
        records: list[Record] = []
        while (info := tar.next()) is not None:
            if info.sparse is not None:
                raise _ReadItYourself
            sha, kept = "", None
            if info.isreg():
                sha, kept = read_member_data(tar, info, self._hash_files, self._keeps(info))
            row = (info.name, info.type.decode("latin-1"), info.size, info.mode, info.uid, info.gid,
                   info.linkname, sha, -1 if kept is None else len(kept))  # fmt: skip
            records.append((row, kept))
        check_end(tar)
        return records, tar.end

    def _keeps(self, info: TarHeader) -> bool:
        """Whether to keep a regular member's bytes: its name is wanted, and the budget allows."""
        path, _ = normalize_name(info.name)
        if not (self._wanted(path) or (path in OS_RELEASE and info.size <= MAX_OS_RELEASE)):
            return False
        if info.size > self._kept_left:
            return False
        self._kept_left -= info.size
        return True
