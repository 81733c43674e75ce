"""Key files: encrypted at rest with mode 0600, loaded from files, ``env:`` and securesystemslib URIs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner

from dockwright.errors import InputError
from dockwright.trust.keys import (
    PASSPHRASE_ENV,
    create_key,
    generate_signer,
    load_signer,
    read_public_key,
    write_key_files,
)

PASS = "correct horse battery staple"


def _verifies(signer: object, key: object) -> None:
    sig = signer.sign(b"payload")  # type: ignore[attr-defined]
    key.verify_signature(sig, b"payload")  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_create_key_writes_encrypted_private_key_with_mode_0600(tmp_path: Path, kind: str) -> None:
    files = create_key(tmp_path / "keys", "root1", passphrase=PASS, kind=kind)
    assert stat.S_IMODE(files.private.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    pem = files.private.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    document = json.loads(files.public.read_text())
    assert document["keyid"] == files.keyid
    assert "private" not in json.dumps(document)
    signer = load_signer(files.private, passphrase=PASS)
    assert signer.public_key.keyid == files.keyid
    _verifies(signer, read_public_key(files.public))


def test_passphrase_from_environment_and_callback(tmp_path: Path) -> None:
    files = create_key(tmp_path, "ts", passphrase=PASS)
    env = {PASSPHRASE_ENV: PASS}
    assert load_signer(files.private, environ=env).public_key.keyid == files.keyid
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return PASS

    assert load_signer(files.private, passphrase=ask, environ={}).public_key.keyid == files.keyid
    assert prompts == [f"passphrase for {files.private}"]


@pytest.mark.parametrize(
    ("passphrase", "message"),
    [("wrong", "wrong passphrase"), (None, "is encrypted and no passphrase was given")],
)
def test_wrong_or_missing_passphrase_is_refused(tmp_path: Path, passphrase: str | None, message: str) -> None:
    files = create_key(tmp_path, "k", passphrase=PASS)
    with pytest.raises(InputError, match=message):
        load_signer(files.private, passphrase=passphrase, environ={})


def test_keys_are_never_stored_in_clear_or_overwritten(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no passphrase"):
        create_key(tmp_path, "k", passphrase="")
    create_key(tmp_path, "k", passphrase=PASS)
    with pytest.raises(InputError, match="exists already"):
        create_key(tmp_path, "k", passphrase=PASS)
    with pytest.raises(InputError, match="invalid key name"):
        create_key(tmp_path, "../k", passphrase=PASS)


def test_env_scheme_loads_a_pem_from_a_variable(tmp_path: Path) -> None:
    signer = generate_signer()
    env = {"CI_KEY": signer.private_bytes.decode()}
    loaded = load_signer("env:CI_KEY", environ=env)
    assert loaded.public_key.keyid == signer.public_key.keyid
    with pytest.raises(InputError, match=r"CI_OTHER .* is not set"):
        load_signer("env:CI_OTHER", environ=env)


def test_file2_uri_goes_through_securesystemslib(tmp_path: Path) -> None:
    signer = generate_signer("ecdsa")
    path = tmp_path / "plain.pem"
    path.write_bytes(signer.private_bytes)
    loaded = load_signer(f"file2:{path}", public_key=signer.public_key)
    assert isinstance(loaded, CryptoSigner)
    _verifies(loaded, signer.public_key)
    with pytest.raises(InputError, match="needs the public key"):
        load_signer(f"file2:{path}")


def test_private_key_must_match_its_public_file(tmp_path: Path) -> None:
    one = write_key_files(generate_signer(), tmp_path, "one", passphrase=PASS)
    two = write_key_files(generate_signer(), tmp_path, "two", passphrase=PASS)
    with pytest.raises(InputError, match="does not match"):
        load_signer(one.private, public_key=two.public, passphrase=PASS)


def test_read_public_key_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.pub"
    path.write_text('{"hello": 1}')
    with pytest.raises(InputError, match="is not a public key file"):
        read_public_key(path)
    with pytest.raises(InputError, match="cannot read public key"):
        read_public_key(tmp_path / "missing.pub")
