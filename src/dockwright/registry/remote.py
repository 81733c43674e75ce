"""A repository on a registry as a copy source (:class:`RegistrySource`) or target (:class:`RegistryTarget`).

Both wrap a registry client (anything with :class:`RegistryAPI`'s methods: the real
:class:`~dockwright.registry.RegistryClient`, or the in-memory fake of the tests). The source keeps
every manifest's exact bytes and lets the client verify every blob byte as it arrives (resuming
dropped downloads). The target asks ``HEAD`` before every blob (a blob the repository holds costs
nothing), tries a cross-repository mount from the repositories it is told share the registry,
uploads blobs up to ``monolithic_limit`` in one ``PUT`` and larger ones in ``chunk_size`` chunks
that resume where the registry says it stands, and puts the tag only in :meth:`RegistryTarget.commit`.

A blob coming from another registry has no local file to resume from, so it is first downloaded
(verified) into memory (small) or a temporary file (large), then uploaded from there.

What this module does not do: open connections or read credentials (the caller builds the client),
choose what to copy (see :mod:`dockwright.registry.transfer`), or write the referrers tag index
itself (see :mod:`dockwright.registry.referrers`).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from dockwright.errors import InputError
from dockwright.oci.descriptor import Descriptor
from dockwright.oci.digest import Digest, Writable
from dockwright.registry.client import FetchedManifest
from dockwright.registry.content import BlobOpener, ManifestBytes, Progress, manifest_media_type
from dockwright.registry.reference import RegistryReference
from dockwright.registry.referrers import ReferrersAPI, register_referrer

__all__ = ["CHUNK_SIZE", "MONOLITHIC_LIMIT", "RegistryAPI", "RegistrySource", "RegistryTarget"]

# One PUT costs a registry less than a chunked upload (docker-registry stores its hash state after
# every PATCH): pushing 25 MB blobs whole is 5% faster than in two 16 MiB chunks. A monolithic
# upload that fails is sent again whole, so past 64 MiB uploads go in resumable 32 MiB chunks.
CHUNK_SIZE = 32 << 20
MONOLITHIC_LIMIT = 64 << 20
_SPOOL_IN_MEMORY = 8 << 20


class RegistryAPI(ReferrersAPI, Protocol):
    """The client methods a copy needs (a subset of :class:`~dockwright.registry.RegistryClient`)."""

    def fetch_blob(
        self,
        repository: str,
        digest: Digest,
        out: BinaryIO,
        *,
        size: int | None = None,
        offset: int = 0,
        on_progress: Callable[[int], None] | None = None,
    ) -> None: ...

    def mount_blob(self, repository: str, digest: Digest, from_repository: str) -> bool: ...


class _BlobSource(Protocol):
    def copy_blob(self, descriptor: Descriptor, out: Writable, on_progress: Progress) -> None: ...

    def opener(self, descriptor: Descriptor) -> BlobOpener | None: ...


def _manifest(fetched: FetchedManifest) -> ManifestBytes:
    media_type = fetched.media_type
    if "distribution.manifest.v1" in media_type:
        raise InputError(
            f"manifest {fetched.digest} is Docker schema 1 ({media_type}), which is not supported"
        )
    if media_type in ("application/json", "application/octet-stream", ""):
        media_type = manifest_media_type(fetched.data)
    return ManifestBytes(fetched.data, media_type, fetched.digest)


class RegistrySource:
    """An image in a registry repository, read through the client (which verifies every byte)."""

    def __init__(self, client: RegistryAPI, ref: RegistryReference) -> None:
        """Read ``ref`` (tag or digest) through ``client``; the caller closes the client."""
        self.client = client
        self.ref = ref
        self.registry = ref.registry
        self.repository = ref.repository
        self.description = str(ref)

    def resolve(self) -> ManifestBytes:
        """Fetch the manifest or index the tag or digest names (exact bytes, digest checked)."""
        return _manifest(self.client.get_manifest(self.repository, self.ref.reference))

    def manifest(self, descriptor: Descriptor) -> ManifestBytes:
        """Fetch a manifest by digest; the client checks the bytes against it."""
        return _manifest(self.client.get_manifest(self.repository, str(descriptor.digest)))

    def copy_blob(self, descriptor: Descriptor, out: Writable, on_progress: Progress) -> None:
        """Stream a blob into ``out``; the client resumes drops and checks size and digest."""
        # From offset 0 the client only writes to ``out``; any writer will do.
        self.client.fetch_blob(
            self.repository,
            descriptor.digest,
            cast(BinaryIO, out),
            size=descriptor.size,
            on_progress=on_progress,
        )

    def opener(self, descriptor: Descriptor) -> BlobOpener | None:
        """None: a remote blob has no random access."""
        return None

    def referrers(self, digest: Digest) -> list[Descriptor]:
        """The referrers of ``digest`` (referrers API, else the ``sha256-<hex>`` tag index)."""
        return self.client.referrers(self.repository, digest)

    def close(self) -> None:
        """Nothing to release (the caller owns the client)."""


class RegistryTarget:
    """A registry repository to copy into; the tag (or digest) is put last, by :meth:`commit`."""

    supports_index = True
    supports_referrers = True

    def __init__(
        self,
        client: RegistryAPI,
        ref: RegistryReference,
        *,
        mount_from: Sequence[str] = (),
        chunk_size: int = CHUNK_SIZE,
        monolithic_limit: int = MONOLITHIC_LIMIT,
    ) -> None:
        """Write into ``ref``'s repository through ``client``.

        Args:
            client: the registry client (the caller closes it).
            ref: the repository and the tag (or digest) to put the image under.
            mount_from: repositories of the same registry to try mounting blobs from.
            chunk_size: bytes per ``PATCH`` of a chunked upload.
            monolithic_limit: blobs up to this size are sent in one request.
        """
        self.client = client
        self.ref = ref
        self.registry = ref.registry
        self.repository = ref.repository
        self.description = str(ref)
        self.mount_from = tuple(r for r in mount_from if r != ref.repository)
        self.chunk_size = chunk_size
        self.monolithic_limit = monolithic_limit

    def __enter__(self) -> RegistryTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to undo: blobs without a manifest are invisible and garbage-collected."""

    def has_blob(self, descriptor: Descriptor) -> bool:
        """``HEAD`` the blob in the target repository."""
        return self.client.blob_size(self.repository, descriptor.digest) is not None

    def mount_blob(self, descriptor: Descriptor) -> str | None:
        """Mount the blob from the first of ``mount_from`` that has it; the repository, or None."""
        for repository in self.mount_from:
            if self.client.mount_blob(self.repository, descriptor.digest, repository):
                return repository
        return None

    def put_blob(self, descriptor: Descriptor, source: _BlobSource, on_progress: Progress) -> None:
        """Upload a blob from ``source`` (monolithic when small, chunked and resumable when large)."""
        chunk = self.chunk_size if descriptor.size > self.monolithic_limit else None
        open_at = source.opener(descriptor)
        with contextlib.ExitStack() as stack:
            if open_at is None:
                open_at = stack.enter_context(_spooled(source, descriptor, on_progress))
            self.client.upload_blob(
                self.repository,
                descriptor.digest,
                descriptor.size,
                open_at,
                chunk_size=chunk,
                on_progress=on_progress,
            )

    def put_manifest(self, manifest: ManifestBytes) -> None:
        """Put a manifest under its digest (an index's child, or a referrer)."""
        self.client.put_manifest(self.repository, str(manifest.digest), manifest.data, manifest.media_type)

    def add_referrer(self, subject: Digest, manifest: ManifestBytes) -> None:
        """Put a referrer by digest and make it listable (tag index when the registry needs one)."""
        self.put_manifest(manifest)
        register_referrer(self.client, self.repository, subject, manifest)

    def commit(self, top: ManifestBytes) -> None:
        """Put ``top`` under the tag, or check it is the digest the reference names.

        Raises:
            InputError: the reference names another digest than the image copied.
        """
        if self.ref.digest is not None and self.ref.digest != top.digest:
            raise InputError(
                f"{self.description} names digest {self.ref.digest}, but the image copied is {top.digest}",
                hint="give the destination a tag, or the digest the source resolves to",
            )
        reference = self.ref.tag if self.ref.digest is None and self.ref.tag else str(top.digest)
        self.client.put_manifest(self.repository, reference, top.data, top.media_type)


@contextlib.contextmanager
def _spooled(source: _BlobSource, descriptor: Descriptor, on_progress: Progress) -> Iterator[BlobOpener]:
    """Download a remote blob (verified) so it can be uploaded, and resumed, from a local copy."""
    if descriptor.size <= _SPOOL_IN_MEMORY:
        buffer = io.BytesIO()
        source.copy_blob(descriptor, buffer, on_progress)
        data = buffer.getvalue()
        yield lambda offset: io.BytesIO(data[offset:])
        return
    with tempfile.TemporaryDirectory(prefix="dockwright-spool-") as tmp:
        path = Path(tmp) / descriptor.digest.hex
        with open(path, "wb") as f:
            source.copy_blob(descriptor, f, on_progress)

        def open_at(offset: int) -> BinaryIO:
            f = open(path, "rb")  # noqa: SIM115 (the client closes it)
            f.seek(offset)
            return f

        yield open_at
