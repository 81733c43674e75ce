"""Read an image in one streaming pass: merged files, layer accounting, wanted contents, os-release.

:func:`read_image` opens the image (:mod:`dockwright.inspect.source`), then reads each layer's tar
as a stream (never extracted, never touching the host filesystem), hashing every regular file in
1 MiB chunks and applying it to the merged filesystem (:mod:`dockwright.inspect._merge`, which
follows the OCI whiteout rules). Only the bytes of files ``wanted(path)`` selects are kept, up to
``max_wanted_bytes`` in all, so memory depends on the number of paths, never on file sizes.

A wanted file that is a hard link to a file whose bytes were not kept is read again from its layer
after the pass (rare: a second read of that one layer). ``/etc/os-release`` is resolved through the
image's symlinks (falling back to ``/usr/lib/os-release``) and parsed into ``os_release``.

Hostile or broken input gives an error or a result marked by warnings, never a crash:

* errors: a blob that does not match its digest (:class:`~dockwright.errors.DigestMismatchError`);
  a layer that is not a tar, is truncated, or has a corrupt header
  (:class:`~dockwright.errors.InputError`); headers built to exhaust memory
  (:class:`~dockwright.errors.UnsafeArchiveError`);
* warnings (``Warning_.code``): ``absolute-path`` and ``path-traversal`` (a member name was
  normalized and clamped at the root), ``symlink-loop``, ``parent-not-dir`` (the entry was
  skipped), ``hardlink-missing-target``, ``hardlink-to-dir``, ``hardlink-to-self``,
  ``invalid-whiteout``, ``unknown-type``, ``no-end-marker`` (a layer without the tar trailer),
  ``sparse-not-hashed`` (over 4 GiB of holes: ``sha256`` left empty), ``wanted-limit`` (contents
  are partial), ``os-release-unresolved``; for ``dir:`` also ``other-filesystem``, ``unreadable``,
  ``socket-skipped`` and ``file-changed``.

Layer accounting: ``files`` counts the entries a layer writes (whiteouts excluded), ``deleted`` its
whiteout entries (``.wh.NAME`` and opaque markers), ``overwritten_bytes`` the bytes of regular files
it shipped that later layers (or later duplicates in the same tar) hide: each hidden copy once, the
visible copy never.

What this module does not do: catalog packages, compare images, or fetch from registries.
"""

from __future__ import annotations

import hashlib
import shlex
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from dockwright.errors import DigestMismatchError
from dockwright.inspect._image_source import ImageSource, LayerBlob
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect._merge import Inode, MergedTree, SymlinkLoopError, WarningLog
from dockwright.inspect._tarsafe import LayerTar, member_chunks, normalize_name, open_layer_tar, tar_errors
from dockwright.inspect.model import FileKind, ImageContents, LayerRecord
from dockwright.inspect.source import open_image

__all__ = ["parse_os_release", "read_image"]

_MAX_HOLE_BYTES = 4 << 30  # zeros hashed for sparse files, per image
_OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_MAX_OS_RELEASE = 64 << 10
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
) -> ImageContents:
    """Read an image's layers once and return its merged files, layers and wanted contents.

    Args:
        ref: ``oci:DIR[:TAG]``, ``docker-archive:FILE[:REF]`` or ``dir:ROOTFS``.
        platform: ``OS/ARCH[/VARIANT]`` for a multi-platform image.
        wanted: says, for a normalized path (``var/lib/dpkg/status``), whether to keep its bytes.
        max_wanted_bytes: the most bytes of wanted files kept in all; past it, files are left out
            with a ``wanted-limit`` warning.

    Returns:
        The image's contents (see :class:`~dockwright.inspect.model.ImageContents`).

    Raises:
        ImageReferenceError: the reference is malformed.
        InputError: the image cannot be found or chosen, or a manifest or layer is malformed.
        DigestMismatchError: a blob does not match its digest.
        UnsafeArchiveError: a layer holds headers built to exhaust memory.
    """
    with open_image(ref, platform=platform) as source:
        reading = _Reading(source, wanted, max_wanted_bytes)
        for blob in source.layers:
            with source.open_layer(blob.index) as stream:
                reading.read_layer(blob, stream)
        return reading.result()


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


