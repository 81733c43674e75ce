"""``trust import-notary`` against a real Notary v1 peer: Debian's notary-server and notary client.

The notary client publishes three tags (two in ``targets``, one in the ``targets/releases``
delegation, signed by an RSA x509 delegation key) for manifests pushed to a real registry;
dockwright verifies the Notary metadata, re-signs the tags into the registry's TUF repository,
and its ``TrustClient`` must resolve each to the digest ``notary lookup`` prints. Tampered
metadata, served by a loopback proxy that flips bytes, and wrong root pins are refused (exit 5)
with nothing signed.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from dockwright.cli.trust_notary import register_notary
from dockwright.errors import InputError
from dockwright.oci.descriptor import OCI_EMPTY, OCI_LAYER, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Manifest
from dockwright.registry import RegistryClient
from dockwright.trust import (
    FreezeAttackError,
    MemoryMetadataStore,
    MixAndMatchError,
    OciLayoutMetadataStore,
    RegistryMetadataStore,
    TrustClient,
    TrustError,
    TrustSignatureError,
)
from dockwright.trust.keys import write_key_files
from dockwright.trust.notary import import_notary, read_notary
from tests.integration import registry_fixtures
from tests.integration.notary_support import LoopbackProxy, NotaryCLI, start_notary_server
from tests.integration.registry_fixtures import RunningRegistry
from tests.unit.trust_support import Keys, make_repo

pytestmark = pytest.mark.integration
registry_anon = registry_fixtures.registry_anon

GUN = "example.test/team/app"
TUF = f"/v2/{GUN}/_trust/tuf/"


@dataclass
class Published:
    server: str
    cli: NotaryCLI
    images: dict[str, Descriptor]
    root_cert: bytes
    root_sha256: str


def _push_image(client: RegistryClient, repository: str, tag: str, content: bytes) -> Descriptor:
    for blob in (b"{}", content):
        digest = Digest.of(blob)
        if client.blob_size(repository, digest) is None:
            client.upload_blob(repository, digest, len(blob), lambda at, b=blob: io.BytesIO(b[at:]))
    manifest = Manifest(
        config=Descriptor(media_type=OCI_EMPTY, digest=Digest.of(b"{}"), size=2),
        layers=(Descriptor(media_type=OCI_LAYER, digest=Digest.of(content), size=len(content)),),
    ).to_json()
    digest = client.put_manifest(repository, tag, manifest, OCI_MANIFEST)
    return Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(manifest))


def _delegation_cert(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "releaser")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=10))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "releaser.key", directory / "releaser.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture(scope="module")
def registry(registry_anon: RunningRegistry) -> Iterator[RegistryClient]:
    with RegistryClient(registry_anon.registry, plain_http=True) as client:
        yield client


@pytest.fixture(scope="module")
def published(registry: RegistryClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    work = tmp_path_factory.mktemp("notary")
    images = {
        tag: _push_image(registry, "notary/app", tag, f"layer {tag}".encode()) for tag in ("v1", "v2", "v3")
    }
    with start_notary_server(work) as server:
        cli = NotaryCLI(server, work / "trust")
        cli.publish_hashes(GUN, {t: (d.size, d.digest.hex) for t, d in images.items() if t != "v3"})
        key_path, cert_path = _delegation_cert(work)
        cli.run("delegation", "add", GUN, "targets/releases", str(cert_path), "--all-paths")
        cli.run("key", "import", str(key_path), "--role", "targets/releases")
        v3 = images["v3"]
        cli.run("addhash", GUN, "v3", str(v3.size), "--sha256", v3.digest.hex, "--roles", "targets/releases")
        cli.run("publish", GUN)
        root = (work / "trust" / "tuf" / GUN / "metadata" / "root.json").read_bytes()
        yield Published(server, cli, images, cli.root_cert(GUN), hashlib.sha256(root).hexdigest())


def test_notary_tags_import_and_resolve_through_dockwright(
    published: Published, registry: RegistryClient, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="no trusted root"):
        read_notary(published.server, GUN, trusted_root_sha256=None)

    store = RegistryMetadataStore(registry, "notary/app")
    keys = Keys()
    repo = make_repo(store, keys, bin_bits=4)
    imported = import_notary(
        published.server, GUN, repo, trusted_root_sha256=None, root_cert=published.root_cert
    )
    assert [t.tag for t in imported] == ["v1", "v2", "v3"]
    assert {t.tag: t.role for t in imported} == {"v1": "targets", "v2": "targets", "v3": "targets/releases"}

    root = store.get("1.root.json")
    assert root is not None
    trust = TrustClient(store, trusted_root=root, cache_dir=tmp_path / "cache")
    for tag, image in published.images.items():
        found = trust.tag(tag)
        assert found.digest == image.digest and found.size == image.size
        found.check(registry.get_manifest("notary/app", str(found.digest)).data)
        # the notary client itself agrees: "<tag> <sha256 hex> <size>"
        looked_up = published.cli.run("lookup", GUN, tag).split()
        assert looked_up[1].removeprefix("sha256:") == image.digest.hex and looked_up[2] == str(image.size)

    # pinned by the sha256 of root.json instead: the same data, nothing new to sign
    data = read_notary(published.server, GUN, trusted_root_sha256=published.root_sha256)
    assert data.root_sha256 == published.root_sha256 and set(data.tags) == {"v1", "v2", "v3"}
    assert import_notary(published.server, GUN, repo, trusted_root_sha256=published.root_sha256, tags=["v2"])


def _flip(marker: bytes, offset: int = 0) -> Callable[[bytes], bytes]:
    """Change one base64 character ``offset`` bytes after ``marker`` (JSON stays valid)."""

    def change(body: bytes) -> bytes:
        at = body.index(marker) + len(marker) + offset
        swapped = b"B" if body[at : at + 1] != b"B" else b"C"
        return body[:at] + swapped + body[at + 1 :]

    return change


def _other_root_cert() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, GUN)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=10))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


TAMPER_CASES = {
    "targets byte flipped": ("targets.json", _flip(b'"sha256":"'), MixAndMatchError),
    "delegation byte flipped": ("targets/releases.json", _flip(b'"sha256":"'), MixAndMatchError),
    "snapshot byte flipped": ("snapshot.json", _flip(b'"sha256":"', 3), MixAndMatchError),
    "timestamp signature flipped": ("timestamp.json", _flip(b'"sig":"', 5), TrustSignatureError),
    "targets signature flipped, rehashed": ("targets.json", _flip(b'"sig":"', 5), MixAndMatchError),
    "root byte flipped": ("root.json", _flip(b'"sig":"', 5), TrustSignatureError),
}


@pytest.mark.parametrize("case", sorted(TAMPER_CASES))
def test_tampered_notary_metadata_is_refused_and_nothing_is_signed(published: Published, case: str) -> None:
    suffix, change, error = TAMPER_CASES[case]

    def rewrite(path: str, body: bytes) -> bytes:
        return change(body) if path == TUF + suffix else body

    store = MemoryMetadataStore()
    repo = make_repo(store, Keys(), bin_bits=2)
    before = {name: store.get(name) for name in store.names()}
    with LoopbackProxy(published.server, rewrite) as proxy:
        with pytest.raises(error):
            import_notary(proxy.url, GUN, repo, trusted_root_sha256=None, root_cert=published.root_cert)
        assert proxy.bytes_by_path.get(TUF + suffix), "the tampered file was never fetched"
    assert {name: store.get(name) for name in store.names()} == before
    assert repo.lookup("tags/v1") is None


def test_wrong_root_pins_and_expiry_are_refused(published: Published) -> None:
    repo = make_repo(MemoryMetadataStore(), Keys(), bin_bits=2)
    with pytest.raises(TrustSignatureError, match="pinned"):
        import_notary(published.server, GUN, repo, trusted_root_sha256="0" * 64)
    with pytest.raises(TrustSignatureError, match="root certificate"):
        import_notary(published.server, GUN, repo, trusted_root_sha256=None, root_cert=_other_root_cert())
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=400 * 11)
    with pytest.raises(FreezeAttackError):
        import_notary(published.server, GUN, repo, trusted_root_sha256=published.root_sha256, now=later)
    assert repo.lookup("tags/v1") is None


def _group() -> click.Group:
    @click.group()
    def trust() -> None:
        """trust"""

    register_notary(trust)
    return trust


def test_cli_imports_with_exit_codes(published: Published, tmp_path: Path) -> None:
    keys = Keys()
    store = OciLayoutMetadataStore(tmp_path / "layout")
    make_repo(store, keys, bin_bits=2)
    key_args: list[str] = []
    for name, signer in (
        ("targets", keys.targets),
        ("snapshot", keys.snapshot),
        ("timestamp", keys.timestamp),
        ("bins", keys.bins),
    ):
        files = write_key_files(signer, tmp_path / "keys", name, passphrase="pw-1234567")
        key_args += ["--key", str(files.private)]
    env = {"DOCKWRIGHT_KEY_PASSPHRASE": "pw-1234567"}
    runner = CliRunner()
    base = ["import-notary", published.server, GUN, "--to", f"oci:{tmp_path / 'layout'}", *key_args]

    unpinned = runner.invoke(_group(), base, env=env)
    assert unpinned.exit_code == 2 and published.root_sha256 in unpinned.output

    def tamper(path: str, body: bytes) -> bytes:
        return _flip(b'"sha256":"')(body) if path == TUF + "targets.json" else body

    with LoopbackProxy(published.server, tamper) as proxy:
        refused = runner.invoke(
            _group(), [*base[:1], proxy.url, *base[2:], "--root-sha256", published.root_sha256], env=env
        )
    assert refused.exit_code == 5, refused.output
    assert "targets" in refused.output

    done = runner.invoke(_group(), [*base, "--root-sha256", published.root_sha256, "--json"], env=env)
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert {t["tag"]: t["digest"] for t in payload["tags"]} == {
        t: str(d.digest) for t, d in published.images.items()
    }
    root = store.get("1.root.json")
    assert root is not None
    trust = TrustClient(store, trusted_root=root, cache_dir=tmp_path / "cache")
    assert trust.tag("v3").digest == published.images["v3"].digest


def test_trust_error_is_exit_5() -> None:
    assert TrustError("x").exit_code == 5
