"""Every TUF attack class, and forged attestations, refused by ``dockwright verify`` on a real registry.

Each test pushes a one-package image to Debian's ``docker-registry``, signs it through the CLI
(``trust init``, ``sign``), verifies it once (the client caches what it trusted), then plays the
attacker with the test's own tools and checks ``verify`` exits 5 naming the attack class.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tuf.api.metadata import Metadata, Root, TargetFile, Targets

from dockwright.cli.main import cli
from dockwright.inspect.inspector import analyze, sbom
from dockwright.oci.digest import Digest
from dockwright.registry import RegistryClient
from dockwright.registry.reference import parse_registry_reference
from dockwright.registry.remote import RegistrySource
from dockwright.trust import RegistryMetadataStore, RootPins
from dockwright.trust.attestation_store import push_attestation
from dockwright.trust.envelope import sign_statement
from dockwright.trust.keys import create_key, generate_signer, load_signer, read_public_key
from dockwright.trust.statement import SPDX_PREDICATE, sbom_statement
from tests.inspect_images import TarMember, make_layout
from tests.integration import registry_fixtures
from tests.integration.registry_fixtures import RunningRegistry
from tests.unit.trust_support import forge

pytestmark = pytest.mark.integration
registry_anon = registry_fixtures.registry_anon

PASSPHRASE = "correct horse battery staple"
STATUS = b"Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\nDescription: x\n"
_names = itertools.count()


class Signed:
    """A signed repository on the registry and the CLI around it."""

    def __init__(self, reg: RunningRegistry, tmp: Path, attest: bool = False) -> None:
        self.reg, self.tmp = reg, tmp
        self.repo = f"docker://{reg.registry}/attacks/r{next(_names)}"
        self.keys = tmp / "keys"
        self.env: dict[str, str | None] = {
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            "DOCKWRIGHT_KEY_PASSPHRASE": PASSPHRASE,
            "DOCKWRIGHT_KEYS_DIR": str(self.keys),
            "FORCE_COLOR": None,
        }
        self.layout = tmp / "img"
        self.digest = self.push("1")
        self.ok("trust", "init", self.repo, "--keys-dir", str(self.keys), "--bin-bits", "1")
        create_key(tmp / "attest", "attest", passphrase=PASSPHRASE)
        self.policy = tmp / "policy.yaml"
        self.policy.write_text(
            'version: 1\nscopes:\n  - match: "*"\n    attestations: [sbom]\n    keys: [attest/attest.pub]\n'
        )
        extra = ["--attest", "sbom", "--key", str(tmp / "attest" / "attest.key")] if attest else []
        self.ok("sign", f"{self.repo}:1", *extra)
        self.ok("verify", f"{self.repo}:1", *(["--policy", str(self.policy)] if attest else []))

    def dw(self, *args: str) -> Result:
        return CliRunner().invoke(cli, [*args, "--tls-verify=false"], env=self.env, catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self.dw(*args)
        assert result.exit_code == 0, result.output
        return result

    def refused(self, attack: str, *args: str) -> str:
        result = self.dw("verify", *args)
        assert result.exit_code == 5, result.output
        assert "error: refused" in result.stderr and attack in result.stderr, result.stderr
        return result.stderr

    def push(self, tag: str, version: str = "2.10-3", layout: Path | None = None) -> str:
        members = [
            TarMember("etc/os-release", b"ID=debian\n"),
            TarMember("var/lib/dpkg/status", STATUS % version.encode()),
        ]
        layout = layout or self.tmp / f"img-{tag}-{version}"
        digest = make_layout(layout, [members], tag=tag)
        self.layout = layout
        self.ok("copy", f"oci:{layout}:{tag}", f"{self.repo}:{tag}")
        return digest

    def signer(self, name: str) -> Any:
        return load_signer(str(self.keys / f"{name}.key"), passphrase=PASSPHRASE)

    @property
    def parsed(self) -> Any:
        return parse_registry_reference(f"{self.repo}:1")


@pytest.fixture
def client(registry_anon: RunningRegistry) -> Iterator[RegistryClient]:
    with RegistryClient(registry_anon.registry, plain_http=True) as c:
        yield c


def store_of(s: Signed, client: RegistryClient) -> RegistryMetadataStore:
    return RegistryMetadataStore(client, s.parsed.repository)


def latest(store: RegistryMetadataStore, role: str) -> int:
    return max(int(n.split(".")[0]) for n in store.names() if n.endswith(f".{role}.json") and n[0].isdigit())


def test_arbitrary_image_tag_moved_to_an_unsigned_digest(
    registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    s = Signed(registry_anon, tmp_path)
    s.push("1", version="6.6.6")  # the attacker can push, but has no key
    s.refused("arbitrary image: the tag was moved", f"{s.repo}:1")


def test_rollback(registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient) -> None:
    s = Signed(registry_anon, tmp_path)
    store = store_of(s, client)
    old = store.get("timestamp.json")
    assert old is not None
    s.push("2")
    s.ok("sign", f"{s.repo}:2")
    s.ok("verify", f"{s.repo}:2")  # the client now trusts the newer state
    store.put("timestamp.json", old)
    s.refused("rollback attack", f"{s.repo}:1")


def test_indefinite_freeze_expired_timestamp(
    registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient
) -> None:
    s = Signed(registry_anon, tmp_path)
    store = store_of(s, client)
    data = store.get("timestamp.json")
    assert data is not None
    ts: Metadata[Any] = Metadata.from_bytes(data)
    ts.signed.version += 1
    ts.signed.expires = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    ts.sign(s.signer("timestamp"))
    store.put("timestamp.json", ts.to_bytes())
    s.refused("freeze attack", f"{s.repo}:1")


def test_mix_and_match(registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient) -> None:
    s = Signed(registry_anon, tmp_path)
    s.push("2")
    s.ok("sign", f"{s.repo}:2")
    store = store_of(s, client)
    n = latest(store, "snapshot")
    older = store.get(f"{n - 1}.snapshot.json")
    assert older is not None
    store.put(f"{n}.snapshot.json", older)  # the timestamp pinned the newer one's hash
    s.refused("mix-and-match attack", f"{s.repo}:2")


def test_endless_data(registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient) -> None:
    s = Signed(registry_anon, tmp_path)
    store = store_of(s, client)
    bins = sorted((n for n in store.names() if ".bins-" in n), key=lambda n: int(n.split(".")[0]))
    for name in bins:
        data = store.get(name)
        assert data is not None
        if b"tags/1" in data:
            store.put(name, data + b" " * 1_000_000)
    s.env["XDG_CACHE_HOME"] = str(tmp_path / "fresh-cache")
    s.refused("endless data attack", f"{s.repo}:1")


def test_fast_forward_recovery_after_key_rotation(
    registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient
) -> None:
    s = Signed(registry_anon, tmp_path)
    store = store_of(s, client)
    honest = store.get("timestamp.json")
    assert honest is not None

    def noop(targets: Targets) -> None:
        pass

    forge(
        store, "bins", noop, role_signers=[s.signer("bins")], snapshot_signer=s.signer("snapshot"),
        timestamp_signer=s.signer("timestamp"), timestamp_version=999_999,
    )  # fmt: skip
    s.ok("verify", f"{s.repo}:1")  # the client now trusts timestamp v999999
    store.put("timestamp.json", honest)  # the owners restore their repository...
    s.refused("rollback attack", f"{s.repo}:1")  # ...which now looks like a rollback
    for role in ("timestamp", "snapshot"):
        create_key(tmp_path / "new", role, passphrase=PASSPHRASE)
        loaded = [f"-k{k}" for k in sorted((tmp_path / "new").glob("*.key"))]
        s.ok("trust", "rotate", s.repo, role, "--key", str(tmp_path / "new" / f"{role}.key"), *loaded)
    for role in ("timestamp", "snapshot"):
        (s.keys / f"{role}.key").unlink()  # the compromised keys are gone
    s.push("2")
    s.ok(
        "sign",
        f"{s.repo}:2",
        "-k",
        str(tmp_path / "new" / "timestamp.key"),
        "-k",
        str(tmp_path / "new" / "snapshot.key"),
    )
    s.ok("verify", f"{s.repo}:2")
    s.ok("verify", f"{s.repo}:1")


def test_key_compromise_below_the_root_threshold(
    registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient
) -> None:
    s = Signed(registry_anon, tmp_path)
    store = store_of(s, client)
    data = store.get("1.root.json")
    assert data is not None
    root: Metadata[Root] = Metadata.from_bytes(data)
    attacker = generate_signer()
    root.signed.version = 2
    root.signed.add_key(attacker.public_key, "timestamp")
    root.sign(s.signer("root-1"))  # one stolen root key; the threshold is two
    root.sign(attacker, append=True)
    store.put("2.root.json", root.to_bytes())
    s.refused("root was signed by 1/2 keys", f"{s.repo}:1")


def test_revoked_key(registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient) -> None:
    s = Signed(registry_anon, tmp_path)
    for name in ("rel-a", "rel-b"):
        create_key(tmp_path / "rel", name, passphrase=PASSPHRASE)
    a, b = (str(tmp_path / "rel" / f"{n}.key") for n in ("rel-a", "rel-b"))
    s.ok("trust", "delegate", s.repo, "release", "--pattern", "v*", "--key", a, "--key", b)
    s.push("v1")
    s.ok("sign", f"{s.repo}:v1", "--role", "release", "-k", b)
    keyid = read_public_key(tmp_path / "rel" / "rel-a.pub").keyid
    s.ok("trust", "revoke", s.repo, keyid, "-k", b)
    s.ok("verify", f"{s.repo}:v1")
    store = store_of(s, client)
    evil = s.push("evil", version="6.6.6")

    def retarget(targets: Targets) -> None:
        manifest = client.get_manifest(s.parsed.repository, evil).data
        targets.targets["tags/v1"] = TargetFile.from_data("tags/v1", manifest, ["sha256"])

    revoked = load_signer(a, passphrase=PASSPHRASE)
    forge(
        store, "release", retarget, role_signers=[revoked], snapshot_signer=s.signer("snapshot"),
        timestamp_signer=s.signer("timestamp"),
    )  # fmt: skip
    s.refused("release was signed by 0/1 keys", f"{s.repo}:v1")


def _attach(s: Signed, client: RegistryClient, envelope: bytes) -> None:
    subject = RegistrySource(client, s.parsed).resolve().descriptor
    push_attestation(client, s.parsed.repository, subject, envelope, SPDX_PREDICATE)


def _sbom_envelope(s: Signed, subject: str, layout: Path) -> bytes:
    document = sbom(analyze(f"oci:{layout}:1"), "spdx-json")
    return sign_statement(
        sbom_statement("app", subject, document),
        [load_signer(str(s.tmp / "attest" / "attest.key"), passphrase=PASSPHRASE)],
    )


def test_tampered_attestation(registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient) -> None:
    s = Signed(registry_anon, tmp_path)
    envelope = json.loads(_sbom_envelope(s, s.digest, s.layout))
    payload = base64.b64decode(envelope["payload"]).replace(b"2.10-3", b"2.10-9")
    envelope["payload"] = base64.b64encode(payload).decode()
    _attach(s, client, json.dumps(envelope).encode())
    s.refused("tampered attestation", f"{s.repo}:1", "--policy", str(s.policy))


def test_attestation_for_another_subject(
    registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient
) -> None:
    s = Signed(registry_anon, tmp_path)
    _attach(s, client, _sbom_envelope(s, str(Digest.of(b"another image")), s.layout))
    s.refused("attestation for another subject", f"{s.repo}:1", "--policy", str(s.policy))


def test_layers_no_longer_match_the_signed_sbom(
    registry_anon: RunningRegistry, tmp_path: Path, client: RegistryClient
) -> None:
    s = Signed(registry_anon, tmp_path)
    other = tmp_path / "other"
    members = [
        TarMember("etc/os-release", b"ID=debian\n"),
        TarMember("var/lib/dpkg/status", STATUS % b"2.10-2"),
    ]
    make_layout(other, [members], tag="1")
    _attach(s, client, _sbom_envelope(s, s.digest, other))  # signed for this image, listing other packages
    stderr = s.refused("no longer match its signed SBOM", f"{s.repo}:1", "--policy", str(s.policy))
    assert "~ hello 2.10-2 -> 2.10-3" in stderr


def test_copy_to_a_second_registry_stays_verifiable(registry_anon: RunningRegistry, tmp_path: Path) -> None:
    s = Signed(registry_anon, tmp_path, attest=True)
    pinned = RootPins(tmp_path / "config" / "dockwright" / "trust").path(
        f"{s.reg.registry}/{s.parsed.repository}"
    )
    (tmp_path / "second").mkdir()
    with registry_fixtures.start_registry("anon", tmp_path / "second") as second:
        target = f"docker://{second.registry}/mirror/app"
        s.ok("copy", f"{s.repo}:1", f"{target}:1", "--verify", str(s.policy))
        result = s.ok(
            "verify", f"{target}:1", "--policy", str(s.policy), "--trusted-root", str(pinned), "--json"
        )
        report = json.loads(result.stdout)
        assert report["digest"] == s.digest and report["sbomMatches"] is True
        assert [a["pinned"] for a in report["attestations"]] == [True]
