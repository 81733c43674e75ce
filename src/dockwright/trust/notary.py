"""Import the signed tags of a Notary v1 (Docker Content Trust) repository, verified, into dockwright.

A notary-server serves a repository's (a GUN's) metadata over HTTP at
``/v2/<gun>/_trust/tuf/<role>.json``: ``root``, ``timestamp``, ``snapshot``, ``targets`` and
delegations such as ``targets/releases``. It is a TUF dialect python-tuf cannot parse, so this
module verifies it itself:

* signed bytes are the Go canonical JSON of ``signed`` (sorted keys, no whitespace, Go's string
  escaping: ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, ``\\b`` and ``\\f`` as ``\\u00XX``);
* key ids are the sha256 of a key's canonical JSON (checked for every key used);
* keys: ``ed25519`` (raw 32 bytes), ``ecdsa`` and ``rsa`` (DER SubjectPublicKeyInfo), and the root's
  ``ecdsa-x509`` / ``rsa-x509`` (a PEM certificate whose public key signs; it must be valid now,
  and its common name must be the GUN, as notary requires);
* signature methods: ``ecdsa`` (raw ``r||s`` over sha256), ``eddsa``, ``rsapss`` (sha256, salt
  length = hash length) and ``rsapkcs1v15`` (sha256); RSA keys under 2048 bits are refused;
* hashes are base64; ``timestamp`` pins ``snapshot``, ``snapshot`` pins ``root``, ``targets``
  and each delegation by length and sha256 (and sha512 when given); every role needs a
  threshold of distinct valid signatures and must not be expired;
* delegations (``targets/<name>``) only count for the target names under their ``paths``
  prefixes; a tag is taken, as Docker does, from ``targets/releases`` first, then ``targets``,
  then any other delegation in delegation order.

The root is the trust anchor and is never taken silently from the server: the caller pins it by
the sha256 of ``root.json`` (printed on first use), by the root certificate (which must be a
root-role key that signed the root), or explicitly trusts it on first use.

:func:`import_notary` re-signs the verified tags (name -> length and sha256, the manifest digest)
into a :class:`~dockwright.trust.repository.TrustRepository`; any verification failure raises a
:class:`~dockwright.trust._tuf_errors.TrustError` (exit 5) before anything is signed.

What this module does not do: remember metadata versions between runs (each import verifies one
consistent state from the pinned root; rollback across runs is not detected), fetch manifests,
talk to a notary-signer, or write Notary metadata.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib import parse

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dockwright.errors import InputError, NetworkError
from dockwright.oci.digest import Digest
from dockwright.trust._tuf_errors import (
    EndlessDataError,
    FreezeAttackError,
    MixAndMatchError,
    TrustDataMissingError,
    TrustError,
    TrustSignatureError,
)
from dockwright.trust._tuf_names import tag_target
from dockwright.trust.repository import TrustRepository

__all__ = [
    "NotaryTag",
    "NotaryTrustData",
    "canonical_json",
    "import_notary",
    "notary_key_id",
    "read_notary",
]

MAX_ROOT_BYTES = 1 << 20
MAX_TIMESTAMP_BYTES = 1 << 20
MAX_DELEGATION_DEPTH = 8
RELEASES_ROLE = "targets/releases"
_GUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}")
_ROLE_NAME = re.compile(r"targets(/[A-Za-z0-9_.-]+)+")
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")
_SIGNATURE_KEYTYPES = {
    "ecdsa": ("ecdsa", "ecdsa-x509"),
    "eddsa": ("ed25519",),
    "rsapss": ("rsa", "rsa-x509"),
    "rsapkcs1v15": ("rsa", "rsa-x509"),
}
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclass(frozen=True, slots=True, kw_only=True)
class NotaryTag:
    """A verified tag: the manifest digest and length it is signed for, and the role that signed it."""

    tag: str
    digest: Digest
    size: int
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NotaryTrustData:
    """What :func:`read_notary` verified.

    Attributes:
        gun: the Notary repository name.
        root_sha256: sha256 (hex) of the ``root.json`` bytes that anchored the verification.
        tags: verified tags by name, the first role in Docker's order winning.
        skipped: target name -> why it is not importable as a tag (not a valid tag name, ...).
        bytes_fetched: metadata bytes downloaded.
    """

    gun: str
    root_sha256: str
    tags: Mapping[str, NotaryTag]
    skipped: Mapping[str, str] = field(default_factory=dict)
    bytes_fetched: int = 0


# --- canonical JSON and keys ------------------------------------------------------------------


def _go_string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or char in "<>&\u2028\u2029":
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _canonical(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        out.append(_go_string(value))
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _canonical(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(sorted(value)):
            if index:
                out.append(",")
            out.append(_go_string(key))
            out.append(":")
            _canonical(value[key], out)
        out.append("}")
    else:
        raise TrustError(f"Notary metadata holds a {type(value).__name__} value, which it never signs")


def canonical_json(value: Any) -> bytes:
    """The Go canonical JSON Notary signs (sorted keys, no whitespace, Go string escaping).

    Raises:
        TrustError: a value Notary metadata never holds (a float, for instance).
    """
    out: list[str] = []
    _canonical(value, out)
    return "".join(out).encode()


def notary_key_id(key: Mapping[str, Any]) -> str:
    """A Notary key id: sha256 (hex) of the key's canonical JSON."""
    return hashlib.sha256(canonical_json(dict(key))).hexdigest()


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise TrustError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{what} is not valid base64") from None


