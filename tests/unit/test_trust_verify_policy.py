"""``verify_image`` applying policy rules: scopes, forbidden and dev packages, waste, and an image too
old.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from securesystemslib.signer import CryptoSigner

from dockwright.trust.verify import (
    PolicyViolationError,
    UntrustedTagError,
    verify_image,
)
from tests.unit import verify_support
from tests.unit.verify_support import (
    NOW,
    OPTIONS,
    SBOM_BY_ALICE,
    attach_provenance,
    attach_sbom,
    image,
    policy,
    refused,
)

# The signers and key directory every verify test module uses (bound by assignment, see verify_support).
alice, bob, mallory, keys = (
    verify_support.alice,
    verify_support.bob,
    verify_support.mallory,
    verify_support.keys,
)


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
