"""``verify_image`` end to end on OCI layouts, offline: what passes, attestations and introspection.

Images are written byte by byte by :mod:`tests.inspect_images` with a dpkg status database, so the
inspector finds real packages in real layers. Keys are generated here. Refusals provoked here:
tampered attestation, attestation for another subject, layers that no longer match the signed SBOM,
a missing attestation, a threshold not met. Tag resolution is in
:mod:`tests.unit.test_trust_verify_tags`, policy rules in :mod:`tests.unit.test_trust_verify_policy`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner

from dockwright.errors import InputError
from dockwright.inspect.inspector import analyze, sbom
from dockwright.oci.descriptor import OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.registry.store import LayoutSource
from dockwright.trust.attestation_store import (
    DSSE_MEDIA_TYPE,
    PREDICATE_ANNOTATION,
    list_attestations,
    write_attestation,
)
from dockwright.trust.envelope import sign_statement
from dockwright.trust.statement import (
    SLSA_PROVENANCE,
    sbom_statement,
)
from dockwright.trust.verify import (
    AttestationError,
    SbomMismatchError,
    VerifyOptions,
    verify_image,
)
from tests.unit import verify_support
from tests.unit.verify_support import (
    BOTH,
    NOW,
    OPTIONS,
    SBOM_BY_ALICE,
    attach_provenance,
    attach_sbom,
    descriptor,
    image,
    policy,
    refused,
    sbom_envelope,
)

# The signers and key directory every verify test module uses (bound by assignment, see verify_support).
alice, bob, mallory, keys = (
    verify_support.alice,
    verify_support.bob,
    verify_support.mallory,
    verify_support.keys,
)


# What passes --------------------------------------------------------------------------------------


def test_signed_image_passes_every_check(
    tmp_path: Path, keys: Path, alice: CryptoSigner, bob: CryptoSigner
) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"libc6": "2.36-9", "hello": "2.10-3"})
    sbom_env = attach_sbom(layout, digest, [alice, bob])
    prov_env = attach_provenance(layout, digest, [bob, alice])
    strict = policy(keys, BOTH + "    forbid: {packages: [curl], dev-packages: true}\n    max-age: 30d\n")
    report = verify_image(f"oci:{layout}:1", strict, options=OPTIONS)
    assert report.to_dict() == {
        "reference": f"oci:{layout}:1",
        "name": f"oci:{layout}",
        "scope": "policy.yaml:3",
        "digest": digest,
        "tag": "1",
        "tufVerified": False,
        "attestations": [
            {
                "kind": "sbom",
                "predicateType": "https://spdx.dev/Document",
                "envelopeDigest": str(Digest.of(sbom_env)),
                "keyids": sorted([alice.public_key.keyid, bob.public_key.keyid]),
                "pinned": None,
            },
            {
                "kind": "provenance",
                "predicateType": SLSA_PROVENANCE,
                "envelopeDigest": str(Digest.of(prov_env)),
                "keyids": sorted([alice.public_key.keyid, bob.public_key.keyid]),
                "pinned": None,
            },
        ],
        "packages": 2,
        "sbomMatches": True,
        "created": "2023-11-14T22:13:20Z",
    }


def test_cyclonedx_sbom_verifies_too(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "2.10-3"})
    attach_sbom(layout, digest, [alice], fmt="cyclonedx-json")
    report = verify_image(f"oci:{layout}:1", policy(keys, SBOM_BY_ALICE), options=OPTIONS)
    assert report.attestations[0].predicate_type == "https://cyclonedx.org/bom"


def test_no_requirements_reads_nothing(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    image(layout, {"hello": "1"})
    report = verify_image(f"oci:{layout}:1", policy(keys, ""), options=OPTIONS)
    assert (report.attestations, report.packages, report.sbom_matches) == ((), None, None)


# Attestations -------------------------------------------------------------------------------------


def test_missing_required_attestation(
    tmp_path: Path, keys: Path, alice: CryptoSigner, bob: CryptoSigner
) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    attach_sbom(layout, digest, [alice, bob])
    error = refused(AttestationError, f"oci:{layout}:1", policy(keys, BOTH))
    assert error.reason == "missing-attestation"
    assert error.message == f"no provenance attestation is attached to {digest}"


def test_threshold_not_met_one_of_two_keys(
    tmp_path: Path, keys: Path, alice: CryptoSigner, bob: CryptoSigner
) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    attach_sbom(layout, digest, [alice])
    attach_provenance(layout, digest, [alice, bob])
    error = refused(AttestationError, f"oci:{layout}:1", policy(keys, BOTH))
    assert error.reason == "bad-signature"
    assert error.message.startswith(f"no sbom attestation of {digest} verifies: attestation sha256:")
    assert error.message.endswith(
        "the attestation needs valid signatures by 2 of 2 trusted keys; 1 verified "
        "(signatures name 1 trusted key(s) out of 1)"
    )


def test_signed_by_an_untrusted_key(tmp_path: Path, keys: Path, mallory: CryptoSigner) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    attach_sbom(layout, digest, [mallory])
    error = refused(AttestationError, f"oci:{layout}:1", policy(keys, SBOM_BY_ALICE))
    assert error.reason == "bad-signature"
    assert "0 verified" in error.message


def test_tampered_attestation(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    """Someone edits the signed SBOM (drops a package) and re-attaches the envelope."""
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1", "curl": "8"})
    envelope, _ = sbom_envelope(layout, "1", [alice])
    doc = json.loads(envelope)
    statement = json.loads(base64.b64decode(doc["payload"]))
    statement["predicate"]["packages"] = [
        p for p in statement["predicate"]["packages"] if p["name"] != "curl"
    ]
    doc["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    write_attestation(
        layout, descriptor(layout, digest), json.dumps(doc).encode(), statement["predicateType"]
    )
    error = refused(AttestationError, f"oci:{layout}:1", policy(keys, SBOM_BY_ALICE))
    assert error.reason == "bad-signature"


def test_garbage_envelope_is_malformed(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    write_attestation(layout, descriptor(layout, digest), b"{not json", "https://spdx.dev/Document")
    error = refused(AttestationError, f"oci:{layout}:1", policy(keys, SBOM_BY_ALICE))
    assert error.reason == "malformed-attestation"


def test_attestation_for_another_subject(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    """A valid attestation of image A is attached to image B."""
    layout = tmp_path / "img"
    first = image(layout, {"hello": "1"}, tag="a")
    second = image(layout, {"hello": "1", "curl": "8"}, tag="1")
    envelope, statement = sbom_envelope(layout, "a", [alice])
    write_attestation(layout, descriptor(layout, second), envelope, statement.predicate_type)
    error = refused(AttestationError, f"oci:{layout}:1", policy(keys, SBOM_BY_ALICE))
    assert error.reason == "wrong-subject"
    assert error.message.endswith(f"is about app@sha256:{first.removeprefix('sha256:')}, not {second}")


def test_a_good_attestation_wins_over_junk(
    tmp_path: Path, keys: Path, alice: CryptoSigner, mallory: CryptoSigner
) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    attach_sbom(layout, digest, [mallory])
    write_attestation(layout, descriptor(layout, digest), b"junk", "https://spdx.dev/Document")
    attach_sbom(layout, digest, [alice])
    assert verify_image(f"oci:{layout}:1", policy(keys, SBOM_BY_ALICE), options=OPTIONS).sbom_matches


def test_attestations_are_listed_with_their_hint(tmp_path: Path, alice: CryptoSigner) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    envelope = attach_sbom(layout, digest, [alice])
    attach_provenance(layout, digest, [alice])
    source = LayoutSource(layout, "1")
    everything = list_attestations(source, Digest.parse(digest))
    assert [a.predicate_hint for a in everything] == ["https://spdx.dev/Document", SLSA_PROVENANCE]
    assert everything[0].envelope == envelope
    manifest = json.loads(everything[0].manifest.data)
    assert manifest["artifactType"] == DSSE_MEDIA_TYPE
    assert manifest["annotations"] == {PREDICATE_ANNOTATION: "https://spdx.dev/Document"}
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert manifest["subject"]["digest"] == digest
    only = list_attestations(source, Digest.parse(digest), predicate_types=[SLSA_PROVENANCE])
    assert [a.predicate_hint for a in only] == [SLSA_PROVENANCE]
    assert list_attestations(source, Digest.parse(digest), max_envelope=10) == []


def test_write_attestation_needs_the_image(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    image(layout, {"hello": "1"})
    missing = Descriptor(media_type=OCI_MANIFEST, digest=Digest.of(b"other"), size=5)
    with pytest.raises(InputError, match="does not hold the image"):
        write_attestation(layout, missing, b"{}", SLSA_PROVENANCE)


def test_keys_listed_by_keyid_come_from_the_lookup(tmp_path: Path, alice: CryptoSigner) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    attach_sbom(layout, digest, [alice])
    by_id = policy(tmp_path, f"    attestations: [sbom]\n    keys: [{{keyid: {alice.public_key.keyid}}}]\n")
    lookup = {alice.public_key.keyid: alice.public_key}.get
    options = VerifyOptions(now=lambda: NOW, key_lookup=lookup)
    assert verify_image(f"oci:{layout}:1", by_id, options=options).sbom_matches
    error = refused(AttestationError, f"oci:{layout}:1", by_id)
    assert error.reason == "unknown-key"


# Introspection ------------------------------------------------------------------------------------


def test_layers_no_longer_match_the_signed_sbom(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    """A new image under the same tag (hello upgraded, curl added, libc6 gone) with the old SBOM
    signed for it: the signature and subject are fine, the layers are not what was signed."""
    layout = tmp_path / "img"
    image(layout, {"hello": "2.10-3", "libc6": "2.36-9"}, tag="1")
    old_sbom = sbom(analyze(f"oci:{layout}:1"), "spdx-json")
    new = image(layout, {"hello": "2.10-4", "curl": "8"}, tag="1")
    statement = sbom_statement("app", new, old_sbom)
    write_attestation(
        layout, descriptor(layout, new), sign_statement(statement, [alice]), statement.predicate_type
    )
    error = refused(SbomMismatchError, f"oci:{layout}:1", policy(keys, SBOM_BY_ALICE))
    assert isinstance(error, SbomMismatchError)
    assert error.reason == "sbom-mismatch"
    assert error.message == (
        f"the layers of oci:{layout}@{new} no longer match the signed SBOM (1 changed, 1 added, 1 removed)"
    )
    assert error.details == (
        "~ hello 2.10-3 -> 2.10-4",
        "+ curl 8 (in the layers, not in the signed SBOM)",
        "- libc6 2.36-9 (in the signed SBOM, not in the layers)",
    )
