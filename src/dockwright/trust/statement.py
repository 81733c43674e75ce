"""in-toto Statement v1: the signed claim that binds a predicate (an SBOM, a provenance) to an image.

A :class:`Statement` is ``{"_type", "subject", "predicateType", "predicate"}`` as the in-toto
attestation framework defines it (``spec/v1/statement.md``): ``_type`` is always
:data:`STATEMENT_TYPE`, each subject is a ResourceDescriptor with a ``digest`` (a DigestSet), and
the predicate is free JSON whose schema ``predicateType`` names. Unknown fields are kept
(the spec's parsing rules say consumers MUST ignore them), so a statement read and written back
loses nothing; but the bytes that were signed are what a verifier trusts, never a re-serialization.

Builders:

* :func:`sbom_statement`: the predicate is the SBOM document itself, with the predicate types the
  in-toto predicate index gives: ``https://spdx.dev/Document`` (SPDX) and
  ``https://cyclonedx.org/bom`` (CycloneDX).
* :func:`provenance_statement`: SLSA Provenance v1 (``https://slsa.dev/provenance/v1``) of a
  ``dockwright build``. ``buildType`` and ``builder.id`` must be TypeURIs (RFC 3986); dockwright has
  no web host of its own, so both are URNs (:data:`BUILD_TYPE`, :data:`DEFAULT_BUILDER_ID`). SLSA
  says such a URI SHOULD resolve to documentation, not that it MUST; the build type is documented
  here. ``externalParameters`` holds what the user controls: the spec and lock (path and sha256),
  the architecture and ``SOURCE_DATE_EPOCH``. ``resolvedDependencies`` lists every InRelease the
  lock was resolved against and every .deb (``uri``: where it is downloaded from, ``name``: its
  pool path, ``digest.sha256`` from the signed index). ``runDetails.builder.version`` records the
  dockwright version; ``metadata`` the invocation id and start/finish times (RFC 3339, UTC).

What this module does not do: sign or verify (see :mod:`dockwright.trust.envelope`), decide which
subjects a verifier accepts (see :mod:`dockwright.trust.verify`), or validate predicates against
their own schemas (an SBOM is checked by the SBOM writers' tests, not here).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockwright import __version__
from dockwright.build.lock import Lock
from dockwright.errors import InputError
from dockwright.oci.digest import Digest

__all__ = [
    "BUILD_TYPE",
    "CYCLONEDX_PREDICATE",
    "DEFAULT_BUILDER_ID",
    "PAYLOAD_TYPE",
    "SBOM_PREDICATES",
    "SLSA_PROVENANCE",
    "SPDX_PREDICATE",
    "STATEMENT_TYPE",
    "Statement",
    "Subject",
    "parse_time",
    "provenance_statement",
    "rfc3339",
    "sbom_predicate_type",
    "sbom_statement",
    "statement_time",
    "subjects_text",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
"""The DSSE ``payloadType`` of an in-toto statement (in-toto ``spec/v1/envelope.md``)."""
SPDX_PREDICATE = "https://spdx.dev/Document"
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
SBOM_PREDICATES = {"spdx-json": SPDX_PREDICATE, "cyclonedx-json": CYCLONEDX_PREDICATE}
"""The predicate type of each SBOM format ``dockwright sbom`` writes."""

BUILD_TYPE = "urn:dockwright:build-type:debian-image:v1"
"""``buildDefinition.buildType`` of ``dockwright build`` (see the module docstring for its fields)."""
DEFAULT_BUILDER_ID = "urn:dockwright:builder:local"
"""``runDetails.builder.id`` when the caller names no build platform: dockwright on the local host."""

_HEX = re.compile(r"[0-9a-f]+")
_ALGORITHM = re.compile(r"[a-z0-9_]+")
_KNOWN = frozenset({"_type", "subject", "predicateType", "predicate"})


def rfc3339(when: dt.datetime) -> str:
    """``when`` in UTC as ``YYYY-MM-DDThh:mm:ssZ`` (the in-toto Timestamp form).

    Raises:
        InputError: ``when`` has no time zone.
    """
    if when.tzinfo is None:
        raise InputError(f"time {when.isoformat()} has no time zone; pass an aware datetime")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """One artifact a statement is about: a ``name`` and a DigestSet (algorithm -> lowercase hex)."""

    digest: Mapping[str, str]
    name: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_image(cls, name: str, manifest_digest: Digest | str) -> Subject:
        """The subject of an image: its name and manifest digest.

        Raises:
            InputError: ``manifest_digest`` is not a sha256 digest.
        """
        digest = manifest_digest if isinstance(manifest_digest, Digest) else Digest.parse(manifest_digest)
        return cls(name=name, digest={digest.algorithm: digest.hex})

    def matches(self, digest: Digest) -> bool:
        """True when this subject's DigestSet has ``digest`` (only sha256 is acceptable here)."""
        return self.digest.get(digest.algorithm) == digest.hex

    def to_dict(self) -> dict[str, Any]:
        """The ResourceDescriptor JSON object."""
        out: dict[str, Any] = {**self.extra}
        if self.name:
            out["name"] = self.name
        out["digest"] = dict(self.digest)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "subject") -> Subject:
        """Validate a subject: an object whose ``digest`` maps algorithms to lowercase hex.

        Raises:
            InputError: the subject is malformed.
        """
        if not isinstance(data, dict):
            raise InputError(f"{where} must be an object")
        name = data.get("name", "")
        if not isinstance(name, str):
            raise InputError(f"{where}.name must be a string")
        digest = data.get("digest")
        if not isinstance(digest, dict) or not digest:
            raise InputError(f"{where}.digest must be a non-empty object of algorithm: hex")
        for algorithm, value in digest.items():
            if not _ALGORITHM.fullmatch(algorithm) or not isinstance(value, str) or not _HEX.fullmatch(value):
                raise InputError(f"{where}.digest.{algorithm} must be lowercase hex")
        extra = {k: v for k, v in data.items() if k not in ("name", "digest")}
        return cls(name=name, digest=dict(digest), extra=extra)


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """An in-toto Statement v1 (see the module docstring)."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def about(self, digest: Digest) -> bool:
        """True when one of the subjects is the artifact with ``digest``."""
        return any(subject.matches(digest) for subject in self.subjects)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (unknown fields kept)."""
        return {
            **self.extra,
            "_type": STATEMENT_TYPE,
            "subject": [s.to_dict() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": dict(self.predicate),
        }

    def to_json(self) -> bytes:
        """Compact JSON with sorted keys: the bytes to sign (deterministic for equal statements)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_dict(cls, data: Any) -> Statement:
        """Validate a statement.

        Raises:
            InputError: not an in-toto Statement v1 (wrong ``_type``, no subject, a subject without
                a digest, an empty ``predicateType``, a predicate that is not an object).
        """
        if not isinstance(data, dict):
            raise InputError("the statement must be a JSON object")
        if data.get("_type") != STATEMENT_TYPE:
            raise InputError(f"the statement's _type is {data.get('_type')!r}, not {STATEMENT_TYPE!r}")
        subjects = data.get("subject")
        if not isinstance(subjects, list) or not subjects:
            raise InputError("the statement must name at least one subject")
        predicate_type = data.get("predicateType")
        if not isinstance(predicate_type, str) or not predicate_type:
            raise InputError("the statement's predicateType must be a non-empty string")
        predicate = data.get("predicate", {})
        if predicate is None:
            predicate = {}
        if not isinstance(predicate, dict):
            raise InputError("the statement's predicate must be a JSON object")
        return cls(
            subjects=tuple(Subject.from_dict(s, f"subject[{i}]") for i, s in enumerate(subjects)),
            predicate_type=predicate_type,
            predicate=predicate,
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

    @classmethod
    def from_json(cls, data: bytes) -> Statement:
        """Parse statement bytes (UTF-8 JSON).

        Raises:
            InputError: not JSON, or not a valid statement.
        """
        try:
            decoded = json.loads(data)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, over-long integers
            raise InputError(f"the statement is not valid JSON: {exc}") from None
        return cls.from_dict(decoded)


def sbom_statement(
    image_name: str, manifest_digest: Digest | str, document: Mapping[str, Any] | bytes
) -> Statement:
    """A statement whose predicate is the SBOM ``document`` of the image.

    Args:
        image_name: the subject's name, e.g. ``127.0.0.1:5000/team/app`` (no tag: the digest
            identifies the image).
        manifest_digest: the image manifest's digest.
        document: the SPDX 2.x or CycloneDX JSON document, as bytes (``dockwright sbom`` output)
            or decoded.

    Returns:
        The statement; its predicate type is :data:`SPDX_PREDICATE` or :data:`CYCLONEDX_PREDICATE`,
        told by the document's ``spdxVersion`` or ``bomFormat``.

    Raises:
        InputError: the document is neither SPDX nor CycloneDX JSON, or the digest is malformed.
    """
    if isinstance(document, bytes):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, over-long integers
            raise InputError(f"the SBOM is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise InputError("the SBOM must be a JSON object")
    return Statement(
        subjects=(Subject.of_image(image_name, manifest_digest),),
        predicate_type=sbom_predicate_type(document),
        predicate=dict(document),
    )


def sbom_predicate_type(document: Mapping[str, Any]) -> str:
    """The predicate type of an SBOM document.

    Raises:
        InputError: the document is neither SPDX nor CycloneDX JSON.
    """
    if isinstance(document.get("spdxVersion"), str):
        return SPDX_PREDICATE
    if document.get("bomFormat") == "CycloneDX":
        return CYCLONEDX_PREDICATE
    raise InputError("the SBOM is neither SPDX (spdxVersion) nor CycloneDX (bomFormat) JSON")


def provenance_statement(
    image_name: str,
    manifest_digest: Digest | str,
    lock: Lock,
    *,
    spec_path: str,
    lock_path: str,
    started_on: dt.datetime,
    finished_on: dt.datetime | None = None,
    source_date_epoch: int | None = None,
    lock_digest: Digest | None = None,
    invocation_id: str | None = None,
    builder_id: str = DEFAULT_BUILDER_ID,
) -> Statement:
    """The SLSA Provenance v1 statement of an image ``dockwright build`` wrote.

    Args:
        image_name: the subject's name (see :func:`sbom_statement`).
        manifest_digest: the image manifest's digest.
        lock: the lock the image was built from (every .deb and InRelease digest comes from it).
        spec_path: the spec as the user named it (``dockwright.yaml``).
        lock_path: the lock as the user named it.
        started_on: when the build started (aware datetime).
        finished_on: when it finished, if known.
        source_date_epoch: the timestamp given to every file and the config (``lock.timestamp`` when
            None, as the builder does).
        lock_digest: the digest of the lock file's bytes; the digest of ``lock.to_bytes()`` (what
            ``dockwright lock`` writes) when None.
        invocation_id: identifies this build; a random UUID URN when None.
        builder_id: the build platform (see :data:`DEFAULT_BUILDER_ID`).

    Returns:
        The statement (predicate type :data:`SLSA_PROVENANCE`).

    Raises:
        InputError: a digest is malformed or a time has no time zone.
    """
    spec_digest = Digest.parse(lock.spec_sha256)
    lock_digest = lock_digest or Digest.of(lock.to_bytes())
    external = {
        "spec": {"path": spec_path, "digest": {"sha256": spec_digest.hex}},
        "lock": {"path": lock_path, "digest": {"sha256": lock_digest.hex}},
        "architecture": lock.architecture,
        "sourceDateEpoch": lock.timestamp if source_date_epoch is None else source_date_epoch,
    }
    metadata = {
        "invocationId": invocation_id or uuid.uuid4().urn,
        "startedOn": rfc3339(started_on),
    }
    if finished_on is not None:
        metadata["finishedOn"] = rfc3339(finished_on)
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "resolvedDependencies": _dependencies(lock),
        },
        "runDetails": {
            "builder": {"id": builder_id, "version": {"dockwright": __version__}},
            "metadata": metadata,
        },
    }
    return Statement(
        subjects=(Subject.of_image(image_name, manifest_digest),),
        predicate_type=SLSA_PROVENANCE,
        predicate=predicate,
    )


def _dependencies(lock: Lock) -> list[dict[str, Any]]:
    """Every InRelease, then every .deb (sorted by pool path), as ResourceDescriptors."""
    out: list[dict[str, Any]] = []
    for repo in sorted(lock.repositories, key=lambda r: (r.uri, r.suite)):
        inrelease = Digest.parse(repo.inrelease_sha256)
        out.append(
            {
                "uri": f"{repo.uri.rstrip('/')}/dists/{repo.suite}/InRelease",
                "name": f"dists/{repo.suite}/InRelease",
                "digest": {"sha256": inrelease.hex},
            }
        )
    uris = {repo.suite: repo.uri.rstrip("/") for repo in lock.repositories}
    for package in sorted(lock.packages, key=lambda p: p.filename):
        base = uris.get(package.suite)
        entry: dict[str, Any] = {"name": package.filename, "digest": {"sha256": package.sha256}}
        if base is not None:
            entry["uri"] = f"{base}/{package.filename}"
        out.append(entry)
    return out


def statement_time(statement: Statement) -> dt.datetime | None:
    """When the statement says its subject was made: a provenance's ``startedOn``, an SPDX
    document's ``creationInfo.created`` or a CycloneDX ``metadata.timestamp``; None if absent or
    malformed."""
    p = statement.predicate
    text: object = None
    if statement.predicate_type == SLSA_PROVENANCE:
        text = _path(p, "runDetails", "metadata", "startedOn")
    elif statement.predicate_type == SPDX_PREDICATE:
        text = _path(p, "creationInfo", "created")
    elif statement.predicate_type == CYCLONEDX_PREDICATE:
        text = _path(p, "metadata", "timestamp")
    return parse_time(text) if isinstance(text, str) else None


def parse_time(text: str) -> dt.datetime | None:
    """Parse an RFC 3339 time (``Z`` or an offset, optional fractions); None when malformed."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _path(data: Mapping[str, Any], *keys: str) -> object:
    current: object = data
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def subjects_text(subjects: Sequence[Subject]) -> str:
    """``name@sha256:hex, ...`` for messages."""
    return ", ".join(
        f"{s.name or '_'}@" + ",".join(f"{a}:{h}" for a, h in sorted(s.digest.items())) for s in subjects
    )
