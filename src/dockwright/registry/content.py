"""Manifests as exact bytes, and blob streams that are verified against their descriptors.

:class:`ManifestBytes` carries a manifest or index exactly as it was stored or fetched, with the
media type and the digest of those bytes: copies store and send these bytes, never a
re-serialization, so digests survive every hop. :func:`copy_verified` checks a
blob's size and sha256 while it streams and raises
:class:`~dockwright.errors.DigestMismatchError` when they differ. :func:`open_range` reads a byte
range of a file (a member of a tar) with its own handle, so several can be read at once.

What this module does not do: fetch or store anything, or parse manifests into dataclasses (see
:mod:`dockwright.oci.image`); it only reads the few members a copy needs (``mediaType``,
``subject``, ``artifactType``, ``annotations``).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from dockwright.errors import DigestMismatchError, InputError
from dockwright.oci.descriptor import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
)
from dockwright.oci.digest import Digest, Writable

__all__ = [
    "MANIFEST_TYPES",
    "MAX_MANIFEST",
    "BlobOpener",
    "FileRange",
    "HashingReader",
    "ManifestBytes",
    "Progress",
    "copy_verified",
    "decode_json_object",
    "manifest_media_type",
    "mismatch_error",
    "open_range",
    "referrer_descriptor",
    "subject_of",
]

MAX_MANIFEST = 4 << 20  # the distribution spec's limit; larger manifests are refused unread
MANIFEST_TYPES = frozenset({OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST})
_CHUNK = 1 << 20

Progress = Callable[[int], None]
"""Called with the number of bytes of the blob done so far (as the registry client does)."""

BlobOpener = Callable[[int], BinaryIO]
"""Opens a blob positioned at the given byte offset (for uploads that resume)."""


@dataclass(frozen=True, slots=True)
class ManifestBytes:
    """A manifest or index exactly as stored: its bytes, media type and digest (of the bytes)."""

    data: bytes
    media_type: str
    digest: Digest

    @classmethod
    def of(cls, data: bytes, fallback_media_type: str | None = None) -> ManifestBytes:
        """Wrap ``data``; the media type comes from its ``mediaType`` member, else the fallback."""
        return cls(data, manifest_media_type(data, fallback_media_type), Digest.of(data))

    @property
    def descriptor(self) -> Descriptor:
        """A plain descriptor of these bytes."""
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.data))

    @property
    def is_index(self) -> bool:
        """True for an OCI image index or a Docker manifest list."""
        return self.media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST)

    def json(self) -> dict[str, Any]:
        """The decoded JSON object.

        Raises:
            InputError: the bytes are not a JSON object.
        """
        return decode_json_object(self.data, f"manifest {self.digest}")


def decode_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse ``data`` as a JSON object; ``what`` names it in the error.

    Raises:
        InputError: not valid JSON, or not an object.
    """
    try:
        decoded = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise InputError(f"{what} is not a JSON object")
    return decoded


def manifest_media_type(data: bytes, fallback: str | None = None) -> str:
    """The media type of manifest ``data``: its ``mediaType``, else ``fallback``, else its shape.

    Raises:
        InputError: not a JSON object, or a schema 1 manifest (not supported).
    """
    decoded = decode_json_object(data, "manifest")
    declared = decoded.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if decoded.get("schemaVersion") == 1:
        raise InputError("Docker schema 1 manifests are not supported", hint="convert the image first")
    if fallback:
        return fallback
    return OCI_INDEX if "manifests" in decoded else OCI_MANIFEST


def referrer_descriptor(manifest: ManifestBytes) -> Descriptor:
    """The descriptor a referrers list gives ``manifest``: ``artifactType`` and annotations copied."""
    decoded = manifest.json()
    artifact = decoded.get("artifactType")
    if not isinstance(artifact, str):
        config = decoded.get("config")
        artifact = config.get("mediaType") if isinstance(config, dict) else None
    annotations = decoded.get("annotations")
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        annotations = {}
    return replace(
        manifest.descriptor,
        artifact_type=artifact if isinstance(artifact, str) else None,
        annotations=annotations,
    )


def subject_of(manifest: ManifestBytes) -> Digest | None:
    """The digest ``manifest``'s ``subject`` names, or None."""
    subject = manifest.json().get("subject")
    if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
        return None
    try:
        return Digest.parse(subject["digest"])
    except InputError:
        return None


def mismatch_error(descriptor: Descriptor, digest: str, size: int, where: str) -> DigestMismatchError:
    """The error for a blob whose bytes (``size`` of them, hashing to ``digest``) do not match."""
    return DigestMismatchError(
        f"blob {descriptor.digest} ({descriptor.size} bytes) from {where} holds {size} bytes "
        f"with digest sha256:{digest}",
        hint="the source is corrupt or was modified; nothing was written for this blob",
    )


def copy_verified(
    stream: BinaryIO, descriptor: Descriptor, out: Writable, on_progress: Progress, where: str
) -> None:
    """Copy ``stream`` to ``out`` in chunks, checking size and digest against ``descriptor``.

    Raises:
        DigestMismatchError: the bytes do not match (raised after the last byte is written).
    """
    h, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        h.update(chunk)
        size += len(chunk)
        if size > descriptor.size:
            break
        out.write(chunk)
        on_progress(size)
    if size != descriptor.size or h.hexdigest() != descriptor.digest.hex:
        raise mismatch_error(descriptor, h.hexdigest(), size, where)


class FileRange(io.RawIOBase):
    """Bytes ``[start, start + size)`` of a file, seekable, with its own file handle."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self._start, self._size, self._pos = start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: max(0, self._size - self._pos)]
        if not view:
            return 0
        self._file.seek(self._start + self._pos)
        n = self._file.readinto(view) or 0
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._file.close()
        super().close()


def open_range(path: Path, start: int, size: int) -> io.BufferedReader:
    """Open bytes ``[start, start + size)`` of the file at ``path`` (seekable, own handle)."""
    return io.BufferedReader(FileRange(path, start, size), buffer_size=_CHUNK)


class HashingReader:
    """Hashes what is read through it (the raw layer while a decompressor reads it)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.hash, self.size = stream, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.hash.update(data)
        self.size += len(data)
        return data
