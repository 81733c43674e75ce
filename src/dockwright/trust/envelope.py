"""DSSE envelopes: sign an in-toto statement, parse an envelope strictly, verify it against keys.

The envelope is the DSSE v1 JSON form (``secure-systems-lab/dsse``, ``envelope.md``)::

    {"payload": "<base64>", "payloadType": "application/vnd.in-toto+json",
     "signatures": [{"keyid": "<hex>", "sig": "<base64>"}]}

and each signature covers ``PAE(payloadType, payload)``, so the payload type is authenticated too.
Signing and verifying go through ``securesystemslib.dsse.Envelope`` (``.sign(signer)``,
``.verify(keys, threshold)``); this module adds what a verifier facing hostile bytes needs:

* **size caps** before anything is decoded (:data:`MAX_ENVELOPE`, :data:`MAX_SIGNATURES`);
* **strict parsing**: a JSON object without duplicate keys, ``payload`` and every ``sig`` in
  base64 (standard or URL-safe, as DSSE allows; nothing else), ``payloadType`` a string,
  ``signatures`` a non-empty list, each ``keyid`` at most once; unknown fields are ignored, as
  DSSE says consumers MUST;
* **thresholds over distinct keys**: ``threshold`` different keys of the trusted set must each
  verify a signature. securesystemslib matches signatures to keys by ``keyid`` (its issue #416),
  so a signature without a ``keyid`` counts for nothing.

Failures raise :class:`EnvelopeError` (a :class:`~dockwright.errors.VerificationError`) whose
``reason`` is one of :data:`REASONS`.

What this module does not do: decide which keys are trusted or how many must sign (the policy
does), look at the statement's subject (the verifier does), or fetch envelopes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib import exceptions as sslib_errors
from securesystemslib.dsse import Envelope
from securesystemslib.signer import Key, Signature, Signer, SSlibKey

from dockwright.errors import InputError, VerificationError
from dockwright.oci.digest import Digest
from dockwright.trust.statement import PAYLOAD_TYPE, Statement

__all__ = [
    "MAX_ENVELOPE",
    "MAX_SIGNATURES",
    "REASONS",
    "EnvelopeError",
    "ParsedEnvelope",
    "VerifiedStatement",
    "load_public_key",
    "open_statement",
    "parse_envelope",
    "sign_statement",
    "verify_envelope",
]

MAX_ENVELOPE = 16 << 20
"""The largest envelope read (bytes): an SBOM of a few thousand packages, base64-encoded, fits."""
MAX_SIGNATURES = 32
"""More signatures than this are refused unread (each costs a public-key operation)."""
REASONS = ("malformed", "too-large", "payload-type", "threshold", "statement")
"""``EnvelopeError.reason`` values: bad JSON or base64; over a cap; another payload type; fewer
than ``threshold`` trusted keys verified; the payload is not an in-toto Statement v1."""


class EnvelopeError(VerificationError):
    """An envelope is malformed, too large, of another type, or not signed by enough trusted keys."""

    default_hint = "the attestation was altered or signed by other keys: do not trust this image"

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        self.reason = reason
        super().__init__(message, hint=hint)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedEnvelope:
    """An envelope as read: its exact bytes (``raw``), payload, payload type and signatures."""

    raw: bytes
    payload: bytes
    payload_type: str
    signatures: tuple[tuple[str, bytes], ...]

    @property
    def digest(self) -> Digest:
        """The sha256 of the envelope's exact bytes (what TUF pins)."""
        return Digest.of(self.raw)

    @property
    def keyids(self) -> tuple[str, ...]:
        """The key ids the signatures name (unverified)."""
        return tuple(keyid for keyid, _ in self.signatures)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedStatement:
    """A statement whose envelope verified: the statement, the keys that signed, the envelope."""

    statement: Statement
    keyids: tuple[str, ...]
    envelope: ParsedEnvelope


def sign_statement(statement: Statement, signers: Sequence[Signer]) -> bytes:
    """Sign ``statement`` with every signer and return the envelope's JSON bytes.

    Raises:
        InputError: no signer given.
    """
    if not signers:
        raise InputError("at least one signing key is needed to sign an attestation")
    envelope = Envelope(statement.to_json(), PAYLOAD_TYPE, {})
    for signer in signers:
        envelope.sign(signer)
    return json.dumps(envelope.to_dict(), sort_keys=True, separators=(",", ":")).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise EnvelopeError(f"the envelope repeats the key {key!r}", reason="malformed")
        out[key] = value
    return out


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise EnvelopeError(f"the envelope's {what} must be a base64 string", reason="malformed")
    data = text.encode("ascii", errors="replace")
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        pass
    try:
        return base64.b64decode(data, altchars=b"-_", validate=True)
    except binascii.Error:
        raise EnvelopeError(f"the envelope's {what} is not valid base64", reason="malformed") from None


