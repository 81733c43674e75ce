"""Where TUF metadata files live: in the image repository itself, in an OCI layout, or in memory.

A :class:`MetadataStore` maps TUF file names (``1.root.json``, ``timestamp.json``,
``3.snapshot.json``, ``5.bins-0f.json``) to their exact bytes. Each file is stored as an OCI
artifact in the *same* repository as the images it signs, so copying the repository's tags
copies its trust data (:func:`copy_metadata` does it between any two stores)::

    tag  tuf-<file name>                e.g. tuf-1.root.json, tuf-timestamp.json
    manifest (application/vnd.oci.image.manifest.v1+json)
      artifactType  application/vnd.dockwright.tuf.metadata.v1+json
      config        application/vnd.oci.empty.v1+json  ({} , 2 bytes, OCI 1.1's empty descriptor)
      layers[0]     application/vnd.tuf.metadata+json  the metadata file's bytes, with the
                    annotation org.opencontainers.image.title = <file name>

The mapping between file names and tags is reversible (:func:`tag_for`, :func:`filename_for`).
Tags starting with ``tuf-`` are reserved for it: the repository refuses to sign such image tags.

:class:`RegistryMetadataStore` talks to a registry through a
:class:`~dockwright.registry.RegistryClient` (or anything with the same methods);
:class:`OciLayoutMetadataStore` writes through :class:`~dockwright.oci.layout.OciLayoutWriter`
so an ``oci:`` layout carries its trust data offline; :class:`MemoryMetadataStore` is the fake
for tests and a scratch space for tools.

What this module does not do: verify signatures (stores hold bytes; verification is the
client's), delete old versions, or lock out a second writer.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from dockwright.errors import DigestMismatchError, InputError
from dockwright.oci.descriptor import ANNOTATION_REF_NAME, OCI_EMPTY, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index, Manifest
from dockwright.oci.layout import OciLayoutWriter, blob_path
from dockwright.registry import NotFoundError
from dockwright.trust._tuf_errors import EndlessDataError, TrustError

__all__ = [
    "EMPTY_CONFIG",
    "MAX_METADATA_BYTES",
    "TAG_PREFIX",
    "TUF_ARTIFACT_TYPE",
    "TUF_METADATA_MEDIA_TYPE",
    "MemoryMetadataStore",
    "MetadataStore",
    "OciLayoutMetadataStore",
    "RegistryMetadataStore",
    "copy_metadata",
    "filename_for",
    "metadata_manifest",
    "tag_for",
]

TUF_ARTIFACT_TYPE = "application/vnd.dockwright.tuf.metadata.v1+json"
TUF_METADATA_MEDIA_TYPE = "application/vnd.tuf.metadata+json"
TAG_PREFIX = "tuf-"
EMPTY_CONFIG = b"{}"
MAX_METADATA_BYTES = 16 * 1024 * 1024
"""The largest metadata file a store reads; the client's own (smaller) limits apply on top."""

_TITLE = "org.opencontainers.image.title"
# [version.]role.json, with room for the tag prefix within the 128 characters of a tag
_FILENAME = re.compile(r"(?:[1-9][0-9]{0,19}\.)?[a-z0-9][a-z0-9_-]{0,95}\.json")


def tag_for(filename: str) -> str:
    """The tag a metadata file is stored under: ``tuf-`` + the file name.

    Raises:
        InputError: the name is not ``[VERSION.]ROLE.json`` with a lowercase role name.
    """
    if not _FILENAME.fullmatch(filename):
        raise InputError(f"invalid TUF metadata file name {filename!r}: expected [VERSION.]ROLE.json")
    return TAG_PREFIX + filename


def filename_for(tag: str) -> str | None:
    """The metadata file name a tag holds, or None for tags that are not TUF metadata."""
    name = tag.removeprefix(TAG_PREFIX)
    return name if name != tag and _FILENAME.fullmatch(name) else None


class MetadataStore(Protocol):
    """Exact bytes of TUF metadata files by name; ``location`` names the store in messages."""

    @property
    def location(self) -> str:
        """Where the files live, e.g. ``127.0.0.1:5000/team/app`` or ``oci:/srv/app``."""

    def get(self, name: str) -> bytes | None:
        """The file's bytes, or None when the store does not hold it."""

    def put(self, name: str, data: bytes) -> None:
        """Store (or replace) a file."""

    def names(self) -> list[str]:
        """Every file name the store holds, sorted."""


