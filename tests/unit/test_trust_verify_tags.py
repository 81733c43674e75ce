"""``verify_image`` resolving tags: the TUF client (replaced by a stub resolver) moving or pinning a tag,
and images from the in-memory registry through the referrers tag schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner

from dockwright.errors import InputError
from dockwright.oci.digest import Digest
from dockwright.registry.endpoints import copy
from dockwright.registry.referrers import referrers_tag
from dockwright.registry.store import LayoutSource
from dockwright.trust._tuf_errors import TagNotSignedError
from dockwright.trust.attestation_store import list_attestations
from dockwright.trust.verify import (
    AttestationError,
    UntrustedTagError,
    verify_image,
)
from tests.fakeregistry import FakeRegistry
from tests.inspect_images import make_index
from tests.unit import verify_support
from tests.unit.verify_support import (
    OPTIONS,
    OS_RELEASE,
    SBOM_BY_ALICE,
    Resolved,
    attach_sbom,
    descriptor,
    image,
    policy,
    refused,
    resolver,
)

# The signers and key directory every verify test module uses (bound by assignment, see verify_support).
alice, bob, mallory, keys = (
    verify_support.alice,
    verify_support.bob,
    verify_support.mallory,
    verify_support.keys,
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
