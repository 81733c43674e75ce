"""Referrers on registries: push an artifact that refers to an image, list them, keep the tag index.

OCI 1.1 lets a manifest name another in its ``subject`` (a signature, an SBOM, an attestation). A
registry with the referrers API lists them at ``/v2/<name>/referrers/<digest>``; one without it
(Debian's ``docker-registry`` 2.8 answers that URL with 404) is served by the **referrers tag
schema**: the client keeps an image index tagged ``sha256-<hex>`` (the subject's digest) whose
``manifests`` are the referrers' descriptors, ``artifactType`` and annotations included.

:func:`register_referrer` is what the copy engine calls after storing a manifest with a
``subject``: it lists the subject's referrers (the client uses the API, else the tag index) and,
if the new manifest is not among them, the registry has no API and the tag index is updated. So the
index is written exactly when the registry needs it, without probing for the API separately.

What this module does not do: lock the tag index (two clients adding referrers to one subject at
the same moment can lose one entry, as with every tag-schema client), delete referrers, sign, or
verify what artifacts say.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO, Protocol

from dockwright.errors import InputError
from dockwright.oci.descriptor import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index, Manifest
from dockwright.registry._errors import ManifestNotFound
from dockwright.registry.client import FetchedManifest
from dockwright.registry.content import ManifestBytes, referrer_descriptor

__all__ = [
    "EMPTY_CONFIG",
    "ArtifactFile",
    "ReferrersAPI",
    "add_to_tag_index",
    "push_artifact",
    "referrers_tag",
    "register_referrer",
]

EMPTY_CONFIG = b"{}"
"""The OCI empty descriptor's content, used as the config of artifacts that need none."""


class ReferrersAPI(Protocol):
    """The registry client methods used here (:class:`~dockwright.registry.RegistryClient`)."""

    def blob_size(self, repository: str, digest: Digest) -> int | None: ...

    def upload_blob(
        self,
        repository: str,
        digest: Digest,
        size: int,
        open_at: Callable[[int], BinaryIO],
        *,
        chunk_size: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None: ...

    def get_manifest(
        self, repository: str, reference: str, *, accept: Sequence[str] = ...
    ) -> FetchedManifest: ...

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> Digest: ...

    def referrers(
        self, repository: str, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]: ...


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One layer of an artifact: its bytes, media type and (optional) annotations."""

    data: bytes
    media_type: str
    annotations: Mapping[str, str] | None = None

    @property
    def descriptor(self) -> Descriptor:
        """The layer descriptor of these bytes."""
        return Descriptor(
            media_type=self.media_type,
            digest=Digest.of(self.data),
            size=len(self.data),
            annotations=dict(self.annotations or {}),
        )


def referrers_tag(digest: Digest) -> str:
    """The tag of ``digest``'s referrers index: ``sha256-<hex>``."""
    return f"{digest.algorithm}-{digest.hex}"


def add_to_tag_index(client: ReferrersAPI, repository: str, subject: Digest, referrer: Descriptor) -> bool:
    """Add ``referrer`` to the ``sha256-<hex>`` index of ``subject`` (created when missing).

    Returns:
        True when the index was written; False when it already listed the referrer.

    Raises:
        RegistryError: the registry failed or refused the index.
        InputError: the tag holds something that is not an image index.
    """
    tag = referrers_tag(subject)
    try:
        current = client.get_manifest(repository, tag, accept=(OCI_INDEX,))
    except ManifestNotFound:
        index = Index(manifests=())
    else:
        try:
            index = Index.from_json(current.data)
        except InputError as exc:
            raise InputError(
                f"the referrers tag {tag} of {repository} is not an image index: {exc.message}"
            ) from None
    if any(d.digest == referrer.digest for d in index.manifests):
        return False
    updated = replace(index, media_type=OCI_INDEX, manifests=(*index.manifests, referrer))
    client.put_manifest(repository, tag, updated.to_json(), OCI_INDEX)
    return True


def register_referrer(
    client: ReferrersAPI, repository: str, subject: Digest, manifest: ManifestBytes
) -> bool:
    """Make a stored ``manifest`` listable as a referrer of ``subject`` (see the module docstring).

    Returns:
        True when the tag index had to be written (the registry has no referrers API).

    Raises:
        RegistryError: the registry failed.
    """
    listed = client.referrers(repository, subject)
    if any(d.digest == manifest.digest for d in listed):
        return False
    return add_to_tag_index(client, repository, subject, referrer_descriptor(manifest))


def push_artifact(
    client: ReferrersAPI,
    repository: str,
    subject: Descriptor,
    *,
    artifact_type: str,
    files: Sequence[ArtifactFile],
    annotations: Mapping[str, str] | None = None,
) -> ManifestBytes:
    """Push an artifact manifest whose ``subject`` is ``subject``, and register it as a referrer.

    The manifest is an OCI image manifest with ``artifactType``, the empty config (``{}``,
    ``application/vnd.oci.empty.v1+json``) and ``files`` as layers. Blobs the repository holds are
    not sent again.

    Args:
        client: the registry client.
        repository: where the subject lives.
        subject: the descriptor of the manifest the artifact is about.
        artifact_type: e.g. ``application/spdx+json``.
        files: the artifact's content, one layer each.
        annotations: manifest annotations (``org.opencontainers.image.created``, ...).

    Returns:
        The manifest pushed (its digest is the artifact's).

    Raises:
        RegistryError: the registry failed or refused access.
    """
    config = ArtifactFile(EMPTY_CONFIG, OCI_EMPTY)
    for blob in (config, *files):
        d = blob.descriptor
        if client.blob_size(repository, d.digest) is None:
            client.upload_blob(repository, d.digest, d.size, _opener(blob.data))
    manifest = Manifest(
        config=replace(config.descriptor, annotations={}),
        layers=tuple(f.descriptor for f in files) or (config.descriptor,),
        subject=Descriptor(media_type=subject.media_type, digest=subject.digest, size=subject.size),
        artifact_type=artifact_type,
        annotations=dict(annotations or {}),
    )
    pushed = ManifestBytes(manifest.to_json(), OCI_MANIFEST, Digest.of(manifest.to_json()))
    client.put_manifest(repository, str(pushed.digest), pushed.data, OCI_MANIFEST)
    register_referrer(client, repository, subject.digest, pushed)
    return pushed


def _opener(data: bytes) -> Callable[[int], BinaryIO]:
    return lambda offset: io.BytesIO(data[offset:])
