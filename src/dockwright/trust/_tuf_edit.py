"""Edits of TUF metadata the repository makes: role keys, target files, hash-bin delegations.

Small functions over python-tuf objects and a :class:`~dockwright.trust._tuf_state.RepositoryState`:
:class:`RoleKeys` (a role's public keys and threshold), :func:`target_file` (a tag or
attestation target from a descriptor, bytes or a length and digest), :func:`succinct_delegations`
(TAP 15 hash bins sharing one key set) and :func:`set_role_keys` (replace the keys of a
top-level role in root, or of a delegated role and its bins in their delegators).

What this module does not do: sign or write anything (the state's commit does), or decide
whether an edit is allowed (the repository does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from securesystemslib.signer import Key, Signer
from tuf.api.metadata import Delegations, Root, SuccinctRoles, TargetFile, Targets

from dockwright.errors import InputError
from dockwright.oci.descriptor import Descriptor
from dockwright.oci.digest import Digest
from dockwright.trust._tuf_names import ATTESTATION_PREFIX, family_of
from dockwright.trust._tuf_state import TOP_LEVEL, RepositoryState
from dockwright.trust.keys import public_key_of

__all__ = [
    "RoleKeys",
    "TargetSpec",
    "check_extra_target",
    "key_of",
    "set_role_keys",
    "succinct_delegations",
    "target_file",
]

TargetSpec = Descriptor | bytes | tuple[int, str]
"""What a target is signed for: a descriptor, the bytes, or ``(length, sha256 hex or digest)``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleKeys:
    """The public keys of a role and how many of them must sign (``threshold``)."""

    keys: tuple[Key, ...]
    threshold: int = 1

    def __post_init__(self) -> None:
        ids = [k.keyid for k in self.keys]
        if len(set(ids)) != len(ids):
            raise InputError("the same key is listed twice for one role")
        if not 1 <= self.threshold <= len(ids):
            raise InputError(f"threshold {self.threshold} needs between 1 and {len(ids)} keys")

    @classmethod
    def of(cls, *keys: Key | Signer, threshold: int = 1) -> RoleKeys:
        """Build from public keys or signers (their public keys are taken)."""
        return cls(keys=tuple(public_key_of(k) for k in keys), threshold=threshold)

    @property
    def keyids(self) -> list[str]:
        """The key ids, in order."""
        return [k.keyid for k in self.keys]


def target_file(path: str, spec: TargetSpec, pinned: Sequence[str] = ()) -> TargetFile:
    """The TUF target for ``spec``; ``custom`` gets the media type and pinned attestation digests.

    Raises:
        InputError: a malformed digest.
    """
    custom: dict[str, object] = {}
    if isinstance(spec, Descriptor):
        length, sha256 = spec.size, spec.digest.hex
        custom["mediaType"] = spec.media_type
    elif isinstance(spec, bytes):
        length, sha256 = len(spec), hashlib.sha256(spec).hexdigest()
    else:
        length, text = spec
        sha256 = Digest.parse(text).hex if ":" in text else Digest(algorithm="sha256", hex=text).hex
    if pinned:
        custom["attestations"] = sorted(pinned)
    return TargetFile(length, {"sha256": sha256}, path, {"custom": custom} if custom else None)


def check_extra_target(path: str) -> str:
    """Check an extra target path is ``attestations/<subject>/<kind>``; return it.

    Raises:
        InputError: any other path.
    """
    parts = path.split("/")
    if not path.startswith(ATTESTATION_PREFIX) or len(parts) != 3 or not all(parts):
        raise InputError(f"extra target {path!r} is not attestations/<digest>/<kind>")
    return path


def succinct_delegations(keys: RoleKeys, bits: int, prefix: str) -> Delegations:
    """Delegations to ``2**bits`` hash bins ``<prefix>-<hex>``, all signed by ``keys``.

    Raises:
        InputError: ``bits`` outside 1..16.
    """
    if not 1 <= bits <= 16:
        raise InputError(f"hash bins need 1 to 16 bits, not {bits}")
    role = SuccinctRoles(keys.keyids, keys.threshold, bits, prefix)
    return Delegations(keys={k.keyid: k for k in keys.keys}, succinct_roles=role)


def key_of(state: RepositoryState, role: str, keyid: str) -> Key:
    """The public key ``keyid`` as the delegator of ``role`` lists it."""
    delegator: Root | Targets = (
        state.root.signed if role in TOP_LEVEL else state.targets(state.parent(role)).signed
    )
    return delegator.get_key(keyid)


def set_role_keys(state: RepositoryState, role: str, keys: Sequence[Key], threshold: int) -> None:
    """Replace the keys of ``role`` and mark what must be signed again.

    A top-level role changes in root (and its own file is signed again by the new keys). A
    delegated role changes in ``targets``; it and its hash bins are signed again.

    Raises:
        InputError: unknown role, or a hash bin (its family is rotated instead).
        TrustError: the role's current metadata fails verification.
    """
    ids = [k.keyid for k in keys]
    if role in TOP_LEVEL:
        root = state.root.signed
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
        for key in keys:
            root.add_key(key, role)
        root.roles[role].threshold = threshold
        state.dirty.update({"root", role})
        return
    if role not in state.children("targets"):
        family = family_of(role)
        raise InputError(f"unknown role {role}" + (f": rotate {family} instead" if family != role else ""))
    members = list(state.descendants(role))
    for member in members:
        state.targets(member)  # verify with the old keys before the delegations change
    parent = state.targets(state.parent(role)).signed.delegations
    assert parent is not None and parent.roles is not None
    parent.roles[role].keyids, parent.roles[role].threshold = ids, threshold
    _replace_keys(parent, keys)
    state.dirty.add(state.parent(role))
    for member in members:
        own = state.targets(member).signed.delegations
        if own is not None and own.succinct_roles is not None:  # its hash bins share its keys
            own.succinct_roles.keyids, own.succinct_roles.threshold = list(ids), threshold
            _replace_keys(own, keys)
    state.dirty.update(members)


def _replace_keys(delegations: Delegations, keys: Sequence[Key]) -> None:
    """Keep only the keys some role of ``delegations`` still uses, plus ``keys``."""
    used = {k for r in (delegations.roles or {}).values() for k in r.keyids}
    used |= set(delegations.succinct_roles.keyids if delegations.succinct_roles else ())
    delegations.keys = {k: v for k, v in delegations.keys.items() if k in used}
    delegations.keys.update({k.keyid: k for k in keys})