def _public_key(
    keyid: str, key: Mapping[str, Any], gun: str | None, now: datetime
) -> tuple[str, PublicKey, bytes]:
    """(keytype, public key, raw ``public`` bytes) of a Notary key, its id checked.

    ``gun``: for root keys, the common name their certificate must carry (None: any name).
    """
    if not isinstance(key, Mapping) or not isinstance(key.get("keyval"), Mapping):
        raise TrustError(f"key {keyid[:12]} is malformed")
    if notary_key_id(key) != keyid:
        raise TrustError(f"key {keyid[:12]} does not hash to its key id")
    keytype = key.get("keytype")
    raw = _b64(key["keyval"].get("public"), f"key {keyid[:12]}")
    loaded: object
    try:
        if keytype == "ed25519":
            loaded = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        elif keytype in ("ecdsa", "rsa"):
            loaded = serialization.load_der_public_key(raw)
        elif keytype in ("ecdsa-x509", "rsa-x509"):
            cert = x509.load_pem_x509_certificate(raw)
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise FreezeAttackError(
                    f"the certificate of key {keyid[:12]} is valid from {cert.not_valid_before_utc:%Y-%m-%d} "
                    f"to {cert.not_valid_after_utc:%Y-%m-%d}, not now",
                    role="root",
                )
            names = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
            if gun is not None and names != [gun]:
                raise TrustSignatureError(
                    f"the certificate of key {keyid[:12]} is for {names!r}, not {gun!r}", role="root"
                )
            loaded = cert.public_key()
        else:
            raise TrustError(f"key {keyid[:12]} has unsupported type {keytype!r}")
    except ValueError as exc:
        raise TrustError(f"key {keyid[:12]} ({keytype}) cannot be loaded: {exc}") from None
    if keytype.startswith("ecdsa") and not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise TrustError(f"key {keyid[:12]} is {keytype} but holds another kind of key")
    if keytype.startswith("rsa"):
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise TrustError(f"key {keyid[:12]} is {keytype} but holds another kind of key")
        if loaded.key_size < 2048:
            raise TrustError(f"key {keyid[:12]} is a {loaded.key_size}-bit RSA key (at least 2048 needed)")
    assert isinstance(loaded, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey)
    return keytype, loaded, raw


def _signature_valid(method: str, keytype: str, key: PublicKey, sig: bytes, message: bytes) -> bool:
    if keytype not in _SIGNATURE_KEYTYPES.get(method, ()):
        return False
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            half = (key.curve.key_size + 7) // 8
            if len(sig) != 2 * half:
                return False
            der = encode_dss_signature(int.from_bytes(sig[:half]), int.from_bytes(sig[half:]))
            key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        elif method == "rsapss":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            key.verify(sig, message, pss, hashes.SHA256())
        else:
            key.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- roles --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Role:
    keyids: tuple[str, ...]
    threshold: int


