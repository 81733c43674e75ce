"""Store attestations next to their image as OCI referrers, and find them again.

An attestation is a DSSE envelope (:mod:`dockwright.trust.envelope`) packaged as an OCI 1.1
artifact, following the image-spec's guidelines for artifact usage::

    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "artifactType": "application/vnd.dsse.envelope.v1+json",
     "config": <the empty descriptor: application/vnd.oci.empty.v1+json, "{}">,
     "layers": [<the envelope JSON, application/vnd.dsse.envelope.v1+json>],
     "subject": <the image manifest's descriptor>,
     "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}}

The predicate-type annotation (the key BuildKit and Docker use for the same purpose) is copied by
registries and by the referrers tag schema into the referrers list, so a verifier can pick the
envelopes it needs without fetching the others. It is a **hint**: it is not signed, so the
verifier checks the predicate type inside the signed statement again.

* :func:`push_attestation` pushes one to a registry repository through
  :func:`dockwright.registry.referrers.push_artifact`, which also writes the ``sha256-<hex>`` tag
  index on registries without the referrers API (Debian's ``docker-registry`` 2.8).
* :func:`write_attestation` adds one to a local OCI layout as an untagged ``index.json`` entry
  (OCI image-layout 1.1 keeps referrers that way; :class:`~dockwright.registry.store.LayoutSource`
  lists them by their ``subject``).
* :func:`list_attestations` reads them back from any copy source (a layout or a registry
  repository), envelope bytes verified against their descriptors and capped in size, and
  :func:`select_attestation` picks the first that verifies for a kind and says why none did.

What this module does not do: sign envelopes, trust the annotation, decide which keys are trusted
(the policy does), or delete or replace older attestations (a subject may have several of one
type; the first that verifies is taken).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from securesystemslib.signer import Key

from dockwright.errors import InputError
from dockwright.oci.descriptor import OCI_EMPTY, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest, Writable
from dockwright.oci.image import Manifest
from dockwright.oci.layout import OciLayoutWriter
from dockwright.registry.content import ManifestBytes, Progress
from dockwright.registry.referrers import EMPTY_CONFIG, ArtifactFile, ReferrersAPI, push_artifact
from dockwright.trust._verify_errors import AttestationError
from dockwright.trust.envelope import MAX_ENVELOPE, EnvelopeError, VerifiedStatement, open_statement
from dockwright.trust.statement import subjects_text

__all__ = [
    "DSSE_MEDIA_TYPE",
    "PREDICATE_ANNOTATION",
    "AttestationSource",
    "StoredAttestation",
    "attestation_manifest",
    "list_attestations",
    "push_attestation",
    "select_attestation",
    "write_attestation",
]

DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
"""The artifact type of an attestation and the media type of its one layer (the envelope)."""
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
"""Manifest annotation naming the statement's predicate type (an unsigned hint)."""


