"""Verify an image against a trust policy: TUF for the tag, signed attestations, then the layers.

:func:`verify_image` refuses an image unless every step passes, in this order (cheap and
network-only checks first, the layer download and introspection last):

1. **scope**: the policy's first scope covering ``REGISTRY/REPOSITORY`` (or ``oci:DIR``) applies;
   none covers it: refused (``no-scope``), since a verifier fails closed.
2. **tag**: the injected ``resolve(tag)`` (the TUF client: freshness, rollback, thresholds) gives
   the digest the tag was signed for; the registry's (or layout's) manifest must be exactly that
   (``moved-tag``: the "arbitrary image" attack class), and every role the scope names must have
   carried at least that many valid signatures on the path to the tag (``trust-roles``). Without
   a resolver, a scope that names roles is refused (``untrusted-tag``); TUF's own refusals (an
   unsigned tag, expired or rolled-back metadata) propagate as they are.
3. **attestations**: for each required kind, the first referrer of the manifest whose DSSE
   envelope is signed by ``threshold`` distinct policy keys, whose statement is of that kind, is
   about this manifest digest, and (when TUF pinned attestation digests for the tag) is pinned.
   Refusals: ``missing-attestation``, ``bad-signature``, ``wrong-subject`` ("attestation for
   another subject"), ``not-pinned``, ``malformed-attestation``, ``unknown-key``.
4. **introspection**: the layers are read (:func:`dockwright.inspect.inspector.analyze`) and the
   SBOM recomputed in the signed SBOM's format; any package difference is refused
   (``sbom-mismatch``: "layers no longer match the signed SBOM") with the diff.
5. **policy**: forbidden packages, dev/test packages and waste rules on the real packages, and
   ``max-age``: ``forbidden-package``, ``dev-packages``, ``wasted``, ``too-old``, ``no-age``. The
   age is the image config's ``created`` (covered by the manifest digest, hence by the checks
   above), else the verified provenance's ``startedOn``. The config comes first because it dates
   the *contents*: a reproducible build sets it to ``SOURCE_DATE_EPOCH`` (the lock's newest
   Release date), so rebuilding and re-signing an old lock does not make its packages younger.
   An SBOM's creation time is never used: it dates the SBOM, not the image.

Refusals are :class:`ImageRefused` subclasses (all :class:`~dockwright.errors.VerificationError`,
exit 5) with ``reason`` and ``details``; the tree is drawn in :mod:`dockwright.trust._verify_errors`.

The image is read once: its manifest (by tag) for the TUF check, then the image and its referrers
are copied (from a registry by that manifest's digest) into a temporary OCI layout, every blob
verified on the way, and the layers analyzed there are checked to be that manifest's.

What this module does not do: talk TUF itself (the resolver does), sign anything, verify image
indexes (name the platform image by digest), or keep the copy.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from securesystemslib.signer import Key

from dockwright.errors import InputError
from dockwright.inspect.inspector import Analysis, analyze, sbom
from dockwright.oci.digest import Digest
from dockwright.oci.reference import OciReference
from dockwright.registry.content import ManifestBytes
from dockwright.registry.endpoints import Connector, copy, parse_endpoint
from dockwright.registry.reference import RegistryReference
from dockwright.registry.remote import RegistryAPI, RegistrySource
from dockwright.registry.store import LayoutSource
from dockwright.registry.transfer import TransferOptions
from dockwright.trust._verify_errors import (
    AttestationError,
    ImageRefused,
    PolicyViolationError,
    SbomMismatchError,
    UntrustedTagError,
)
from dockwright.trust.attestation_store import AttestationSource, list_attestations, select_attestation
from dockwright.trust.envelope import MAX_ENVELOPE, VerifiedStatement
from dockwright.trust.policy import Policy, Scope
from dockwright.trust.sbom_compare import compare_packages, document_packages
from dockwright.trust.statement import (
    CYCLONEDX_PREDICATE,
    SLSA_PROVENANCE,
    SPDX_PREDICATE,
    parse_time,
    statement_time,
)

__all__ = [
    "KIND_PREDICATES",
    "AttestationError",
    "ImageRefused",
    "PolicyViolationError",
    "ResolvedTag",
    "Resolver",
    "SbomMismatchError",
    "UntrustedTagError",
    "VerificationReport",
    "VerifiedAttestation",
    "VerifyOptions",
    "verify_image",
]

KIND_PREDICATES: Mapping[str, tuple[str, ...]] = {
    "sbom": (SPDX_PREDICATE, CYCLONEDX_PREDICATE),
    "provenance": (SLSA_PROVENANCE,),
}
"""The predicate types that satisfy each attestation kind a policy may require."""
_LAYOUT_TAG = "verify"
_SBOM_FORMATS = {SPDX_PREDICATE: "spdx-json", CYCLONEDX_PREDICATE: "cyclonedx-json"}


class ResolvedTag(Protocol):
    """What the TUF client says a tag names (:class:`dockwright.trust.client.TrustedTarget` fits).

    ``digest`` and ``size`` are what the tag was signed for (``size`` None: not compared);
    ``pinned`` the digests signed together with the tag for its attestations (their envelopes, or
    their artifact manifests), None when none were; ``roles`` maps each role on the path to the
    tag to the number of valid signatures it carried.
    """

    @property
    def digest(self) -> Digest: ...

    @property
    def size(self) -> int | None: ...

    @property
    def pinned(self) -> frozenset[Digest] | None: ...

    @property
    def roles(self) -> Mapping[str, int]: ...


Resolver = Callable[[str], ResolvedTag]
"""Resolves a tag through TUF; raises a VerificationError (e.g. ``TagNotSignedError``) if it cannot."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOptions:
    """Limits and collaborators of a verification.

    Attributes:
        max_envelope: envelopes larger than this are not read.
        key_lookup: gives the public key of a policy key listed by ``keyid`` only.
        now: the current time (for ``max-age``).
    """

    max_envelope: int = MAX_ENVELOPE
    key_lookup: Callable[[str], Key | None] | None = None
    now: Callable[[], dt.datetime] = _now


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedAttestation:
    """An attestation that passed: kind, predicate type, envelope digest, keys, pinned or not."""

    kind: str
    predicate_type: str
    envelope_digest: str
    keyids: tuple[str, ...]
    pinned: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationReport:
    """What a successful verification checked."""

    reference: str
    name: str
    scope: str
    digest: str
    tag: str | None
    tuf: bool
    attestations: tuple[VerifiedAttestation, ...] = ()
    packages: int | None = None
    sbom_matches: bool | None = None
    created: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "reference": self.reference,
            "name": self.name,
            "scope": self.scope,
            "digest": self.digest,
            "tag": self.tag,
            "tufVerified": self.tuf,
            "attestations": [
                {
                    "kind": a.kind,
                    "predicateType": a.predicate_type,
                    "envelopeDigest": a.envelope_digest,
                    "keyids": list(a.keyids),
                    "pinned": a.pinned,
                }
                for a in self.attestations
            ],
            "packages": self.packages,
            "sbomMatches": self.sbom_matches,
            "created": self.created,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class _Image:
    """The image being verified: scope name, tag (None for a digest), and its top manifest."""

    reference: str
    name: str
    tag: str | None
    top: ManifestBytes


