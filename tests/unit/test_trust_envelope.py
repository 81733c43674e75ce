"""DSSE envelopes: signing, strict parsing with caps, thresholds over distinct trusted keys."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, Key, Signer

from dockwright.errors import InputError, VerificationError
from dockwright.trust.envelope import (
    MAX_SIGNATURES,
    EnvelopeError,
    load_public_key,
    open_statement,
    parse_envelope,
    sign_statement,
    verify_envelope,
)
from dockwright.trust.statement import PAYLOAD_TYPE, Statement, Subject
from tests.unit import signers

STATEMENT = Statement(
    subjects=(Subject(name="app", digest={"sha256": "ab" * 32}),),
    predicate_type="https://example.test/predicate/v1",
    predicate={"hello": "world"},
)


alice, bob, mallory = signers.alice, signers.bob, signers.mallory


def keys(*signers: Signer) -> list[Key]:
    return [s.public_key for s in signers]


def envelope_dict(data: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(data)
    return decoded


def dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_sign_and_open(alice: CryptoSigner, bob: CryptoSigner) -> None:
    data = sign_statement(STATEMENT, [alice, bob])
    doc = envelope_dict(data)
    assert doc["payloadType"] == PAYLOAD_TYPE
    assert base64.b64decode(doc["payload"]) == STATEMENT.to_json()
    assert {s["keyid"] for s in doc["signatures"]} == {alice.public_key.keyid, bob.public_key.keyid}
    verified = open_statement(data, keys(alice, bob), 2)
    assert verified.statement == STATEMENT
    assert verified.keyids == tuple(sorted((alice.public_key.keyid, bob.public_key.keyid)))
    assert verified.envelope.raw == data


def test_one_of_two_is_enough_for_threshold_one(alice: CryptoSigner, bob: CryptoSigner) -> None:
    data = sign_statement(STATEMENT, [alice])
    assert open_statement(data, keys(alice, bob), 1).keyids == (alice.public_key.keyid,)


def test_threshold_not_met(alice: CryptoSigner, bob: CryptoSigner) -> None:
    data = sign_statement(STATEMENT, [alice])
    with pytest.raises(EnvelopeError) as caught:
        open_statement(data, keys(alice, bob), 2)
    assert caught.value.reason == "threshold"
    assert caught.value.message == (
        "the attestation needs valid signatures by 2 of 2 trusted keys; 1 verified "
        "(signatures name 1 trusted key(s) out of 1)"
    )
    assert isinstance(caught.value, VerificationError) and caught.value.exit_code == 5


def test_untrusted_signer(alice: CryptoSigner, mallory: CryptoSigner) -> None:
    data = sign_statement(STATEMENT, [mallory])
    with pytest.raises(EnvelopeError, match="0 verified") as caught:
        open_statement(data, keys(alice), 1)
    assert caught.value.reason == "threshold"


def test_tampered_payload(alice: CryptoSigner) -> None:
    doc = envelope_dict(sign_statement(STATEMENT, [alice]))
    forged = json.loads(base64.b64decode(doc["payload"]))
    forged["predicate"]["hello"] = "mallory"
    doc["payload"] = base64.b64encode(json.dumps(forged).encode()).decode()
    with pytest.raises(EnvelopeError, match="1 trusted keys; 0 verified") as caught:
        open_statement(dump(doc), keys(alice), 1)
    assert caught.value.reason == "threshold"


def test_a_signature_copied_under_another_payload_type_fails(alice: CryptoSigner) -> None:
    """The payload type is signed too (PAE): relabelling the envelope breaks the signature."""
    doc = envelope_dict(sign_statement(STATEMENT, [alice]))
    doc["payloadType"] = "application/vnd.other+json"
    envelope = parse_envelope(dump(doc))
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(envelope, keys(alice), 1)
    assert (caught.value.reason, caught.value.message) == (
        "payload-type",
        "the envelope's payloadType is 'application/vnd.other+json', not 'application/vnd.in-toto+json'",
    )
    with pytest.raises(EnvelopeError, match="0 verified"):
        verify_envelope(envelope, keys(alice), 1, payload_type="application/vnd.other+json")


def test_same_key_twice_counts_once(alice: CryptoSigner, bob: CryptoSigner) -> None:
    data = sign_statement(STATEMENT, [alice])
    with pytest.raises(InputError, match="a threshold of 2 cannot be met with 1 trusted keys"):
        open_statement(data, keys(alice, alice), 2)
    with pytest.raises(InputError, match="a threshold of 0"):
        open_statement(data, keys(alice), 0)


def test_signature_without_keyid_counts_for_nothing(alice: CryptoSigner) -> None:
    doc = envelope_dict(sign_statement(STATEMENT, [alice]))
    del doc["signatures"][0]["keyid"]
    with pytest.raises(EnvelopeError, match="0 verified"):
        open_statement(dump(doc), keys(alice), 1)


def test_url_safe_base64_and_unknown_fields(alice: CryptoSigner) -> None:
    doc = envelope_dict(sign_statement(STATEMENT, [alice]))
    doc["payload"] = base64.urlsafe_b64encode(base64.b64decode(doc["payload"])).decode()
    signature = doc["signatures"][0]
    signature["sig"] = base64.urlsafe_b64encode(base64.b64decode(signature["sig"])).decode()
    signature["note"] = "ignored"
    doc["future"] = {"ignored": True}
    assert open_statement(dump(doc), keys(alice), 1).statement == STATEMENT


def test_payload_that_is_not_a_statement(alice: CryptoSigner) -> None:
    envelope = Envelope(b'{"_type": "something else"}', PAYLOAD_TYPE, {})
    envelope.sign(alice)
    data = json.dumps(envelope.to_dict()).encode()
    with pytest.raises(EnvelopeError) as caught:
        open_statement(data, keys(alice), 1)
    assert caught.value.reason == "statement"
    assert caught.value.message.startswith(
        "the signed payload is not an in-toto statement: the statement's _type"
    )


VALID_SIG = base64.b64encode(b"x" * 64).decode()


@pytest.mark.parametrize(
    ("data", "reason", "message"),
    [
        (b"\xff", "malformed", "the envelope is not valid JSON"),
        (b"[]", "malformed", "the envelope must be a JSON object"),
        (
            b'{"payload": 1' + b"0" * 5000 + b"}",
            "malformed",
            "the envelope is not valid JSON: Exceeds the limit",
        ),
        (b"[" * 100_000, "malformed", "the envelope is not valid JSON: maximum recursion depth"),
        (b'{"payload": "", "payload": ""}', "malformed", "the envelope repeats the key 'payload'"),
        (
            b'{"payload": "e30=", "signatures": [{"sig": "eA=="}]}',
            "malformed",
            "the envelope's payloadType must be a string",
        ),
        (
            b'{"payload": "e30=", "payloadType": "t"}',
            "malformed",
            "the envelope must hold a non-empty list of signatures",
        ),
        (
            b'{"payload": "e30=", "payloadType": "t", "signatures": []}',
            "malformed",
            "the envelope must hold a non-empty list of signatures",
        ),
        (
            b'{"payloadType": "t", "signatures": [{"sig": "eA=="}]}',
            "malformed",
            "the envelope's payload must be a base64 string",
        ),
        (
            b'{"payload": "not base64!", "payloadType": "t", "signatures": [{"sig": "eA=="}]}',
            "malformed",
            "the envelope's payload is not valid base64",
        ),
        (
            b'{"payload": "e30=", "payloadType": "t", "signatures": ["eA=="]}',
            "malformed",
            "signature 0 of the envelope must be an object",
        ),
        (
            b'{"payload": "e30=", "payloadType": "t", "signatures": [{"keyid": 1, "sig": "eA=="}]}',
            "malformed",
            "signature 0: keyid must be a string",
        ),
        (
            b'{"payload": "e30=", "payloadType": "t", "signatures": [{"keyid": "k"}]}',
            "malformed",
            "the envelope's signature 0 must be a base64 string",
        ),
        (
            b'{"payload": "e30=", "payloadType": "t", "signatures": [{"keyid": "k", "sig": "eA=="}, {"keyid": "k", "sig": "eA=="}]}',
            "malformed",
            "two signatures name the key k",
        ),
        (
            json.dumps(
                {
                    "payload": "e30=",
                    "payloadType": "t",
                    "signatures": [{"sig": VALID_SIG}] * (MAX_SIGNATURES + 1),
                }
            ).encode(),
            "too-large",
            f"the envelope holds {MAX_SIGNATURES + 1} signatures; the limit is {MAX_SIGNATURES}",
        ),
    ],
)
def test_strict_parsing(data: bytes, reason: str, message: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(data)
    assert caught.value.reason == reason
    assert caught.value.message.startswith(message)


def test_size_cap_before_decoding() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(b" " * 101, max_size=100)
    assert (caught.value.reason, caught.value.message) == (
        "too-large",
        "the envelope is 101 bytes; the limit is 100",
    )


def test_parsed_envelope_digest_is_of_the_exact_bytes(alice: CryptoSigner) -> None:
    data = sign_statement(STATEMENT, [alice])
    envelope = parse_envelope(data + b"\n")
    assert str(envelope.digest) == "sha256:" + __import__("hashlib").sha256(data + b"\n").hexdigest()
    assert envelope.keyids == (alice.public_key.keyid,)


def test_sign_needs_a_signer() -> None:
    with pytest.raises(InputError, match="at least one signing key"):
        sign_statement(STATEMENT, [])


def test_load_public_key_matches_the_signers_keyid(alice: CryptoSigner) -> None:
    private = serialization.load_pem_private_key(alice.private_bytes, None)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = load_public_key(pem)
    assert key.keyid == alice.public_key.keyid
    assert load_public_key(pem, keyid="custom").keyid == "custom"
    data = sign_statement(STATEMENT, [alice])
    assert open_statement(data, [key], 1).statement == STATEMENT


def test_load_public_key_ecdsa_and_garbage() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert load_public_key(pem).keytype == "ecdsa"
    with pytest.raises(InputError, match=r"alice\.pub is not a supported PEM public key"):
        load_public_key(b"-----BEGIN NOTHING-----", what="alice.pub")
