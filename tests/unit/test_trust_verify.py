"""``verify_image`` end to end on OCI layouts (and the in-memory registry), offline.

Images are written byte by byte by :mod:`tests.inspect_images` with a dpkg status database, so the
inspector finds real packages in real layers. Keys are generated here; the TUF client is replaced
by a stub resolver. Each refusal the verifier knows is provoked once: tampered attestation,
attestation for another subject, layers that no longer match the signed SBOM, a moved tag,
forbidden and dev packages, an image too old, a missing attestation, a threshold not met.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner, Signer

from dockwright.build.lock import Lock, LockedPackage, LockedRepository
from dockwright.errors import InputError
from dockwright.inspect.inspector import analyze, sbom
from dockwright.oci.descriptor import ANNOTATION_REF_NAME, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.registry.endpoints import copy
from dockwright.registry.referrers import referrers_tag
from dockwright.registry.store import LayoutSource
from dockwright.trust._tuf_errors import TagNotSignedError
from dockwright.trust.attestation_store import (
    DSSE_MEDIA_TYPE,
    PREDICATE_ANNOTATION,
    list_attestations,
    write_attestation,
)
from dockwright.trust.envelope import sign_statement
from dockwright.trust.policy import Policy, parse_policy
from dockwright.trust.statement import (
    SLSA_PROVENANCE,
    Statement,
    provenance_statement,
    sbom_statement,
)
from dockwright.trust.verify import (
    AttestationError,
    ImageRefused,
    PolicyViolationError,
    SbomMismatchError,
    UntrustedTagError,
    VerifyOptions,
    verify_image,
)
from tests.fakeregistry import FakeRegistry
from tests.inspect_images import TarMember, make_index, make_layout

M = TarMember
NOW = dt.datetime(2023, 12, 1, tzinfo=dt.UTC)  # the test images say they were created 2023-11-14
OS_RELEASE = M("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')


# Images -------------------------------------------------------------------------------------------


def status(packages: Mapping[str, str]) -> bytes:
    stanzas = [
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
        f"Description: {name}\n"
        for name, version in packages.items()
    ]
    return "\n".join(stanzas).encode()


def image(
    layout: Path, packages: Mapping[str, str], *, tag: str | None = "1", created: str | None = None
) -> str:
    """An image with ``packages`` in its dpkg database (two layers); returns the manifest digest."""
    base = [OS_RELEASE, M("var/lib/dpkg/status", status(packages)), M("usr/bin/app", b"\x7fELF app")]
    config = {"created": created} if created is not None else None
    digest = make_layout(layout, [base, [M("app/data", b"data")]], tag=None, config=config)
    if tag is not None:
        retag(layout, digest, tag)
    return digest


def retag(layout: Path, digest: str, tag: str) -> None:
    """Point ``tag`` at ``digest`` (as skopeo does: the old entry loses the tag)."""
    index = json.loads((layout / "index.json").read_bytes())
    for entry in index["manifests"]:
        annotations = entry.get("annotations", {})
        if annotations.get(ANNOTATION_REF_NAME) == tag:
            del annotations[ANNOTATION_REF_NAME]
        if entry["digest"] == digest:
            entry["annotations"] = {**annotations, ANNOTATION_REF_NAME: tag}
    (layout / "index.json").write_bytes(json.dumps(index).encode())


def descriptor(layout: Path, digest: str) -> Descriptor:
    size = (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).stat().st_size
    return Descriptor(media_type=OCI_MANIFEST, digest=Digest.parse(digest), size=size)


def sbom_envelope(
    layout: Path, tag: str, signers: list[Signer], *, subject: str | None = None, fmt: str = "spdx-json"
) -> tuple[bytes, Statement]:
    """Sign the SBOM of the image ``tag`` names (for ``subject``, by default that image)."""
    analysis = analyze(f"oci:{layout}:{tag}")
    statement = sbom_statement("app", subject or analysis.contents.manifest_digest, sbom(analysis, fmt))
    return sign_statement(statement, signers), statement


def attach_sbom(layout: Path, digest: str, signers: list[Signer], **kwargs: Any) -> bytes:
    tag = kwargs.pop("tag", "1")
    envelope, statement = sbom_envelope(layout, tag, signers, **kwargs)
    write_attestation(layout, descriptor(layout, digest), envelope, statement.predicate_type)
    return envelope


def build_lock() -> Lock:
    package = LockedPackage(
        name="app",
        version="1.0",
        architecture="amd64",
        source="app",
        source_version="1.0",
        filename="pool/main/a/app/app_1.0_amd64.deb",
        size=10,
        sha256="55" * 32,
        suite="bookworm",
    )
    repo = LockedRepository(
        uri="http://127.0.0.1:8080/debian",
        suite="bookworm",
        components=("main",),
        inrelease_sha256="sha256:" + "33" * 32,
        date="",
    )
    return Lock(
        name="app",
        architecture="amd64",
        spec_sha256="sha256:" + "11" * 32,
        inputs="",
        timestamp=1_700_000_000,
        repositories=(repo,),
        packages=(package,),
    )


def attach_provenance(
    layout: Path, digest: str, signers: list[Signer], *, started: dt.datetime = NOW
) -> bytes:
    statement = provenance_statement(
        "app",
        digest,
        build_lock(),
        spec_path="dockwright.yaml",
        lock_path="dockwright.lock",
        started_on=started,
    )
    envelope = sign_statement(statement, signers)
    write_attestation(layout, descriptor(layout, digest), envelope, SLSA_PROVENANCE)
    return envelope


# Keys and policies --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice() -> CryptoSigner:
    return CryptoSigner.generate_ed25519()


@pytest.fixture(scope="module")
def bob() -> CryptoSigner:
    return CryptoSigner.generate_ecdsa()


@pytest.fixture(scope="module")
def mallory() -> CryptoSigner:
    return CryptoSigner.generate_ed25519()


def write_pem(path: Path, signer: CryptoSigner) -> None:
    private = serialization.load_pem_private_key(signer.private_bytes, None)
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.fixture
def keys(tmp_path: Path, alice: CryptoSigner, bob: CryptoSigner) -> Path:
    write_pem(tmp_path / "alice.pem", alice)
    write_pem(tmp_path / "bob.pem", bob)
    return tmp_path


def policy(base: Path, body: str, match: str = "*") -> Policy:
    return parse_policy(
        f'version: 1\nscopes:\n  - match: "{match}"\n{body}', path="policy.yaml", base_dir=base
    )


BOTH = "    attestations: [sbom, provenance]\n    keys: [alice.pem, bob.pem]\n    threshold: 2\n"
SBOM_BY_ALICE = "    attestations: [sbom]\n    keys: [alice.pem]\n"
OPTIONS = VerifyOptions(now=lambda: NOW)


@dataclass(frozen=True)
class Resolved:
    """What the stub TUF client answers."""

    digest: Digest
    size: int | None = None
    pinned: frozenset[Digest] | None = None
    roles: Mapping[str, int] = field(default_factory=dict)


def resolver(digest: str, **fields: Any) -> Callable[[str], Resolved]:
    def resolve(tag: str) -> Resolved:
        assert tag == "1"
        return Resolved(digest=Digest.parse(digest), **fields)

    return resolve


def refused(kind: type[ImageRefused], ref: str, pol: Policy, **kwargs: Any) -> ImageRefused:
    with pytest.raises(kind) as caught:
        verify_image(ref, pol, options=kwargs.pop("options", OPTIONS), **kwargs)
    assert caught.value.exit_code == (9 if kind is PolicyViolationError else 5)
    return caught.value


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


# TUF ----------------------------------------------------------------------------------------------


def test_tag_moved_to_another_image(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    """TUF signed the tag for the first image; the layout's tag now names a second one."""
    layout = tmp_path / "img"
    signed = image(layout, {"hello": "1"})
    swapped = image(layout, {"hello": "1", "evil": "1"})
    attach_sbom(layout, swapped, [alice])
    error = refused(
        UntrustedTagError, f"oci:{layout}:1", policy(keys, SBOM_BY_ALICE), resolve=resolver(signed)
    )
    assert error.reason == "moved-tag"
    assert error.message == f"oci:{layout}:1 is signed for {signed}, but {swapped} is served"