def verify_image(
    ref: str,
    policy: Policy,
    *,
    resolve: Resolver | None = None,
    connect: Connector | None = None,
    options: VerifyOptions | None = None,
) -> VerificationReport:
    """Verify the image ``ref`` names against ``policy`` (steps in the module docstring).

    Args:
        ref: ``docker://REGISTRY/REPOSITORY[:TAG|@DIGEST]`` or ``oci:DIR[:TAG]``.
        policy: the parsed policy.
        resolve: the TUF client's tag resolution (bound to the image's repository), or None.
        connect: gives registry clients (required for ``docker://``).
        options: limits, key lookup and clock.

    Returns:
        The report of what passed.

    Raises:
        ImageRefused: a subclass naming the failed check (see the module docstring).
        TrustError: the TUF client refused the tag (unsigned, expired, rolled back, ...).
        InputError: a malformed reference, an image index, or a policy threshold that cannot be met.
        NetworkError, VerificationError: a registry failed, or bytes did not match their digests.
    """
    options = options or VerifyOptions()
    endpoint = parse_endpoint(ref)
    if isinstance(endpoint, RegistryReference):
        if connect is None:
            raise InputError("verifying a docker:// image needs registry connections")
        name = f"{endpoint.registry}/{endpoint.repository}"
        top = RegistrySource(connect(endpoint.registry), endpoint).resolve()
        tag = endpoint.tag if endpoint.digest is None else None
        source = f"docker://{name}@{top.digest}"  # copy exactly the manifest checked
    elif isinstance(endpoint, OciReference):
        name, tag = f"oci:{endpoint.path}", endpoint.tag
        top = LayoutSource(Path(endpoint.path), endpoint.tag).resolve()
        source = ref
    else:
        raise InputError(f"{ref}: verify reads docker:// or oci: images (an archive holds no attestations)")
    image = _Image(reference=ref, name=name, tag=tag, top=_single(top, ref))
    scope, target = _check_tag(policy, image, resolve)
    with tempfile.TemporaryDirectory(prefix="dockwright-verify-") as tmp:
        layout = Path(tmp) / "image"
        copy(
            source,
            f"oci:{layout}:{_LAYOUT_TAG}",
            connect=connect or _no_registry,
            options=TransferOptions(referrers_depth=1),
        )
        return _verify(image, scope, target, LayoutSource(layout, _LAYOUT_TAG), options)


