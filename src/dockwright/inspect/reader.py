"""Read an image in one streaming pass: merged files, layer accounting, wanted contents, os-release.

:func:`read_image` opens the image (:mod:`dockwright.inspect.source`), then reads each layer's tar
as a stream (never extracted, never touching the host filesystem) with the parser of
:mod:`dockwright.inspect._tarstream`, hashing every regular file in 1 MiB chunks (unless
``hash_files`` is off) and applying it to the merged filesystem (:mod:`dockwright.inspect._merge`,
which follows the OCI whiteout rules). Only the bytes of files ``wanted(path)`` selects are kept, up
to ``max_wanted_bytes`` in all, so memory depends on the number of paths, never on file sizes.
Every blob is checked against its digest and every tar against its diff_id whether or not files
are hashed.

When the source can open layers concurrently (a layout's blobs) and two or more layers must be
read, :mod:`dockwright.inspect._layer_workers` reads the later ones (about half the bytes) in a
child process while this process reads the first ones; their members are then applied here in
layer order through the code that replays a cached layer, so on two cores the layers are
decompressed side by side, with the same result (and anything the child could not read is read
here, as without it).

With a :class:`~dockwright.inspect._layer_cache.LayerCache`, a layer read this way is stored in
its parsed form under its blob digest, and a later read replays that form instead of decompressing
the layer, after hashing the blob it finds (no decompression) and checking that it still has that
digest, and that the config's diff_id is the one the cached tar had. The result is the same either
way: the replay goes through the same code as a streamed tar.

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

import tarfile
from collections.abc import Callable

from dockwright.inspect._assemble import LayerStats, assemble
from dockwright.inspect._cached_layers import CachedLayers
from dockwright.inspect._image_source import ImageSource, LayerBlob
from dockwright.inspect._late_reads import (
    MAX_OS_RELEASE,
    OS_RELEASE,
    parse_os_release,
)
from dockwright.inspect._layer_cache import CachedLayer, LayerCache, Member
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect._layer_workers import LayerEnd, LayerJob, LayerWorkers, Record, read_member_data
from dockwright.inspect._merge import Inode, MergedTree, WarningLog
from dockwright.inspect._tarsafe import check_end, normalize_name, tar_errors
from dockwright.inspect._tarstream import TarHeader, TarReader, open_tar
from dockwright.inspect.model import FileKind, ImageContents
from dockwright.inspect.source import open_image

__all__ = ["LayerCache", "parse_os_release", "read_image"]

_MAX_HOLE_BYTES = 4 << 30  # zeros hashed for sparse files, per image
_PARALLEL_FROM = 2  # layers to read from blobs for the workers to pay off
_OPAQUE = ".wh..wh..opq"
_AUFS_META = ".wh..wh."
_KINDS = {
    tarfile.DIRTYPE: FileKind.DIR,
    tarfile.SYMTYPE: FileKind.SYMLINK,
    tarfile.CHRTYPE: FileKind.OTHER,
    tarfile.BLKTYPE: FileKind.OTHER,
    tarfile.FIFOTYPE: FileKind.OTHER,
}


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
        try:
            unread = [
                b.index for b in source.layers if cache is None or not (b.digest and cache.has(b.digest))
            ]
            if source.parallel_layers and len(unread) >= _PARALLEL_FROM:  # before any thread starts
                workers = LayerWorkers(
                    source, unread, wanted=wanted, max_kept=max_wanted_bytes, hash_files=hash_files
                )
            if cache is not None:
                cached = CachedLayers(source, cache, hash_files)
            for blob in source.layers:
                hit = cached.take(blob) if cached is not None else None
                if hit is not None:
                    reading.replay_layer(blob, hit)
                    continue
                record = cache is not None and bool(blob.digest)
                job = workers.take(blob.index) if workers is not None else None
                if job is not None:
                    layer = reading.apply_job(blob, job, record=record)
                else:
                    with source.open_layer(blob.index) as stream:
                        # Without file hashes the reader waits on the thread: hashing the tar here helps.
                        stream.hash_in_thread = hash_files
                        layer = reading.read_layer(blob, stream, record=record)
                if cache is not None and layer is not None:
                    cache.store(layer)
            return reading.result()
        finally:
            if workers is not None:
                workers.close()
            if cached is not None:
                cached.close()


class _Recording:
    """A layer's members and kept bytes as it streams, for the cache."""

    __slots__ = ("contents", "members", "ok")

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.contents: list[bytes] = []
        self.ok = True  # False: the layer cannot be cached (a sparse file)


