"""Read an image in one streaming pass: merged files, layer accounting, wanted contents, os-release.

:func:`read_image` opens the image (:mod:`dockwright.inspect.source`), then reads each layer's tar
as a stream (never extracted, never touching the host filesystem) with the parser of
:mod:`dockwright.inspect._tarstream`, hashing every regular file in 1 MiB chunks (unless
``hash_files`` is off) and applying it to the merged filesystem (:mod:`dockwright.inspect._merge`,
which follows the OCI whiteout rules). Only the bytes of files ``wanted(path)`` selects are kept, up
to ``max_wanted_bytes`` in all, so memory depends on the number of paths, never on file sizes.
Every blob is checked against its digest and every tar against its diff_id whether or not files
are hashed.

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

import hashlib
import tarfile
from collections.abc import Callable
from dataclasses import dataclass

from dockwright.inspect._cached_layers import CachedLayers
from dockwright.inspect._image_source import ImageSource, LayerBlob
from dockwright.inspect._late_reads import (
    MAX_OS_RELEASE,
    OS_RELEASE,
    fetch_late,
    os_release_inode,
    parse_os_release,
)
from dockwright.inspect._layer_cache import CachedLayer, LayerCache, Member
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect._merge import Inode, MergedTree, WarningLog
from dockwright.inspect._tarsafe import normalize_name, tar_errors
from dockwright.inspect._tarstream import TarHeader, TarReader, open_tar
from dockwright.inspect.model import FileKind, ImageContents, LayerRecord
from dockwright.inspect.source import open_image

__all__ = ["LayerCache", "parse_os_release", "read_image"]

_MAX_HOLE_BYTES = 4 << 30  # zeros hashed for sparse files, per image
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
        try:
            if cache is not None:
                cached = CachedLayers(source, cache, hash_files)
            for blob in source.layers:
                hit = cached.take(blob) if cached is not None else None
                if hit is not None:
                    reading.replay_layer(blob, hit)
                    continue
                record = cache is not None and bool(blob.digest)
                with source.open_layer(blob.index) as stream:
                    # Without file hashes the reader waits on the thread: hashing the tar here helps.
                    stream.hash_in_thread = hash_files
                    layer = reading.read_layer(blob, stream, record=record)
                if cache is not None and layer is not None:
                    cache.store(layer)
            return reading.result()
        finally:
            if cached is not None:
                cached.close()


@dataclass(slots=True)
class _Stats:
    blob: LayerBlob
    files: int = 0
    files_bytes: int = 0
    deleted: int = 0
    digest: str = ""
    diff_id: str = ""
    size: int = 0
    uncompressed_size: int = 0


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
        self.stats: list[_Stats] = []
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
        stats = _Stats(blob)
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
                    self._check_end(tar, blob)
                    end = tar.end
                stream.finish()
        finally:
            self._recording = None
        stats.digest = blob.digest or stream.blob_digest
        stats.diff_id = blob.diff_id or stream.diff_id
        stats.size, stats.uncompressed_size = stream.blob_size, stream.size
        self.stats.append(stats)
        if recording is None or not recording.ok:
            return None
        return CachedLayer(
            digest=stats.digest,
            diff_id=stream.diff_id,
            size=stats.size,
            uncompressed_size=stats.uncompressed_size,
            hashed=self.hash_files,
            end=end,
            members=recording.members,
            contents=b"".join(recording.contents),
        )

    def replay_layer(self, blob: LayerBlob, layer: CachedLayer) -> None:
        """Apply a layer's cached form (its blob verified) exactly as its tar would be applied."""
        stats = _Stats(blob)
        self.tree.begin_layer(blob.index)
        replay = self._replay = _Replay()
        contents = layer.contents
        position = 0
        try:
            for ordinal, (name, kind, size, mode, uid, gid, link, sha, kept) in enumerate(layer.members):
                info = TarHeader()
                info.name, info.type, info.size = name, kind.encode("latin-1"), size
                info.mode, info.uid, info.gid, info.linkname = mode, uid, gid, link
                replay.sha256 = sha if self.hash_files else ""
                if kept >= 0:
                    replay.content = bytes(contents[position : position + kept])
                    position += kept
                else:
                    replay.content = None
                self._member(None, info, ordinal, stats)
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

    def _check_end(self, tar: TarReader, blob: LayerBlob) -> None:
        if tar.end == "empty":
            self._no_end_marker(blob)
        elif tar.end == "truncated":
            raise tarfile.ReadError(f"unexpected end of data inside a header at offset {tar.offset}")
        elif tar.end == "invalid":
            raise tarfile.ReadError(f"corrupt header at offset {tar.offset} ({tar.end_reason})")

    def _member(self, tar: TarReader | None, info: TarHeader, ordinal: int, stats: _Stats) -> None:
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

    def _whiteout(self, parent: str, base: str, path: str, stats: _Stats) -> None:
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

    def _file(self, tar: TarReader | None, info: TarHeader, path: str, ordinal: int, stats: _Stats) -> None:
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
        hashing = self.hash_files if hash_data is None else hash_data
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
        os_inode = os_release_inode(self.tree, self.log)
        fetch_late(self.source, self.tree, self.versions, self._read_data)
        self.log.extend(self.source.warnings)
        os_release = {}
        if os_inode is not None and os_inode.content is not None:
            os_release = parse_os_release(os_inode.content.decode("utf-8", "replace"))
        contents = {}
        for path in sorted(self.tree.watched):
            inode = self.tree.nodes[path].inode
            if inode is not None and inode.content is not None:
                contents[path] = inode.content
        versions = {
            path: tuple((layer, inode.content if inode is not None else None) for layer, inode in entries)
            for path, entries in sorted(self.versions.items())
        }
        layers = tuple(
            LayerRecord(
                index=s.blob.index,
                digest=s.digest,
                diff_id=s.diff_id,
                size=s.size,
                uncompressed_size=s.uncompressed_size,
                created_by=s.blob.created_by,
                files=s.files,
                files_bytes=s.files_bytes,
                deleted=s.deleted,
                overwritten_bytes=self.tree.overwritten[s.blob.index],
            )
            for s in self.stats
        )
        return ImageContents(
            reference=self.source.reference,
            manifest_digest=self.source.manifest_digest,
            config=self.source.config,
            layers=layers,
            files=self.tree.records(),
            contents=contents,
            versions=versions,
            warnings=self.log.result(),
            os_release=os_release,
        )
