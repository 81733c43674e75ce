"""docker-archive tars as copy sources (any image in them) and targets (one image per archive).

Reading: ``manifest.json`` names each image's config and layer files (``blobs/sha256/<hex>`` since
Docker 25, ``<id>/layer.tar`` before; links inside the archive are followed). An archive has no
registry manifest, so :class:`ArchiveSource` **builds one**: an OCI image manifest (canonical JSON,
``application/vnd.oci.image.manifest.v1+json``) whose config is the archive's config bytes as
stored (``application/vnd.oci.image.config.v1+json``) and whose layers are the archive's layer
files as stored, never recompressed: ``...layer.v1.tar+gzip`` for gzip, ``+zstd`` for zstd, plain
``...layer.v1.tar`` otherwise. The same archive therefore always gives the same manifest digest.
Opening the image reads every layer once: its blob digest is computed, checked against its name
when it is named by digest, and the uncompressed stream is checked against the config's
``rootfs.diff_ids``, so nothing unverified leaves the archive.

Writing: :class:`ArchiveTarget` stages the config and layers in a temporary directory next to the
target and hands them to :func:`~dockwright.oci.archive.write_docker_archive`, which replaces the
target only once the whole tar is written.

What this module does not do: read compressed archives (``docker save | gzip``), write several
images into one archive, keep image indexes or referrers (an archive has no place for them), or
read member data through ``tarfile`` (readers open the file at the member's offset, so layers can
be read in parallel).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import re
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import zstandard

from dockwright.errors import DigestMismatchError, ImageReferenceError, InputError
from dockwright.oci.archive import ArchiveLayer, write_docker_archive
from dockwright.oci.descriptor import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Descriptor,
)
from dockwright.oci.digest import Digest, HashingWriter, Writable
from dockwright.oci.image import ImageConfig, Manifest
from dockwright.oci.reference import DockerArchiveReference, parse_docker_name
from dockwright.registry.content import (
    MAX_MANIFEST,
    BlobOpener,
    HashingReader,
    ManifestBytes,
    Progress,
    copy_verified,
    open_range,
)

__all__ = ["ArchiveSource", "ArchiveTarget"]

_CHUNK = 1 << 20
_MAX_LINK_HOPS = 16
_BLOB_NAME = re.compile(r"(?:^|/)(?:blobs/)?sha256/([0-9a-f]{64})$|(?:^|/)([0-9a-f]{64})\.json$")
_GZIP, _ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


class ArchiveSource:
    """One image of a docker-archive, as a manifest built from it (see the module docstring)."""

    def __init__(self, ref: DockerArchiveReference) -> None:
        """Read from the archive ``ref`` names; nothing is opened before :meth:`resolve`."""
        self.ref = ref
        self.path = Path(ref.path)
        self.description = str(ref)
        self._blobs: dict[Digest, tuple[int, int]] = {}
        self._manifest: ManifestBytes | None = None

    def resolve(self) -> ManifestBytes:
        """Open the archive, verify the image and build its manifest.

        Raises:
            InputError: not a plain docker-archive, no such image, malformed JSON, bad compression.
            DigestMismatchError: the config or a layer does not match its name or diff_id.
        """
        if self._manifest is None:
            self._manifest = self._build()
        return self._manifest

    def _build(self) -> ManifestBytes:
        members = self._members()
        entry = self._select(_entries(self._read(members, "manifest.json"), self.description))
        config_info = _regular(members, entry["Config"], self.description)
        config_bytes = self._read(members, entry["Config"])
        config_digest = Digest.of(config_bytes)
        self._check_name(entry["Config"], config_digest, "config")
        try:
            diff_ids = ImageConfig.from_json(config_bytes).rootfs.diff_ids
        except InputError as exc:
            raise InputError(f"{self.description}: malformed image config: {exc.message}") from None
        if len(diff_ids) != len(entry["Layers"]):
            raise InputError(
                f"{self.description}: the config lists {len(diff_ids)} diff_ids "
                f"for {len(entry['Layers'])} layers"
            )
        self._blobs[config_digest] = (config_info.offset_data, config_info.size)
        layers = [
            self._layer(_regular(members, name, self.description), name, diff_id)
            for name, diff_id in zip(entry["Layers"], diff_ids, strict=True)
        ]
        config = Descriptor(media_type=OCI_CONFIG, digest=config_digest, size=len(config_bytes))
        return ManifestBytes.of(Manifest(config=config, layers=tuple(layers)).to_json(), OCI_MANIFEST)

    def _members(self) -> dict[str, tarfile.TarInfo]:
        try:
            with open(self.path, "rb") as f:
                head = f.read(4)
            if head.startswith((_GZIP, _ZSTD, b"BZh", b"\xfd7zX")):
                raise InputError(
                    f"{self.description}: {self.path} is compressed; a docker-archive is a plain tar",
                    hint="decompress it first and copy the .tar",
                )
            with tarfile.open(self.path, "r:") as tar:
                return {posixpath.normpath(m.name).lstrip("/"): m for m in tar.getmembers()}
        except FileNotFoundError:
            raise InputError(f"{self.description}: no such file {self.path}") from None
        except (tarfile.TarError, OSError, ValueError) as exc:
            raise InputError(f"{self.description}: {self.path} is not a readable tar: {exc}") from None

    def _read(self, members: dict[str, tarfile.TarInfo], name: str) -> bytes:
        info = _regular(members, name, self.description)
        if info.size > MAX_MANIFEST * 2:
            raise InputError(f"{self.description}: {name} is {info.size} bytes; too large for JSON")
        with open_range(self.path, info.offset_data, info.size) as f:
            return f.read()

    def _select(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        ref = self.ref
        if ref.source_index is not None:
            if ref.source_index >= len(entries):
                raise InputError(f"{self.description}: the archive holds {len(entries)} images")
            return entries[ref.source_index]
        if ref.name is not None:
            for entry in entries:
                if any(_same_name(tag, ref) for tag in entry.get("RepoTags") or ()):
                    return entry
            raise InputError(f"{self.description}: no image named {ref.name} in the archive")
        if len(entries) != 1:
            raise InputError(
                f"{self.description} holds {len(entries)} images",
                hint="add :NAME:TAG or :@N to the reference",
            )
        return entries[0]

    def _check_name(self, name: str, digest: Digest, what: str) -> None:
        named = _BLOB_NAME.search(name)
        hex_name = named and (named.group(1) or named.group(2))
        if hex_name and hex_name != digest.hex:
            raise DigestMismatchError(
                f"{self.description}: {what} {name} has digest {digest}: the archive is modified or corrupt"
            )

    def _layer(self, info: tarfile.TarInfo, name: str, diff_id: Digest) -> Descriptor:
        with open_range(self.path, info.offset_data, info.size) as f:
            head = f.peek(4)[:4]
            raw = HashingReader(f)
            media_type, uncompressed = _uncompressed_digest(raw, head, f"{self.description}: {name}")
            while raw.read(_CHUNK):
                pass  # trailing bytes after the compressed stream are part of the blob
        digest = Digest(algorithm="sha256", hex=raw.hash.hexdigest())
        self._check_name(name, digest, "layer")
        if uncompressed != diff_id:
            raise DigestMismatchError(
                f"{self.description}: layer {name} uncompresses to {uncompressed}, "
                f"but the config's diff_id is {diff_id}: the archive is modified or corrupt"
            )
        self._blobs[digest] = (info.offset_data, info.size)
        return Descriptor(media_type=media_type, digest=digest, size=info.size)

    def manifest(self, descriptor: Descriptor) -> ManifestBytes:
        """The built manifest, when ``descriptor`` names it (an archive holds no other).

        Raises:
            InputError: another digest was asked for.
        """
        top = self.resolve()
        if descriptor.digest != top.digest:
            raise InputError(f"{self.description} holds no manifest {descriptor.digest}")
        return top

    def copy_blob(self, descriptor: Descriptor, out: Writable, on_progress: Progress) -> None:
        """Copy the config or a layer to ``out``, verified."""
        with self._open(descriptor) as f:
            copy_verified(f, descriptor, out, on_progress, self.description)

    def opener(self, descriptor: Descriptor) -> BlobOpener | None:
        """Open the config or a layer at an offset (each call has its own file handle)."""
        self._locate(descriptor)

        def open_at(offset: int) -> BinaryIO:
            f = self._open(descriptor)  # uploaded: the registry verifies it (see store.py)
            f.seek(offset)
            return f

        return open_at

    def _locate(self, descriptor: Descriptor) -> tuple[int, int]:
        self.resolve()
        found = self._blobs.get(descriptor.digest)
        if found is None:
            raise InputError(f"{self.description} holds no blob {descriptor.digest}")
        return found

    def _open(self, descriptor: Descriptor) -> io.BufferedReader:
        start, size = self._locate(descriptor)
        return open_range(self.path, start, size)

    def referrers(self, digest: Digest) -> list[Descriptor]:
        """An archive holds no referrers."""
        return []

    def close(self) -> None:
        """Nothing to release (files are opened per read)."""


def _uncompressed_digest(raw: HashingReader, head: bytes, what: str) -> tuple[str, Digest]:
    """Decompress ``raw`` to its end; return the layer media type and the uncompressed digest."""
    h = hashlib.sha256()
    stream: Any
    if head.startswith(_GZIP):
        media_type, stream = OCI_LAYER_GZIP, gzip.GzipFile(fileobj=cast(Any, raw), mode="rb")
    elif head.startswith(_ZSTD):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[arg-type]
        media_type, stream = OCI_LAYER_ZSTD, reader
    else:
        media_type, stream = OCI_LAYER, raw
    try:
        while chunk := stream.read(_CHUNK):
            h.update(chunk)
    except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
        raise InputError(f"{what} is not a valid compressed layer: {exc}") from None
    return media_type, Digest(algorithm="sha256", hex=h.hexdigest())


def _regular(members: dict[str, tarfile.TarInfo], name: str, where: str) -> tarfile.TarInfo:
    """The regular member ``name`` stands for, through links inside the archive."""
    current = posixpath.normpath(name).lstrip("/")
    for _ in range(_MAX_LINK_HOPS):
        info = members.get(current)
        if info is None:
            raise InputError(f"{where}: manifest.json names {name}, which the archive does not hold")
        if info.isreg():
            return info
        if info.issym():
            current = posixpath.normpath(posixpath.join(posixpath.dirname(current), info.linkname)).lstrip(
                "/"
            )
        elif info.islnk():
            current = posixpath.normpath(info.linkname).lstrip("/")
        else:
            raise InputError(f"{where}: {name} in the archive is not a file")
    raise InputError(f"{where}: {name} in the archive is a chain of more than {_MAX_LINK_HOPS} links")


def _entries(data: bytes, where: str) -> list[dict[str, Any]]:
    try:
        decoded = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: manifest.json is not valid JSON: {exc}") from None
    if not isinstance(decoded, list) or not decoded:
        raise InputError(f"{where}: manifest.json must be a non-empty array of images")
    for i, entry in enumerate(decoded):
        layers = entry.get("Layers") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("Config"), str)
            or not isinstance(layers, list)
            or not all(isinstance(x, str) for x in layers)
        ):
            raise InputError(f"{where}: manifest.json[{i}] needs a Config string and a Layers array")
    return decoded


def _same_name(tag: object, ref: DockerArchiveReference) -> bool:
    try:
        return isinstance(tag, str) and parse_docker_name(tag) == ref.name
    except ImageReferenceError:
        return False


class _BlobSource(Protocol):
    def copy_blob(self, descriptor: Descriptor, out: Writable, on_progress: Progress) -> None: ...


class ArchiveTarget:
    """Write one image into a docker-archive; the file is replaced only by :meth:`commit`."""

    supports_index = False
    supports_referrers = False

    def __init__(self, ref: DockerArchiveReference) -> None:
        """Write the archive ``ref`` names; its ``NAME:TAG`` becomes the image's RepoTags.

        Raises:
            ImageReferenceError: ``ref`` selects an image to read (``:@N``).
        """
        if ref.source_index is not None:
            raise ImageReferenceError(
                f"{ref} selects an image to read; write docker-archive:FILE[:NAME[:TAG]]"
            )
        self.ref = ref
        self.path = Path(ref.path)
        self.description = str(ref)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._staged: dict[Digest, Path] = {}

    def __enter__(self) -> ArchiveTarget:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix=f".{self.path.name}.", dir=self.path.parent)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def has_blob(self, descriptor: Descriptor) -> bool:
        """True only for blobs already staged by this copy (an archive is always rewritten)."""
        return descriptor.digest in self._staged

    def mount_blob(self, descriptor: Descriptor) -> str | None:
        """Archives share nothing: always None."""
        return None

    def put_blob(self, descriptor: Descriptor, source: _BlobSource, on_progress: Progress) -> None:
        """Stage a blob from ``source`` in the temporary directory, verified.

        Raises:
            DigestMismatchError: the bytes do not match.
        """
        if self._tmp is None:
            raise RuntimeError("ArchiveTarget used outside its `with` block")
        path = Path(self._tmp.name) / descriptor.digest.hex
        with open(path, "wb") as f:
            writer = HashingWriter(f)
            source.copy_blob(descriptor, writer, on_progress)
        if writer.digest != descriptor.digest:
            raise DigestMismatchError(f"blob {descriptor.digest} was written with digest {writer.digest}")
        self._staged[descriptor.digest] = path

    def put_manifest(self, manifest: ManifestBytes) -> None:
        """Archives hold one image: an index's children cannot be stored.

        Raises:
            InputError: always.
        """
        raise InputError(
            f"{self.description} holds one image, not an index", hint="pass --platform instead of --all"
        )

    def add_referrer(self, subject: Digest, manifest: ManifestBytes) -> None:
        """Archives have no place for referrers: ignored (the engine does not send them)."""

    def commit(self, top: ManifestBytes) -> None:
        """Write the archive from the staged config and layers of image manifest ``top``.

        Raises:
            InputError: ``top`` is an index.
        """
        if top.is_index:
            self.put_manifest(top)
        manifest = Manifest.from_json(top.data)
        config = self._staged[manifest.config.digest].read_bytes()
        layers = [ArchiveLayer(path=self._staged[d.digest], digest=d.digest) for d in manifest.layers]
        names = () if self.ref.name is None else (self.ref.name,)
        write_docker_archive(self.path, config=config, layers=layers, repo_tags=names)
