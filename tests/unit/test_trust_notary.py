"""Verifying Notary v1 metadata generated here in the Notary dialect (keys and x509 certs via cryptography).

The integration test (``tests/integration/test_notary_import.py``) checks the same code against a
real notary-server; these cases cover what the notary client does not easily produce: RSA and
P-384 keys, thresholds above 1, delegation paths, expired certificates, forged key ids.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from dockwright.errors import InputError
from dockwright.trust import (
    EndlessDataError,
    FreezeAttackError,
    MemoryMetadataStore,
    MixAndMatchError,
    TrustError,
    TrustSignatureError,
)
from dockwright.trust.notary import canonical_json, import_notary, notary_key_id, read_notary
from tests.unit.trust_support import Keys, client, make_repo

GUN = "example.test/app"
SERVER = "http://notary.invalid"
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
Private = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _expires(days: int) -> str:
    return (NOW + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")


@dataclass
class NKey:
    private: Private
    keytype: str
    public: bytes

    @property
    def entry(self) -> dict[str, Any]:
        return {"keytype": self.keytype, "keyval": {"private": None, "public": _b64(self.public)}}

    @property
    def keyid(self) -> str:
        return notary_key_id(self.entry)

    def sign(self, message: bytes) -> dict[str, str]:
        key = self.private
        if isinstance(key, ed25519.Ed25519PrivateKey):
            method, sig = "eddsa", key.sign(message)
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
            half = (key.curve.key_size + 7) // 8
            method, sig = "ecdsa", r.to_bytes(half) + s.to_bytes(half)
        else:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            method, sig = "rsapss", key.sign(message, pss, hashes.SHA256())
        return {"keyid": self.keyid, "method": method, "sig": _b64(sig)}


def _spki(key: Private) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ecdsa_key(curve: ec.EllipticCurve | None = None) -> NKey:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return NKey(key, "ecdsa", _spki(key))


def ed_key() -> NKey:
    key = ed25519.Ed25519PrivateKey.generate()
    return NKey(
        key,
        "ed25519",
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    )


def rsa_key(bits: int = 2048) -> NKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return NKey(key, "rsa", _spki(key))


def cert_key(kind: str = "ecdsa", *, cn: str = GUN, days: int = 3650) -> NKey:
    key: Private = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else rsa.generate_private_key(65537, 2048)
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=10))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return NKey(key, f"{kind}-x509", cert.public_bytes(serialization.Encoding.PEM))


def _meta(data: bytes) -> dict[str, Any]:
    return {
        "hashes": {
            "sha256": _b64(hashlib.sha256(data).digest()),
            "sha512": _b64(hashlib.sha512(data).digest()),
        },
        "length": len(data),
    }


def _doc(signed: dict[str, Any], signers: list[NKey]) -> bytes:
    message = canonical_json(signed)
    return json.dumps({"signed": signed, "signatures": [k.sign(message) for k in signers]}).encode()


def _digest(n: int) -> str:
    return hashlib.sha256(f"manifest {n}".encode()).hexdigest()


def _target(n: int) -> dict[str, Any]:
    return {"hashes": {"sha256": _b64(bytes.fromhex(_digest(n)))}, "length": 100 + n}


@dataclass
class NotaryRepo:
    """A Notary repository in the dialect; :meth:`files` signs and serializes it."""

    root: list[NKey] = field(default_factory=lambda: [cert_key()])
    root_threshold: int = 1
    targets: NKey = field(default_factory=ecdsa_key)
    snapshot: NKey = field(default_factory=rsa_key)
    timestamp: NKey = field(default_factory=ed_key)
    releases: NKey = field(default_factory=lambda: ecdsa_key(ec.SECP384R1()))
    top_targets: dict[str, Any] = field(
        default_factory=lambda: {"v1": _target(1), "v2": _target(2), "bad/tag": _target(9)}
    )
    release_targets: dict[str, Any] = field(default_factory=lambda: {"v2": _target(22), "v3": _target(3)})
    other_targets: dict[str, Any] = field(default_factory=lambda: {"x-only": _target(4), "v1": _target(44)})
    expires: dict[str, int] = field(default_factory=dict)
    signers: dict[str, list[NKey]] = field(default_factory=dict)
    mutate: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        keys = [*self.root, self.targets, self.snapshot, self.timestamp]
        root_signed = {
            "_type": "Root",
            "consistent_snapshot": False,
            "expires": _expires(self.expires.get("root", 3650)),
            "keys": {k.keyid: k.entry for k in keys},
            "roles": {
                "root": {"keyids": [k.keyid for k in self.root], "threshold": self.root_threshold},
                "targets": {"keyids": [self.targets.keyid], "threshold": 1},
                "snapshot": {"keyids": [self.snapshot.keyid], "threshold": 1},
                "timestamp": {"keyids": [self.timestamp.keyid], "threshold": 1},
            },
            "version": 1,
        }
        files: dict[str, bytes] = {"root": self._sign("root", root_signed, self.root)}
        delegation_keys = {self.releases.keyid: self.releases.entry}
        targets_signed = {
            "_type": "Targets",
            "delegations": {
                "keys": delegation_keys,
                "roles": [
                    {
                        "name": "targets/other",
                        "keyids": [self.releases.keyid],
                        "threshold": 1,
                        "paths": ["x"],
                    },
                    {
                        "name": "targets/releases",
                        "keyids": [self.releases.keyid],
                        "threshold": 1,
                        "paths": [""],
                    },
                ],
            },
            "expires": _expires(self.expires.get("targets", 1000)),
            "targets": self.top_targets,
            "version": 3,
        }
        files["targets"] = self._sign("targets", targets_signed, [self.targets])
        for role, targets in (
            ("targets/releases", self.release_targets),
            ("targets/other", self.other_targets),
        ):
            signed = {
                "_type": "Targets",
                "delegations": {"keys": {}, "roles": []},
                "expires": _expires(self.expires.get(role, 1000)),
                "targets": targets,
                "version": 1,
            }
            files[role] = self._sign(role, signed, [self.releases])
        snapshot_signed = {
            "_type": "Snapshot",
            "expires": _expires(self.expires.get("snapshot", 1000)),
            "meta": {
                name: _meta(files[name]) for name in ("root", "targets", "targets/releases", "targets/other")
            },
            "version": 3,
        }
        files["snapshot"] = self._sign("snapshot", snapshot_signed, [self.snapshot])
        timestamp_signed = {
            "_type": "Timestamp",
            "expires": _expires(self.expires.get("timestamp", 14)),
            "meta": {"snapshot": _meta(files["snapshot"])},
            "version": 3,
        }
        files["timestamp"] = self._sign("timestamp", timestamp_signed, [self.timestamp])
        return files

    def _sign(self, role: str, signed: dict[str, Any], default: list[NKey]) -> bytes:
        data = _doc(signed, self.signers.get(role, default))
        return self.mutate[role](data) if role in self.mutate else data

    def transport(self, files: dict[str, bytes] | None = None) -> httpx.MockTransport:
        served = files if files is not None else self.files()
        prefix = f"/v2/{GUN}/_trust/tuf/"

        def handler(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            name = path.removeprefix(prefix).removesuffix(".json")
            if not path.startswith(prefix) or name not in served:
                return httpx.Response(404)
            return httpx.Response(200, content=served[name])

        return httpx.MockTransport(handler)


def _read(repo: NotaryRepo, **kwargs: Any) -> Any:
    kwargs.setdefault("trust_on_first_use", True)
    return read_notary(SERVER, GUN, transport=repo.transport(), now=NOW, **kwargs)


def test_canonical_json_matches_go() -> None:
    value = {"b": [1, True, None], "a": '<&>\u2028\x08\n"\\é'}
    assert (
        canonical_json(value)
        == '{"a":"\\u003c\\u0026\\u003e\\u2028\\u0008\\n\\"\\\\é","b":[1,true,null]}'.encode()
    )
    with pytest.raises(TrustError):
        canonical_json({"a": 1.5})


def test_tags_verify_with_docker_priority_and_delegation_paths() -> None:
    data = _read(NotaryRepo(root=[cert_key("rsa")]))
    assert {t: (v.digest.hex, v.size, v.role) for t, v in data.tags.items()} == {
        "v1": (_digest(1), 101, "targets"),
        "v2": (_digest(22), 122, "targets/releases"),  # releases wins over targets
        "v3": (_digest(3), 103, "targets/releases"),
        # targets/other may sign only names starting with "x": its "v1" is ignored
        "x-only": (_digest(4), 104, "targets/other"),
    }
    assert "bad/tag" in data.skipped


def test_delegation_targets_outside_paths_are_ignored() -> None:
    repo = NotaryRepo(other_targets={"y1": _target(5)})
    assert "y1" not in _read(repo).tags


def test_import_signs_verified_tags_into_dockwright(tmp_path: Any) -> None:
    notary = NotaryRepo()
    files = notary.files()
    store = MemoryMetadataStore()
    repo = make_repo(store, Keys(), bin_bits=2)
    root_sha = hashlib.sha256(files["root"]).hexdigest()
    seen: list[str] = []
    imported = import_notary(
        SERVER,
        GUN,
        repo,
        trusted_root_sha256=root_sha,
        transport=notary.transport(files),
        now=NOW,
        tags=["v1", "v3"],
        report=lambda d: seen.append(d.root_sha256),
    )
    assert [t.tag for t in imported] == ["v1", "v3"] and seen == [root_sha]
    trust = client(store, tmp_path)
    assert trust.tag("v3").digest.hex == _digest(3)
    with pytest.raises(InputError, match="bad/tag"):
        import_notary(
            SERVER,
            GUN,
            repo,
            trusted_root_sha256=root_sha,
            transport=notary.transport(files),
            now=NOW,
            tags=["bad/tag"],
        )


def test_root_certificate_pin() -> None:
    notary = NotaryRepo(root=[cert_key(), cert_key()], root_threshold=1)
    pinned = notary.root[1].public
    data = _read(notary, root_cert=pinned, trust_on_first_use=False)
    assert data.tags
    notary.signers["root"] = [notary.root[0]]  # the pinned key did not sign
    with pytest.raises(TrustSignatureError, match="pinned root certificate"):
        _read(notary, root_cert=pinned, trust_on_first_use=False)


def _flip_sig(data: bytes) -> bytes:
    document = json.loads(data)
    sig = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
    sig[3] ^= 1
    document["signatures"][0]["sig"] = _b64(bytes(sig))
    return json.dumps(document).encode()


def _bump_version(data: bytes) -> bytes:
    document = json.loads(data)
    document["signed"]["version"] += 1
    return json.dumps(document).encode()


REFUSED: dict[str, tuple[Callable[[], NotaryRepo], type[Exception], str]] = {
    "root cert for another GUN": (
        lambda: NotaryRepo(root=[cert_key(cn="other/app")]),
        TrustSignatureError,
        "other/app",
    ),
    "root cert expired": (lambda: NotaryRepo(root=[cert_key(days=-1)]), FreezeAttackError, "valid from"),
    "root below threshold": (
        lambda: (
            r := NotaryRepo(root=[cert_key(), cert_key()], root_threshold=2),
            r.signers.update(root=r.root[:1]),
        )[0],
        TrustSignatureError,
        "2 required",
    ),
    "root signed by a non-root key": (
        lambda: NotaryRepo(signers={"root": [ecdsa_key()]}),
        TrustSignatureError,
        "root",
    ),
    "small RSA key": (lambda: NotaryRepo(snapshot=rsa_key(1024)), TrustError, "1024-bit"),
    "timestamp signature bad": (
        lambda: NotaryRepo(mutate={"timestamp": _flip_sig}),
        TrustSignatureError,
        "timestamp",
    ),
    "snapshot changed after signing": (
        lambda: NotaryRepo(mutate={"snapshot": _bump_version}),
        TrustSignatureError,
        "snapshot",
    ),
    "targets signed by snapshot key": (
        lambda: (r := NotaryRepo(), r.signers.update(targets=[r.snapshot]))[0],
        TrustSignatureError,
        "targets",
    ),
    "delegation signed by targets key": (
        lambda: (r := NotaryRepo(), r.signers.update({"targets/releases": [r.targets]}))[0],
        TrustSignatureError,
        "targets/releases",
    ),
    "timestamp expired": (lambda: NotaryRepo(expires={"timestamp": -1}), FreezeAttackError, "timestamp"),
    "delegation expired": (
        lambda: NotaryRepo(expires={"targets/releases": -1}),
        FreezeAttackError,
        "releases",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused(case: str) -> None:
    make, error, match = REFUSED[case]
    with pytest.raises(error, match=match):
        _read(make())


def test_forged_key_id_and_oversize_and_pins() -> None:
    notary = NotaryRepo()
    files = notary.files()
    root = json.loads(files["root"])
    keyid = notary.root[0].keyid
    root["signed"]["keys"][keyid]["keyval"]["public"] = _b64(cert_key().public)
    files["root"] = _doc(root["signed"], notary.root)
    with pytest.raises(TrustError, match="does not hash to its key id"):
        read_notary(SERVER, GUN, trust_on_first_use=True, transport=notary.transport(files), now=NOW)

    files = notary.files()
    files["targets"] = _bump_version(files["targets"])  # an older or newer targets than snapshot pins
    with pytest.raises(MixAndMatchError, match="targets"):
        read_notary(SERVER, GUN, trust_on_first_use=True, transport=notary.transport(files), now=NOW)

    files = notary.files()
    files["timestamp"] = files["timestamp"] + b" " * (2 << 20)
    with pytest.raises(EndlessDataError):
        read_notary(SERVER, GUN, trust_on_first_use=True, transport=notary.transport(files), now=NOW)

    with pytest.raises(InputError, match="no trusted root"):
        read_notary(SERVER, GUN, trusted_root_sha256=None, transport=notary.transport(), now=NOW)
    with pytest.raises(TrustSignatureError, match="pinned"):
        read_notary(SERVER, GUN, trusted_root_sha256="ab" * 32, transport=notary.transport(), now=NOW)
