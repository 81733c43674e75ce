"""Attestations on Debian's real ``docker-registry`` 2.8, which has no referrers API.

An image with a dpkg database is pushed, then signed SBOM and provenance attestations are pushed as
referrers of it: the registry stores their ``subject`` but answers ``/v2/<name>/referrers/<digest>``
with 404, so they must come back through the ``sha256-<hex>`` tag index. ``verify_image`` then reads
the image and its attestations from the registry, recomputes the SBOM from the real layers, and
refuses an attestation signed for another image.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner

from dockwright.inspect.inspector import analyze, sbom
from dockwright.oci.digest import Digest
from dockwright.registry.endpoints import Connections, RegistryOptions, copy
from dockwright.registry.reference import parse_registry_reference
from dockwright.registry.referrers import referrers_tag
from dockwright.registry.remote import RegistrySource
from dockwright.trust.attestation_store import attestation_manifest, list_attestations, push_attestation
from dockwright.trust.envelope import sign_statement
from dockwright.trust.policy import Policy, parse_policy
from dockwright.trust.statement import SLSA_PROVENANCE, SPDX_PREDICATE, Statement, Subject, sbom_statement
from dockwright.trust.verify import AttestationError, VerifyOptions, verify_image
from tests.inspect_images import TarMember, make_layout
from tests.integration import registry_fixtures
from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration
registry_anon = registry_fixtures.registry_anon

_names = itertools.count()
STATUS = (
    b"Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\nDescription: x\n"
)
NOW = dt.datetime(2023, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def connections() -> Iterator[Connections]:
    with Connections(RegistryOptions(tls_verify=False)) as connect:
        yield connect


@pytest.fixture(scope="module")
def signer() -> CryptoSigner:
    return CryptoSigner.generate_ed25519()


def pushed_image(reg: RunningRegistry, layout: Path, connections: Connections) -> tuple[str, str]:
    """Push a one-package image; return its ``docker://`` reference and manifest digest."""
    members = [TarMember("etc/os-release", b"ID=debian\n"), TarMember("var/lib/dpkg/status", STATUS)]
    digest = make_layout(layout, [members], tag="1")
    ref = f"docker://{reg.registry}/attest/t{next(_names)}:1"
    summary = copy(f"oci:{layout}:1", ref, connect=connections)
    assert summary.digest == digest
    return ref, digest


def policy_for(tmp_path: Path, signer: CryptoSigner, reg: RunningRegistry) -> Policy:
    private = serialization.load_pem_private_key(signer.private_bytes, None)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "signer.pem").write_bytes(pem)
    scope = f'  - match: "{reg.registry}/attest/*"\n    attestations: [sbom]\n    keys: [signer.pem]\n'
    return parse_policy("version: 1\nscopes:\n" + scope, base_dir=tmp_path)


def test_attestations_round_trip_through_the_tag_schema(
    registry_anon: RunningRegistry, connections: Connections, signer: CryptoSigner, tmp_path: Path
) -> None:
    ref, digest = pushed_image(registry_anon, tmp_path / "img", connections)
    parsed = parse_registry_reference(ref)
    client = connections(parsed.registry)
    subject = RegistrySource(client, parsed).resolve().descriptor
    analysis = analyze(f"oci:{tmp_path / 'img'}:1")
    sbom_env = sign_statement(sbom_statement("app", digest, sbom(analysis, "spdx-json")), [signer])
    provenance = Statement(
        subjects=(Subject.of_image("app", digest),), predicate_type=SLSA_PROVENANCE, predicate={}
    )
    prov_env = sign_statement(provenance, [signer])
    pushed = push_attestation(client, parsed.repository, subject, sbom_env, SPDX_PREDICATE)
    push_attestation(client, parsed.repository, subject, prov_env, SLSA_PROVENANCE)

    assert referrers_tag(Digest.parse(digest)) in client.list_tags(parsed.repository)  # no referrers API
    found = list_attestations(RegistrySource(client, parsed), Digest.parse(digest))
    assert [(a.predicate_hint, a.envelope) for a in found] == [
        (SPDX_PREDICATE, sbom_env),
        (SLSA_PROVENANCE, prov_env),
    ]
    assert found[0].manifest.digest == pushed.digest
    assert pushed.data == attestation_manifest(subject, sbom_env, SPDX_PREDICATE).data
    only = list_attestations(
        RegistrySource(client, parsed), Digest.parse(digest), predicate_types=[SLSA_PROVENANCE]
    )
    assert [a.envelope for a in only] == [prov_env]


def test_verify_reads_the_registry(
    registry_anon: RunningRegistry, connections: Connections, signer: CryptoSigner, tmp_path: Path
) -> None:
    ref, digest = pushed_image(registry_anon, tmp_path / "img", connections)
    parsed = parse_registry_reference(ref)
    client = connections(parsed.registry)
    subject = RegistrySource(client, parsed).resolve().descriptor
    policy = policy_for(tmp_path, signer, registry_anon)
    options = VerifyOptions(now=lambda: NOW)
    document = sbom(analyze(f"oci:{tmp_path / 'img'}:1"), "spdx-json")

    with pytest.raises(AttestationError) as caught:
        verify_image(ref, policy, connect=connections, options=options)
    assert caught.value.reason == "missing-attestation"

    other = sbom_statement("app", "sha256:" + "ab" * 32, document)
    push_attestation(client, parsed.repository, subject, sign_statement(other, [signer]), SPDX_PREDICATE)
    with pytest.raises(AttestationError) as caught:
        verify_image(ref, policy, connect=connections, options=options)
    assert caught.value.reason == "wrong-subject"

    good = sbom_statement("app", digest, document)
    push_attestation(client, parsed.repository, subject, sign_statement(good, [signer]), SPDX_PREDICATE)
    report = verify_image(ref, policy, connect=connections, options=options)
    assert (report.digest, report.sbom_matches, report.packages) == (digest, True, 1)
    assert report.name == f"{registry_anon.registry}/{parsed.repository}"
