"""Open an unpacked root filesystem (``dir:ROOTFS``) as an image of one layer.

The directory is walked in name order through directory file descriptors, never following a
symlink (``O_NOFOLLOW`` at every step) and never leaving its filesystem (mount points below it are
skipped with a warning), and served as the tar stream a layer would be: PAX headers, hard links
found by inode, devices and fifos as such; sockets are skipped with a warning. A file that shrinks
while it is read is padded with zeros (and warned about), one that grows is cut at its size.

The manifest digest is the sha256 of a canonical listing, one JSON line per entry (path, type,
mode, owner, size, link target), so it changes when any metadata changes. It does not hash file
contents (the reader hashes every file anyway); the layer's digest is that of the generated tar.

What this module does not do: read extended attributes or ACLs, or guarantee a consistent result
if the directory changes while it is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Generator, Iterator
from pathlib import Path

from dockwright.errors import InputError
from dockwright.inspect._image_source import ImageSource, LayerBlob
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect.model import Warning_

__all__ = ["open_dir"]

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_Entry = tuple[str, os.stat_result, int, str]  # path, lstat, parent directory fd, name


def open_dir(path: str, reference: str) -> ImageSource:
    """Open the root filesystem at ``path`` as a one-layer image.

    Raises:
        InputError: ``path`` is not a directory.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{reference}: {root} is not a directory")
    listing = hashlib.sha256()
    for line in _listing(root):
        listing.update(line)
    warnings: list[Warning_] = []
    blob = LayerBlob(index=0, digest="", size=-1, diff_id="")

    def opener(blob: LayerBlob) -> LayerStream:
        tar = _DirTar(_tar_chunks(root, warnings))
        return LayerStream(tar, what=f"{reference} (as a layer)", on_close=tar.close)

    return ImageSource(
        reference=reference,
        manifest_digest=f"sha256:{listing.hexdigest()}",
        config={},
        layers=(blob,),
        opener=opener,
        warnings=warnings,
    )


def _walk(root: Path, warnings: list[Warning_]) -> Iterator[_Entry]:
    """Every entry below ``root``, parents first, names sorted, without following symlinks."""
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    device = os.fstat(top).st_dev
    stack: list[tuple[int, str, Iterator[str]]] = [(top, "", iter(sorted(os.listdir(top))))]  # noqa: PTH208 (a directory fd)
    try:
        while stack:
            fd, prefix, names = stack[-1]
            name = next(names, None)
            if name is None:
                os.close(stack.pop()[0])
                continue
            path = f"{prefix}/{name}" if prefix else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we walk
            if st.st_dev != device:
                warnings.append(
                    Warning_(code="other-filesystem", message=f"mount point {path} skipped", path=path)
                )
                continue
            yield path, st, fd, name
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    children = sorted(os.listdir(sub))  # noqa: PTH208
                except OSError as exc:
                    warnings.append(Warning_(code="unreadable", message=f"{path}: {exc.strerror}", path=path))
                    continue
                stack.append((sub, path, iter(children)))
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def _describe(entry: _Entry, first_links: dict[tuple[int, int], str]) -> tarfile.TarInfo | None:
    """The tar header for an entry (None for sockets); hard links point at the inode's first path."""
    path, st, fd, name = entry
    info = tarfile.TarInfo(path)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid, info.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in first_links:
            info.type, info.linkname = tarfile.LNKTYPE, first_links[key]
        else:
            if st.st_nlink > 1:
                first_links[key] = path
            info.size = st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=fd)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None
    return info


def _listing(root: Path) -> Iterator[bytes]:
    first_links: dict[tuple[int, int], str] = {}
    for entry in _walk(root, []):
        info = _describe(entry, first_links)
        if info is not None:
            line = [info.name, info.type.decode(), info.mode, info.uid, info.gid, info.size, info.linkname]
            yield json.dumps(line).encode() + b"\n"


def _tar_chunks(root: Path, warnings: list[Warning_]) -> Generator[bytes, None, None]:
    first_links: dict[tuple[int, int], str] = {}
    for entry in _walk(root, warnings):
        info = _describe(entry, first_links)
        path = entry[0]
        if info is None:
            warnings.append(Warning_(code="socket-skipped", message=f"socket {path} skipped", path=path))
            continue
        if not info.isreg():
            yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            continue
        try:
            fd = os.open(entry[3], _FILE_FLAGS, dir_fd=entry[2])
        except OSError as exc:
            warnings.append(Warning_(code="unreadable", message=f"{path}: {exc.strerror}", path=path))
            continue
        with os.fdopen(fd, "rb", buffering=0) as f:
            yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            yield from _file_data(f, info.size, path, warnings)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _file_data(f: io.FileIO, size: int, path: str, warnings: list[Warning_]) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = f.read(min(_CHUNK, left))
        if not chunk:
            warnings.append(Warning_(code="file-changed", message=f"{path} shrank while read", path=path))
            while left > 0:
                yield b"\0" * min(_CHUNK, left)
                left -= min(_CHUNK, left)
            break
        left -= len(chunk)
        yield chunk
    padding = -size % tarfile.BLOCKSIZE
    if padding:
        yield b"\0" * padding


class _DirTar:
    """A readable over the generated chunks."""

    def __init__(self, chunks: Generator[bytes, None, None]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        while self._pos >= len(self._buf):
            self._buf, self._pos = next(self._chunks, b""), 0
            if not self._buf:
                return b""
        end = len(self._buf) if size < 0 else self._pos + size
        data = self._buf[self._pos : end]
        self._pos += len(data)
        return data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._chunks.close()