class _Replay:
    """Where a replayed member's hash and kept bytes come from: the cached form."""

    __slots__ = ("content", "sha256")

    def __init__(self) -> None:
        self.sha256 = ""
        self.content: bytes | None = None


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
        self._recorded: tuple[str, bytes | None] | None = None  # the hash and bytes of this member
        self._replay: _Replay | None = None

    # One layer -----------------------------------------------------------------------------------

    def read_layer(self, blob: LayerBlob, stream: LayerStream, *, record: bool = False) -> CachedLayer | None:
        """Apply one layer's tar to the merged tree, then check the stream's digests.

        Returns:
            With ``record``, the layer's parsed form for the cache (None if it cannot be cached).
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
                    self._member(tar, info, ordinal, stats)
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

    def apply_job(self, blob: LayerBlob, job: LayerJob, *, record: bool) -> CachedLayer | None:
        """Apply the members the child process read from one layer, as :meth:`read_layer` applies
        its tar (the child checked the blob's digests).

        Returns:
            With ``record``, the layer's parsed form for the cache.
        """
        stats = LayerStats(blob)
        self.tree.begin_layer(blob.index)
        self._replay = _Replay()
        try:
            self._apply_records(job.records, stats)
        finally:
            self._replay = None
        if job.end.end == "empty":
            self._no_end_marker(blob)
        if not record:
            return self._end_layer(blob, stats, job.end, None)
        members = [member for member, _ in job.records]
        contents = b"".join(content for _, content in job.records if content is not None)
        return self._end_layer(blob, stats, job.end, (members, contents))

    def _end_layer(
        self, blob: LayerBlob, stats: LayerStats, end: LayerEnd, recorded: tuple[list[Member], bytes] | None
    ) -> CachedLayer | None:
        """Account a layer read to its verified end; its cached form when its members were recorded."""
        stats.digest = blob.digest or end.digest
        stats.diff_id = blob.diff_id or end.diff_id
        stats.size, stats.uncompressed_size = end.size, end.uncompressed_size
        self.stats.append(stats)
        if recorded is None:
            return None
        members, contents = recorded
        return CachedLayer(
            digest=stats.digest,
            diff_id=end.diff_id,
            size=stats.size,
            uncompressed_size=stats.uncompressed_size,
            hashed=self.hash_files,
            end=end.end,
            members=members,
            contents=contents,
        )

    def _apply_records(self, records: list[Record], stats: LayerStats) -> None:
        """Apply a layer's members from their rows (with the bytes kept for them), in order."""
        replay = self._replay
        assert replay is not None
        for ordinal, ((name, kind, size, mode, uid, gid, link, sha, _), content) in enumerate(records):
            info = TarHeader()
            info.name, info.type, info.size = name, kind.encode("latin-1"), size
            info.mode, info.uid, info.gid, info.linkname = mode, uid, gid, link
            replay.sha256 = sha if self.hash_files else ""
            replay.content = content
            self._member(None, info, ordinal, stats)

    def replay_layer(self, blob: LayerBlob, layer: CachedLayer) -> None:
        """Apply a layer's cached form (its blob verified) exactly as its tar would be applied."""
        stats = LayerStats(blob)
        self.tree.begin_layer(blob.index)
        self._replay = _Replay()
        contents = layer.contents
        position = 0
        records: list[Record] = []
        for member in layer.members:
            kept = member[8]
            if kept >= 0:
                records.append((member, bytes(contents[position : position + kept])))
                position += kept
            else:
                records.append((member, None))
        try:
            self._apply_records(records, stats)
        finally:
            self._replay = None
        if layer.end == "empty":
            self._no_end_marker(blob)
        stats.digest = blob.digest or layer.digest
        stats.diff_id = blob.diff_id or layer.diff_id
        stats.size, stats.uncompressed_size = layer.size, layer.uncompressed_size
        self.stats.append(stats)

    def _no_end_marker(self, blob: LayerBlob) -> None:
        self.log.add("no-end-marker", f"{blob.what} ends without the tar end-of-archive marker")

    def _member(self, tar: TarReader | None, info: TarHeader, ordinal: int, stats: LayerStats) -> None:
        recording = self._recording
        if recording is not None:
            row_at = len(recording.members)
            recording.members.append(
                (info.name, info.type.decode("latin-1"), info.size, info.mode, info.uid, info.gid,
                 info.linkname, "", -1)
            )  # fmt: skip
            if info.sparse is not None:
                recording.ok = False
        path, issue = normalize_name(info.name)
        if issue:
            self.log.add(issue, f"{stats.blob.what}: member {info.name!r} read as {path or '/'}", path)
        if not path or path.startswith(_AUFS_META):
            return  # the root directory itself, or aufs bookkeeping (.wh..wh.plnk/...)
        parent, _, base = path.rpartition("/")
        if base.startswith(".wh."):
            self._whiteout(parent, base, path, stats)
        elif info.isreg():
            stats.files += 1
            self._file(tar, info, path, ordinal, stats)
        elif info.islnk():
            stats.files += 1
            self._hardlink(info, path)
        elif info.type in _KINDS:
            stats.files += 1
            real = self.tree.place(path)
            if real is not None:
                link = info.linkname if info.issym() else ""
                self.tree.put(real, _KINDS[info.type], mode=info.mode, uid=info.uid, gid=info.gid, link=link)
        else:
            self.log.add("unknown-type", f"{path} has unknown tar type {info.type!r}; skipped", path)
        self._note_removed()
        if recording is not None and self._recorded is not None:
            sha, kept = self._recorded
            self._recorded = None
            row = recording.members[row_at]
            recording.members[row_at] = (*row[:7], sha, len(kept) if kept is not None else -1)
            if kept is not None:
                recording.contents.append(kept)

    def _unplaced(self, tar: TarReader | None, info: TarHeader) -> None:
        """A regular file that lands nowhere (under a non-directory): hashed anyway when recording,
        since below another image's layers it may land, and a cached form needs every hash."""
        if self._recording is not None and tar is not None and info.isreg() and self.hash_files:
            sha, _ = self._read_data(tar, info, info.name, False)
            self._recorded = (sha, None)

    def _whiteout(self, parent: str, base: str, path: str, stats: LayerStats) -> None:
        if base == _OPAQUE:
            stats.deleted += 1
            self.tree.opaque(parent)
        elif base.startswith(_AUFS_META):
            return  # aufs bookkeeping, not a deletion
        elif base[4:] in ("", ".", ".."):
            self.log.add("invalid-whiteout", f"whiteout {path} names no file; ignored", path)
        else:
            stats.deleted += 1
            self.tree.whiteout(parent, base[4:])

    def _file(
        self, tar: TarReader | None, info: TarHeader, path: str, ordinal: int, stats: LayerStats
    ) -> None:
        real = self.tree.place(path)
        if real is None:
            self._unplaced(tar, info)
            return
        is_wanted = self.wanted(real)
        keep = self._may_keep(real, info.size, is_wanted)
        fetch = False
        if tar is not None:
            sha, content = self._read_data(tar, info, real, keep)
            if self._recording is not None:
                self._recorded = (sha, content)
        else:
            assert self._replay is not None
            sha, content = self._replay.sha256, self._replay.content if keep else None
            fetch = keep and content is None  # not in the cached form: read the layer again later
        inode = Inode(layer=self.tree.layer, ordinal=ordinal, size=info.size, sha256=sha)
        inode.content = content
        inode.fetch = fetch
        stats.files_bytes += info.size
        self.tree.put(real, FileKind.FILE, mode=info.mode, uid=info.uid, gid=info.gid, inode=inode)
        self._note_removed()
        if is_wanted:
            self.tree.watched.add(real)
            if content is not None or fetch:
                self._version(real, inode)

    def _hardlink(self, info: TarHeader, path: str) -> None:
        real = self.tree.place(path)
        if real is None:
            return
        target, issue = normalize_name(info.linkname)
        if issue:
            self.log.add(issue, f"hard link {path} to {info.linkname!r} read as {target or '/'}", path)
        inode = self.tree.put_hardlink(real, target, mode=info.mode, uid=info.uid, gid=info.gid)
        self._note_removed()
        if inode is None or not self.wanted(real):
            return
        self.tree.watched.add(real)
        if inode.content is None and not inode.fetch:
            if not self._may_keep(real, inode.size, True):
                return
            inode.fetch = True  # its bytes were not kept: read that layer again after the pass
        self._version(real, inode)

    def _may_keep(self, path: str, size: int, is_wanted: bool) -> bool:
        if not is_wanted:
            return path in OS_RELEASE and size <= MAX_OS_RELEASE
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
        for path in self.tree.removed_watched:
            self._version(path, None)
        self.tree.removed_watched.clear()

    def _version(self, path: str, inode: Inode | None) -> None:
        entries = self.versions.setdefault(path, [])
        if entries and entries[-1][0] == self.tree.layer:
            entries[-1] = (self.tree.layer, inode)
        else:
            entries.append((self.tree.layer, inode))

    def result(self) -> ImageContents:
        """Finish (late reads, os-release) and assemble the contents."""
        return assemble(self.source, self.tree, self.log, self.versions, self.stats, self._read_data)
