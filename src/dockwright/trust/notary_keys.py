"""The cryptography of the Notary v1 (Docker Content Trust) metadata dialect.

Notary signs the Go canonical JSON of a document's ``signed`` part (sorted keys, no whitespace,
Go's string escaping: ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, ``\\b`` and ``\\f`` as
``\\u00XX``); a key id is the sha256 of the key's canonical JSON. This module:

* renders that canonical JSON (:func:`canonical_json`) and key ids (:func:`notary_key_id`);
* loads keys (:func:`load_public_key`, :func:`load_keys`): ``ed25519`` (raw 32 bytes), ``ecdsa``
  and ``rsa`` (DER SubjectPublicKeyInfo), and ``ecdsa-x509`` / ``rsa-x509`` (a PEM certificate
  valid now whose common name must be the GUN); RSA keys under 2048 bits are refused;
* checks one signature (:func:`signature_valid`): ``ecdsa`` (raw ``r||s`` over sha256),
  ``eddsa``, ``rsapss`` (sha256, salt length = hash length) and ``rsapkcs1v15`` (sha256);
* matches a pinned root certificate to root keys (:func:`pinned_cert_keyids`).

What this module does not do: parse or judge whole metadata documents (thresholds, expiry,
pinned hashes: :mod:`dockwright.trust._notary_metadata`), fetch anything, or sign anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dockwright.errors import InputError
from dockwright.trust._tuf_errors import FreezeAttackError, TrustError, TrustSignatureError

__all__ = [
    "PublicKey",
    "canonical_json",
    "decode_base64",
    "load_keys",
    "load_public_key",
    "notary_key_id",
    "pinned_cert_keyids",
    "signature_valid",
]

_SIGNATURE_KEYTYPES = {
    "ecdsa": ("ecdsa", "ecdsa-x509"),
    "eddsa": ("ed25519",),
    "rsapss": ("rsa", "rsa-x509"),
    "rsapkcs1v15": ("rsa", "rsa-x509"),
}
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


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


def decode_base64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise TrustError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{what} is not valid base64") from None


def load_public_key(
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
    raw = decode_base64(key["keyval"].get("public"), f"key {keyid[:12]}")
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


def signature_valid(method: str, keytype: str, key: PublicKey, sig: bytes, message: bytes) -> bool:
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


def load_keys(
    entries: object, wanted: Iterable[str], gun: str | None, now: datetime, where: str
) -> dict[str, tuple[str, PublicKey, bytes]]:
    if not isinstance(entries, Mapping):
        raise TrustError(f"{where} lists no keys")
    loaded = {}
    for keyid in set(wanted):
        if keyid in entries:
            loaded[keyid] = load_public_key(keyid, entries[keyid], gun, now)
    return loaded


def pinned_cert_keyids(root_cert: bytes, keys: Mapping[str, tuple[str, PublicKey, bytes]]) -> set[str]:
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
