"""Helpers for the TUF tests: a key set, a repository factory, and an attacker's forging tool.

``Keys`` holds in-memory signers for every role (three root keys, online keys, two CI keys and a
release key). :func:`make_repo` initializes a repository in a store with them. :func:`forge`
publishes a new version of one targets role the way an attacker holding *some* keys would:
signed by whatever keys it is handed, with a snapshot and timestamp re-signed by the keys it
is handed for those, and no checks at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Snapshot, Targets, Timestamp

from dockwright.trust import MemoryMetadataStore, MetadataStore, RoleKeys, TrustClient, TrustRepository
from dockwright.trust.keys import generate_signer


@dataclass
class Keys:
    """Signers for every role of a test repository."""

    root: list[CryptoSigner] = field(default_factory=lambda: [generate_signer() for _ in range(3)])
    targets: CryptoSigner = field(default_factory=generate_signer)
    snapshot: CryptoSigner = field(default_factory=generate_signer)
    timestamp: CryptoSigner = field(default_factory=generate_signer)
    bins: CryptoSigner = field(default_factory=generate_signer)
    ci: list[CryptoSigner] = field(default_factory=lambda: [generate_signer() for _ in range(2)])
    release: CryptoSigner = field(default_factory=generate_signer)

    def online(self) -> list[CryptoSigner]:
        """The online keys: targets, snapshot, timestamp, bins."""
        return [self.targets, self.snapshot, self.timestamp, self.bins]


def make_repo(
    store: MetadataStore,
    keys: Keys,
    *,
    bin_bits: int = 8,
    clock: Callable[[], datetime] | None = None,
    root_signers: int = 2,
) -> TrustRepository:
    """Initialize a repository (2-of-3 root) holding ``root_signers`` root keys and the online keys."""
    repo = TrustRepository(
        store, [*keys.root[:root_signers], *keys.online()], clock=clock or (lambda: datetime.now(UTC))
    )
    repo.init(
        root=RoleKeys.of(*keys.root, threshold=2),
        targets=RoleKeys.of(keys.targets),
        snapshot=RoleKeys.of(keys.snapshot),
        timestamp=RoleKeys.of(keys.timestamp),
        bins=RoleKeys.of(keys.bins),
        bin_bits=bin_bits,
    )
    return repo


def client(store: MetadataStore, cache: Path, root: bytes | None = None) -> TrustClient:
    """A client of ``store`` pinned to ``root`` (default: the store's ``1.root.json``)."""
    pinned = root if root is not None else store.get("1.root.json")
    assert pinned is not None
    return TrustClient(store, trusted_root=pinned, cache_dir=cache)


def manifest(n: int) -> bytes:
    """Distinct bytes standing in for manifest ``n``."""
    return f'{{"schemaVersion":2,"n":{n}}}'.encode()


def _latest(store: MetadataStore) -> tuple[Metadata[Timestamp], Metadata[Snapshot]]:
    ts_bytes = store.get("timestamp.json")
    assert ts_bytes is not None
    ts: Metadata[Any] = Metadata.from_bytes(ts_bytes)
    snap_bytes = store.get(f"{ts.signed.snapshot_meta.version}.snapshot.json")
    assert snap_bytes is not None
    return ts, Metadata.from_bytes(snap_bytes)


def forge(
    store: MetadataStore,
    role: str,
    edit: Callable[[Targets], None],
    *,
    role_signers: list[CryptoSigner],
    snapshot_signer: CryptoSigner,
    timestamp_signer: CryptoSigner,
    timestamp_version: int | None = None,
) -> None:
    """Publish an edited next version of ``role``, with a snapshot and timestamp naming it."""
    ts, snapshot = _latest(store)
    meta = snapshot.signed.meta[f"{role}.json"]
    data = store.get(f"{meta.version}.{role}.json")
    assert data is not None
    md: Metadata[Any] = Metadata.from_bytes(data)
    edit(md.signed)
    md.signed.version += 1
    md.signatures.clear()
    for signer in role_signers:
        md.sign(signer, append=True)
    role_bytes = md.to_bytes()
    store.put(f"{md.signed.version}.{role}.json", role_bytes)
    snapshot.signed.meta[f"{role}.json"] = MetaFile(md.signed.version, len(role_bytes))
    publish_snapshot(store, snapshot, ts, snapshot_signer, timestamp_signer, timestamp_version)


def publish_snapshot(
    store: MetadataStore,
    snapshot: Metadata[Snapshot],
    ts: Metadata[Timestamp],
    snapshot_signer: CryptoSigner,
    timestamp_signer: CryptoSigner,
    timestamp_version: int | None = None,
) -> None:
    """Sign and publish ``snapshot`` as its next version, and a timestamp naming it."""
    snapshot.signed.version += 1
    snapshot.signed.expires = datetime.now(UTC) + timedelta(days=1)
    snapshot.sign(snapshot_signer)
    snap_bytes = snapshot.to_bytes()
    store.put(f"{snapshot.signed.version}.snapshot.json", snap_bytes)
    ts.signed.snapshot_meta = MetaFile(
        snapshot.signed.version, len(snap_bytes), {"sha256": hashlib.sha256(snap_bytes).hexdigest()}
    )
    ts.signed.version = timestamp_version or ts.signed.version + 1
    ts.signed.expires = datetime.now(UTC) + timedelta(days=1)
    ts.sign(timestamp_signer)
    store.put("timestamp.json", ts.to_bytes())


def snapshot_copy(store: MemoryMetadataStore) -> MemoryMetadataStore:
    """A copy of the store's files as they are now (an old repository state)."""
    copy = MemoryMetadataStore(store.location)
    copy.files = dict(store.files)
    return copy