class _Reading:
    """The state of one read: the merged tree, versions of wanted files, per-layer counts."""

    def __init__(self, source: ImageSource, wanted: Callable[[str], bool], budget: int) -> None:
        self.source = source
        self.wanted = wanted
        self.max_wanted = budget
        self.budget = budget
        self.log = WarningLog()
        self.tree = MergedTree(self.log)
        self.versions: dict[str, list[tuple[int, Inode | None]]] = {}
        self.stats: list[_Stats] = []
        self.holes = _MAX_HOLE_BYTES

    # One layer -----------------------------------------------------------------------------------

    def read_layer(self, blob: LayerBlob, stream: LayerStream) -> None:
        """Apply one layer's tar to the merged tree, then check the stream's digests."""
        stats = _Stats(blob)
        self.tree.begin_layer(blob.index)
        with tar_errors(blob, stream):
            tar = open_layer_tar(stream)
            ordinal = 0
            while tar is not None and (info := tar.next()) is not None:
                self._member(tar, info, ordinal, stats)
                ordinal += 1
            if tar is not None:
                self._check_end(tar, blob)
            stream.finish()
        stats.digest = blob.digest or stream.blob_digest
        stats.diff_id = blob.diff_id or stream.diff_id
        stats.size, stats.uncompressed_size = stream.blob_size, stream.size
        self.stats.append(stats)

    def _check_end(self, tar: LayerTar, blob: LayerBlob) -> None:
        if tar.end == "empty":
            self.log.add("no-end-marker", f"{blob.what} ends without the tar end-of-archive marker")
        elif tar.end == "truncated":
            raise tarfile.ReadError(f"unexpected end of data inside a header at offset {tar.offset}")
        elif tar.end == "invalid":
            raise tarfile.ReadError(f"corrupt header at offset {tar.offset} (bad checksum)")

    def _member(self, tar: LayerTar, info: tarfile.TarInfo, ordinal: int, stats: _Stats) -> None:
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

    def _file(self, tar: LayerTar, info: tarfile.TarInfo, path: str, ordinal: int, stats: _Stats) -> None:
        real = self.tree.place(path)
        if real is None:
            return
        is_wanted = self.wanted(real)
        keep = self._may_keep(real, info.size, is_wanted)
        sha, content = self._read_data(tar, info, real, keep)
        inode = Inode(layer=self.tree.layer, ordinal=ordinal, size=info.size, sha256=sha)
        inode.content = content
        stats.files_bytes += info.size
        self.tree.put(real, FileKind.FILE, mode=info.mode, uid=info.uid, gid=info.gid, inode=inode)
        self._note_removed()
        if is_wanted:
            self.tree.watched.add(real)
            if content is not None:
                self._version(real, inode)

    def _hardlink(self, info: tarfile.TarInfo, path: str) -> None:
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
            return path in _OS_RELEASE and size <= _MAX_OS_RELEASE
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
        self, tar: LayerTar, info: tarfile.TarInfo, path: str, keep: bool
    ) -> tuple[str, bytes | None]:
        """Hash a member's data (and return it when ``keep``), streaming in chunks."""
        sparse = cast(list[tuple[int, int]] | None, info.sparse)
        if sparse is not None:
            holes = max(0, info.size - sum(n for _, n in sparse))
            if holes > self.holes:
                self.log.add("sparse-not-hashed", f"{path} has {holes} bytes of holes; not hashed", path)
                return "", None
            self.holes -= holes
        digest = hashlib.sha256()
        parts: list[bytes] | None = [] if keep else None
        for chunk in member_chunks(tar, info):
            digest.update(chunk)
            if parts is not None:
                parts.append(chunk)
        return digest.hexdigest(), (b"".join(parts) if parts is not None else None)

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

    # After the pass ------------------------------------------------------------------------------

    def _os_release_inode(self) -> Inode | None:
        for candidate in _OS_RELEASE:
            try:
                real = self.tree.resolve(candidate, follow_last=True)
            except SymlinkLoopError:
                self.log.add("os-release-unresolved", f"{candidate} is a symlink loop", candidate)
                continue
            node = self.tree.nodes.get(real)
            if node is None or node.inode is None:
                continue
            if node.inode.content is None and node.inode.size <= _MAX_OS_RELEASE:
                node.inode.fetch = True
            return node.inode
        return None

    def _fetch_late(self) -> None:
        """Read again the layers holding bytes that were asked for after they streamed past."""
        needed: dict[int, dict[int, Inode]] = {}
        for node in self.tree.nodes.values():
            inode = node.inode
            if inode is not None and inode.fetch and inode.content is None:
                needed.setdefault(inode.layer, {})[inode.ordinal] = inode
        for entries in self.versions.values():
            for _, inode in entries:
                if inode is not None and inode.fetch and inode.content is None:
                    needed.setdefault(inode.layer, {})[inode.ordinal] = inode
        for layer, by_ordinal in sorted(needed.items()):
            blob = self.source.layers[layer]
            with self.source.open_layer(layer) as stream, tar_errors(blob, stream):
                tar = open_layer_tar(stream)
                ordinal = 0
                while tar is not None and ordinal <= max(by_ordinal) and (info := tar.next()) is not None:
                    if (inode := by_ordinal.get(ordinal)) is not None:
                        sha, inode.content = self._read_data(tar, info, info.name, True)
                        if sha != inode.sha256:
                            raise DigestMismatchError(f"{blob.what} changed while it was read")
                    ordinal += 1

    def result(self) -> ImageContents:
        """Finish (late reads, os-release) and assemble the contents."""
        os_inode = self._os_release_inode()
        self._fetch_late()
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


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5): ``KEY=value`` lines, values optionally quoted with shell rules.

    Lines that are blank, comments, or not ``KEY=...`` with a valid key are skipped.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier() or not key.isascii():
            continue
        try:
            out[key] = " ".join(shlex.split(value, comments=False, posix=True))
        except ValueError:
            out[key] = value.strip("\"'")
    return out
