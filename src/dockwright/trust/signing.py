"""``dockwright sign`` and ``verify`` as library calls, and the provenance ``dockwright build`` writes.

:func:`sign_image` records a tag in the TUF targets (a new snapshot and timestamp with it) and,
with ``attest``, signs and attaches attestations first so the tag's target pins their envelopes:

* ``sbom``: recomputed from the image's layers (SPDX JSON), signed with the attestation key;
* ``provenance``: the SLSA provenance already attached to the image (``dockwright build
  --attest-key`` writes one); with a lock file, a new one is made from it instead.

:func:`verify_reference` resolves the tag through TUF from the pinned root, then runs
:func:`~dockwright.trust.verify.verify_image` with the policy (or, without one, a policy that
requires only the TUF signature). :func:`write_build_provenance` signs the provenance of a
freshly built ``oci:`` image and adds it to the layout as a referrer.

What this module does not do: print, or choose keys (the caller passes signers).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from securesystemslib.signer import Signer

from dockwright.build.lock import read_lock
from dockwright.errors import InputError
from dockwright.inspect.inspector import analyze, sbom
from dockwright.oci.descriptor import Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.reference import OciReference
from dockwright.registry.content import ManifestBytes
from dockwright.registry.endpoints import copy, parse_endpoint
from dockwright.registry.reference import RegistryReference
from dockwright.registry.remote import RegistrySource
from dockwright.registry.store import LayoutSource
from dockwright.trust._tuf_edit import TargetSpec
from dockwright.trust._tuf_names import attestation_target
from dockwright.trust.attestation_store import list_attestations, push_attestation, write_attestation
from dockwright.trust.commands import (
    ClientConnector,
    TrustLocation,
    open_location,
    pinned_root,
    trust_resolver,
)
from dockwright.trust.envelope import sign_statement
from dockwright.trust.policy import Policy, load_policy, parse_policy
from dockwright.trust.repository import TrustRepository
from dockwright.trust.statement import SLSA_PROVENANCE, Statement, provenance_statement, sbom_statement
from dockwright.trust.verify import VerificationReport, verify_image

__all__ = ["SignResult", "sign_image", "verify_reference", "write_build_provenance"]

ATTEST_KINDS = ("sbom", "provenance")
_DEFAULT_POLICY = 'version: 1\nscopes:\n  - match: "*"\n'


class SignResult:
    """What :func:`sign_image` did: the digest signed, attestations attached, files written."""

    def __init__(self, digest: Digest, attestations: dict[str, str], files: list[str]) -> None:
        """Record the outcome."""
        self.digest = digest
        self.attestations = attestations
        self.files = files


def _manifest(location: TrustLocation, connect: ClientConnector | None) -> ManifestBytes:
    endpoint = parse_endpoint(location.reference)
    if isinstance(endpoint, RegistryReference):
        assert connect is not None  # open_location required it
        return RegistrySource(connect(endpoint.registry), endpoint).resolve()
    assert isinstance(endpoint, OciReference)
    return LayoutSource(Path(endpoint.path), endpoint.tag).resolve()


def _attach(
    location: TrustLocation, connect: ClientConnector | None, subject: Descriptor, envelope: bytes, ptype: str
) -> None:
    endpoint = parse_endpoint(location.reference)
    if isinstance(endpoint, RegistryReference):
        assert connect is not None
        push_attestation(connect(endpoint.registry), endpoint.repository, subject, envelope, ptype)
    else:
        assert isinstance(endpoint, OciReference)
        write_attestation(Path(endpoint.path), subject, envelope, ptype)


def _sbom_statement(
    location: TrustLocation, connect: ClientConnector | None, top: ManifestBytes
) -> Statement:
    endpoint = parse_endpoint(location.reference)
    with tempfile.TemporaryDirectory(prefix="dockwright-sign-") as tmp:
        if isinstance(endpoint, RegistryReference):
            assert connect is not None
            layout = f"oci:{Path(tmp) / 'image'}:sign"
            copy(f"docker://{location.name}@{top.digest}", layout, connect=connect)
            analysis = analyze(layout)
        else:
            analysis = analyze(location.reference)
    document = sbom(analysis, "spdx-json", created="1970-01-01T00:00:00Z")
    return sbom_statement(location.name, top.digest, document)


def _existing_provenance(
    location: TrustLocation, connect: ClientConnector | None, top: ManifestBytes
) -> bytes:
    endpoint = parse_endpoint(location.reference)
    source: RegistrySource | LayoutSource
    if isinstance(endpoint, RegistryReference):
        assert connect is not None
        source = RegistrySource(connect(endpoint.registry), endpoint)
    else:
        assert isinstance(endpoint, OciReference)
        source = LayoutSource(Path(endpoint.path), endpoint.tag)
    found = list_attestations(source, top.digest, predicate_types=[SLSA_PROVENANCE])
    if not found:
        raise InputError(
            f"{location.reference} has no provenance attestation to sign with the tag",
            hint="build it with `dockwright build --attest-key FILE`, or pass --lockfile to make one",
        )
    return found[0].envelope


def sign_image(
    location: TrustLocation,
    connect: ClientConnector | None,
    tuf_signers: Sequence[Signer],
    *,
    role: str | None = None,
    attest: Sequence[str] = (),
    attest_signer: Signer | None = None,
    lockfile: Path | None = None,
) -> SignResult:
    """Sign the tag ``location`` names (see the module docstring).

    Raises:
        InputError: no tag, an unknown attestation kind, no attestation key, missing signers
            for the role that owns the tag, or no provenance to pin.
    """
    if location.tag is None:
        raise InputError(f"{location.reference} names no tag to sign", hint="write REF:TAG")
    unknown = [k for k in attest if k not in ATTEST_KINDS]
    if unknown:
        raise InputError(f"unknown attestation kind {unknown[0]!r}: expected sbom or provenance")
    if attest and attest_signer is None and "sbom" in attest:
        raise InputError("signing an SBOM attestation needs --key FILE (the attestation key)")
    top = _manifest(location, connect)
    if top.is_index:
        raise InputError(f"{location.reference} is an image index; sign one platform's image by its tag")
    subject = top.descriptor
    extras: dict[str, TargetSpec] = {}
    attached: dict[str, str] = {}
    for kind in attest:
        envelope = _attestation(kind, location, connect, top, attest_signer, lockfile)
        extras[attestation_target(top.digest, "sbom-spdx" if kind == "sbom" else kind)] = envelope
        attached[kind] = str(Digest.of(envelope))
    repo = TrustRepository(location.store, tuf_signers)
    files = repo.sign_tag(location.tag, subject, role=role, extra_targets=extras)
    return SignResult(top.digest, attached, files)


def _attestation(
    kind: str,
    location: TrustLocation,
    connect: ClientConnector | None,
    top: ManifestBytes,
    signer: Signer | None,
    lockfile: Path | None,
) -> bytes:
    """The envelope bytes of one attestation, attached to the image when new."""
    if kind == "provenance" and (lockfile is None or signer is None):
        return _existing_provenance(location, connect, top)
    assert signer is not None
    if kind == "sbom":
        statement = _sbom_statement(location, connect, top)
    else:
        assert lockfile is not None
        now = dt.datetime.now(dt.UTC)
        lock = read_lock(lockfile)
        statement = provenance_statement(
            location.name, top.digest, lock, spec_path="dockwright.yaml", lock_path=str(lockfile),
            started_on=now, lock_digest=Digest.of(lockfile.read_bytes()),
        )  # fmt: skip
    envelope = sign_statement(statement, [signer])
    _attach(location, connect, top.descriptor, envelope, statement.predicate_type)
    return envelope


def verify_reference(
    ref: str,
    connect: ClientConnector | None,
    announce: Callable[[str], None],
    *,
    policy_path: Path | None = None,
    trusted_root: Path | None = None,
    cache_dir: Path | None = None,
) -> VerificationReport:
    """Resolve ``ref``'s tag through TUF (pinned root) and verify the image against the policy.

    Raises:
        TrustError: TUF refused (the subclass names the attack class).
        ImageRefused: a verify step refused (``reason`` names it).
        InputError: a malformed reference or policy, or a conflicting trusted root.
    """
    location = open_location(ref, connect)
    policy: Policy = (
        load_policy(policy_path)
        if policy_path is not None
        else parse_policy(_DEFAULT_POLICY, path="(default)")
    )
    root = pinned_root(location, announce, trusted_root=trusted_root)
    resolve = trust_resolver(location, root, cache_dir)
    return verify_image(ref, policy, resolve=resolve, connect=connect)


def write_build_provenance(
    output: str,
    manifest_digest: str,
    *,
    spec_path: Path,
    lock_path: Path,
    signer: Signer,
    started_on: dt.datetime,
    source_date_epoch: int | None = None,
) -> str:
    """Sign the SLSA provenance of a built image and add it to its ``oci:`` layout as a referrer.

    Returns:
        The envelope's digest.

    Raises:
        InputError: ``output`` is not an ``oci:`` layout, or the lock cannot be read.
    """
    endpoint = parse_endpoint(output)
    if not isinstance(endpoint, OciReference):
        raise InputError(f"provenance is written into oci: layouts only, not {output}")
    lock = read_lock(lock_path)
    top = LayoutSource(Path(endpoint.path), endpoint.tag).resolve()
    if str(top.digest) != manifest_digest:
        raise InputError(f"{output} no longer holds the image just built ({manifest_digest})")
    statement = provenance_statement(
        output, top.digest, lock, spec_path=str(spec_path), lock_path=str(lock_path),
        started_on=started_on, finished_on=dt.datetime.now(dt.UTC), source_date_epoch=source_date_epoch,
        lock_digest=Digest.of(lock_path.read_bytes()),
    )  # fmt: skip
    envelope = sign_statement(statement, [signer])
    write_attestation(Path(endpoint.path), top.descriptor, envelope, statement.predicate_type)
    return str(Digest.of(envelope))
