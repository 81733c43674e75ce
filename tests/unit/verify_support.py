"""Helpers for the ``verify_image`` tests: synthetic images with a dpkg status database, signed SBOM
and provenance attestations, policies, and a stub TUF resolver.

The fixtures ``alice``, ``bob`` (module-scoped signers), ``mallory`` (a signer no policy trusts)
and ``keys`` (a directory with alice's and bob's public keys) are bound in each test module by
assignment (``alice = verify_support.alice``), which keeps ruff quiet about arguments that shadow
an import.
"""

from __future__ import annotations

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
from dockwright.inspect.inspector import analyze, sbom
from dockwright.oci.descriptor import ANNOTATION_REF_NAME, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.trust.attestation_store import write_attestation
from dockwright.trust.envelope import sign_statement
from dockwright.trust.policy import Policy, parse_policy
from dockwright.trust.statement import (
    SLSA_PROVENANCE,
    Statement,
    provenance_statement,
    sbom_statement,
)
from dockwright.trust.verify import (
    ImageRefused,
    PolicyViolationError,
    VerifyOptions,
    verify_image,
)
from tests.inspect_images import TarMember, make_layout
from tests.unit import signers

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


def write_pem(path: Path, signer: CryptoSigner) -> None:
    private = serialization.load_pem_private_key(signer.private_bytes, None)
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


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


alice, bob, mallory = signers.alice, signers.bob, signers.mallory


@pytest.fixture
def keys(tmp_path: Path, alice: CryptoSigner, bob: CryptoSigner) -> Path:
    write_pem(tmp_path / "alice.pem", alice)
    write_pem(tmp_path / "bob.pem", bob)
    return tmp_path
