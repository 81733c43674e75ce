"""Signing keys for TUF roles: generate, store encrypted at rest, and load as signers.

A key pair lives in two files next to each other:

* ``NAME.key``: the private key, PKCS#8 PEM encrypted with a passphrase (cryptography's
  ``BestAvailableEncryption``: PBES2, PBKDF2-HMAC-SHA256 and AES-256-CBC), mode 0600;
* ``NAME.pub``: the public key as securesystemslib ``Key`` JSON with its ``keyid``, safe to share.

A signer is loaded from one of (see :func:`load_signer`):

* a path to a ``.key`` file (its ``.pub`` sibling gives the key id and scheme when present);
* ``env:VARIABLE``: the PEM private key in an environment variable (for CI secrets);
* any private key URI securesystemslib 1.6 knows: ``file2:PATH`` (unencrypted PKCS#8 file),
  ``gcpkms:``, ``awskms:``, ``azurekms:``, ``hsm:``, ``gnupg:``, ``hv:`` (HashiCorp Vault),
  ``tkey:``; these need the public key (a ``.pub`` file or a ``Key``). securesystemslib has
  no ``envvar:`` scheme; ``env:`` above is dockwright's own.

Passphrases come from, in order: the ``passphrase`` argument (bytes, str, or a callback asked
with a prompt naming the key), then ``$DOCKWRIGHT_KEY_PASSPHRASE``.

What this module does not do: decide which role a key serves (see
:mod:`dockwright.trust.repository`), prompt on a terminal (the CLI passes a callback), or keep
passphrases anywhere after use.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import SIGNER_FOR_URI_SCHEME, CryptoSigner, Key, Signer, SSlibKey

from dockwright.errors import InputError
from dockwright.fsutil import atomic_write_bytes

__all__ = [
    "KEY_KINDS",
    "PASSPHRASE_ENV",
    "KeyFiles",
    "Passphrase",
    "create_key",
    "generate_signer",
    "load_signer",
    "public_key_of",
    "read_public_key",
    "write_key_files",
    "write_public_key",
]

PASSPHRASE_ENV = "DOCKWRIGHT_KEY_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
"""The environment variable a passphrase is read from when none is given."""

KEY_KINDS = ("ed25519", "ecdsa")
"""Key types :func:`generate_signer` makes (``ecdsa`` is NIST P-256 with SHA-256)."""

Passphrase = bytes | str | Callable[[str], bytes | str] | None
"""A passphrase, a callback asked with a prompt (``"passphrase for root1.key"``), or None."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_URI = re.compile(r"([a-z][a-z0-9+.-]*):(.+)", re.DOTALL)
_ENV_SCHEME = "env"
_MAX_KEY_FILE = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyFiles:
    """A stored key pair: the private and public key paths and the public ``key``."""

    private: Path
    public: Path
    key: Key

    @property
    def keyid(self) -> str:
        """The TUF key id."""
        return str(self.key.keyid)


def generate_signer(kind: str = "ed25519") -> CryptoSigner:
    """Generate a new key pair in memory.

    Args:
        kind: ``ed25519`` (default) or ``ecdsa`` (P-256).

    Raises:
        InputError: unknown ``kind``.
    """
    if kind == "ed25519":
        return CryptoSigner.generate_ed25519()
    if kind == "ecdsa":
        return CryptoSigner.generate_ecdsa()
    raise InputError(f"unknown key type {kind!r}: expected one of {', '.join(KEY_KINDS)}")


def create_key(directory: Path, name: str, *, passphrase: Passphrase, kind: str = "ed25519") -> KeyFiles:
    """Generate a key pair and store it as ``NAME.key`` (encrypted) and ``NAME.pub``.

    Raises:
        InputError: bad name or kind, no passphrase, or the files exist already.
    """
    return write_key_files(generate_signer(kind), directory, name, passphrase=passphrase)


def write_key_files(signer: CryptoSigner, directory: Path, name: str, *, passphrase: Passphrase) -> KeyFiles:
    """Store ``signer``'s private key encrypted (mode 0600) and its public key beside it.

    Args:
        signer: a key pair, e.g. from :func:`generate_signer`.
        directory: created with mode 0700 if missing.
        name: the file stem (letters, digits, ``_.-``).
        passphrase: encrypts the private key; an empty one is refused.

    Raises:
        InputError: bad name, no or empty passphrase, or either file exists already.
    """
    if not _NAME.fullmatch(name):
        raise InputError(f"invalid key name {name!r}: use letters, digits, '_', '.' or '-'")
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    for path in (private, public):
        if path.exists():
            raise InputError(f"{path} exists already", hint="choose another name or remove the old key")
    secret = _passphrase(passphrase, f"new passphrase for {private}")
    if not secret:
        raise InputError(
            f"no passphrase to encrypt {private}",
            hint=f"pass one, or set ${PASSPHRASE_ENV}; private keys are never stored in clear",
        )
    pem = _private_key(signer).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write_bytes(private, pem, mode=0o600)
    write_public_key(public, signer.public_key)
    return KeyFiles(private=private, public=public, key=signer.public_key)


def _private_key(signer: CryptoSigner) -> Ed25519PrivateKey | EllipticCurvePrivateKey:
    # CryptoSigner only exposes an unencrypted PEM; re-read it to encrypt it ourselves
    key = serialization.load_pem_private_key(signer.private_bytes, None)
    if not isinstance(key, Ed25519PrivateKey | EllipticCurvePrivateKey):
        raise InputError(f"unsupported private key type {type(key).__name__}: use ed25519 or ecdsa")
    return key