def _no_registry(registry: str) -> RegistryAPI:
    raise InputError(f"no registry connection for {registry}")


def _single(top: ManifestBytes, ref: str) -> ManifestBytes:
    if top.is_index:
        raise InputError(
            f"{ref} names an image index; verify one platform's image",
            hint="name the platform image by digest (see `dockwright inspect`)",
        )
    return top


def _check_tag(policy: Policy, image: _Image, resolve: Resolver | None) -> tuple[Scope, ResolvedTag | None]:
    """Steps 1 and 2: the scope, and the TUF target the tag resolves to (None without TUF)."""
    scope = policy.scope_for(image.name)
    if scope is None:
        raise UntrustedTagError(
            f"no scope of the policy {policy.path} covers {image.name}",
            reason="no-scope",
            hint="add a scope whose `match:` covers this repository",
        )
    if resolve is None or image.tag is None:
        if scope.roles:
            why = "no trust repository was given" if resolve is None else "the reference names no tag"
            raise UntrustedTagError(
                f"the policy ({scope.location}) requires TUF roles for {image.name}, but {why}",
                reason="untrusted-tag",
            )
        return scope, None
    target = resolve(image.tag)
    served = image.top
    if target.digest != served.digest or (target.size is not None and target.size != len(served.data)):
        raise UntrustedTagError(
            f"{image.name}:{image.tag} is signed for {target.digest}, but {served.digest} is served",
            reason="moved-tag",
            hint="someone moved the tag without signing it: do not run this image",
        )
    weak = [
        f"role {role} needs {need} valid signature(s), it had {target.roles.get(role, 0)}"
        for role, need in scope.roles
        if target.roles.get(role, 0) < need
    ]
    if weak:
        raise UntrustedTagError(
            f"the trust metadata of {image.name} is weaker than the policy ({scope.location}) requires",
            reason="trust-roles",
            details=weak,
        )
    return scope, target


