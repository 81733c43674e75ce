"""Names in dockwright's TUF repositories: target paths for tags and attestations, role names.

Target paths (what a TUF target is called; its length and sha256 are those of the bytes)::

    tags/<tag>                          an image tag -> its manifest (sha256 = the OCI digest)
    attestations/sha256-<hex>/<kind>    an attestation of the manifest sha256:<hex>, e.g.
                                        attestations/sha256-ab12.../sbom-spdx

Delegation patterns are *tag* globs (``v*``, ``ci-*``), stored as ``tags/<glob>``. A tag never
holds ``/`` (the distribution spec's tag grammar ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``), so a
pattern such as ``ci/*`` could match nothing and is refused with a message saying so.

Role names: the four top-level roles, ``bins`` (the default role holding every tag no other
delegation claims, split into hash bins ``bins-00`` ... ``bins-ff``), and delegated roles named
``[a-z][a-z0-9]{0,31}`` (no ``-``, so they never collide with a bin name).

What this module does not do: decide which role holds a target (see
:mod:`dockwright.trust._tuf_state`), or touch metadata.
"""

from __future__ import annotations

import re

from dockwright.errors import InputError
from dockwright.oci.digest import Digest
from dockwright.trust.metadata_store import TAG_PREFIX

__all__ = [
    "ATTESTATION_PREFIX",
    "BINS_ROLE",
    "DEFAULT_PATHS",
    "RESERVED_ROLES",
    "TAG_TARGET_PREFIX",
    "attestation_target",
    "check_role_name",
    "family_of",
    "tag_pattern_paths",
    "tag_target",
]

TAG_TARGET_PREFIX = "tags/"
ATTESTATION_PREFIX = "attestations/"
BINS_ROLE = "bins"
DEFAULT_PATHS = ("tags/*", "attestations/*/*")
"""What the default ``bins`` role may sign: any tag, any attestation."""
RESERVED_ROLES = frozenset({"root", "targets", "snapshot", "timestamp", BINS_ROLE})

_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_TAG_GLOB = re.compile(r"[\w.*?\[\]!-]{1,128}", re.ASCII)
_KIND = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ROLE = re.compile(r"[a-z][a-z0-9]{0,31}")


def tag_target(tag: str) -> str:
    """The target path of an image tag: ``tags/<tag>``.

    Raises:
        InputError: not a valid tag, or a tag reserved for trust metadata (``tuf-*``).
    """
    if not _TAG.fullmatch(tag):
        raise InputError(f"invalid tag {tag!r}: expected [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")
    if tag.startswith(TAG_PREFIX):
        raise InputError(f"tags starting with {TAG_PREFIX!r} hold trust metadata and cannot be signed")
    return TAG_TARGET_PREFIX + tag


def attestation_target(subject: Digest, kind: str) -> str:
    """The target path of an attestation: ``attestations/sha256-<hex>/<kind>``.

    Args:
        subject: the digest of the manifest the attestation is about.
        kind: a short lowercase name, e.g. ``sbom-spdx`` or ``provenance``.

    Raises:
        InputError: ``kind`` is not ``[a-z0-9][a-z0-9._-]{0,63}``.
    """
    if not _KIND.fullmatch(kind):
        raise InputError(f"invalid attestation kind {kind!r}: expected [a-z0-9][a-z0-9._-]*")
    return f"{ATTESTATION_PREFIX}{subject.algorithm}-{subject.hex}/{kind}"


def tag_pattern_paths(patterns: tuple[str, ...] | list[str]) -> list[str]:
    """Turn tag globs (``v*``, ``ci-*``) into delegation paths (``tags/v*``).

    Raises:
        InputError: no pattern, or one that no tag could match (``/``, other characters).
    """
    if not patterns:
        raise InputError("a delegation needs at least one tag pattern, e.g. 'v*'")
    for pattern in patterns:
        if "/" in pattern:
            raise InputError(
                f"tag pattern {pattern!r} holds '/', which no tag can contain",
                hint="tags allow letters, digits, '_', '.' and '-': write e.g. 'ci-*' for CI tags",
            )
        if not _TAG_GLOB.fullmatch(pattern):
            raise InputError(f"invalid tag pattern {pattern!r}: use tag characters and * ? [ ]")
    return [TAG_TARGET_PREFIX + p for p in patterns]


def check_role_name(name: str) -> None:
    """Check a delegated role name: ``[a-z][a-z0-9]{0,31}`` and not reserved.

    Raises:
        InputError: malformed or reserved.
    """
    if not _ROLE.fullmatch(name):
        raise InputError(f"invalid role name {name!r}: expected [a-z][a-z0-9]{{0,31}} (no '-')")
    if name in RESERVED_ROLES:
        raise InputError(f"role name {name!r} is reserved")


def family_of(role: str) -> str:
    """The delegated role a hash bin belongs to (``bins-0f`` -> ``bins``), else the role itself."""
    return role.split("-", 1)[0]
