"""The test signers of the trust tests, as module-scoped fixtures: one key pair per test module.

Bind them in a test module by assignment (``alice, bob = signers.alice, signers.bob``), as
``verify_support`` does, so that an unused import is not what makes the fixture visible.
"""

from __future__ import annotations

import pytest
from securesystemslib.signer import CryptoSigner


@pytest.fixture(scope="module")
def alice() -> CryptoSigner:
    """An Ed25519 signer."""
    return CryptoSigner.generate_ed25519()


@pytest.fixture(scope="module")
def bob() -> CryptoSigner:
    """An ECDSA signer: a second key of another type."""
    return CryptoSigner.generate_ecdsa()


@pytest.fixture(scope="module")
def mallory() -> CryptoSigner:
    """An Ed25519 signer nobody trusts."""
    return CryptoSigner.generate_ed25519()