def copy_metadata(
    source: MetadataStore, target: MetadataStore, names: Iterable[str] | None = None
) -> list[str]:
    """Copy metadata files (all by default) from one store to another, byte for byte.

    ``timestamp.json`` is copied last so a reader of ``target`` never sees a timestamp whose
    snapshot is not there yet.

    Returns:
        The names copied.

    Raises:
        InputError: a named file is missing from ``source``.
    """
    chosen = sorted(source.names() if names is None else names, key=lambda n: n == "timestamp.json")
    for name in chosen:
        data = source.get(name)
        if data is None:
            raise InputError(f"{source.location} holds no {name}")
        target.put(name, data)
    return chosen


def metadata_manifest(name: str, data: bytes) -> bytes:
    """The artifact manifest that stores metadata file ``name`` (see the module docstring)."""
    manifest = Manifest(
        config=Descriptor(media_type=OCI_EMPTY, digest=Digest.of(EMPTY_CONFIG), size=len(EMPTY_CONFIG)),
        layers=(
            Descriptor(
                media_type=TUF_METADATA_MEDIA_TYPE,
                digest=Digest.of(data),
                size=len(data),
                annotations={_TITLE: name},
            ),
        ),
        artifact_type=TUF_ARTIFACT_TYPE,
    )
    return manifest.to_json()


def _metadata_layer(manifest_bytes: bytes, where: str) -> Descriptor:
    """The layer descriptor of a metadata artifact, after checking it is one.

    Raises:
        TrustError: the tag holds something else (an image, a malformed manifest).
        EndlessDataError: the layer is larger than :data:`MAX_METADATA_BYTES`.
    """
    try:
        manifest = Manifest.from_json(manifest_bytes)
    except InputError as exc:
        raise TrustError(f"{where} is not a TUF metadata artifact: {exc.message}") from None
    layers = manifest.layers
    if (
        manifest.artifact_type != TUF_ARTIFACT_TYPE
        or len(layers) != 1
        or layers[0].media_type != TUF_METADATA_MEDIA_TYPE
    ):
        raise TrustError(
            f"{where} is not a TUF metadata artifact (artifactType {manifest.artifact_type!r})",
            hint=f"tags starting with {TAG_PREFIX!r} are reserved for trust metadata",
        )
    if layers[0].size > MAX_METADATA_BYTES:
        raise EndlessDataError(
            f"{where}: metadata of {layers[0].size} bytes; the limit is {MAX_METADATA_BYTES}"
        )
    return layers[0]


class MemoryMetadataStore:
    """Metadata files in a dict (``files``): the fake for tests, and a scratch store."""

    def __init__(self, location: str = "memory") -> None:
        """Create an empty store named ``location``."""
        self._location = location
        self.files: dict[str, bytes] = {}

    @property
    def location(self) -> str:
        """The name given at construction."""
        return self._location

    def get(self, name: str) -> bytes | None:
        """The file's bytes, or None."""
        return self.files.get(name)

    def put(self, name: str, data: bytes) -> None:
        """Store a file (its name must map to a tag, as in the other stores)."""
        tag_for(name)
        self.files[name] = bytes(data)

    def names(self) -> list[str]:
        """Every file name, sorted."""
        return sorted(self.files)


class RegistryClientLike(Protocol):
    """The :class:`~dockwright.registry.RegistryClient` methods a registry store uses."""

    @property
    def registry(self) -> str:
        """``host[:port]``."""

    def get_manifest(self, repository: str, reference: str, *, accept: Sequence[str] = ...) -> _Fetched:
        """Fetch a manifest by tag."""

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> Digest:
        """Upload a manifest under a tag."""

    def blob_size(self, repository: str, digest: Digest) -> int | None:
        """Size of a blob, or None."""

    def upload_blob(
        self, repository: str, digest: Digest, size: int, open_at: Callable[[int], BinaryIO]
    ) -> None:
        """Upload a blob."""

    def fetch_blob(self, repository: str, digest: Digest, out: BinaryIO, *, size: int | None = None) -> None:
        """Download a blob, verified against its digest and size."""

    def list_tags(self, repository: str) -> list[str]:
        """The repository's tags."""


class _Fetched(Protocol):
    @property
    def data(self) -> bytes: ...