def write_public_key(path: Path, key: Key) -> None:
    """Write ``key`` as JSON (``keyid`` plus securesystemslib's ``Key`` fields), mode 0644."""
    document = {"keyid": key.keyid, **key.to_dict()}
    atomic_write_bytes(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode(), mode=0o644)


def read_public_key(path: Path) -> Key:
    """Read a public key written by :func:`write_public_key`.

    Raises:
        InputError: missing, unreadable, or not a key document.
    """
    try:
        data = path.read_bytes()[:_MAX_KEY_FILE]
        document: Any = json.loads(data)
        keyid = document.pop("keyid")
        return Key.from_dict(str(keyid), document)
    except OSError as exc:
        raise InputError(f"cannot read public key {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path} is not a public key file: {exc}") from None


def public_key_of(signer_or_key: Signer | Key) -> Key:
    """The public key of a signer, or the key itself."""
    return signer_or_key.public_key if isinstance(signer_or_key, Signer) else signer_or_key


def load_signer(
    reference: str | Path,
    *,
    public_key: Key | Path | None = None,
    passphrase: Passphrase = None,
    environ: Mapping[str, str] | None = None,
) -> Signer:
    """Load a signer from a key file, an ``env:`` variable, or a securesystemslib key URI.

    Args:
        reference: a ``.key`` path, ``env:VARIABLE``, or a URI such as ``gcpkms:...``.
        public_key: the public key (or its ``.pub`` file). Required for securesystemslib URIs;
            for files and ``env:`` it fixes the key id, and is derived from the private key if
            absent (a ``.key`` file's ``.pub`` sibling is used when it exists).
        passphrase: for encrypted keys (else ``$DOCKWRIGHT_KEY_PASSPHRASE``).
        environ: the environment (tests pass their own).

    Raises:
        InputError: missing file or variable, wrong or missing passphrase, a private key that
            does not match ``public_key``, or a URI scheme securesystemslib does not know.
    """
    env = os.environ if environ is None else environ
    public = read_public_key(public_key) if isinstance(public_key, Path) else public_key
    text = str(reference)
    match = _URI.fullmatch(text) if isinstance(reference, str) else None
    if match is not None and match.group(1) == _ENV_SCHEME:
        variable = match.group(2)
        if variable not in env:
            raise InputError(f"environment variable {variable} (from {text}) is not set")
        return _crypto_signer(env[variable].encode(), text, public, passphrase, env)
    if match is not None and match.group(1) in SIGNER_FOR_URI_SCHEME and not Path(text).exists():
        return _uri_signer(text, public, passphrase, env)
    path = Path(reference)
    if public is None and path.suffix == ".key" and path.with_suffix(".pub").is_file():
        public = read_public_key(path.with_suffix(".pub"))
    try:
        pem = path.read_bytes()[:_MAX_KEY_FILE]
    except OSError as exc:
        raise InputError(f"cannot read private key {path}: {exc.strerror}") from None
    return _crypto_signer(pem, str(path), public, passphrase, env)


def _uri_signer(uri: str, public: Key | None, passphrase: Passphrase, env: Mapping[str, str]) -> Signer:
    if public is None:
        raise InputError(f"{uri}: a key URI needs the public key too (its .pub file)")

    def secrets(name: str) -> str:
        secret = _passphrase(passphrase, f"{name} for {uri}", env)
        if secret is None:
            raise InputError(f"{uri} asks for a {name}; none was given")
        return secret.decode()

    try:
        return Signer.from_priv_key_uri(uri, public, secrets)
    except InputError:
        raise
    except Exception as exc:  # signer back ends raise anything: OSError, ValueError, KMS errors
        raise InputError(f"cannot load signer {uri}: {exc}") from None


def _crypto_signer(
    pem: bytes, where: str, public: Key | None, passphrase: Passphrase, env: Mapping[str, str]
) -> CryptoSigner:
    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    secret = _passphrase(passphrase, f"passphrase for {where}", env) if encrypted else None
    if encrypted and not secret:
        raise InputError(f"{where} is encrypted and no passphrase was given", hint=f"set ${PASSPHRASE_ENV}")
    try:
        private = serialization.load_pem_private_key(pem, secret)
    except ValueError as exc:
        reason = "wrong passphrase" if "password" in str(exc).lower() else "not a PEM private key"
        raise InputError(f"cannot load private key {where}: {reason}") from None
    except TypeError as exc:
        raise InputError(f"cannot load private key {where}: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey | EllipticCurvePrivateKey):
        raise InputError(f"{where}: unsupported private key type {type(private).__name__}")
    if public is not None and not isinstance(public, SSlibKey):
        raise InputError(f"{where}: the public key is not a plain ed25519 or ecdsa key")
    try:
        return CryptoSigner(private, public)
    except Exception as exc:  # KeyMismatchError, ValueError for a scheme that does not fit
        raise InputError(f"{where}: the private key does not match its public key: {exc}") from None


def _passphrase(source: Passphrase, prompt: str, env: Mapping[str, str] | None = None) -> bytes | None:
    value: bytes | str | None
    if callable(source):
        value = source(prompt)
    elif source is not None:
        value = source
    else:
        value = (os.environ if env is None else env).get(PASSPHRASE_ENV)
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else value