def test_size_is_compared_too(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    error = refused(UntrustedTagError, f"oci:{layout}:1", policy(keys, ""), resolve=resolver(digest, size=1))
    assert error.reason == "moved-tag"


def test_roles_need_a_trust_repository(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    strict = policy(keys, "    roles: {targets: 2, root: 1}\n")
    error = refused(UntrustedTagError, f"oci:{layout}:1", strict)
    assert (error.reason, error.message) == (
        "untrusted-tag",
        f"the policy (policy.yaml:3) requires TUF roles for oci:{layout}, but no trust repository was given",
    )
    weak = resolver(digest, roles={"root": 1, "targets": 1})
    error = refused(UntrustedTagError, f"oci:{layout}:1", strict, resolve=weak)
    assert error.reason == "trust-roles"
    assert error.details == ("role targets needs 2 valid signature(s), it had 1",)
    good = resolver(digest, roles={"root": 3, "targets": 2}, size=descriptor(layout, digest).size)
    report = verify_image(f"oci:{layout}:1", strict, resolve=good, options=OPTIONS)
    assert report.tuf


def test_tuf_refusals_pass_through(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    image(layout, {"hello": "1"})

    def unsigned(tag: str) -> Resolved:
        raise TagNotSignedError(f"no target for {tag}")

    with pytest.raises(TagNotSignedError):
        verify_image(f"oci:{layout}:1", policy(keys, ""), resolve=unsigned, options=OPTIONS)


def test_attestations_must_be_pinned_when_tuf_pins(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    envelope = attach_sbom(layout, digest, [alice])
    pol = policy(keys, SBOM_BY_ALICE)
    other = frozenset({Digest.of(b"another envelope")})
    error = refused(AttestationError, f"oci:{layout}:1", pol, resolve=resolver(digest, pinned=other))
    assert error.reason == "not-pinned"
    pinned = frozenset({Digest.of(envelope)})
    report = verify_image(f"oci:{layout}:1", pol, resolve=resolver(digest, pinned=pinned), options=OPTIONS)
    assert report.attestations[0].pinned is True
    manifest = list_attestations(LayoutSource(layout, "1"), Digest.parse(digest))[0].manifest.digest
    by_manifest = resolver(digest, pinned=frozenset({manifest}))
    assert verify_image(f"oci:{layout}:1", pol, resolve=by_manifest, options=OPTIONS).tuf


# Policy -------------------------------------------------------------------------------------------


def test_no_scope_covers_the_image(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    image(layout, {"hello": "1"})
    error = refused(UntrustedTagError, f"oci:{layout}:1", policy(keys, "", match="127.0.0.1:5000/*"))
    assert (error.reason, error.message) == (
        "no-scope",
        f"no scope of the policy policy.yaml covers oci:{layout}",
    )


def test_forbidden_package(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1", "curl": "8.0"})
    attach_sbom(layout, digest, [alice])
    error = refused(
        PolicyViolationError,
        f"oci:{layout}:1",
        policy(keys, SBOM_BY_ALICE + "    forbid: {packages: [cu*]}\n"),
    )
    assert error.reason == "forbidden-package"
    assert (
        error.message
        == f"oci:{layout} breaks the policy (policy.yaml:3): deb package curl 8.0 is forbidden (cu*)"
    )


def test_dev_packages(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    image(layout, {"hello": "1", "gcc-12": "12.2.0-14", "gcc-12-base": "12.2.0-14", "make": "4.3"})
    error = refused(
        PolicyViolationError, f"oci:{layout}:1", policy(keys, "    forbid: {dev-packages: true}\n")
    )
    assert error.reason == "dev-packages"
    assert error.details == (
        "gcc-12 12.2.0-14 is a dev/test package (marked dev by its cataloger)",
        "make 4.3 is a dev/test package (marked dev by its cataloger)",
    )


def test_waste_rules(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    image(layout, {"hello": "1"})
    error = refused(
        PolicyViolationError, f"oci:{layout}:1", policy(keys, "    forbid: {fail-on: 'size>1B'}\n")
    )
    assert error.reason == "wasted" and error.message.split(": ", 1)[1].startswith("size ")


def test_too_old(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"}, created="2023-01-01T00:00:00Z")
    attach_provenance(layout, digest, [alice], started=NOW)  # a fresh build of old contents
    pol = policy(keys, "    attestations: [provenance]\n    keys: [alice.pem]\n    max-age: 30d\n")
    error = refused(PolicyViolationError, f"oci:{layout}:1", pol)
    assert error.reason == "too-old"
    assert error.details == ("the image is 334d 0h old (made 2023-01-01T00:00:00Z); max-age is 30d 0h",)


def test_age_falls_back_to_the_signed_provenance(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"}, created="not a time")
    attach_provenance(layout, digest, [alice], started=NOW - dt.timedelta(days=2))
    pol = policy(keys, "    attestations: [provenance]\n    keys: [alice.pem]\n    max-age: 30d\n")
    assert verify_image(f"oci:{layout}:1", pol, options=OPTIONS).created == "2023-11-29T00:00:00Z"
    error = refused(PolicyViolationError, f"oci:{layout}:1", policy(keys, "    max-age: 30d\n"))
    assert error.reason == "no-age"


# References ---------------------------------------------------------------------------------------


def test_indexes_and_archives_are_refused(tmp_path: Path, keys: Path) -> None:
    make_index(tmp_path / "multi", {"linux/amd64": [[OS_RELEASE]], "linux/arm64": [[OS_RELEASE]]}, tag="1")
    with pytest.raises(InputError, match="names an image index"):
        verify_image(f"oci:{tmp_path / 'multi'}:1", policy(keys, ""))
    with pytest.raises(InputError, match="an archive holds no attestations"):
        verify_image(f"docker-archive:{tmp_path / 'a.tar'}", policy(keys, ""))
    with pytest.raises(InputError, match="needs registry connections"):
        verify_image("docker://127.0.0.1:5000/team/app:1", policy(keys, ""))


def test_registry_image_through_the_tag_schema(tmp_path: Path, keys: Path, alice: CryptoSigner) -> None:
    """Attestations copied to a registry without the referrers API are found through ``sha256-<hex>``."""
    layout = tmp_path / "img"
    digest = image(layout, {"hello": "1"})
    attach_sbom(layout, digest, [alice])
    fake = FakeRegistry()
    copy(f"oci:{layout}:1", "docker://127.0.0.1:5000/team/app:1", connect=lambda registry: fake)
    assert referrers_tag(Digest.parse(digest)) in fake.repo("team/app").tags
    pol = policy(keys, SBOM_BY_ALICE, match="127.0.0.1:5000/team/*")
    report = verify_image(
        "docker://127.0.0.1:5000/team/app:1",
        pol,
        connect=lambda registry: fake,
        resolve=resolver(digest),
        options=OPTIONS,
    )
    assert (report.name, report.digest, report.tuf, report.sbom_matches) == (
        "127.0.0.1:5000/team/app",
        digest,
        True,
        True,
    )
    by_digest = verify_image(
        f"docker://127.0.0.1:5000/team/app@{digest}", pol, connect=lambda r: fake, options=OPTIONS
    )
    assert by_digest.tag is None


def test_registry_tag_moved(tmp_path: Path, keys: Path) -> None:
    layout = tmp_path / "img"
    signed = image(layout, {"hello": "1"}, tag="old")
    image(layout, {"hello": "2"}, tag="1")
    fake = FakeRegistry()
    copy(f"oci:{layout}:1", "docker://127.0.0.1:5000/team/app:1", connect=lambda registry: fake)
    before = len(fake.calls)
    error = refused(
        UntrustedTagError,
        "docker://127.0.0.1:5000/team/app:1",
        policy(keys, ""),
        connect=lambda registry: fake,
        resolve=resolver(signed),
    )
    assert error.reason == "moved-tag"
    assert not [c for c in fake.calls[before:] if c[0] == "fetch_blob"]  # refused before any layer
