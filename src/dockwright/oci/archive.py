"""Write a ``docker-archive`` tar: what ``docker save`` writes and ``docker load``/``podman load`` read.

Layout of the archive (members in this order)::

    manifest.json              [{"Config": "blobs/sha256/<c>", "RepoTags": [...], "Layers": [...]}]
    blobs/  blobs/sha256/      directories
    blobs/sha256/<c>           the image config, byte for byte as hashed
    blobs/sha256/<l1> ...      the layer blobs, gzip-compressed as they are in the OCI layout

Blob paths follow Docker 25+ (``blobs/sha256/<hex>``); consumers find files only through
``manifest.json``. Layers stay gzip-compressed: ``docker load`` and containers/image (skopeo,
podman) detect and decompress them, and check each against ``rootfs.diff_ids`` of the config.
``RepoTags`` are written fully qualified (``docker.io/library/app:1.0``), as skopeo does; every
reader normalizes them to the same name as the short form.

The archive is written to a temp file next to the target, fsynced and renamed into place, so a
failed build never leaves a truncated archive. Every member's mode, owner and mtime are fixed.

What this module does not do: write the legacy per-layer directories (``<id>/layer.tar``,
``json``, ``VERSION``) or the ``repositories`` file. Only Docker before 1.10 (2016) needs them;
modern ``docker load`` and containers/image ignore them when ``manifest.json`` is present, and the
IDs they would hold name exactly those legacy directories. It also does not read archives, or hold
several images in one archive.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockwright.errors import DigestMismatchError
from dockwright.fsutil import atomic_writer
from dockwright.oci.digest import SHA256, Digest
from dockwright.oci.image import canonical_json
from dockwright.oci.reference import DockerName

__all__ = ["ArchiveLayer", "write_docker_archive"]

_COPY_BUFFER = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveLayer:
    """A layer blob on disk and the digest its bytes must have."""

    path: Path
    digest: Digest


class _HashingReader:
    """Read-through wrapper that hashes what ``tarfile`` copies out of a layer file."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.hash.update(data)
        return data


def _blob_name(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def write_docker_archive(
    target: Path,
    *,
    config: bytes,
    layers: Sequence[ArchiveLayer],
    repo_tags: Sequence[DockerName] = (),
    mtime: int = 0,
) -> None:
    """Write a single-image docker-archive at ``target``, replacing it only once complete.

    Args:
        target: the archive file to create or replace.
        config: the exact image config bytes (its digest is the image ID).
        layers: the layer blobs in order; each is checked against its digest while copied.
        repo_tags: names to tag the image with when loaded; none leaves it untagged.
        mtime: the modification time of every archive member.

    Raises:
        DigestMismatchError: a layer file's bytes do not match its digest.
    """
    config_digest = Digest.of(config)
    manifest = [
        {
            "Config": _blob_name(config_digest),
            "RepoTags": [str(name) for name in repo_tags],
            "Layers": [_blob_name(layer.digest) for layer in layers],
        }
    ]
    with atomic_writer(target) as out, _open_tar(out) as tar:
        _add_bytes(tar, "manifest.json", canonical_json(manifest), mtime)
        for directory in ("blobs", f"blobs/{SHA256}"):
            tar.addfile(_member(directory, tarfile.DIRTYPE, 0, mtime))
        _add_bytes(tar, _blob_name(config_digest), config, mtime)
        written = {config_digest}
        for layer in layers:
            if layer.digest not in written:
                _add_layer(tar, layer, mtime)
                written.add(layer.digest)


def _open_tar(out: BinaryIO) -> tarfile.TarFile:
    return tarfile.TarFile(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_COPY_BUFFER)


def _member(name: str, kind: bytes, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mtime = mtime
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    tar.addfile(_member(name, tarfile.REGTYPE, len(data), mtime), io.BytesIO(data))


def _add_layer(tar: tarfile.TarFile, layer: ArchiveLayer, mtime: int) -> None:
    with open(layer.path, "rb") as f:
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        reader = _HashingReader(f)
        tar.addfile(_member(_blob_name(layer.digest), tarfile.REGTYPE, size, mtime), reader)
    actual = Digest(algorithm=SHA256, hex=reader.hash.hexdigest())
    if actual != layer.digest:
        raise DigestMismatchError(f"layer file {layer.path} has digest {actual}, expected {layer.digest}")
