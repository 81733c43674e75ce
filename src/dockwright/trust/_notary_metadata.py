"""Checks on one Notary v1 metadata document: its shape, signatures, expiry and pinned hashes.

:func:`parse_document` checks a role's JSON has a ``signed`` part of the expected ``_type`` and a
positive version; :func:`role_spec` reads a role's key ids and threshold; :func:`check_signatures`
requires a threshold of distinct valid signatures; :func:`check_expiry` refuses expired metadata;
:func:`check_meta` compares a document's bytes with the length and sha256 (and sha512 when given)
that another role pins for it (hashes are base64).

What this module does not do: load keys or verify single signatures
(:mod:`dockwright.trust.notary_keys`), fetch metadata, or follow the chain from root to
delegations (:mod:`dockwright.trust.notary`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockwright.trust._tuf_errors import (
    FreezeAttackError,
    MixAndMatchError,
    TrustError,
    TrustSignatureError,
)
from dockwright.trust.notary_keys import PublicKey, canonical_json, decode_base64, signature_valid

__all__ = [
    "RoleSpec",
    "check_expiry",
    "check_meta",
    "check_signatures",
    "parse_document",
    "role_spec",
]

_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


@dataclass(frozen=True, slots=True)
class RoleSpec:
    keyids: tuple[str, ...]
    threshold: int


def role_spec(entry: object, role: str) -> RoleSpec:
    if not isinstance(entry, Mapping):
        raise TrustError(f"role {role} is not described", role=role)
    keyids, threshold = entry.get("keyids"), entry.get("threshold")
    if not isinstance(keyids, list) or not all(isinstance(k, str) for k in keyids):
        raise TrustError(f"role {role} has malformed key ids", role=role)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise TrustError(f"role {role} has threshold {threshold!r}: at least 1 is required", role=role)
    return RoleSpec(tuple(dict.fromkeys(keyids)), threshold)


def parse_document(data: bytes, role: str, kind: str) -> dict[str, Any]:
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


def check_signatures(
    document: Mapping[str, Any],
    role: str,
    spec: RoleSpec,
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
            sig = decode_base64(signature.get("sig"), f"a signature on {role}")
        except TrustError:
            continue
        if signature_valid(method, keytype, key, sig, message):
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


def check_expiry(document: Mapping[str, Any], role: str, now: datetime) -> None:
    expires = _parse_time(document["signed"].get("expires"), role)
    if expires <= now:
        raise FreezeAttackError(f"{role} expired at {expires:%Y-%m-%d %H:%M:%S} UTC", role=role)


def check_meta(data: bytes, meta: object, role: str, pinned_by: str) -> None:
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
            and decode_base64(digests[name], f"{pinned_by}'s {name} of {role}") != algorithm(data).digest()
        ):
            raise MixAndMatchError(f"{role} does not match the {name} {pinned_by} pins", role=role)
