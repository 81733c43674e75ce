"""Read an image in one streaming pass: merged files, layer accounting, wanted contents, os-release.

:func:`read_image` opens the image (:mod:`dockwright.inspect.source`), then reads each layer's tar
as a stream (never extracted, never touching the host filesystem) with the parser of
:mod:`dockwright.inspect._tarstream`, hashing every regular file in 1 MiB chunks (unless
``hash_files`` is off) and applying it to the merged filesystem (:mod:`dockwright.inspect._merge`,
which follows the OCI whiteout rules). Only the bytes of files ``wanted(path)`` selects are kept, up
to ``max_wanted_bytes`` in all, so memory depends on the number of paths, never on file sizes.
Every blob is checked against its digest and every tar against its diff_id whether or not files
are hashed.

Every member, streamed, replayed from the cache or read by the child process below, is first
prepared as an :data:`~dockwright.inspect._layer_entries.Entry` (name normalized, what it does,
whether it is wanted) and then applied by the same code, so the three give the same result.

When the source can open layers concurrently (a layout's blobs) and two or more layers must be
read, :mod:`dockwright.inspect._layer_workers` reads the later ones (about half the bytes) in a
child process while this process reads the first ones; the child prepares their entries, which are
then applied here in layer order, so on two cores the layers are decompressed side by side, with
the same result (and anything the child could not read is read here, as without it).

With a :class:`~dockwright.inspect._layer_cache.LayerCache`, a layer read this way is stored in
its parsed form under its blob digest (the child encodes and stores the entries of its layers), and a later
read replays that form instead of decompressing the layer, after hashing the blob it finds (no
decompression) and checking that it still has that digest, and that the config's diff_id is the
one the cached tar had.

A wanted file that is a hard link to a file whose bytes were not kept (or whose bytes a cached form
lacks) is read again from its layer after the pass (rare: a second read of that one layer).
``/etc/os-release`` is resolved through the image's symlinks (falling back to
``/usr/lib/os-release``) and parsed into ``os_release``.

Hostile or broken input gives an error or a result marked by warnings, never a crash:

* errors: a blob that does not match its digest (:class:`~dockwright.errors.DigestMismatchError`);
  a layer that is not a tar, is truncated, or has a corrupt header
  (:class:`~dockwright.errors.InputError`); headers built to exhaust memory
  (:class:`~dockwright.errors.UnsafeArchiveError`);
* warnings (``Warning_.code``): ``absolute-path`` and ``path-traversal`` (a member name was
  normalized and clamped at the root), ``symlink-loop``, ``parent-not-dir`` (the entry was
  skipped), ``hardlink-missing-target``, ``hardlink-to-dir``, ``hardlink-to-self``,
  ``invalid-whiteout``, ``unknown-type``, ``no-end-marker`` (a layer without the tar trailer),
  ``sparse-not-hashed`` (over 4 GiB of holes: ``sha256`` left empty; given whether or not files
  are hashed), ``wanted-limit`` (contents are partial), ``os-release-unresolved``; for ``dir:``
  also ``other-filesystem``, ``unreadable``, ``socket-skipped`` and ``file-changed``.

Layer accounting: ``files`` counts the entries a layer writes (whiteouts excluded), ``deleted`` its
whiteout entries (``.wh.NAME`` and opaque markers), ``overwritten_bytes`` the bytes of regular files
it shipped that later layers (or later duplicates in the same tar) hide: each hidden copy once, the
visible copy never.

The verified handout of cached layers is :mod:`dockwright.inspect._cached_layers`; the reads after
the pass (os-release, late bytes) are :mod:`dockwright.inspect._late_reads`.

What this module does not do: catalog packages, compare images, or fetch from registries.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from dockwright.inspect._assemble import LayerStats, assemble
from dockwright.inspect._cached_layers import CachedLayers
from dockwright.inspect._image_source import ImageSource, LayerBlob
from dockwright.inspect._late_reads import (
    MAX_OS_RELEASE,
    OS_RELEASE,
    parse_os_release,
)
from dockwright.inspect._layer_cache import CachedLayer, EncodedLayer, LayerCache, Member, encode
from dockwright.inspect._layer_entries import (
    DEVICE,
    DIRECTORY,
    FILE,
    HARDLINK,
    INVALID_WHITEOUT,
    NOTHING,
    OPAQUE,
    SYMLINK,
    WHITEOUT,
    Entry,
    entry_of_header,
    entry_of_member,
    has_whiteouts,
    member_of,
    with_data,
)
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect._layer_workers import LayerEnd, LayerJob, LayerWorkers, read_member_data
from dockwright.inspect._merge import Inode, MergedTree, WarningLog
from dockwright.inspect._tarsafe import check_end, normalize_name, tar_errors
from dockwright.inspect._tarstream import TarHeader, TarReader, open_tar
from dockwright.inspect.model import FileKind, ImageContents
from dockwright.inspect.source import open_image

__all__ = ["LayerCache", "parse_os_release", "read_image"]

_MAX_HOLE_BYTES = 4 << 30  # zeros hashed for sparse files, per image
_PARALLEL_FROM = 2  # layers to read from blobs for the workers to pay off
_KINDS = {DIRECTORY: FileKind.DIR, SYMLINK: FileKind.SYMLINK, DEVICE: FileKind.OTHER}
_FILE_KIND = FileKind.FILE
_Streamed = tuple[TarReader, TarHeader]  # a member just read from its tar, its data next


def _nothing(path: str) -> bool:
    return False


def read_image(
    ref: str,
    *,
    platform: str | None = None,
    wanted: Callable[[str], bool] = _nothing,
    max_wanted_bytes: int = 256 << 20,
    hash_files: bool = True,
    cache: LayerCache | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> ImageContents:
    """Read an image's layers once and return its merged files, layers and wanted contents.

    Args:
        ref: ``oci:DIR[:TAG]``, ``docker-archive:FILE[:REF]`` or ``dir:ROOTFS``.
        platform: ``OS/ARCH[/VARIANT]`` for a multi-platform image.
        wanted: says, for a normalized path (``var/lib/dpkg/status``), whether to keep its bytes.
        max_wanted_bytes: the most bytes of wanted files kept in all; past it, files are left out
            with a ``wanted-limit`` warning.
        hash_files: compute each regular file's sha256 (``FileRecord.sha256``; ``""`` when off).
            Blob digests and diff_ids are checked either way.
        cache: where to keep and find layers' parsed forms (by blob digest); None reads every
            layer from its blob.
        meanwhile: work the caller needs next (loading a writer, building its tables), run on a
            thread while the layers are read, so that it uses the time this thread waits for
            decompression. It starts once the first layer read from its blob is being inflated
            (after the child process, if any, is forked), has finished when this returns, and
            its exceptions are dropped: the caller meets them again when it does that work itself.

    Returns:
        The image's contents (see :class:`~dockwright.inspect.model.ImageContents`).

    Raises:
        ImageReferenceError: the reference is malformed.
        InputError: the image cannot be found or chosen, or a manifest or layer is malformed.
        DigestMismatchError: a blob does not match its digest.
        UnsafeArchiveError: a layer holds headers built to exhaust memory.
    """
    with open_image(ref, platform=platform) as source:
        reading = _Reading(source, wanted, max_wanted_bytes, hash_files)
        cached: CachedLayers | None = None
        workers: LayerWorkers | None = None
        side: threading.Thread | None = None
        try:
            unread = [
                b.index for b in source.layers if cache is None or not (b.digest and cache.has(b.digest))
            ]
            if source.parallel_layers and len(unread) >= _PARALLEL_FROM:  # before any thread starts
                workers = LayerWorkers(
                    source,
                    unread,
                    wanted=wanted,
                    max_kept=max_wanted_bytes,
                    hash_files=hash_files,
                    cache=cache,
                )
            if cache is not None:
                cached = CachedLayers(
                    source, cache, hash_files, [b.index for b in source.layers if b.index not in unread]
                )
            if not unread:  # all from the cache: nothing to wait for, start it now
                side = _side_thread(meanwhile)
            from_child: list[LayerJob] = []  # their cache entries, stored by the child or below
            for blob in source.layers:
                hit = cached.take(blob) if cached is not None else None
                if hit is not None:
                    reading.replay_layer(blob, hit)
                    continue
                record = cache is not None and bool(blob.digest)
                job = workers.take(blob.index) if workers is not None else None
                if job is not None:
                    reading.apply_job(blob, job)
                    if record:
                        from_child.append(job)
                    continue
                with source.open_layer(blob.index) as stream:
                    # Without file hashes the reader waits on the thread: hashing blob and tar here helps.
                    stream.hash_in_thread = hash_files
                    if side is None:  # once the first stream inflates: not to delay its start
                        stream.start()
                        side = _side_thread(meanwhile)
                    layer = reading.read_layer(blob, stream, record=record)
                if cache is not None and layer is not None:
                    cache.store(layer)
            if cache is not None:
                for job in from_child:
                    job.store(cache)
            return reading.result()
        finally:
            if side is not None:
                side.join()
            if workers is not None:
                workers.close()
            if cached is not None:
                cached.close()


def _side_thread(work: Callable[[], object] | None) -> threading.Thread | None:
    """Start ``work`` on a daemon thread, dropping its exceptions (``read_image``'s ``meanwhile``)."""
    if work is None:
        return None

    def run() -> None:
        with contextlib.suppress(Exception):
            work()

    thread = threading.Thread(target=run, name="dockwright-meanwhile", daemon=True)
    thread.start()
    return thread


class _Recording:
    """A layer's members and kept bytes as it streams, for the cache."""

    __slots__ = ("contents", "members", "ok")

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.contents: list[bytes] = []
        self.ok = True  # False: the layer cannot be cached (a sparse file)

    def add(self, entry: Entry, info: TarHeader, data: tuple[str, bytes | None] | None) -> None:
        """Record a member, with the hash and kept bytes of its data if it was read."""
        if data is not None:
            entry = with_data(entry, *data)
            if data[1] is not None:
                self.contents.append(data[1])
        self.members.append(member_of(entry))
        if info.sparse is not None:
            self.ok = False


class _Reading:
    """The state of one read: the merged tree, versions of wanted files, per-layer counts."""

    def __init__(
        self, source: ImageSource, wanted: Callable[[str], bool], budget: int, hash_files: bool
    ) -> None:
        self.source = source
        self.wanted = wanted
        self.max_wanted = budget
        self.budget = budget
        self.hash_files = hash_files
        self.log = WarningLog()
        self.tree = MergedTree(self.log)
        self.versions: dict[str, list[tuple[int, Inode | None]]] = {}
        self.stats: list[LayerStats] = []
        self.holes = _MAX_HOLE_BYTES
        self._recording: _Recording | None = None
        self._data: tuple[str, bytes | None] | None = None  # the hash and bytes of this member's data

    # One layer -----------------------------------------------------------------------------------

    def read_layer(
        self, blob: LayerBlob, stream: LayerStream, *, record: bool = False
    ) -> EncodedLayer | None:
        """Apply one layer's tar to the merged tree, then check the stream's digests.

        Returns:
            With ``record``, the layer's entry for the cache (None if it cannot be cached).
        """
        stats = LayerStats(blob)
        self.tree.begin_layer(blob.index)
        recording = self._recording = _Recording() if record else None
        end = "none"
        try:
            with tar_errors(blob, stream):
                tar = open_tar(stream)
                ordinal = 0
                while tar is not None and (info := tar.next()) is not None:
                    entry = entry_of_header(info, self.wanted)
                    self._data = None
                    self._apply(entry, ordinal, stats, (tar, info))
                    if recording is not None:
                        recording.add(entry, info, self._data)
                    ordinal += 1
                if tar is not None:
                    check_end(tar)
                    if tar.end == "empty":
                        self._no_end_marker(blob)
                    end = tar.end
                stream.finish()
        finally:
            self._recording = None
        ended = LayerEnd(end, stream.blob_digest, stream.diff_id, stream.blob_size, stream.size)
        if recording is None or not recording.ok:
            return self._end_layer(blob, stats, ended, None)
        return self._end_layer(blob, stats, ended, (recording.members, b"".join(recording.contents)))

    def apply_job(self, blob: LayerBlob, job: LayerJob) -> None:
        """Apply the entries the child process read from one layer, as :meth:`read_layer` applies
        its tar (the child checked the blob's digests; :meth:`LayerJob.store` caches them)."""
        stats = LayerStats(blob)
        self._apply_entries(job.entries, stats)
        if job.end.end == "empty":
            self._no_end_marker(blob)
        self._end_layer(blob, stats, job.end, None)

    def _end_layer(
        self, blob: LayerBlob, stats: LayerStats, end: LayerEnd, recorded: tuple[list[Member], bytes] | None
    ) -> EncodedLayer | None:
        """Account a layer read to its verified end; its cache entry when its members were recorded."""
        stats.digest = blob.digest or end.digest
        stats.diff_id = blob.diff_id or end.diff_id
        stats.size, stats.uncompressed_size = end.size, end.uncompressed_size
        self.stats.append(stats)
        if recorded is None:
            return None
        members, contents = recorded
        layer = CachedLayer(
            digest=stats.digest,
            diff_id=end.diff_id,
            size=stats.size,
            uncompressed_size=stats.uncompressed_size,
            hashed=self.hash_files,
            end=end.end,
            members=members,
            contents=contents,
        )
        return encode(layer)

    def _apply_entries(self, entries: list[Entry], stats: LayerStats) -> None:
        """Apply a whole layer's entries (their data read before), in order."""
        self.tree.begin_layer(stats.blob.index, deletions=has_whiteouts(entries))
        for ordinal, entry in enumerate(entries):
            self._apply(entry, ordinal, stats, None)

    def replay_layer(self, blob: LayerBlob, layer: CachedLayer) -> None:
        """Apply a layer's cached form (its blob verified) exactly as its tar would be applied."""
        stats = LayerStats(blob)
        contents = layer.contents
        position = 0
        entries: list[Entry] = []
        for member in layer.members:
            kept = member[8]
            content = None
            if kept >= 0:
                content = bytes(contents[position : position + kept])
                position += kept
            entries.append(entry_of_member(member, content, self.wanted))
        self._apply_entries(entries, stats)
        if layer.end == "empty":
            self._no_end_marker(blob)
        stats.digest = blob.digest or layer.digest
        stats.diff_id = blob.diff_id or layer.diff_id
        stats.size, stats.uncompressed_size = layer.size, layer.uncompressed_size
        self.stats.append(stats)

    def _no_end_marker(self, blob: LayerBlob) -> None:
        self.log.add("no-end-marker", f"{blob.what} ends without the tar end-of-archive marker")

    # One member ----------------------------------------------------------------------------------

    def _apply(self, entry: Entry, ordinal: int, stats: LayerStats, streamed: _Streamed | None) -> None:
        """Apply one member: ``streamed`` when it was just read from its tar (its data comes next),
        None when its data was read before (a cached form, the child's)."""
        action, path, issue = entry[0], entry[2], entry[3]
        if issue:
            self.log.add(issue, f"{stats.blob.what}: member {entry[1]!r} read as {path or '/'}", path)
        if action == FILE:
            stats.files += 1
            self._file(entry, ordinal, stats, streamed)
        elif action == HARDLINK:
            stats.files += 1
            self._hardlink(entry)
        elif action in (DIRECTORY, SYMLINK, DEVICE):
            stats.files += 1
            real = self.tree.place(path)
            if real is not None:
                _, _, _, _, _, _, mode, uid, gid, link, _, _, _ = entry
                link = link if action == SYMLINK else ""
                self.tree.put(real, _KINDS[action], mode=mode, uid=uid, gid=gid, link=link)
        elif action != NOTHING:
            self._other(entry, stats)
        if self.tree.removed_watched:
            self._note_removed()

    def _other(self, entry: Entry, stats: LayerStats) -> None:
        """A whiteout, an opaque marker, or a member dockwright skips with a warning."""
        action, _, path, _, kind, *_ = entry
        parent, _, base = path.rpartition("/")
        if action == OPAQUE:
            stats.deleted += 1
            self.tree.opaque(parent)
        elif action == WHITEOUT:
            stats.deleted += 1
            self.tree.whiteout(parent, base[4:])
        elif action == INVALID_WHITEOUT:
            self.log.add("invalid-whiteout", f"whiteout {path} names no file; ignored", path)
        else:
            flag = kind.encode("latin-1")
            self.log.add("unknown-type", f"{path} has unknown tar type {flag!r}; skipped", path)

    def _file(self, entry: Entry, ordinal: int, stats: LayerStats, streamed: _Streamed | None) -> None:
        _, _, path, _, _, size, mode, uid, gid, _, sha, content, wanted = entry
        real = self.tree.place(path)
        if real is None:
            if streamed is not None:
                self._unplaced(*streamed)
            return
        is_wanted = wanted if real == path else self.wanted(real)
        # an os-release file is kept for the distro, wanted or not
        keep = self._may_keep(real, size) if is_wanted else real in OS_RELEASE and size <= MAX_OS_RELEASE
        fetch = False
        if streamed is not None:
            sha, content = self._data = self._read_data(*streamed, real, keep)
        else:
            if not self.hash_files:
                sha = ""
            if not keep:
                content = None
            fetch = keep and content is None  # not in the cached form: read the layer again later
        tree = self.tree
        inode = Inode(tree.layer, ordinal, size, sha, content, fetch)
        stats.files_bytes += size
        tree.put(real, _FILE_KIND, mode=mode, uid=uid, gid=gid, inode=inode)
        if is_wanted:
            self._note_removed()
            tree.watched.add(real)
            if content is not None or fetch:
                self._version(real, inode)

    def _unplaced(self, tar: TarReader, info: TarHeader) -> None:
        """A regular file that lands nowhere (under a non-directory): hashed anyway when recording,
        since below another image's layers it may land, and a cached form needs every hash."""
        if self._recording is not None and self.hash_files:
            sha, _ = self._read_data(tar, info, info.name, False)
            self._data = (sha, None)

    def _hardlink(self, entry: Entry) -> None:
        _, _, path, _, _, _, mode, uid, gid, link, _, _, wanted = entry
        real = self.tree.place(path)
        if real is None:
            return
        target, issue = normalize_name(link)
        if issue:
            self.log.add(issue, f"hard link {path} to {link!r} read as {target or '/'}", path)
        inode = self.tree.put_hardlink(real, target, mode=mode, uid=uid, gid=gid)
        self._note_removed()
        if inode is None or not (wanted if real == path else self.wanted(real)):
            return
        self.tree.watched.add(real)
        if inode.content is None and not inode.fetch:
            if not self._may_keep(real, inode.size):
                return
            inode.fetch = True  # its bytes were not kept: read that layer again after the pass
        self._version(real, inode)

    def _may_keep(self, path: str, size: int) -> bool:
        """Whether the bytes of wanted ``path`` fit in what is left of the budget (taken if so)."""
        if size <= self.budget:
            self.budget -= size
            return True
        self.log.add(
            "wanted-limit",
            f"{path} ({size} bytes) not kept: wanted contents are limited to {self.max_wanted} bytes",
            path,
        )
        return False

    def _read_data(
        self, tar: TarReader, info: TarHeader, path: str, keep: bool, *, hash_data: bool | None = None
    ) -> tuple[str, bytes | None]:
        """Hash a member's data (unless files are not hashed) and return it when ``keep``."""
        if info.sparse is not None:
            holes = max(0, info.size - sum(n for _, n in info.sparse))
            if holes > self.holes:
                self.log.add("sparse-not-hashed", f"{path} has {holes} bytes of holes; not hashed", path)
                return "", None
            self.holes -= holes
        return read_member_data(tar, info, self.hash_files if hash_data is None else hash_data, keep)

    def _note_removed(self) -> None:
        removed = self.tree.removed_watched
        if removed:
            for path in removed:
                self._version(path, None)
            removed.clear()

    def _version(self, path: str, inode: Inode | None) -> None:
        entries = self.versions.setdefault(path, [])
        if entries and entries[-1][0] == self.tree.layer:
            entries[-1] = (self.tree.layer, inode)
        else:
            entries.append((self.tree.layer, inode))

    def result(self) -> ImageContents:
        """Finish (late reads, os-release) and assemble the contents."""
        return assemble(self.source, self.tree, self.log, self.versions, self.stats, self._read_data)