class AttestationSource(Protocol):
    """What listing needs: a :class:`~dockwright.registry.store.SourceStore` has these methods."""

    def referrers(self, digest: Digest) -> list[Descriptor]:
        """Descriptors of the manifests whose ``subject`` is ``digest``."""
        ...

    def manifest(self, descriptor: Descriptor) -> ManifestBytes:
        """A manifest by descriptor, verified against it."""
        ...

    def copy_blob(self, descriptor: Descriptor, out: Writable, on_progress: Progress) -> None:
        """Write the blob's bytes to ``out``, verified against the descriptor."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredAttestation:
    """One attestation found: its artifact manifest, the predicate-type hint, the envelope bytes."""

    manifest: ManifestBytes
    predicate_hint: str | None
    envelope: bytes

    @property
    def envelope_digest(self) -> Digest:
        """The sha256 of the envelope bytes (what TUF pins)."""
        return Digest.of(self.envelope)


def attestation_manifest(subject: Descriptor, envelope: bytes, predicate_type: str) -> ManifestBytes:
    """The artifact manifest of ``envelope`` about ``subject`` (see the module docstring)."""
    config = ArtifactFile(EMPTY_CONFIG, OCI_EMPTY).descriptor
    layer = ArtifactFile(envelope, DSSE_MEDIA_TYPE).descriptor
    manifest = Manifest(
        config=config,
        layers=(layer,),
        subject=Descriptor(media_type=subject.media_type, digest=subject.digest, size=subject.size),
        artifact_type=DSSE_MEDIA_TYPE,
        annotations={PREDICATE_ANNOTATION: predicate_type},
    )
    data = manifest.to_json()
    return ManifestBytes(data, OCI_MANIFEST, Digest.of(data))


def push_attestation(
    client: ReferrersAPI, repository: str, subject: Descriptor, envelope: bytes, predicate_type: str
) -> ManifestBytes:
    """Push ``envelope`` as a referrer of ``subject`` (a manifest of ``repository``).

    Args:
        client: the registry client.
        repository: the image's repository.
        subject: the image manifest's descriptor (media type, digest, size).
        envelope: the DSSE envelope's JSON bytes.
        predicate_type: the statement's predicate type (written as the annotation hint).

    Returns:
        The artifact manifest pushed; the same bytes :func:`attestation_manifest` gives.

    Raises:
        RegistryError: the registry failed or refused the artifact.
    """
    return push_artifact(
        client,
        repository,
        subject,
        artifact_type=DSSE_MEDIA_TYPE,
        files=(ArtifactFile(envelope, DSSE_MEDIA_TYPE),),
        annotations={PREDICATE_ANNOTATION: predicate_type},
    )


def write_attestation(
    layout: Path, subject: Descriptor, envelope: bytes, predicate_type: str
) -> ManifestBytes:
    """Add ``envelope`` to the OCI layout at ``layout`` as a referrer of ``subject``.

    Returns:
        The artifact manifest written (an untagged ``index.json`` entry).

    Raises:
        InputError: ``layout`` is not an OCI layout, or does not hold the subject's manifest.
    """
    if not (Path(layout) / "blobs" / subject.digest.algorithm / subject.digest.hex).is_file():
        raise InputError(f"the layout {layout} does not hold the image {subject.digest}")
    manifest = attestation_manifest(subject, envelope, predicate_type)
    with OciLayoutWriter(Path(layout)) as writer:
        writer.add_blob(EMPTY_CONFIG)
        writer.add_blob(envelope)
        writer.commit(manifest.data, media_type=OCI_MANIFEST)
    return manifest


def list_attestations(
    source: AttestationSource,
    subject: Digest,
    *,
    predicate_types: Sequence[str] | None = None,
    max_envelope: int = MAX_ENVELOPE,
) -> list[StoredAttestation]:
    """The attestations whose ``subject`` is ``subject``, envelopes fetched and verified by digest.

    Args:
        source: a layout or registry source (anything with :class:`AttestationSource`'s methods).
        subject: the image manifest's digest.
        predicate_types: keep only attestations whose hint is one of these, or that have no hint
            (the signed statement decides); None keeps all.
        max_envelope: envelopes larger than this are skipped unread (a verifier then finds the
            attestation missing, which is the safe side).

    Returns:
        The attestations, in the order the source lists its referrers.

    Raises:
        RegistryError: the registry failed.
        DigestMismatchError: a manifest or envelope does not match its descriptor.
    """
    found = []
    for descriptor in source.referrers(subject):
        if descriptor.artifact_type != DSSE_MEDIA_TYPE or descriptor.media_type != OCI_MANIFEST:
            continue
        hint = descriptor.annotations.get(PREDICATE_ANNOTATION)
        if predicate_types is not None and hint is not None and hint not in predicate_types:
            continue
        stored = _load(source, descriptor, subject, max_envelope)
        if stored is not None:
            found.append(stored)
    return found


def _load(
    source: AttestationSource, descriptor: Descriptor, subject: Digest, max_envelope: int
) -> StoredAttestation | None:
    """Fetch one artifact and its envelope; None when it is not a well-formed attestation of ``subject``."""
    manifest = source.manifest(descriptor)
    try:
        parsed = Manifest.from_json(manifest.data)
    except InputError:
        return None
    layers = [d for d in parsed.layers if d.media_type == DSSE_MEDIA_TYPE]
    if parsed.subject is None or parsed.subject.digest != subject or len(layers) != 1:
        return None
    layer = layers[0]
    if layer.size > max_envelope:
        return None
    out = io.BytesIO()
    source.copy_blob(layer, out, lambda done: None)
    hint = parsed.annotations.get(PREDICATE_ANNOTATION)
    return StoredAttestation(manifest=manifest, predicate_hint=hint, envelope=out.getvalue())


def select_attestation(
    stored: Sequence[StoredAttestation],
    *,
    kind: str,
    types: Sequence[str],
    keys: Sequence[Key],
    threshold: int,
    subject: Digest,
    pinned: frozenset[Digest] | None = None,
    max_envelope: int = MAX_ENVELOPE,
) -> VerifiedStatement:
    """The first of ``stored`` that is a verified statement of ``types`` about ``subject``.

    A candidate passes when ``threshold`` distinct ``keys`` signed its envelope, the signed
    predicate type is one of ``types``, a subject of the statement has ``subject``'s digest, and
    (when ``pinned`` is given) the envelope's or its artifact manifest's digest is pinned.
    Candidates whose hint names another type are not opened.

    Args:
        stored: from :func:`list_attestations`.
        kind: names the kind in messages (``sbom``, ``provenance``).
        types: the predicate types that satisfy the kind.
        keys: the trusted public keys.
        threshold: distinct keys that must have signed.
        subject: the image manifest's digest.
        pinned: digests the trust repository pinned with the tag (of envelopes or of their
            artifact manifests: either pins the attestation), or None.
        max_envelope: the envelope size cap.

    Raises:
        AttestationError: none passes: ``missing-attestation`` when there was no candidate, else the
            reason of the first failure (``bad-signature``, ``malformed-attestation``,
            ``wrong-subject``, ``not-pinned``), every failure in ``details``.
        InputError: ``threshold`` cannot be met with ``keys``.
    """
    failures: list[tuple[str, str]] = []
    for candidate in stored:
        if candidate.predicate_hint is not None and candidate.predicate_hint not in types:
            continue
        verified, failure = _check(candidate, types, keys, threshold, subject, pinned, max_envelope)
        if verified is not None:
            return verified
        if failure is not None:
            failures.append(failure)
    if not failures:
        raise AttestationError(
            f"no {kind} attestation is attached to {subject}", reason="missing-attestation"
        )
    reason, first = failures[0]
    raise AttestationError(
        f"no {kind} attestation of {subject} verifies: {first}",
        reason=reason,
        details=[m for _, m in failures],
    )


def _check(
    candidate: StoredAttestation,
    types: Sequence[str],
    keys: Sequence[Key],
    threshold: int,
    subject: Digest,
    pinned: frozenset[Digest] | None,
    max_envelope: int,
) -> tuple[VerifiedStatement | None, tuple[str, str] | None]:
    """``(verified, None)``, or ``(None, (reason, message))``, or ``(None, None)`` for another kind."""
    where = f"attestation {candidate.manifest.digest}"
    try:
        verified = open_statement(candidate.envelope, keys, threshold, max_size=max_envelope)
    except EnvelopeError as exc:
        reason = "malformed-attestation" if exc.reason in ("malformed", "statement") else "bad-signature"
        return None, (reason, f"{where}: {exc.message}")
    statement = verified.statement
    if statement.predicate_type not in types:
        if candidate.predicate_hint is None:
            return None, None
        return None, (
            "malformed-attestation",
            f"{where} is labelled {candidate.predicate_hint} but signs {statement.predicate_type}",
        )
    if not statement.about(subject):
        return None, ("wrong-subject", f"{where} is about {subjects_text(statement.subjects)}, not {subject}")
    if pinned is not None and not {verified.envelope.digest, candidate.manifest.digest} & pinned:
        return None, (
            "not-pinned",
            f"{where}: its envelope {verified.envelope.digest} is not pinned with the tag",
        )
    return verified, None