def parse_envelope(data: bytes, *, max_size: int = MAX_ENVELOPE) -> ParsedEnvelope:
    """Parse DSSE JSON strictly (see the module docstring); nothing is verified yet.

    Raises:
        EnvelopeError: over ``max_size`` or :data:`MAX_SIGNATURES` (``too-large``), or malformed.
    """
    if len(data) > max_size:
        raise EnvelopeError(f"the envelope is {len(data)} bytes; the limit is {max_size}", reason="too-large")
    try:
        decoded = json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, over-long integers
        raise EnvelopeError(f"the envelope is not valid JSON: {exc}", reason="malformed") from None
    if not isinstance(decoded, dict):
        raise EnvelopeError("the envelope must be a JSON object", reason="malformed")
    payload_type = decoded.get("payloadType")
    if not isinstance(payload_type, str):
        raise EnvelopeError("the envelope's payloadType must be a string", reason="malformed")
    signatures = decoded.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise EnvelopeError("the envelope must hold a non-empty list of signatures", reason="malformed")
    if len(signatures) > MAX_SIGNATURES:
        raise EnvelopeError(
            f"the envelope holds {len(signatures)} signatures; the limit is {MAX_SIGNATURES}",
            reason="too-large",
        )
    return ParsedEnvelope(
        raw=bytes(data),
        payload=_b64(decoded.get("payload"), "payload"),
        payload_type=payload_type,
        signatures=_signatures(signatures),
    )


def _signatures(items: list[Any]) -> tuple[tuple[str, bytes], ...]:
    seen: set[str] = set()
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise EnvelopeError(f"signature {i} of the envelope must be an object", reason="malformed")
        keyid = item.get("keyid") or ""
        if not isinstance(keyid, str):
            raise EnvelopeError(f"signature {i}: keyid must be a string", reason="malformed")
        if keyid and keyid in seen:
            raise EnvelopeError(f"two signatures name the key {keyid}", reason="malformed")
        seen.add(keyid)
        out.append((keyid, _b64(item.get("sig"), f"signature {i}")))
    return tuple(out)


def verify_envelope(
    envelope: ParsedEnvelope, keys: Sequence[Key], threshold: int, *, payload_type: str = PAYLOAD_TYPE
) -> tuple[str, ...]:
    """Check that ``threshold`` distinct keys of ``keys`` signed ``envelope``.

    Args:
        envelope: from :func:`parse_envelope`.
        keys: the trusted public keys (duplicates by keyid count once).
        threshold: how many distinct keys must have signed (at least 1).
        payload_type: the payload type required.

    Returns:
        The key ids that verified, sorted.

    Raises:
        EnvelopeError: another payload type (``payload-type``), or too few valid signatures by
            trusted keys (``threshold``).
        InputError: ``threshold`` is below 1 or above the number of distinct keys (a policy error).
    """
    if envelope.payload_type != payload_type:
        raise EnvelopeError(
            f"the envelope's payloadType is {envelope.payload_type!r}, not {payload_type!r}",
            reason="payload-type",
        )
    distinct = list({key.keyid: key for key in keys}.values())
    if not 1 <= threshold <= len(distinct):
        raise InputError(f"a threshold of {threshold} cannot be met with {len(distinct)} trusted keys")
    signatures = {keyid: Signature(keyid, sig.hex()) for keyid, sig in envelope.signatures if keyid}
    try:
        accepted = Envelope(envelope.payload, envelope.payload_type, signatures).verify(distinct, threshold)
    except sslib_errors.VerificationError:
        trusted = {key.keyid for key in distinct}
        named = [k for k in envelope.keyids if k in trusted]
        raise EnvelopeError(
            f"the attestation needs valid signatures by {threshold} of {len(distinct)} trusted keys; "
            f"{_count(envelope, distinct)} verified (signatures name {len(named)} trusted key(s) "
            f"out of {len(envelope.signatures)})",
            reason="threshold",
        ) from None
    return tuple(sorted(accepted))


def _count(envelope: ParsedEnvelope, keys: Sequence[Key]) -> int:
    """How many of ``keys`` verify a signature (for the message only)."""
    pae = Envelope(envelope.payload, envelope.payload_type, {}).pae()
    by_id = dict(envelope.signatures)
    verified = 0
    for key in keys:
        sig = by_id.get(key.keyid)
        if sig is None:
            continue
        try:
            key.verify_signature(Signature(key.keyid, sig.hex()), pae)
        except sslib_errors.UnverifiedSignatureError:
            continue
        verified += 1
    return verified


def open_statement(
    data: bytes, keys: Sequence[Key], threshold: int, *, max_size: int = MAX_ENVELOPE
) -> VerifiedStatement:
    """Parse and verify an envelope, then parse its payload as an in-toto Statement v1.

    The payload is parsed only after the signatures verified.

    Raises:
        EnvelopeError: any reason of :data:`REASONS`.
        InputError: the threshold cannot be met with ``keys`` (see :func:`verify_envelope`).
    """
    envelope = parse_envelope(data, max_size=max_size)
    keyids = verify_envelope(envelope, keys, threshold)
    try:
        statement = Statement.from_json(envelope.payload)
    except InputError as exc:
        raise EnvelopeError(
            f"the signed payload is not an in-toto statement: {exc.message}", reason="statement"
        ) from None
    return VerifiedStatement(statement=statement, keyids=keyids, envelope=envelope)


def load_public_key(pem: bytes, *, keyid: str | None = None, what: str = "public key") -> Key:
    """A verification key from a PEM ``SubjectPublicKeyInfo`` (Ed25519, ECDSA P-256/384/521, RSA).

    Args:
        pem: the PEM bytes.
        keyid: the id signers write into signatures; securesystemslib's default (the sha256 of the
            key's canonical JSON, which ``CryptoSigner`` uses) when None.
        what: names the key in error messages (a file name).

    Raises:
        InputError: not a PEM public key of a supported type.
    """
    try:
        public = load_pem_public_key(pem)
        return SSlibKey.from_crypto(public, keyid)
    except (ValueError, TypeError, sslib_errors.Error) as exc:
        raise InputError(f"{what} is not a supported PEM public key: {exc}") from None
