"""The TUF attack classes a client must refuse, each mapped to its own error and message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tuf.api.metadata import Metadata, Root, Targets

from dockwright.trust import (
    EndlessDataError,
    FreezeAttackError,
    MemoryMetadataStore,
    MixAndMatchError,
    RoleKeys,
    RollbackAttackError,
    TrustDataMissingError,
    TrustRepository,
    TrustSignatureError,
)
from dockwright.trust.keys import generate_signer
from tests.unit.trust_support import Keys, client, forge, make_repo, manifest, snapshot_copy


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def store() -> MemoryMetadataStore:
    return MemoryMetadataStore("127.0.0.1:5000/team/app")


def _bin_of(store: MemoryMetadataStore, tag: str) -> str:
    """The newest file name of the hash bin that holds ``tag``."""
    names = [n for n in store.names() if ".bins-" in n]
    for name in sorted(names, key=lambda n: int(n.split(".")[0]), reverse=True):
        md: Metadata[Any] = Metadata.from_bytes(store.files[name])
        if f"tags/{tag}" in md.signed.targets:
            return name
    raise AssertionError(f"no bin holds {tag}")


def test_expired_timestamp_is_a_freeze_attack(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    past = datetime.now(UTC) - timedelta(days=2)
    repo = make_repo(store, keys, bin_bits=2, clock=lambda: past)
    repo.sign_tag("v1", manifest(1))
    with pytest.raises(
        FreezeAttackError, match=r"freeze attack \(expired metadata\): timestamp.json is expired"
    ):
        client(store, tmp_path).tag("v1")


def test_refreshed_timestamp_ends_the_freeze(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    now = [datetime.now(UTC) - timedelta(hours=30)]
    repo = make_repo(store, keys, bin_bits=2, clock=lambda: now[0])
    repo.sign_tag("v1", manifest(1))
    with pytest.raises(FreezeAttackError):
        client(store, tmp_path).tag("v1")
    now[0] = datetime.now(UTC)
    repo.refresh_timestamp()
    assert client(store, tmp_path).tag("v1").digest is not None


def test_old_timestamp_is_a_rollback_attack(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    repo = make_repo(store, keys, bin_bits=2)
    repo.sign_tag("v1", manifest(1))
    old_state = snapshot_copy(store)
    repo.sign_tag("v1", manifest(2))
    assert client(store, tmp_path).tag("v1").digest is not None  # the client saw the newer state
    with pytest.raises(RollbackAttackError, match=r"rollback attack .*New timestamp version 2 must be >= 3"):
        client(old_state, tmp_path).tag("v1")


def test_snapshot_from_another_state_is_mix_and_match(
    store: MemoryMetadataStore, keys: Keys, tmp_path: Path
) -> None:
    repo = make_repo(store, keys, bin_bits=2)
    repo.sign_tag("v1", manifest(1))
    repo.sign_tag("v2", manifest(2))
    store.files["3.snapshot.json"] = store.files["2.snapshot.json"]  # the timestamp pinned v3's hash
    with pytest.raises(MixAndMatchError, match="mix-and-match attack"):
        client(store, tmp_path).tag("v1")


def test_targets_file_of_another_version_is_mix_and_match(
    store: MemoryMetadataStore, keys: Keys, tmp_path: Path
) -> None:
    repo = make_repo(store, keys, bin_bits=1)
    repo.sign_tag("v1", manifest(1))
    current = _bin_of(store, "v1")
    version, rest = current.split(".", 1)
    repo.sign_tag("v1", manifest(2))  # the same bin, one version on
    newer = f"{int(version) + 1}.{rest}"
    store.files[newer] = store.files[current]  # serve the older, validly signed bin as the newer
    with pytest.raises(MixAndMatchError, match="mix-and-match attack"):
        client(store, tmp_path).tag("v1")


def test_oversized_metadata_is_endless_data(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    repo = make_repo(store, keys, bin_bits=1)
    repo.sign_tag("v1", manifest(1))
    name = _bin_of(store, "v1")
    store.files[name] = store.files[name] + b" " * 1_000_000
    with pytest.raises(EndlessDataError, match=r"endless data attack .*exceeding the maximum allowed length"):
        client(store, tmp_path).tag("v1")


def test_oversized_timestamp_is_endless_data(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    make_repo(store, keys, bin_bits=1)
    store.files["timestamp.json"] += b" " * 20_000  # no parent pins it: UpdaterConfig's 16 KiB cap
    with pytest.raises(EndlessDataError):
        client(store, tmp_path).tag("v1")


def test_root_signed_by_one_of_two_required_keys_is_refused(
    store: MemoryMetadataStore, keys: Keys, tmp_path: Path
) -> None:
    make_repo(store, keys, bin_bits=1)
    root: Metadata[Root] = Metadata.from_bytes(store.files["1.root.json"])
    attacker = generate_signer()
    root.signed.version = 2
    root.signed.add_key(attacker.public_key, "timestamp")
    root.sign(keys.root[0])  # one stolen root key; the threshold is two
    root.sign(attacker, append=True)
    store.files["2.root.json"] = root.to_bytes()
    with pytest.raises(TrustSignatureError, match="root was signed by 1/2 keys"):
        client(store, tmp_path).tag("v1")


def test_missing_repository_and_missing_file(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    make_repo(store, keys, bin_bits=1)
    pinned = store.files["1.root.json"]
    empty = MemoryMetadataStore()
    with pytest.raises(TrustDataMissingError, match=r"holds no timestamp\.json"):
        client(empty, tmp_path, pinned).tag("v1")
    del store.files["1.targets.json"]
    with pytest.raises(TrustDataMissingError, match=r"holds no 1\.targets\.json"):
        client(store, tmp_path / "other").tag("v1")


def test_fast_forward_recovery_after_rotating_online_keys(
    store: MemoryMetadataStore, keys: Keys, tmp_path: Path
) -> None:
    make_repo(store, keys, bin_bits=1).sign_tag("v1", manifest(1))
    honest = snapshot_copy(store)

    def noop(targets: Targets) -> None:
        pass

    # the attacker holds the snapshot and timestamp keys and pushes the timestamp far ahead
    forge(
        store, "bins", noop, role_signers=[keys.bins], snapshot_signer=keys.snapshot,
        timestamp_signer=keys.timestamp, timestamp_version=999_999,
    )  # fmt: skip
    assert client(store, tmp_path).tag("v1").digest is not None  # the client now trusts v999999
    store.files = dict(honest.files)  # the owners restore their repository...
    with pytest.raises(RollbackAttackError):
        client(store, tmp_path).tag("v1")  # ...whose honest, lower versions now look like a rollback
    repo = TrustRepository(store, [*keys.root[:2], *keys.online()])
    new_ts, new_snap = generate_signer(), generate_signer()
    repo.add_signer(new_ts)
    repo.add_signer(new_snap)
    repo.rotate("timestamp", RoleKeys.of(new_ts))
    repo.rotate("snapshot", RoleKeys.of(new_snap))
    repo.sign_tag("v2", manifest(2))
    trust = client(store, tmp_path)  # rotated keys: the inflated cached timestamp no longer verifies
    assert trust.tag("v2").digest is not None
    assert trust.tag("v1").digest is not None
