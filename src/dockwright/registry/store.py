"""Image stores: what a copy reads from and writes to, and the local ones (OCI layouts, archives).

:class:`SourceStore` and :class:`TargetStore` are the two small interfaces the copy engine
(:mod:`dockwright.registry.transfer`) works on; registry repositories implement them in
:mod:`dockwright.registry.remote`, local stores here.

An OCI layout (``oci:DIR[:TAG]``) may hold several manifests and image indexes in ``index.json``,
tagged or not, plus the manifests that refer to them (OCI 1.1 image-layout allows referrers as
extra untagged entries; :meth:`LayoutSource.referrers` finds them by their ``subject``).
:class:`LayoutSource` reads one and :class:`LayoutTarget` writes one through
:class:`~dockwright.oci.layout.OciLayoutWriter`: every blob is staged and checked against its digest
as it arrives, and nothing is visible until :meth:`LayoutTarget.commit`, so a failed copy leaves the
layout as it was. The tagged manifest is published first (one atomic ``index.json`` replacement
with all blobs, referrers' included); each referrer's untagged entry is then added by its own
atomic replacement, so a crash between them loses referrer entries, never image bytes.

Every blob copied out of a local store is verified: :meth:`copy_blob` hashes what it copies. The
readers :meth:`opener` hands out feed uploads, and there the receiving registry is the verifier:
the distribution spec has it hash every byte it takes in and refuse a blob that does not match the
digest it is announced under (the refusal raises :class:`~dockwright.errors.DigestMismatchError`),
and the client checks the digest the registry reports. Hashing the same bytes on this side too
would take a third of a push's CPU, which a registry on the same machine needs, for no check the
registry does not make anyway (docs/benchmarks.md).

The docker-archive side lives in :mod:`dockwright.registry._archive_store` and is re-exported here,
imported at first use (it brings :mod:`tarfile`, which a command on layouts and registries skips).

What this module does not do: talk to registries, choose a platform from an index (see
:mod:`dockwright.registry.transfer`), garbage-collect blobs, or re-serialize a manifest it read.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, Self

from dockwright.errors import DigestMismatchError, InputError
from dockwright.oci.descriptor import ANNOTATION_REF_NAME, Descriptor
from dockwright.oci.digest import Digest, Writable
from dockwright.oci.image import Index
from dockwright.oci.layout import OciLayoutWriter, blob_path
from dockwright.registry.content import (
    MANIFEST_TYPES,
    MAX_MANIFEST,
    BlobOpener,
    ManifestBytes,
    Progress,
    copy_verified,
    decode_json_object,
    mismatch_error,
    referrer_descriptor,
    subject_of,
)

if TYPE_CHECKING:
    from dockwright.registry._archive_store import ArchiveSource, ArchiveTarget

__all__ = [
    "ArchiveSource",
    "ArchiveTarget",
    "LayoutSource",
    "LayoutTarget",
    "SourceStore",
    "TargetStore",
    "read_layout_index",
]


def __getattr__(name: str) -> Any:
    if name in ("ArchiveSource", "ArchiveTarget"):
        from dockwright.registry import _archive_store

        return getattr(_archive_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SourceStore(Protocol):
    """Where images are copied from: a layout, a docker-archive or a registry repository."""

    description: str

    def resolve(self) -> ManifestBytes:
        """The manifest or index the reference names, verified."""
        ...

    def manifest(self, descriptor: Descriptor) -> ManifestBytes:
        """A manifest by descriptor, verified against it."""
        ...

    def copy_blob(self, descriptor: Descriptor, out: Writable, on_progress: Progress) -> None:
        """Write the blob's bytes to ``out``; raise DigestMismatchError if they do not match."""
        ...

    def opener(self, descriptor: Descriptor) -> BlobOpener | None:
        """Random access to a local blob (for resumable uploads), or None for a remote one."""
        ...

    def referrers(self, digest: Digest) -> list[Descriptor]:
        """Descriptors of the manifests whose ``subject`` is ``digest``."""
        ...

    def close(self) -> None:
        """Release files or connections."""
        ...