def _verify(
    image: _Image, scope: Scope, target: ResolvedTag | None, source: LayoutSource, options: VerifyOptions
) -> VerificationReport:
    digest = image.top.digest
    verified = _attestations(scope, digest, source, target, options)
    analysis: Analysis | None = None
    sbom_statement = verified.get("sbom")
    if sbom_statement is not None or scope.forbid or scope.max_age is not None:
        analysis = analyze(f"oci:{source.path}" + (f":{source.tag}" if source.tag else ""))
        if analysis.contents.manifest_digest != str(digest):
            raise UntrustedTagError(
                f"{image.reference} changed while it was verified (now {analysis.contents.manifest_digest})",
                reason="moved-tag",
            )
    if sbom_statement is not None and analysis is not None:
        _compare_sbom(sbom_statement, analysis, image)
    created = _created(verified, analysis)
    if analysis is not None:
        violations = scope.evaluate(
            packages=analysis.packages,
            waste=analysis.waste() if scope.forbid.rules else None,
            created=created,
            now=options.now(),
        )
        if violations:
            raise PolicyViolationError(
                f"{image.name} breaks the policy ({scope.location}): {violations[0].message}",
                reason=violations[0].reason,
                details=[v.message for v in violations],
            )
    return VerificationReport(
        reference=image.reference,
        name=image.name,
        scope=scope.location,
        digest=str(digest),
        tag=image.tag,
        tuf=target is not None,
        attestations=tuple(
            VerifiedAttestation(
                kind=kind,
                predicate_type=v.statement.predicate_type,
                envelope_digest=str(v.envelope.digest),
                keyids=v.keyids,
                pinned=None if target is None or target.pinned is None else True,
            )
            for kind, v in verified.items()
        ),
        packages=None if analysis is None else len(analysis.packages),
        sbom_matches=None if sbom_statement is None else True,
        created=None if created is None else created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _keys(scope: Scope, options: VerifyOptions) -> list[Key]:
    keys = []
    for trusted in scope.keys:
        key = trusted.key
        if key is None and options.key_lookup is not None:
            key = options.key_lookup(trusted.keyid)
        if key is None:
            raise AttestationError(
                f"the policy's key {trusted.keyid} ({trusted.origin}) is not in the trust repository",
                reason="unknown-key",
                hint="list the key's public key file in the policy instead of its keyid alone",
            )
        keys.append(key)
    return keys


def _attestations(
    scope: Scope,
    digest: Digest,
    source: AttestationSource,
    target: ResolvedTag | None,
    options: VerifyOptions,
) -> dict[str, VerifiedStatement]:
    """Step 3: one verified statement per required kind."""
    if not scope.attestations:
        return {}
    keys = _keys(scope, options)
    wanted = [t for kind in scope.attestations for t in KIND_PREDICATES[kind]]
    stored = list_attestations(source, digest, predicate_types=wanted, max_envelope=options.max_envelope)
    pinned = None if target is None else target.pinned
    return {
        kind: select_attestation(
            stored,
            kind=kind,
            types=KIND_PREDICATES[kind],
            keys=keys,
            threshold=scope.threshold,
            subject=digest,
            pinned=pinned,
            max_envelope=options.max_envelope,
        )
        for kind in scope.attestations
    }


def _compare_sbom(verified: VerifiedStatement, analysis: Analysis, image: _Image) -> None:
    """Step 4: the signed SBOM's packages against the ones in the real layers."""
    statement = verified.statement
    try:
        signed = document_packages(statement.predicate, statement.predicate_type)
    except InputError as exc:
        raise AttestationError(
            f"the signed SBOM of {image.name} is malformed: {exc.message}", reason="malformed-attestation"
        ) from None
    recomputed = json.loads(
        sbom(analysis, _SBOM_FORMATS[statement.predicate_type], created="1970-01-01T00:00:00Z")
    )
    diff = compare_packages(signed, document_packages(recomputed, statement.predicate_type))
    if diff:
        raise SbomMismatchError(
            f"the layers of {image.name}@{image.top.digest} no longer match the signed SBOM "
            f"({len(diff.changed)} changed, {len(diff.added)} added, {len(diff.removed)} removed)",
            diff=diff,
        )


def _created(verified: Mapping[str, VerifiedStatement], analysis: Analysis | None) -> dt.datetime | None:
    """The config's ``created``, else the verified provenance's ``startedOn`` (see the module docstring)."""
    if analysis is not None and isinstance(text := analysis.contents.config.get("created"), str):
        when = parse_time(text)
        if when is not None:
            return when
    provenance = verified.get("provenance")
    return None if provenance is None else statement_time(provenance.statement)
