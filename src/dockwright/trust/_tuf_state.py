"""The repository side's view of one TUF repository: load and verify it, route targets, commit.

:class:`RepositoryState` reads the newest metadata from a :class:`MetadataStore` and verifies it
the way a client would (the root chain from ``1.root.json``, each role against its delegator's
keys and threshold, each file against the version and length its parent pinned), so a signer
never builds on metadata someone else slipped into the registry. Edits mark roles dirty;
:meth:`~RepositoryState.commit` then writes, in this order, a new root (signed by a threshold of
the old *and* the new root keys), every dirty targets role deepest first (hash bins before the
role delegating to them), the snapshot, and last ``timestamp.json``; a reader who sees the new
timestamp finds every file it names (consistent snapshots: versioned names are never rewritten).

What this module does not do: decide *what* to change (see :mod:`dockwright.trust.repository`),
lock out a concurrent writer (it only refuses to commit over a timestamp that changed since it
loaded), or delete old versions.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from securesystemslib.signer import Signer
from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp

from dockwright.errors import InputError
from dockwright.trust._tuf_errors import (
    MixAndMatchError,
    TrustDataMissingError,
    TrustError,
    TrustSignatureError,
    map_tuf_error,
)
from dockwright.trust._tuf_names import BINS_ROLE, family_of
from dockwright.trust.metadata_store import MetadataStore

__all__ = ["TOP_LEVEL", "Expiries", "RepositoryState"]

TOP_LEVEL = ("root", "targets", "snapshot", "timestamp")
_MAX_ROOTS = 1024
T = TypeVar("T", Root, Timestamp, Snapshot, Targets)


@dataclass(frozen=True, slots=True, kw_only=True)
class Expiries:
    """How long each role's metadata stays valid after it is signed.

    Online roles (timestamp, snapshot, targets, the bins) are short-lived and re-signed by
    ``refresh``; root and delegated roles whose keys are offline live longer. ``per_role``
    overrides one delegated role (and its bins), e.g. ``{"ci": timedelta(days=7)}``.
    """

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=30)
    snapshot: timedelta = timedelta(days=7)
    timestamp: timedelta = timedelta(days=1)
    bins: timedelta = timedelta(days=30)
    delegated: timedelta = timedelta(days=90)
    per_role: Mapping[str, timedelta] = field(default_factory=dict)

    def for_role(self, name: str) -> timedelta:
        """The validity period of role ``name`` (a bin gets its family's)."""
        top = {
            "root": self.root,
            "targets": self.targets,
            "snapshot": self.snapshot,
            "timestamp": self.timestamp,
        }
        if name in top:
            return top[name]
        family = family_of(name)
        if family in self.per_role:
            return self.per_role[family]
        return self.bins if family == BINS_ROLE else self.delegated


def _parse(data: bytes, kind: type[T], role: str, where: str) -> Metadata[T]:
    try:
        md: Metadata[Any] = Metadata.from_bytes(data)
    except RepositoryError as exc:
        raise TrustError(f"{where}: {role} metadata is malformed: {exc}", role=role) from None
    if not isinstance(md.signed, kind):
        raise TrustError(f"{where}: {role} metadata holds {md.signed.type!r}", role=role)
    return md


def _verify(delegator: Root | Targets, role: str, md: Metadata[Any], where: str) -> None:
    try:
        delegator.verify_delegate(role, md.signed_bytes, md.signatures)
    except (RepositoryError, ValueError) as exc:
        raise TrustSignatureError(f"{where}: {role} failed verification: {exc}", role=role) from None


class RepositoryState:
    """Verified metadata of one repository, the edits pending, and how to commit them."""

    def __init__(self, store: MetadataStore, root: Metadata[Root], *, new: bool) -> None:
        """Start from a verified (or, with ``new``, freshly made) root."""
        self.store = store
        self.where = store.location
        self.trusted_root = root
        self.root: Metadata[Root] = root if new else copy.deepcopy(root)
        self.timestamp: Metadata[Timestamp] = Metadata(Timestamp())
        self.snapshot: Metadata[Snapshot] = Metadata(Snapshot(meta={}))
        self._targets: dict[str, Metadata[Targets]] = {}
        self._parent: dict[str, str] = {"targets": "root"}
        self._loaded_timestamp: bytes | None = None
        self._snapshot_written: MetaFile | None = None
        self.dirty: set[str] = set()
        self._new: set[str] = {"root", "snapshot", "timestamp"} if new else set()

    # --- loading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, store: MetadataStore) -> RepositoryState:
        """Load and verify the newest root, timestamp, snapshot and top-level targets.

        Raises:
            TrustDataMissingError: the store has no TUF repository, or a file is missing.
            TrustError: a file fails verification (the subclass names the attack).
        """
        where = store.location
        data = store.get("1.root.json")
        if data is None:
            raise TrustDataMissingError(f"{where} has no TUF metadata (no 1.root.json)")
        root = _parse(data, Root, "root", where)
        _verify(root.signed, "root", root, where)
        for version in range(2, _MAX_ROOTS):
            data = store.get(f"{version}.root.json")
            if data is None:
                break
            newer = _parse(data, Root, "root", where)
            if newer.signed.version != version:
                raise MixAndMatchError(f"{where}: {version}.root.json holds root v{newer.signed.version}")
            _verify(root.signed, "root", newer, where)
            _verify(newer.signed, "root", newer, where)
            root = newer
        state = cls(store, root, new=False)
        state._load_top()
        return state

    def _load_top(self) -> None:
        data = self.store.get("timestamp.json")
        if data is None:
            raise TrustDataMissingError(f"{self.where} has a root but no timestamp.json")
        self._loaded_timestamp = data
        self.timestamp = _parse(data, Timestamp, "timestamp", self.where)
        _verify(self.trusted_root.signed, "timestamp", self.timestamp, self.where)
        meta = self.timestamp.signed.snapshot_meta
        self.snapshot = _parse(self._fetch("snapshot", meta), Snapshot, "snapshot", self.where)
        _verify(self.trusted_root.signed, "snapshot", self.snapshot, self.where)
        self._check_version("snapshot", self.snapshot, meta)
        self.targets("targets")

    def filename(self, role: str, version: int) -> str:
        """The file name of ``role`` at ``version`` (versioned under consistent snapshots)."""
        if role == "timestamp" or not self.root.signed.consistent_snapshot:
            return f"{role}.json"
        return f"{version}.{role}.json"

    def _fetch(self, role: str, meta: MetaFile) -> bytes:
        name = self.filename(role, meta.version)
        data = self.store.get(name)
        if data is None:
            raise TrustDataMissingError(f"{self.where} is missing {name}", role=role)
        try:
            meta.verify_length_and_hashes(data)
        except RepositoryError as exc:
            raise map_tuf_error(exc, f"{self.where} {name}") from None
        return data

    def _check_version(self, role: str, md: Metadata[Any], meta: MetaFile) -> None:
        if md.signed.version != meta.version:
            raise MixAndMatchError(
                f"{self.where}: expected {role} v{meta.version}, found v{md.signed.version}", role=role
            )

    def targets(self, name: str) -> Metadata[Targets]:
        """The verified metadata of targets role ``name`` (its delegator must be known).

        Raises:
            TrustError: missing, or failing verification.
        """
        if name in self._targets:
            return self._targets[name]
        parent = self._parent[name]
        delegator: Root | Targets = (
            self.trusted_root.signed if parent == "root" else self.targets(parent).signed
        )
        meta = self.snapshot.signed.meta.get(f"{name}.json")
        if meta is None:
            raise TrustDataMissingError(f"{self.where}: the snapshot lists no {name}", role=name)
        md = _parse(self._fetch(name, meta), Targets, name, self.where)
        _verify(delegator, name, md, self.where)
        self._check_version(name, md, meta)
        self._targets[name] = md
        return md

    # --- the delegation tree -----------------------------------------------------------------

    def route(self, path: str) -> list[str]:
        """The chain of roles a client walks for ``path``: ``targets`` down to the holder.

        Every delegation dockwright writes is terminating, so the first matching child decides.
        """
        chain = ["targets"]
        while True:
            delegations = self.targets(chain[-1]).signed.delegations
            matches = delegations.get_roles_for_target(path) if delegations else iter(())
            child = next(matches, None)
            if child is None:
                return chain
            self._parent[child[0]] = chain[-1]
            chain.append(child[0])

    def children(self, name: str) -> list[str]:
        """The roles ``name`` delegates to, in order (hash bins included)."""
        delegations = self.targets(name).signed.delegations
        if delegations is None:
            return []
        if delegations.succinct_roles is not None:
            found = list(delegations.succinct_roles.get_roles())
        else:
            found = list(delegations.roles or {})
        for child in found:
            self._parent[child] = name
        return found

    def descendants(self, name: str) -> Iterator[str]:
        """``name`` and every role below it, parents before children."""
        yield name
        for child in self.children(name):
            yield from self.descendants(child)

    def parent(self, name: str) -> str:
        """The role that delegates to ``name`` (``root`` for top-level roles)."""
        if name in TOP_LEVEL:
            return "root"
        return self._parent[name]

    def add_role(self, name: str, parent: str, md: Metadata[Targets]) -> None:
        """Add a new targets role (written at its version, not bumped, on commit)."""
        self._targets[name] = md
        self._parent[name] = parent
        self._new.add(name)
        self.dirty.add(name)

    # --- committing --------------------------------------------------------------------------

    def role_of(self, name: str) -> tuple[list[str], int]:
        """Key ids and threshold that sign ``name``, as the pending edits say."""
        if name in TOP_LEVEL:
            role = self.root.signed.roles[name]
        else:
            role = self.targets(self._parent[name]).signed.get_delegated_role(name)
        return list(role.keyids), role.threshold

    def can_sign(self, name: str, keyring: Mapping[str, Signer]) -> bool:
        """Whether ``keyring`` holds enough keys to sign ``name`` as the pending edits require."""
        try:
            self._signers(name, keyring)
        except InputError:
            return False
        return True

    def _signers(self, name: str, keyring: Mapping[str, Signer]) -> list[Signer]:
        keyids, threshold = self.role_of(name)
        groups = [(keyids, threshold, "its")]
        if name == "root" and "root" not in self._new:
            old = self.trusted_root.signed.roles["root"]
            groups.append((list(old.keyids), old.threshold, "the current root's"))
        for ids, needed, whose in groups:
            have = [k for k in ids if k in keyring]
            if len(have) < needed:
                short = ", ".join(k[:12] for k in ids)
                raise InputError(
                    f"signing {name} needs {needed} of {whose} keys ({short}); {len(have)} loaded",
                    hint=f"load {needed - len(have)} more of the {name} role's keys",
                )
        wanted = set(keyids) | (
            set(self.trusted_root.signed.roles["root"].keyids) if name == "root" else set()
        )
        return [keyring[k] for k in sorted(wanted) if k in keyring]

    def _depth(self, name: str) -> int:
        depth = 0
        while name != "root":
            name = self.parent(name)
            depth += 1
        return depth

    def commit(self, keyring: Mapping[str, Signer], expiries: Expiries, now: datetime) -> list[str]:
        """Write every dirty file, then the snapshot and the timestamp.

        Returns:
            The file names written, in order.

        Raises:
            InputError: a role lacks loaded signers for its threshold (nothing is written), or
                another writer changed the repository since it was loaded.
        """
        if not self.dirty:
            return []
        roles = sorted((n for n in self.dirty if n not in ("root", "snapshot", "timestamp")), key=self._depth)
        roles.reverse()
        plan = (["root"] if "root" in self.dirty else []) + roles
        if roles or "snapshot" in self.dirty:
            plan.append("snapshot")
        plan.append("timestamp")
        signers = {name: self._signers(name, keyring) for name in plan}
        self._check_unchanged()
        written = [self._write(name, signers[name], expiries.for_role(name), now) for name in plan]
        self.trusted_root = copy.deepcopy(self.root)
        self.dirty.clear()
        self._new.clear()
        return written

    def _check_unchanged(self) -> None:
        if "timestamp" in self._new:
            return
        if self.store.get("timestamp.json") != self._loaded_timestamp:
            raise InputError(
                f"another writer changed {self.where} since it was loaded; nothing was written",
                hint="run the command again; let only one job sign a repository at a time",
            )

    def metadata(self, name: str) -> Metadata[Any]:
        """The (pending) metadata of any role, loading a targets role if needed."""
        top: dict[str, Metadata[Any]] = {
            "root": self.root,
            "snapshot": self.snapshot,
            "timestamp": self.timestamp,
        }
        return top[name] if name in top else self.targets(name)

    def _write(self, name: str, signers: list[Signer], period: timedelta, now: datetime) -> str:
        md = self.metadata(name)
        if name == "timestamp" and self._snapshot_written is not None:
            self.timestamp.signed.snapshot_meta = self._snapshot_written
        if name not in self._new:
            md.signed.version += 1
        md.signed.expires = now + period
        md.signatures.clear()
        for signer in signers:
            try:
                md.sign(signer, append=True)
            except RepositoryError as exc:
                keyid = signer.public_key.keyid[:12]
                raise InputError(f"signing {name} with key {keyid} failed: {exc}") from None
        data = md.to_bytes()
        filename = self.filename(name, md.signed.version)
        self.store.put(filename, data)
        if name == "snapshot":
            digest = hashlib.sha256(data).hexdigest()
            self._snapshot_written = MetaFile(md.signed.version, len(data), {"sha256": digest})
        elif name == "timestamp":
            self._loaded_timestamp = data
        elif name != "root":
            self.snapshot.signed.meta[f"{name}.json"] = MetaFile(md.signed.version, len(data))
        return filename