class TargetStore(Protocol):
    """Where images are copied to. Readers see nothing new before :meth:`commit` (tag last)."""

    description: str
    supports_index: bool
    supports_referrers: bool

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def has_blob(self, descriptor: Descriptor) -> bool:
        """True when the target already holds the blob (so it costs nothing)."""
        ...

    def mount_blob(self, descriptor: Descriptor) -> str | None:
        """Try a cross-repository mount; the repository it came from, or None."""
        ...

    def put_blob(self, descriptor: Descriptor, source: SourceStore, on_progress: Progress) -> None:
        """Copy one blob from ``source``, verified."""
        ...

    def put_manifest(self, manifest: ManifestBytes) -> None:
        """Store a manifest by digest (an index's child)."""
        ...

    def add_referrer(self, subject: Digest, manifest: ManifestBytes) -> None:
        """Store a manifest whose ``subject`` is ``subject`` and make it listable as a referrer."""
        ...

    def commit(self, top: ManifestBytes) -> None:
        """Store ``top`` under the target's tag (or digest): the last step of a copy."""
        ...


def _read_small(path: Path, limit: int, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise InputError(f"{what} is missing: {path}") from None
    if len(data) > limit:
        raise InputError(f"{what} is larger than {limit} bytes: {path}")
    return data


def read_layout_index(layout: Path) -> Index:
    """Read and validate ``oci-layout`` and ``index.json`` of the layout at ``layout``.

    Raises:
        InputError: not an OCI layout (version 1.x), or a malformed index.
    """
    data = _read_small(layout / "oci-layout", 1 << 16, "oci-layout file")
    marker = decode_json_object(data, f"{layout}/oci-layout")
    version = marker.get("imageLayoutVersion")
    if not isinstance(version, str) or not version.startswith("1."):
        raise InputError(f"{layout}/oci-layout does not declare imageLayoutVersion 1.x")
    try:
        return Index.from_json(_read_small(layout / "index.json", 8 << 20, "index.json"))
    except InputError as exc:
        raise InputError(f"{layout}/index.json is malformed: {exc.message}") from None


class LayoutSource:
    """One image (manifest or index) of an OCI layout, read and verified blob by blob."""

    def __init__(self, path: Path, tag: str | None = None) -> None:
        """Read from the layout at ``path``; ``tag`` picks the entry (None: the only image)."""
        self.path = Path(path)
        self.tag = tag
        self.description = f"oci:{self.path}" + (f":{tag}" if tag else "")
        self._subjects: dict[Digest, Digest | None] = {}

    def resolve(self) -> ManifestBytes:
        """Read the manifest or index the tag names.

        Raises:
            InputError: not a layout, no such tag, or several images and no tag.
            DigestMismatchError: the manifest blob is missing or corrupt.
        """
        index = read_layout_index(self.path)
        if self.tag is not None:
            tagged = [d for d in index.manifests if d.annotations.get(ANNOTATION_REF_NAME) == self.tag]
            if not tagged:
                raise InputError(
                    f"no image tagged {self.tag!r} in {self.path}", hint=f"tags here: {_tags(index)}"
                )
            return self.manifest(tagged[-1])
        images = [d for d in index.manifests if self._subject(d) is None]
        if len({d.digest for d in images}) != 1:
            raise InputError(
                f"{self.path} holds {len(images)} images; name one with oci:{self.path}:TAG",
                hint=f"tags here: {_tags(index)}",
            )
        return self.manifest(images[0])

    def manifest(self, descriptor: Descriptor) -> ManifestBytes:
        """Read the manifest ``descriptor`` points at, verified.

        Raises:
            InputError: larger than the manifest limit, or not JSON.
            DigestMismatchError: missing, or the bytes do not match the descriptor.
        """
        if descriptor.size > MAX_MANIFEST:
            raise InputError(
                f"manifest {descriptor.digest} is {descriptor.size} bytes; the limit is {MAX_MANIFEST}"
            )
        try:
            data = blob_path(self.path, descriptor.digest).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise DigestMismatchError(f"manifest {descriptor.digest} is missing from {self.path}") from None
        if Digest.of(data) != descriptor.digest or len(data) != descriptor.size:
            raise mismatch_error(descriptor, hashlib.sha256(data).hexdigest(), len(data), self.description)
        return ManifestBytes.of(data, descriptor.media_type)

    def copy_blob(self, descriptor: Descriptor, out: Writable, on_progress: Progress) -> None:
        """Copy a blob to ``out``, verified.

        Raises:
            DigestMismatchError: missing, or the bytes do not match.
        """
        with self._open(descriptor) as f:
            copy_verified(f, descriptor, out, on_progress, self.description)

    def opener(self, descriptor: Descriptor) -> BlobOpener | None:
        """A function opening the blob at an offset, for an upload (the registry verifies it)."""
        self._open(descriptor).close()  # fail now if missing

        def open_at(offset: int) -> BinaryIO:
            f = self._open(descriptor)
            f.seek(offset)
            return f

        return open_at

    def _open(self, descriptor: Descriptor) -> io.BufferedReader:
        try:
            return open(blob_path(self.path, descriptor.digest), "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise DigestMismatchError(f"blob {descriptor.digest} is missing from {self.path}") from None

    def referrers(self, digest: Digest) -> list[Descriptor]:
        """Descriptors of the layout's manifests whose ``subject`` is ``digest`` (index order).

        Raises:
            DigestMismatchError: a referrer's manifest blob is corrupt.
        """
        index = read_layout_index(self.path)
        found: dict[Digest, Descriptor] = {}
        for entry in index.manifests:
            if self._subject(entry) == digest and entry.digest not in found:
                found[entry.digest] = referrer_descriptor(self.manifest(entry))
        return list(found.values())

    def _subject(self, entry: Descriptor) -> Digest | None:
        if entry.media_type not in MANIFEST_TYPES or entry.size > MAX_MANIFEST:
            return None
        if entry.digest not in self._subjects:
            try:
                self._subjects[entry.digest] = subject_of(self.manifest(entry))
            except InputError:
                self._subjects[entry.digest] = None
        return self._subjects[entry.digest]

    def close(self) -> None:
        """Nothing to release (files are opened per read)."""


def _tags(index: Index) -> str:
    names = {
        d.annotations[ANNOTATION_REF_NAME] for d in index.manifests if ANNOTATION_REF_NAME in d.annotations
    }
    return ", ".join(sorted(names)) or "none"


class LayoutTarget:
    """Write an image (and its referrers) into an OCI layout; nothing shows before :meth:`commit`.

    Use as a context manager; leaving the block without committing throws the staged blobs away.
    """

    supports_index = True
    supports_referrers = True

    def __init__(self, path: Path, tag: str | None = None) -> None:
        """Write into the layout at ``path`` (created if missing), tagging the image ``tag``."""
        self.path = Path(path)
        self.tag = tag
        self.description = f"oci:{self.path}" + (f":{tag}" if tag else "")
        self._writer = OciLayoutWriter(self.path)
        self._staged: set[Digest] = set()
        self._referrers: list[ManifestBytes] = []

    def __enter__(self) -> LayoutTarget:
        self._writer.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.__exit__(*exc)

    def has_blob(self, descriptor: Descriptor) -> bool:
        """True when the layout already holds the blob (right size) or it was staged."""
        if descriptor.digest in self._staged:
            return True
        try:
            return blob_path(self.path, descriptor.digest).stat().st_size == descriptor.size
        except OSError:
            return False

    def mount_blob(self, descriptor: Descriptor) -> str | None:
        """Layouts share no blobs with other repositories: always None."""
        return None

    def put_blob(self, descriptor: Descriptor, source: SourceStore, on_progress: Progress) -> None:
        """Stage a blob copied from ``source``; its bytes must match ``descriptor``.

        Raises:
            DigestMismatchError: the bytes do not match.
        """
        # copy_blob verifies every byte (the SourceStore contract): no second hash here
        with self._writer.verified_blob(descriptor.digest) as w:
            source.copy_blob(descriptor, w, on_progress)
        self._staged.add(descriptor.digest)

    def put_manifest(self, manifest: ManifestBytes) -> None:
        """Stage a child manifest (of an index) by digest."""
        self._writer.add_blob(manifest.data)
        self._staged.add(manifest.digest)

    def add_referrer(self, subject: Digest, manifest: ManifestBytes) -> None:
        """Stage a referrer of ``subject``; it gets its own untagged ``index.json`` entry at commit."""
        self.put_manifest(manifest)
        self._referrers.append(manifest)

    def commit(self, top: ManifestBytes) -> None:
        """Publish ``top`` under the tag with every staged blob, then the referrers' entries.

        Raises:
            InputError: the path exists and is not a layout, or its index is malformed.
        """
        self._writer.commit(top.data, media_type=top.media_type, tag=self.tag)
        for referrer in self._referrers:
            with OciLayoutWriter(self.path) as writer:
                writer.commit(referrer.data, media_type=referrer.media_type)
