"""Deterministic layer blobs: a PAX tar of tree entries, gzip-compressed, hashed while streaming.

:func:`write_layer` writes the entries it is given, in the order given (a :class:`FileTree` yields
them sorted, parents first), as one tar stream and compresses it into ``out``. Everything that
could differ between machines is fixed: every mtime is the given ``mtime`` (SOURCE_DATE_EPOCH), no
atime/ctime, owners and modes come from the entries (never from the umask or the process), names
are UTF-8, and the gzip header carries no name, mtime 0 and OS byte 255. The tar headers are
written here rather than by :mod:`tarfile`, for speed and so no locale or library default can leak
in; PAX extended headers are used only for what ustar cannot hold (long or non-ASCII names and
link targets, large ids and sizes, long user and group names).

Both digests are computed in the same pass: ``diff_id`` over the tar bytes, ``digest`` over the
gzip bytes as they reach ``out``. Deflate runs on a few threads (zlib releases the GIL) over fixed
1 MiB chunks, pigz-style, so it scales with cores while the bytes stay the same for any count.

Hardlinks: tar readers need a link's target to come earlier in the stream. When a hardlink sorts
before its target, the roles are swapped: the first path of the group (in stream order) carries the
data, and every other path becomes a hardlink to it; all of them show the target's mode and owner
(one inode), as tar would write them from a real filesystem. A link whose target
is not among the entries is written as is (it refers to a lower layer; OCI allows this, some
unpackers do not).

What this module does not do: write whiteouts, device nodes, fifos or xattrs (the tree has none),
write an entry for the root directory itself, or decide layer contents (the builder does). Gzip
bytes are identical across machines only with the same zlib implementation (zlib-ng differs);
``diff_id`` is identical everywhere.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from dockwright.errors import BuildConflictError, UnsafeArchiveError
from dockwright.fs.tree import Entry, EntryType, normalize
from dockwright.oci.descriptor import OCI_LAYER_GZIP, Descriptor
from dockwright.oci.digest import SHA256, BytesLike, Digest, HashingWriter, Writable

__all__ = ["LayerInfo", "write_layer"]

_BLOCK = 512
_CHUNK = 1 << 20  # uncompressed bytes per deflate job; fixed, so output never depends on threads
_WINDOW = 32 << 10  # deflate's window: each job is primed with this much of the previous chunk
_DIRECT = 256 << 10  # file data at least this large skips the staging buffer
_MAX_OCTAL = {8: 8**7, 12: 8**11}
_TYPE = {EntryType.FILE: b"0", EntryType.HARDLINK: b"1", EntryType.SYMLINK: b"2", EntryType.DIR: b"5"}
_PAX_NAME = b"././@PaxHeader"
_GZIP_XFL = {1: 4, 9: 2}  # what gzip(1) and Go write for the fastest and best levels


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerInfo:
    """What a written layer is: its blob digest and size, and its uncompressed DiffID and size."""

    digest: Digest
    diff_id: Digest
    size: int
    uncompressed_size: int
    media_type: str = OCI_LAYER_GZIP

    def descriptor(self) -> Descriptor:
        """Return the manifest descriptor of this layer blob."""
        return Descriptor(media_type=self.media_type, digest=self.digest, size=self.size)


def write_layer(
    entries: Iterable[Entry],
    out: Writable,
    *,
    mtime: int,
    compresslevel: int = 6,
    threads: int | None = None,
) -> LayerInfo:
    """Write ``entries`` as a deterministic gzip-compressed PAX tar into ``out``.

    Args:
        entries: paths relative to the image root, normalized, in the order to write (parents
            before children). The root entry (path ``""``) is skipped.
        out: where the gzip bytes go (a binary file, a :class:`HashingWriter`); written
            sequentially, never flushed or closed here.
        mtime: the timestamp of every entry (SOURCE_DATE_EPOCH), seconds since the epoch.
        compresslevel: zlib level, 0 (stored) to 9; 6 is gzip's default.
        threads: compression threads (default: usable CPUs, at most 8). The bytes written do not
            depend on it.

    Returns:
        The layer's digest, DiffID and sizes.

    Raises:
        UnsafeArchiveError: a path is absolute or not normalized, or a hardlink names a directory
            or a loop.
        BuildConflictError: the same path appears twice.
        ValueError: ``mtime`` or ``compresslevel`` is out of range.
    """
    if not 0 <= mtime < _MAX_OCTAL[12]:
        raise ValueError(f"mtime {mtime} is out of range for a tar header")
    if not 0 <= compresslevel <= 9:
        raise ValueError(f"compresslevel must be 0..9, not {compresslevel}")
    planned = _plan(entries)
    with _GzipSink(out, compresslevel, threads or _default_threads()) as sink:
        _write_tar(planned, sink, mtime)
    return sink.info()


# --- planning: validation and hardlink ordering -------------------------------------------------


def _plan(entries: Iterable[Entry]) -> list[Entry]:
    listed: list[Entry] = []
    seen: dict[str, Entry] = {}
    has_links = False
    for entry in entries:
        if not entry.path:
            continue
        if entry.path != normalize(entry.path):
            raise UnsafeArchiveError(f"refusing to write {entry.path!r} into a layer: not a normalized path")
        if (other := seen.get(entry.path)) is not None:
            raise BuildConflictError(
                f"/{entry.path} appears twice in one layer",
                path=entry.path,
                origins=(other.origin, entry.origin),
            )
        if entry.type is EntryType.HARDLINK and entry.target != normalize(entry.target):
            entry = replace(entry, target=normalize(entry.target))
        seen[entry.path] = entry
        listed.append(entry)
        has_links = has_links or entry.type is EntryType.HARDLINK
    return _order_hardlinks(listed, seen) if has_links else listed


def _link_target(path: str, by_path: dict[str, Entry]) -> str:
    """Follow a chain of hardlinks to the path that holds the content."""
    hops = 0
    entry = by_path[path]
    while entry.type is EntryType.HARDLINK:
        hops += 1
        nxt = by_path.get(entry.target)
        if nxt is None:
            return entry.target  # outside this layer
        if hops > len(by_path):
            raise UnsafeArchiveError(f"hardlink loop at /{path}")
        entry = nxt
    if entry.type is EntryType.DIR:
        raise UnsafeArchiveError(f"hardlink /{path} points at directory /{entry.path}")
    return entry.path


def _order_hardlinks(listed: list[Entry], by_path: dict[str, Entry]) -> list[Entry]:
    """Rewrite each hardlink group so the first path in stream order carries the content."""
    index = {e.path: i for i, e in enumerate(listed)}
    groups: dict[str, list[str]] = {}
    for e in listed:
        if e.type is EntryType.HARDLINK:
            target = _link_target(e.path, by_path)
            groups.setdefault(target, [target] if target in by_path else []).append(e.path)
    result = list(listed)
    for target, members in groups.items():
        if target not in by_path:  # a lower layer's file: point every link of the chain at it
            for path in members:
                result[index[path]] = replace(by_path[path], target=target)
            continue
        first = min(members, key=index.__getitem__)
        content = by_path[target]
        for path in members:  # every path of the group shows the one inode's metadata
            if path == first:
                result[index[path]] = replace(content, path=path)
            else:
                link = replace(content, path=path, type=EntryType.HARDLINK, target=first, data=b"")
                result[index[path]] = replace(link, origin=by_path[path].origin)
    return result


# --- tar headers --------------------------------------------------------------------------------


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


_NO_DEVICE = _octal(0, 8) + _octal(0, 8)  # devmajor, devminor


def _field(text: bytes, width: int) -> bytes:
    return text[:width].ljust(width, b"\x00")


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """Split a long ASCII name into ustar (prefix, name), or None when it cannot be split."""
    if len(name) > 256:
        return None
    start = max(len(name) - 101, 0)
    cut = name.find(b"/", start)
    while cut != -1:
        if 0 < cut <= 155 and len(name) - cut - 1 <= 100:
            return name[:cut], name[cut + 1 :]
        cut = name.find(b"/", cut + 1)
    return None


def _pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def _ustar(
    name: bytes,
    prefix: bytes,
    mode: int,
    ids: Sequence[int],
    size: int,
    mtime: int,
    kind: bytes,
    link: bytes,
    owners: Sequence[bytes],
) -> bytes:
    head = b"".join(
        (
            _field(name, 100),
            _octal(mode, 8),
            _octal(ids[0], 8),
            _octal(ids[1], 8),
            _octal(size, 12),
            _octal(mtime, 12),
            b"        ",
            kind,
            _field(link, 100),
            b"ustar\x0000",
            _field(owners[0], 32),
            _field(owners[1], 32),
            _NO_DEVICE,
            _field(prefix, 155),
            b"\x00" * 12,
        )
    )
    checksum = b"%06o\x00 " % sum(head)
    return head[:148] + checksum + head[156:]


def _header(entry: Entry, size: int, mtime: int) -> bytes:
    """Return the tar header block(s) for ``entry``: a PAX header first when ustar cannot hold it."""
    name = entry.path + "/" if entry.type is EntryType.DIR else entry.path
    link = entry.target if entry.type in (EntryType.SYMLINK, EntryType.HARDLINK) else ""
    pax: list[bytes] = []
    raw_name, prefix = _name_fields(name, pax)
    raw_link = _text_field("linkpath", link, 100, pax)
    owners = (_text_field("uname", entry.uname, 32, pax), _text_field("gname", entry.gname, 32, pax))
    ids = (_number_field("uid", entry.uid, 8, pax), _number_field("gid", entry.gid, 8, pax))
    size_field = _number_field("size", size, 12, pax)
    block = _ustar(
        raw_name, prefix, entry.mode & 0o7777, ids, size_field, mtime, _TYPE[entry.type], raw_link, owners
    )
    if not pax:
        return block
    records = b"".join(pax)
    pax_head = _ustar(_PAX_NAME, b"", 0o644, (0, 0), len(records), 0, b"x", b"", (b"", b""))
    return pax_head + records + _padding(len(records)) + block


def _name_fields(name: str, pax: list[bytes]) -> tuple[bytes, bytes]:
    if name.isascii():
        raw = name.encode("ascii")
        if len(raw) <= 100:
            return raw, b""
        split = _split_ustar(raw)
        if split is not None:
            return split[1], split[0]
    pax.append(_pax_record("path", name))
    return name.encode("ascii", "replace")[:100], b""


def _text_field(key: str, value: str, width: int, pax: list[bytes]) -> bytes:
    if value.isascii() and len(value) <= width:
        return value.encode("ascii")
    pax.append(_pax_record(key, value))
    return value.encode("ascii", "replace")[:width]


def _number_field(key: str, value: int, width: int, pax: list[bytes]) -> int:
    if value < 0:
        raise ValueError(f"negative {key} {value} in a tar header")
    if value < _MAX_OCTAL[width]:
        return value
    pax.append(_pax_record(key, str(value)))
    return 0


def _padding(size: int) -> bytes:
    return b"\x00" * (-size % _BLOCK)


def _write_tar(entries: Iterable[Entry], sink: _GzipSink, mtime: int) -> None:
    buf = bytearray()
    for entry in entries:
        data = entry.data if entry.type is EntryType.FILE else b""
        buf += _header(entry, len(data), mtime)
        if len(data) >= _DIRECT:
            sink.write(bytes(buf))
            buf.clear()
            sink.write(data)
        else:
            buf += data
        buf += _padding(len(data))
        if len(buf) >= _CHUNK:
            sink.write(bytes(buf))
            buf.clear()
    buf += b"\x00" * (2 * _BLOCK)
    sink.write(bytes(buf))


# --- gzip ---------------------------------------------------------------------------------------


class _GzipSink:
    """Hash and count tar bytes; deflate them into a fixed-header gzip stream on worker threads.

    The tar stream is cut into chunks of exactly ``_CHUNK`` bytes, whatever the write sizes, and
    each chunk is deflated on its own, primed with the previous chunk's last 32 KiB as dictionary
    and ended with a sync flush (the last one with a final block), as pigz does. The pieces
    concatenate into one valid deflate stream, and because the cuts depend only on the data the
    bytes are the same for any number of threads. Results are written to ``out`` in order from
    the calling thread; at most a few chunks are in flight, so memory stays bounded.
    """

    def __init__(self, out: Writable, level: int, threads: int) -> None:
        self._out = HashingWriter(out)
        self._tar_hash = hashlib.sha256()
        self._crc = 0
        self._size = 0
        self._level = level
        self._pending = bytearray()
        self._tail = b""
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dockwright-gzip")
        self._inflight: deque[Future[bytes]] = deque()
        self._max_inflight = 2 * threads
        self._out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes((_GZIP_XFL.get(level, 0), 255)))

    def __enter__(self) -> _GzipSink:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._submit(bytes(self._pending), final=True)
            while self._inflight:
                self._out.write(self._inflight.popleft().result())
            self._out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        self._pool.shutdown(wait=True, cancel_futures=True)

    def write(self, data: bytes) -> None:
        """Account for ``data`` (which must not change afterwards) and queue it for compression."""
        self._tar_hash.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        view = memoryview(data)
        if self._pending:
            room = _CHUNK - len(self._pending)
            self._pending += view[:room]
            view = view[room:]
            if len(self._pending) < _CHUNK:
                return
            self._submit(bytes(self._pending), final=False)
            self._pending.clear()
        while len(view) >= _CHUNK:
            self._submit(view[:_CHUNK], final=False)
            view = view[_CHUNK:]
        self._pending += view

    def _submit(self, chunk: BytesLike, *, final: bool) -> None:
        zdict, self._tail = self._tail, bytes(chunk[-_WINDOW:])
        self._inflight.append(self._pool.submit(_deflate, chunk, zdict, self._level, final))
        while len(self._inflight) > self._max_inflight:
            self._out.write(self._inflight.popleft().result())

    def info(self) -> LayerInfo:
        """Return the finished layer's digests and sizes."""
        return LayerInfo(
            digest=self._out.digest,
            diff_id=Digest(algorithm=SHA256, hex=self._tar_hash.hexdigest()),
            size=self._out.size,
            uncompressed_size=self._size,
        )


def _deflate(chunk: BytesLike, zdict: bytes, level: int, final: bool) -> bytes:
    """Raw-deflate one chunk, continuing the window of the chunk before it."""
    if zdict:
        deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY, zdict)
    else:
        deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY)
    return deflate.compress(chunk) + deflate.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


def _default_threads() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 8))
