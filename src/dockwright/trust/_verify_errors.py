"""Refusals of ``dockwright verify``, one class per check, each with a stable ``reason`` code.

::

    VerificationError (dockwright.errors)   exit 5: stop, never fall back
    └── ImageRefused                        ``reason``, ``details`` (more lines for the CLI)
        ├── UntrustedTagError               no-scope, untrusted-tag, moved-tag, trust-roles
        ├── AttestationError                missing-attestation, bad-signature, wrong-subject,
        │                                   not-pinned, malformed-attestation, unknown-key
        ├── SbomMismatchError               sbom-mismatch (``diff``: what changed in the layers)
        └── PolicyViolationError            forbidden-package, dev-packages, wasted, too-old, no-age
                                            (also a PolicyViolation: exit 9, not 5)

These belong in :mod:`dockwright.errors` once its owner takes them; they live here until then,
beside :mod:`dockwright.trust._tuf_errors` (TUF's own refusals, which ``verify`` lets through).

What this module does not do: decide anything; :mod:`dockwright.trust.verify` raises these.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockwright.errors import PolicyViolation, VerificationError
from dockwright.trust.sbom_compare import PackageDiff

__all__ = [
    "AttestationError",
    "ImageRefused",
    "PolicyViolationError",
    "SbomMismatchError",
    "UntrustedTagError",
]


class ImageRefused(VerificationError):
    """The image failed verification; ``reason`` is a stable code, ``details`` more lines."""

    default_hint = "do not run this image; the reason above says which check failed"

    def __init__(
        self, message: str, *, reason: str, details: Sequence[str] = (), hint: str | None = None
    ) -> None:
        self.reason = reason
        self.details = tuple(details)
        super().__init__(message, hint=hint)


class UntrustedTagError(ImageRefused):
    """The tag is not covered by the policy, not signed through TUF as required, or was moved."""

    default_hint = "pull by a digest you trust, or ask the repository's owners to sign the tag"


class AttestationError(ImageRefused):
    """A required attestation is missing, badly signed, about another image, or not pinned."""

    default_hint = "the image lacks a valid signed attestation: sign it again, or do not run it"


class SbomMismatchError(ImageRefused):
    """The image's layers no longer hold the packages its signed SBOM lists."""

    default_hint = "the image was changed after it was signed: do not run it"

    def __init__(self, message: str, *, diff: PackageDiff, hint: str | None = None) -> None:
        self.diff = diff
        super().__init__(message, reason="sbom-mismatch", details=diff.lines(), hint=hint)


class PolicyViolationError(ImageRefused, PolicyViolation):
    """The image is authentic but the policy forbids it (packages, baggage, size, age): exit 9."""

    exit_code = PolicyViolation.exit_code

    default_hint = "rebuild the image without what is listed, or change the policy"