def _role_spec(entry: object, role: str) -> _Role:
    if not isinstance(entry, Mapping):
        raise TrustError(f"role {role} is not described", role=role)
    keyids, threshold = entry.get("keyids"), entry.get("threshold")
    if not isinstance(keyids, list) or not all(isinstance(k, str) for k in keyids):
        raise TrustError(f"role {role} has malformed key ids", role=role)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise TrustError(f"role {role} has threshold {threshold!r}: at least 1 is required", role=role)
    return _Role(tuple(dict.fromkeys(keyids)), threshold)


def _parse(data: bytes, role: str, kind: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TrustError(f"{role}.json is not JSON", role=role) from None
    if not isinstance(document, dict) or not isinstance(document.get("signed"), dict):
        raise TrustError(f"{role}.json has no signed part", role=role)
    if not isinstance(document.get("signatures"), list):
        raise TrustError(f"{role}.json has no signatures", role=role)
    signed: dict[str, Any] = document["signed"]
    if signed.get("_type") != kind:
        raise TrustError(f"{role}.json is {signed.get('_type')!r} metadata, not {kind}", role=role)
    version = signed.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TrustError(f"{role}.json has version {version!r}", role=role)
    return document


def _check_signatures(
    document: Mapping[str, Any],
    role: str,
    spec: _Role,
    keys: Mapping[str, tuple[str, PublicKey, bytes]],
) -> set[str]:
    """The key ids with valid signatures; raises unless they reach the role's threshold."""
    message = canonical_json(document["signed"])
    valid: set[str] = set()
    for signature in document["signatures"]:
        if not isinstance(signature, Mapping):
            continue
        keyid, method = signature.get("keyid"), signature.get("method")
        if keyid not in spec.keyids or keyid in valid or keyid not in keys or not isinstance(method, str):
            continue
        keytype, key, _ = keys[keyid]
        try:
            sig = _b64(signature.get("sig"), f"a signature on {role}")
        except TrustError:
            continue
        if _signature_valid(method, keytype, key, sig, message):
            valid.add(keyid)
    if len(valid) < spec.threshold:
        raise TrustSignatureError(
            f"{role} carries {len(valid)} valid signature(s) from its keys; {spec.threshold} required",
            role=role,
        )
    return valid


def _parse_time(text: object, role: str) -> datetime:
    match = _TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise TrustError(f"{role} has a malformed expiry {text!r}", role=role)
    base, fraction, zone = match.groups()
    stamp = base + "." + (fraction or "0")[:6].ljust(6, "0") + ("+00:00" if zone == "Z" else zone)
    try:
        return datetime.fromisoformat(stamp).astimezone(UTC)
    except ValueError:
        raise TrustError(f"{role} has a malformed expiry {text!r}", role=role) from None


def _check_expiry(document: Mapping[str, Any], role: str, now: datetime) -> None:
    expires = _parse_time(document["signed"].get("expires"), role)
    if expires <= now:
        raise FreezeAttackError(f"{role} expired at {expires:%Y-%m-%d %H:%M:%S} UTC", role=role)


def _check_meta(data: bytes, meta: object, role: str, pinned_by: str) -> None:
    if not isinstance(meta, Mapping) or not isinstance(meta.get("hashes"), Mapping):
        raise TrustError(f"{pinned_by} does not describe {role}", role=role)
    length = meta.get("length")
    if length != len(data):
        raise MixAndMatchError(f"{role} is {len(data)} bytes, {pinned_by} pins {length!r}", role=role)
    digests = meta["hashes"]
    if "sha256" not in digests:
        raise TrustError(f"{pinned_by} pins {role} without a sha256", role=role)
    for name, algorithm in (("sha256", hashlib.sha256), ("sha512", hashlib.sha512)):
        if (
            name in digests
            and _b64(digests[name], f"{pinned_by}'s {name} of {role}") != algorithm(data).digest()
        ):
            raise MixAndMatchError(f"{role} does not match the {name} {pinned_by} pins", role=role)


# --- fetching -------------------------------------------------------------------------------------


class _Server:
    def __init__(self, client: httpx.Client, base: str, gun: str) -> None:
        self._client = client
        self._base = f"{base.rstrip('/')}/v2/{parse.quote(gun)}/_trust/tuf/"
        self.bytes_fetched = 0

    def get(self, role: str, limit: int) -> bytes:
        url = self._base + parse.quote(role) + ".json"
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code == 404:
                    raise TrustDataMissingError(f"the notary server has no {role}.json", role=role)
                if response.status_code != 200:
                    raise NetworkError(f"GET {url}: HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    self.bytes_fetched += len(chunk)
                    if size > limit:
                        raise EndlessDataError(
                            f"{role}.json is larger than the {limit} bytes allowed", role=role
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise NetworkError(f"GET {url}: {exc}") from None
        return b"".join(chunks)


# --- verification ---------------------------------------------------------------------------------


def _keys_of(
    entries: object, wanted: Iterable[str], gun: str | None, now: datetime, where: str
) -> dict[str, tuple[str, PublicKey, bytes]]:
    if not isinstance(entries, Mapping):
        raise TrustError(f"{where} lists no keys")
    loaded = {}
    for keyid in set(wanted):
        if keyid in entries:
            loaded[keyid] = _public_key(keyid, entries[keyid], gun, now)
    return loaded


def _pinned_cert_keyids(root_cert: bytes, keys: Mapping[str, tuple[str, PublicKey, bytes]]) -> set[str]:
    try:
        pinned = x509.load_pem_x509_certificate(root_cert)
    except ValueError:
        try:
            pinned = x509.load_der_x509_certificate(root_cert)
        except ValueError:
            raise InputError("the root certificate is neither PEM nor DER") from None
    spki = pinned.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        keyid
        for keyid, (keytype, key, _) in keys.items()
        if keytype.endswith("-x509")
        and key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        == spki
    }


def _verify_root(
    data: bytes,
    gun: str,
    now: datetime,
    *,
    trusted_root_sha256: str | None,
    root_cert: bytes | None,
) -> dict[str, Any]:
    actual = hashlib.sha256(data).hexdigest()
    if trusted_root_sha256 is not None and actual != trusted_root_sha256.lower().removeprefix("sha256:"):
        raise TrustSignatureError(
            f"root.json has sha256 {actual}, not the pinned {trusted_root_sha256}",
            role="root",
            hint="the Notary root changed (rotated, or replaced by an attacker): confirm the new root "
            "out of band before pinning it",
        )
    root = _parse(data, "root", "Root")
    roles = root["signed"].get("roles")
    if not isinstance(roles, Mapping):
        raise TrustError("root.json names no roles", role="root")
    spec = _role_spec(roles.get("root"), "root")
    keys = _keys_of(root["signed"].get("keys"), spec.keyids, gun, now, "root")
    signed_by = _check_signatures(root, "root", spec, keys)
    if root_cert is not None and not _pinned_cert_keyids(root_cert, keys) & signed_by:
        raise TrustSignatureError("root.json is not signed by the pinned root certificate's key", role="root")
    _check_expiry(root, "root", now)
    return root


def _delegation_paths(entry: Mapping[str, Any], role: str) -> tuple[str, ...]:
    paths = entry.get("paths")
    if entry.get("path_hash_prefixes"):
        return ()  # hash-prefix delegations hold no tag names we can check: ignore them
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise TrustError(f"delegation {role} has malformed paths", role=role)
    return tuple(paths)


@dataclass
class _Walk:
    server: _Server
    snapshot_meta: Mapping[str, Any]
    gun: str
    now: datetime
    found: dict[str, list[tuple[str, Mapping[str, Any]]]] = field(default_factory=dict)
    visited: set[str] = field(default_factory=set)

    def targets(
        self,
        role: str,
        spec: _Role,
        keys: Mapping[str, tuple[str, PublicKey, bytes]],
        paths: tuple[str, ...] | None,
        depth: int,
    ) -> None:
        if role in self.visited or depth > MAX_DELEGATION_DEPTH:
            return
        self.visited.add(role)
        meta = self.snapshot_meta.get(role)
        if meta is None:
            if role == "targets":
                raise TrustError("snapshot does not pin targets", role="targets")
            return  # a delegation never published: it signs nothing
        length = meta.get("length") if isinstance(meta, Mapping) else None
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise TrustError(f"snapshot pins {role} without a length", role=role)
        data = self.server.get(role, length)
        _check_meta(data, meta, role, "snapshot")
        document = _parse(data, role, "Targets")
        _check_signatures(document, role, spec, keys)
        _check_expiry(document, role, self.now)
        signed = document["signed"]
        entries = signed.get("targets", {})
        if not isinstance(entries, Mapping):
            raise TrustError(f"{role} has malformed targets", role=role)
        for name, target in entries.items():
            if paths is None or any(name.startswith(p) for p in paths):
                self.found.setdefault(name, []).append((role, target))
        delegations = signed.get("delegations")
        if not delegations:
            return
        if not isinstance(delegations, Mapping) or not isinstance(delegations.get("roles", []), list):
            raise TrustError(f"{role} has malformed delegations", role=role)
        for entry in delegations.get("roles") or []:
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if not isinstance(name, str) or not _ROLE_NAME.fullmatch(name) or not name.startswith(role + "/"):
                raise TrustError(f"{role} delegates to a malformed role {name!r}", role=role)
            child = _role_spec(entry, name)
            child_keys = _keys_of(delegations.get("keys", {}), child.keyids, None, self.now, role)
            child_paths = _delegation_paths(entry, name)
            if paths is not None:
                child_paths = tuple(p for p in child_paths if any(p.startswith(q) for q in paths))
            self.targets(name, child, child_keys, child_paths, depth + 1)


def _priority(role: str) -> int:
    """Docker's order: ``targets/releases``, then ``targets``, then other delegations."""
    return 0 if role == RELEASES_ROLE else 1 if role == "targets" else 2


def read_notary(
    server_url: str,
    gun: str,
    *,
    trusted_root_sha256: str | None = None,
    root_cert: bytes | None = None,
    trust_on_first_use: bool = False,
    transport: httpx.BaseTransport | None = None,
    verify: bool | str = True,
    timeout: float = 60,
    now: datetime | None = None,
) -> NotaryTrustData:
    """Fetch and verify a Notary repository's metadata; return its signed tags.

    Args:
        server_url: the notary-server, ``https://host:port`` (``http://`` for loopback tests).
        gun: the repository's globally unique name, e.g. ``registry.example/team/app``.
        trusted_root_sha256: the pinned sha256 (hex) of ``root.json``.
        root_cert: a pinned root certificate (PEM or DER): a root-role key that signed the root.
        trust_on_first_use: accept the server's root without a pin (report ``root_sha256``!).
        transport, verify, timeout: for the ``httpx`` client (a CA file path for ``verify``).
        now: the time expiries are checked against (tests move it).

    Raises:
        InputError: no pin given and ``trust_on_first_use`` not set, or a bad GUN.
        TrustError: any verification failure (exit 5).
        NetworkError: the server could not be reached or answered an error.
    """
    if not _GUN.fullmatch(gun) or ".." in gun.split("/"):
        raise InputError(f"invalid Notary repository name {gun!r}")
    if trusted_root_sha256 is None and root_cert is None and not trust_on_first_use:
        raise InputError(
            "no trusted root given for the Notary repository",
            hint="pin it with its root certificate or root.json sha256, or trust it on first use",
        )
    moment = now or datetime.now(UTC)
    with httpx.Client(transport=transport, verify=verify, timeout=timeout) as client:
        server = _Server(client, server_url, gun)
        root_bytes = server.get("root", MAX_ROOT_BYTES)
        root = _verify_root(
            root_bytes, gun, moment, trusted_root_sha256=trusted_root_sha256, root_cert=root_cert
        )
        roles = root["signed"]["roles"]
        root_keys = root["signed"].get("keys")

        def top(role: str) -> tuple[_Role, dict[str, tuple[str, PublicKey, bytes]]]:
            spec = _role_spec(roles.get(role), role)
            return spec, _keys_of(root_keys, spec.keyids, gun, moment, "root")

        timestamp = _parse(server.get("timestamp", MAX_TIMESTAMP_BYTES), "timestamp", "Timestamp")
        _check_signatures(timestamp, "timestamp", *top("timestamp"))
        _check_expiry(timestamp, "timestamp", moment)
        ts_meta = timestamp["signed"].get("meta")
        snapshot_pin = ts_meta.get("snapshot") if isinstance(ts_meta, Mapping) else None
        length = snapshot_pin.get("length") if isinstance(snapshot_pin, Mapping) else None
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise TrustError("timestamp does not pin the snapshot's length", role="timestamp")
        snapshot_bytes = server.get("snapshot", length)
        _check_meta(snapshot_bytes, snapshot_pin, "snapshot", "timestamp")
        snapshot = _parse(snapshot_bytes, "snapshot", "Snapshot")
        _check_signatures(snapshot, "snapshot", *top("snapshot"))
        _check_expiry(snapshot, "snapshot", moment)
        snapshot_meta = snapshot["signed"].get("meta")
        if not isinstance(snapshot_meta, Mapping):
            raise TrustError("snapshot pins nothing", role="snapshot")
        if "root" in snapshot_meta:
            _check_meta(root_bytes, snapshot_meta["root"], "root", "snapshot")
        walk = _Walk(server, snapshot_meta, gun, moment)
        walk.targets("targets", *top("targets"), None, 0)
        fetched = server.bytes_fetched

    tags: dict[str, NotaryTag] = {}
    skipped: dict[str, str] = {}
    for name, candidates in walk.found.items():
        role, target = min(candidates, key=lambda c: _priority(c[0]))
        try:
            tag_target(name)
        except InputError as exc:
            skipped[name] = exc.message
            continue
        tags[name] = _tag(name, role, target)
    return NotaryTrustData(
        gun=gun,
        root_sha256=hashlib.sha256(root_bytes).hexdigest(),
        tags=dict(sorted(tags.items())),
        skipped=skipped,
        bytes_fetched=fetched,
    )


def _tag(name: str, role: str, target: object) -> NotaryTag:
    if not isinstance(target, Mapping) or not isinstance(target.get("hashes"), Mapping):
        raise TrustError(f"target {name!r} in {role} is malformed", role=role)
    size = target.get("length")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise TrustError(f"target {name!r} in {role} has no length", role=role)
    raw = _b64(target["hashes"].get("sha256"), f"the sha256 of target {name!r}")
    if len(raw) != 32:
        raise TrustError(f"target {name!r} in {role} has a malformed sha256", role=role)
    return NotaryTag(tag=name, digest=Digest(algorithm="sha256", hex=raw.hex()), size=size, role=role)


def import_notary(
    server_url: str,
    gun: str,
    repo: TrustRepository,
    *,
    trusted_root_sha256: str | None,
    root_cert: bytes | None = None,
    trust_on_first_use: bool = False,
    tags: Sequence[str] | None = None,
    report: Callable[[NotaryTrustData], None] | None = None,
    transport: httpx.BaseTransport | None = None,
    verify: bool | str = True,
    now: datetime | None = None,
) -> list[NotaryTag]:
    """Verify a Notary repository's tags (see :func:`read_notary`) and sign them into ``repo``.

    Args:
        tags: only these tags (each must be signed in Notary); None imports every tag.
        report: called with the verified data before anything is signed (the CLI prints the
            root's sha256 from it).
        the rest: see :func:`read_notary`.

    Returns:
        The imported tags, by name.

    Raises:
        TrustError: verification failed; nothing was signed.
        InputError: a requested tag is not signed in Notary (or is no valid tag), no pin, or
            ``repo`` lacks the signers for the roles the tags land in.
    """
    data = read_notary(
        server_url,
        gun,
        trusted_root_sha256=trusted_root_sha256,
        root_cert=root_cert,
        trust_on_first_use=trust_on_first_use,
        transport=transport,
        verify=verify,
        now=now,
    )
    if report is not None:
        report(data)
    if tags is None:
        chosen = list(data.tags.values())
    else:
        missing = [t for t in tags if t not in data.tags]
        if missing:
            why = "; ".join(f"{t}: {data.skipped.get(t, 'not signed in Notary')}" for t in missing)
            raise InputError(f"cannot import from {gun}: {why}")
        chosen = [data.tags[t] for t in dict.fromkeys(tags)]
    if chosen:
        repo.sign_tags({t.tag: (t.size, t.digest.hex) for t in chosen})
    return chosen
