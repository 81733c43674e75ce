"""The TUF repository of tags: init, sign, resolve, delegations, rotation, revocation, status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tuf.api.metadata import SuccinctRoles, TargetFile, Targets

from dockwright.errors import DigestMismatchError, InputError
from dockwright.oci.descriptor import OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.trust import (
    MemoryMetadataStore,
    OciLayoutMetadataStore,
    RoleKeys,
    RootPins,
    TagNotSignedError,
    TrustDataMissingError,
    TrustRepository,
    TrustSignatureError,
    attestation_target,
    initial_root,
    resolve_tag,
    root_summary,
)
from dockwright.trust.keys import generate_signer
from tests.unit.trust_support import Keys, client, forge, make_repo, manifest


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def store() -> MemoryMetadataStore:
    return MemoryMetadataStore("127.0.0.1:5000/team/app")


def test_init_writes_a_consistent_snapshot_repository(store: MemoryMetadataStore, keys: Keys) -> None:
    make_repo(store, keys)
    names = store.names()
    assert {"1.root.json", "1.targets.json", "1.bins.json", "1.snapshot.json", "timestamp.json"} <= set(names)
    assert len([n for n in names if n.startswith("1.bins-")]) == 256
    with pytest.raises(InputError, match="already has a TUF repository"):
        make_repo(store, keys)


def test_init_refuses_root_keys_online_and_missing_signers(store: MemoryMetadataStore, keys: Keys) -> None:
    repo = TrustRepository(store, [*keys.root, *keys.online()])
    with pytest.raises(InputError, match="root keys must stay offline"):
        repo.init(
            root=RoleKeys.of(*keys.root, threshold=2),
            targets=RoleKeys.of(keys.root[0]),
            snapshot=RoleKeys.of(keys.snapshot),
            timestamp=RoleKeys.of(keys.timestamp),
        )
    with pytest.raises(InputError, match="signing root needs 2 of its keys"):
        make_repo(store, keys, root_signers=1)
    assert store.names() == []


def test_sign_and_resolve_a_tag(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    repo = make_repo(store, keys)
    descriptor = Descriptor(media_type=OCI_MANIFEST, digest=Digest.of(manifest(1)), size=len(manifest(1)))
    written = repo.sign_tag("v1.0", descriptor)
    assert written[-2:] == ["2.snapshot.json", "timestamp.json"]
    assert len(written) == 3  # one hash bin, the snapshot, the timestamp
    found = resolve_tag(store, "v1.0", trusted_root=initial_root(store), cache_dir=tmp_path)
    assert found.digest == descriptor.digest
    assert found.size == descriptor.size
    assert found.media_type == OCI_MANIFEST
    assert found.roles["root"] == 2 and found.roles["bins"] == 1
    found.check(manifest(1))
    with pytest.raises(DigestMismatchError, match="is signed for"):
        found.check(manifest(2))
    with pytest.raises(TagNotSignedError, match=r"tag v2\.0 is not signed"):
        client(store, tmp_path).tag("v2.0")
    assert repo.sign_tag("v1.0", descriptor) == []  # nothing changed, nothing written


def test_tag_moves_and_removal(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    repo = make_repo(store, keys)
    repo.sign_tag("latest", manifest(1))
    repo.sign_tag("latest", manifest(2))
    assert client(store, tmp_path).tag("latest").digest == Digest.of(manifest(2))
    repo.remove_tag("latest")
    with pytest.raises(TagNotSignedError):
        client(store, tmp_path).tag("latest")
    with pytest.raises(InputError, match="is not signed"):
        repo.remove_tag("latest")


@pytest.mark.parametrize(
    ("tag", "message"),
    [("tuf-1.root.json", "hold trust metadata"), ("bad/tag", "invalid tag"), ("-x", "invalid tag")],
)
def test_bad_tags_are_refused(store: MemoryMetadataStore, keys: Keys, tag: str, message: str) -> None:
    repo = make_repo(store, keys, bin_bits=1)
    with pytest.raises(InputError, match=message):
        repo.sign_tag(tag, b"x")


def test_attestations_are_pinned_with_the_tag(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    repo = make_repo(store, keys)
    subject = Digest.of(manifest(1))
    sbom, provenance = b"sbom envelope", b"provenance envelope"
    extra = {
        attestation_target(subject, "sbom-spdx"): sbom,
        attestation_target(subject, "provenance"): provenance,
    }
    repo.sign_tag("v1", manifest(1), extra_targets=extra)
    trust = client(store, tmp_path)
    assert trust.tag("v1").pinned == frozenset({Digest.of(sbom), Digest.of(provenance)})
    found = trust.target(f"attestations/sha256-{subject.hex}/sbom-spdx")
    assert found is not None and found.digest == Digest.of(sbom)
    with pytest.raises(InputError, match="is not attestations"):
        repo.sign_tag("v2", manifest(2), extra_targets={"tags/v3": b"x"})


def test_delegations_ci_and_release(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    repo = make_repo(store, keys)
    with pytest.raises(InputError, match="signing ci needs 1 of its keys"):
        repo.delegate("ci", ["ci-*"], RoleKeys.of(*keys.ci))  # its first metadata is signed now
    for signer in (*keys.ci, keys.release):
        repo.add_signer(signer)
    repo.delegate("ci", ["ci-*"], RoleKeys.of(*keys.ci), bin_bits=4)
    repo.delegate("release", ["v*"], RoleKeys.of(keys.release))
    ci = TrustRepository(store, [*keys.ci, keys.snapshot, keys.timestamp])
    ci.sign_tag("ci-1234", manifest(1), role="ci")
    with pytest.raises(InputError, match=r"tag v1\.0 is delegated to role release, not ci"):
        ci.sign_tag("v1.0", manifest(666), role="ci")
    with pytest.raises(InputError, match="signing release needs 1 of its keys"):
        ci.sign_tag("v1.0", manifest(666))
    release = TrustRepository(store, [keys.release, keys.snapshot, keys.timestamp])
    release.sign_tag("v1.0", manifest(2))
    trust = client(store, tmp_path)
    ci_tag = trust.tag("ci-1234")
    assert ci_tag.digest == Digest.of(manifest(1))
    assert "ci" in ci_tag.roles and any(r.startswith("ci-") for r in ci_tag.roles)
    assert trust.tag("v1.0").roles["release"] == 1
    status = repo.status()
    assert [r.name for r in status.roles] == [
        "root",
        "targets",
        "snapshot",
        "timestamp",
        "ci",
        "release",
        "bins",
    ]
    assert status.role("ci").paths == ("tags/ci-*",) and status.role("ci").bins == 16


def test_a_ci_key_cannot_sign_a_release_tag_even_in_its_own_metadata(
    store: MemoryMetadataStore, keys: Keys, tmp_path: Path
) -> None:
    repo = make_repo(store, keys)
    for signer in (*keys.ci, keys.release):
        repo.add_signer(signer)
    repo.delegate("ci", ["ci-*"], RoleKeys.of(*keys.ci))
    repo.delegate("release", ["v*"], RoleKeys.of(keys.release))
    TrustRepository(store, [keys.release, keys.snapshot, keys.timestamp]).sign_tag("v1.0", manifest(1))

    def claim(targets: Targets) -> None:
        targets.targets["tags/v1.0"] = TargetFile.from_data("tags/v1.0", manifest(666))
        targets.targets["tags/v9.9"] = TargetFile.from_data("tags/v9.9", manifest(666))

    # a stolen CI key and the online keys: the CI metadata may say anything, clients never ask it
    forge(
        store,
        "ci",
        claim,
        role_signers=[keys.ci[0]],
        snapshot_signer=keys.snapshot,
        timestamp_signer=keys.timestamp,
    )
    trust = client(store, tmp_path)
    assert trust.tag("v1.0").digest == Digest.of(manifest(1))
    with pytest.raises(TagNotSignedError):
        trust.tag("v9.9")


def test_tag_patterns_with_a_slash_are_refused(store: MemoryMetadataStore, keys: Keys) -> None:
    repo = make_repo(store, keys, bin_bits=1)
    with pytest.raises(InputError, match="holds '/', which no tag can contain"):
        repo.delegate("ci", ["ci/*"], RoleKeys.of(*keys.ci))
    with pytest.raises(InputError, match="reserved"):
        repo.delegate("bins", ["x*"], RoleKeys.of(*keys.ci))
    with pytest.raises(InputError, match="invalid role name"):
        repo.delegate("ci-x", ["x*"], RoleKeys.of(*keys.ci))


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "bins"])
def test_rotating_an_online_key_keeps_targets_and_clients_follow(
    store: MemoryMetadataStore, keys: Keys, tmp_path: Path, role: str
) -> None:
    repo = make_repo(store, keys, bin_bits=4)
    repo.sign_tag("v1", manifest(1))
    assert client(store, tmp_path).tag("v1").digest == Digest.of(manifest(1))  # warm the cache
    new = generate_signer()
    repo.add_signer(new)
    written = repo.rotate(role, RoleKeys.of(new))
    bins_written = [n for n in written if ".bins-" in n]
    if role == "bins":
        assert "2.root.json" not in written and len(bins_written) == 16
    else:
        assert "2.root.json" in written and bins_written == []
    stale = TrustRepository(store, [*keys.online(), *keys.ci])  # still holds the old key only
    needs_role = {
        "timestamp": stale.refresh_timestamp,
        "snapshot": lambda: stale.sign_tag("v2", manifest(2)),
        "targets": lambda: stale.delegate("ci", ["ci-*"], RoleKeys.of(*keys.ci)),
        "bins": lambda: stale.sign_tag("v2", manifest(2)),
    }[role]
    with pytest.raises(InputError, match=f"signing {role}(-.)? needs 1 of its keys"):
        needs_role()
    repo.sign_tag("v2", manifest(2))
    trust = client(store, tmp_path)
    assert trust.tag("v1").digest == Digest.of(manifest(1))
    assert trust.tag("v2").digest == Digest.of(manifest(2))


def test_root_rotation_needs_the_threshold_of_old_root_keys(
    store: MemoryMetadataStore, keys: Keys, tmp_path: Path
) -> None:
    make_repo(store, keys)
    pinned = initial_root(store)
    replacement = generate_signer()
    new_root = RoleKeys.of(keys.root[0], keys.root[1], replacement, threshold=2)
    one = TrustRepository(store, [keys.root[0], replacement, *keys.online()])
    with pytest.raises(InputError, match="signing root needs 2 of the current root's keys"):
        one.rotate("root", new_root)
    assert "2.root.json" not in store.names()
    two = TrustRepository(store, [keys.root[0], keys.root[1], *keys.online()])
    assert "2.root.json" in two.rotate("root", new_root)
    # the new root's keys alone (one old key plus the replacement) can now rotate again
    later = TrustRepository(store, [keys.root[0], replacement, *keys.online()])
    later.rotate("root", RoleKeys.of(keys.root[0], replacement, threshold=2))
    later.sign_tag("v1", manifest(1))
    assert client(store, tmp_path, pinned).tag("v1").roles["root"] == 2


def test_revoked_key_is_refused(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    repo = make_repo(store, keys)
    repo.add_signer(keys.ci[1])
    repo.delegate("ci", ["ci-*"], RoleKeys.of(*keys.ci))
    repo.revoke(keys.ci[0].public_key.keyid)
    assert repo.status().role("ci").keyids == (keys.ci[1].public_key.keyid,)

    def add(targets: Targets) -> None:
        targets.targets["tags/ci-evil"] = TargetFile.from_data("tags/ci-evil", b"evil")

    forge(
        store,
        "ci",
        add,
        role_signers=[keys.ci[0]],
        snapshot_signer=keys.snapshot,
        timestamp_signer=keys.timestamp,
    )
    with pytest.raises(TrustSignatureError, match=r"arbitrary software installation.*ci was signed by 0/1"):
        client(store, tmp_path).tag("ci-evil")
    with pytest.raises(InputError, match="below its threshold"):
        repo.revoke(keys.ci[1].public_key.keyid)
    with pytest.raises(InputError, match=r"no role .* uses key"):
        repo.revoke("00" * 32)


def test_revoking_a_root_key_needs_the_old_threshold(
    store: MemoryMetadataStore, keys: Keys, tmp_path: Path
) -> None:
    make_repo(store, keys, bin_bits=1)
    pinned = initial_root(store)
    lost = keys.root[2].public_key.keyid
    with pytest.raises(InputError, match="signing root needs 2 of its keys"):
        TrustRepository(store, [keys.root[0], *keys.online()]).revoke(lost)
    repo = TrustRepository(store, [*keys.root[:2], *keys.online()])
    assert repo.revoke(lost) == ["2.root.json", "timestamp.json"]
    assert repo.status().role("root").keyids == tuple(k.public_key.keyid for k in keys.root[:2])
    with pytest.raises(InputError, match="below its threshold 2"):
        repo.revoke(keys.root[0].public_key.keyid)
    repo.sign_tag("v1", manifest(1))
    assert client(store, tmp_path, pinned).tag("v1").roles["root"] == 2


def test_a_failed_edit_leaves_nothing_behind(store: MemoryMetadataStore, keys: Keys, tmp_path: Path) -> None:
    repo = make_repo(store, keys)
    repo.add_signer(keys.release)
    repo.delegate("release", ["v*"], RoleKeys.of(keys.release))
    with pytest.raises(InputError, match="delegated to role release"):
        repo.sign_tags({"latest": manifest(1), "v1": manifest(2)}, role="bins")
    repo.sign_tag("other", manifest(3))  # must not publish the refused "latest" with it
    assert repo.lookup("tags/latest") is None
    with pytest.raises(TagNotSignedError):
        client(store, tmp_path).tag("latest")


def test_repository_refuses_metadata_it_did_not_sign(store: MemoryMetadataStore, keys: Keys) -> None:
    make_repo(store, keys, bin_bits=1)

    def add(targets: Targets) -> None:
        targets.targets.clear()

    intruder = generate_signer()
    target_bin = SuccinctRoles([], 1, 1, "bins").get_role_for_target("tags/x")
    forge(
        store,
        target_bin,
        add,
        role_signers=[intruder],
        snapshot_signer=keys.snapshot,
        timestamp_signer=keys.timestamp,
    )
    repo = TrustRepository(store, keys.online())
    with pytest.raises(TrustSignatureError, match=f"{target_bin} failed verification"):
        repo.sign_tag("x", b"x")


def test_missing_repository(store: MemoryMetadataStore) -> None:
    with pytest.raises(TrustDataMissingError, match="has no TUF metadata"):
        TrustRepository(store).status()
    with pytest.raises(TrustDataMissingError):
        initial_root(store)


def test_status_and_refresh(store: MemoryMetadataStore, keys: Keys) -> None:
    start = datetime.now(UTC)
    now = [start]
    repo = make_repo(store, keys, bin_bits=2, clock=lambda: now[0])
    status = repo.status()
    assert status.role("root").threshold == 2 and len(status.role("root").keyids) == 3
    assert status.role("timestamp").expires == (start + timedelta(days=1)).replace(microsecond=0)
    assert status.role("bins").bins == 4 and status.role("bins").bin_versions == (1, 1)
    assert status.expiring(start + timedelta(days=2)) == ["timestamp"]
    assert any("bins" in line and "4 bins" in line for line in status.lines())
    now[0] = start + timedelta(hours=20)
    assert repo.refresh_timestamp() == ["timestamp.json"]
    now[0] = start + timedelta(days=25)
    written = repo.refresh(within=timedelta(days=7))
    assert "2.bins-3.json" in written and "2.targets.json" in written and "2.root.json" not in written
    assert repo.status().expiring(now[0] + timedelta(hours=1)) == []
    now[0] = start + timedelta(days=360)
    online = TrustRepository(store, keys.online(), clock=lambda: now[0])  # no root keys at hand
    assert "2.root.json" not in online.refresh(within=timedelta(days=7))
    left = online.status().expiring(now[0] + timedelta(days=7))
    assert "root" in left and "targets" not in left and "bins" not in left
    with pytest.raises(InputError, match="root keys must stay offline"):
        repo.rotate("timestamp", RoleKeys.of(keys.root[0]))


def test_layout_store_offline(tmp_path: Path, keys: Keys) -> None:
    store = OciLayoutMetadataStore(tmp_path / "layout")
    repo = make_repo(store, keys, bin_bits=2)
    repo.sign_tag("v1", manifest(1))
    pins = RootPins(tmp_path / "trust")
    pins.pin(store.location, initial_root(store))
    pinned = pins.load(store.location)
    assert pinned is not None
    assert root_summary(pinned).startswith("root v1 sha256:")
    found = resolve_tag(store, "v1", trusted_root=pinned, cache_dir=tmp_path / "cache")
    assert found.digest == Digest.of(manifest(1))
    with pytest.raises(InputError, match="already has another pinned root"):
        pins.pin(store.location, store.get("1.root.json") + b" ")  # type: ignore[operator]