class RegistryMetadataStore:
    """Metadata as OCI artifacts tagged ``tuf-<name>`` in one registry repository."""

    def __init__(self, client: RegistryClientLike, repository: str) -> None:
        """Use ``client``'s registry and ``repository`` (the images' own repository)."""
        self._client = client
        self._repository = repository
        self._have_config = False

    @property
    def location(self) -> str:
        """``host[:port]/repository``."""
        return f"{self._client.registry}/{self._repository}"

    def get(self, name: str) -> bytes | None:
        """Fetch the artifact tagged ``tuf-<name>`` and return its layer's bytes, or None.

        Raises:
            TrustError: the tag holds something other than a metadata artifact.
            RegistryError: the registry failed.
            DigestMismatchError: the registry sent other bytes than the manifest names.
        """
        tag = tag_for(name)
        try:
            fetched = self._client.get_manifest(self._repository, tag, accept=(OCI_MANIFEST,))
        except NotFoundError:
            return None
        layer = _metadata_layer(fetched.data, f"{self.location}:{tag}")
        out = io.BytesIO()
        self._client.fetch_blob(self._repository, layer.digest, out, size=layer.size)
        return out.getvalue()

    def put(self, name: str, data: bytes) -> None:
        """Upload the config and metadata blobs (unless present) and tag the artifact.

        Raises:
            RegistryError: the registry failed or refused.
        """
        tag = tag_for(name)
        if not self._have_config:
            self._upload(EMPTY_CONFIG)
            self._have_config = True
        self._upload(data)
        self._client.put_manifest(self._repository, tag, metadata_manifest(name, data), OCI_MANIFEST)

    def _upload(self, data: bytes) -> None:
        digest = Digest.of(data)
        if self._client.blob_size(self._repository, digest) is None:
            self._client.upload_blob(self._repository, digest, len(data), lambda at: io.BytesIO(data[at:]))

    def names(self) -> list[str]:
        """Metadata file names from the repository's ``tuf-`` tags."""
        try:
            tags = self._client.list_tags(self._repository)
        except NotFoundError:
            return []
        return sorted(name for name in map(filename_for, tags) if name is not None)


class OciLayoutMetadataStore:
    """Metadata as artifacts in a local OCI layout, tagged like in a registry (offline use)."""

    def __init__(self, path: Path) -> None:
        """Use the layout at ``path`` (created on the first :meth:`put`)."""
        self._path = Path(path)

    @property
    def location(self) -> str:
        """``oci:<absolute path>``."""
        return f"oci:{self._path.resolve()}"

    def _entries(self) -> dict[str, Descriptor]:
        index_path = self._path / "index.json"
        try:
            index = Index.from_json(_read_capped(index_path, MAX_METADATA_BYTES))
        except FileNotFoundError:
            return {}
        return {
            d.annotations[ANNOTATION_REF_NAME]: d
            for d in index.manifests
            if d.annotations.get(ANNOTATION_REF_NAME, "").startswith(TAG_PREFIX)
        }

    def get(self, name: str) -> bytes | None:
        """The layer bytes of the artifact tagged ``tuf-<name>``, or None.

        Raises:
            InputError: the layout's ``index.json`` is malformed.
            TrustError: the tag holds something other than a metadata artifact.
            DigestMismatchError: a blob is missing or does not match its digest.
        """
        tag = tag_for(name)
        entry = self._entries().get(tag)
        if entry is None:
            return None
        manifest = self._blob(entry, f"{self.location}:{tag}")
        layer = _metadata_layer(manifest, f"{self.location}:{tag}")
        return self._blob(layer, f"{self.location}:{tag} layer")

    def _blob(self, descriptor: Descriptor, where: str) -> bytes:
        if descriptor.size > MAX_METADATA_BYTES:
            raise InputError(f"{where}: {descriptor.size} bytes; the limit is {MAX_METADATA_BYTES}")
        try:
            data = _read_capped(blob_path(self._path, descriptor.digest), MAX_METADATA_BYTES)
        except FileNotFoundError:
            raise DigestMismatchError(f"{where}: blob {descriptor.digest} is missing") from None
        if len(data) != descriptor.size or Digest.of(data) != descriptor.digest:
            raise DigestMismatchError(f"{where}: blob {descriptor.digest} does not match its descriptor")
        return data

    def put(self, name: str, data: bytes) -> None:
        """Write the artifact into the layout and tag it (one atomic ``index.json`` update).

        Raises:
            InputError: the path exists and is not an OCI layout.
        """
        tag = tag_for(name)
        with OciLayoutWriter(self._path) as writer:
            writer.add_blob(EMPTY_CONFIG)
            writer.add_blob(data)
            writer.commit(metadata_manifest(name, data), tag=tag)

    def names(self) -> list[str]:
        """Metadata file names from the layout's ``tuf-`` tags."""
        return sorted(name for name in map(filename_for, self._entries()) if name is not None)


def _read_capped(path: Path, limit: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{path} is larger than {limit} bytes")
    return data
