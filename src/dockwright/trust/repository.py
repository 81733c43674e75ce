"""The signing side of a TUF repository of image tags: init, sign, delegate, rotate, revoke.

One TUF repository per image repository, kept in a :class:`MetadataStore` (the registry
repository itself, or an OCI layout). Its shape::

    root (offline, k-of-n)  -> targets, snapshot, timestamp keys
    targets (online)        -> delegations, in order, all terminating:
        <name> (e.g. release: tags/v*)     signed by that role's keys (flat, or in hash bins)
        bins (tags/*, attestations/*/*)    every other tag, in 2**bin_bits hash bins
    bins (online)           -> bins-00 ... bins-ff (TAP 15 succinct hash bins, one key set)

A tag is the target ``tags/<tag>`` with the manifest's length and sha256 (its OCI digest); the
target's ``custom`` holds ``mediaType`` and, when attestations were signed with it,
``attestations`` (their digests). Attestations are targets ``attestations/sha256-<hex>/<kind>``
and always land in the hash bins, signed by the online bins key.

Key lifecycle: a compromised *online* key is replaced by :meth:`TrustRepository.rotate` (a new
root signed by the root threshold for top-level roles; a new ``targets`` for delegated ones)
and only the metadata that key signed is signed again: tags keep their targets. A *root* key is
replaced the same way, but the new root must carry signatures from a threshold of the old root
keys and of the new ones: with fewer old root keys than the threshold the repository cannot be
recovered, and clients must be given a new root out of band.

What this module does not do: verify for clients (see :mod:`dockwright.trust.client`), hold keys
(signers come in through the constructor), push images, or serialize concurrent writers (run one
signing job per repository at a time; a commit over a changed timestamp is refused).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from securesystemslib.signer import Signer
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Root, TargetFile, Targets

from dockwright.errors import InputError
from dockwright.trust._tuf_edit import (
    RoleKeys,
    TargetSpec,
    check_extra_target,
    key_of,
    set_role_keys,
    succinct_delegations,
    target_file,
)
from dockwright.trust._tuf_names import (
    BINS_ROLE,
    DEFAULT_PATHS,
    TAG_TARGET_PREFIX,
    check_role_name,
    family_of,
    tag_pattern_paths,
    tag_target,
)
from dockwright.trust._tuf_state import TOP_LEVEL, Expiries, RepositoryState
from dockwright.trust._tuf_status import TrustStatus, repository_status
from dockwright.trust.metadata_store import MetadataStore

__all__ = ["Expiries", "RoleKeys", "TargetSpec", "TrustRepository"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TrustRepository:
    """Edit the TUF repository kept in ``store``, signing with the signers it was given."""

    def __init__(
        self,
        store: MetadataStore,
        signers: Iterable[Signer] = (),
        *,
        expiries: Expiries | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Prepare to edit ``store``; nothing is read until the first operation.

        Args:
            store: where the metadata lives.
            signers: the private keys at hand; each role is signed by those of its keys present.
            expiries: validity periods per role.
            clock: the time metadata expiry is counted from (tests move it).
        """
        self._store = store
        self._keyring: dict[str, Signer] = {}
        for signer in signers:
            self.add_signer(signer)
        self._expiries = expiries or Expiries()
        self._clock = clock
        self._state: RepositoryState | None = None

    def add_signer(self, signer: Signer) -> None:
        """Make another private key available for signing."""
        self._keyring[signer.public_key.keyid] = signer

    def _load(self) -> RepositoryState:
        if self._state is None:
            self._state = RepositoryState.load(self._store)
        return self._state

    @contextlib.contextmanager
    def _edit(self) -> Iterator[RepositoryState]:
        state = self._load()
        try:
            yield state
        except BaseException:
            self._state = None  # half-applied edits: read the store again next time
            raise

    def _commit(self, state: RepositoryState) -> list[str]:
        return state.commit(self._keyring, self._expiries, self._clock())

    # --- init ------------------------------------------------------------------------------

    def init(
        self,
        *,
        root: RoleKeys,
        targets: RoleKeys,
        snapshot: RoleKeys,
        timestamp: RoleKeys,
        bins: RoleKeys | None = None,
        bin_bits: int = 8,
    ) -> list[str]:
        """Create the repository: root, targets delegating to ``bins``, its hash bins, snapshot, timestamp.

        Args:
            root: the offline root keys and threshold (e.g. 2 of 3).
            targets, snapshot, timestamp: the online top-level roles' keys.
            bins: the keys of the default ``bins`` role (default: the targets keys).
            bin_bits: ``2**bin_bits`` hash bins (default 256).

        Returns:
            The file names written.

        Raises:
            InputError: the store holds a repository already, a root key is also an online
                key, or too few signers are loaded for some role's threshold.
        """
        if self._store.get("1.root.json") is not None:
            raise InputError(f"{self._store.location} already has a TUF repository")
        online = {k for r in (targets, snapshot, timestamp, bins) if r for k in r.keyids}
        if online & set(root.keyids):
            raise InputError("a root key is also an online key: root keys must stay offline")
        now = self._clock()
        root_md = Metadata(Root(expires=now, consistent_snapshot=True))
        for name, role in (
            ("root", root),
            ("targets", targets),
            ("snapshot", snapshot),
            ("timestamp", timestamp),
        ):
            for key in role.keys:
                root_md.signed.add_key(key, name)
            root_md.signed.roles[name].threshold = role.threshold
        state = RepositoryState(self._store, root_md, new=True)
        state.dirty.update(("root", "snapshot", "timestamp"))
        bins = bins or targets
        paths = list(DEFAULT_PATHS)
        delegations = Delegations(
            keys={k.keyid: k for k in bins.keys},
            roles={BINS_ROLE: DelegatedRole(BINS_ROLE, bins.keyids, bins.threshold, True, paths=paths)},
        )
        state.add_role("targets", "root", Metadata(Targets(expires=now, delegations=delegations)))
        self._add_binned(state, BINS_ROLE, "targets", bins, bin_bits)
        written = self._commit(state)
        self._state = state
        return written

    def _add_binned(self, state: RepositoryState, name: str, parent: str, keys: RoleKeys, bits: int) -> None:
        now = self._clock()
        delegations = succinct_delegations(keys, bits, name) if bits else None
        state.add_role(name, parent, Metadata(Targets(expires=now, delegations=delegations)))
        for child in state.children(name) if bits else ():
            state.add_role(child, name, Metadata(Targets(expires=now)))

    # --- targets ---------------------------------------------------------------------------

    def sign_tag(
        self,
        tag: str,
        target: TargetSpec,
        *,
        role: str | None = None,
        extra_targets: Mapping[str, TargetSpec] | None = None,
    ) -> list[str]:
        """Sign ``tag`` for a manifest (and, with it, extra targets such as attestations).

        Args:
            tag: the image tag.
            target: the manifest (descriptor, bytes, or length and sha256).
            role: the delegated role that must own the tag (refused if the delegations give it
                to another role); None lets the delegations decide.
            extra_targets: more targets by path (see ``attestation_target``); their digests
                are recorded in the tag target's ``custom.attestations``.

        Returns:
            The metadata file names written (empty when nothing changed).

        Raises:
            InputError: a bad tag or path, a tag owned by another role than ``role``, or
                missing signers.
        """
        return self.sign_tags({tag: target}, role=role, extra_targets=extra_targets)

    def sign_tags(
        self,
        tags: Mapping[str, TargetSpec],
        *,
        role: str | None = None,
        extra_targets: Mapping[str, TargetSpec] | None = None,
    ) -> list[str]:
        """Sign several tags in one new snapshot (see :meth:`sign_tag`)."""
        with self._edit() as state:
            extras = {
                check_extra_target(path): target_file(path, spec)
                for path, spec in (extra_targets or {}).items()
            }
            pinned = [f"sha256:{t.hashes['sha256']}" for t in extras.values()]
            files = {
                tag_target(tag): target_file(tag_target(tag), spec, pinned) for tag, spec in tags.items()
            }
            for path, target in [*files.items(), *extras.items()]:
                chain = state.route(path)
                owner = family_of(chain[1]) if len(chain) > 1 else "targets"
                if role is not None and path in files and owner != role:
                    raise InputError(
                        f"tag {path.removeprefix(TAG_TARGET_PREFIX)} is delegated to role {owner}, not {role}"
                    )
                holder = state.targets(chain[-1]).signed
                if holder.targets.get(path) != target:
                    holder.targets[path] = target
                    state.dirty.add(chain[-1])
            return self._commit(state)

    def remove_tag(self, tag: str) -> list[str]:
        """Remove a tag's target (clients then refuse the tag as unsigned).

        Raises:
            InputError: the tag is not signed, or its role's signers are missing.
        """
        with self._edit() as state:
            path = tag_target(tag)
            holder = state.route(path)[-1]
            if state.targets(holder).signed.targets.pop(path, None) is None:
                raise InputError(f"tag {tag} is not signed in {self._store.location}")
            state.dirty.add(holder)
            return self._commit(state)

    def lookup(self, path: str) -> TargetFile | None:
        """The target at ``path`` as the repository holds it (no client-side checks)."""
        state = self._load()
        return state.targets(state.route(path)[-1]).signed.targets.get(path)

    # --- delegations and keys --------------------------------------------------------------

    def delegate(self, name: str, patterns: Sequence[str], keys: RoleKeys, *, bin_bits: int = 0) -> list[str]:
        """Delegate tags matching ``patterns`` (``v*``, ``ci-*``) to a new role ``name``.

        The role comes before ``bins`` and is terminating: only its keys can sign such tags.
        With ``bin_bits``, its targets are spread over ``2**bin_bits`` hash bins of its own.

        Raises:
            InputError: bad or taken name, bad patterns, or missing signers (targets and the role).
        """
        check_role_name(name)
        with self._edit() as state:
            top = state.targets("targets").signed
            delegations = top.delegations
            if delegations is None or delegations.roles is None:
                raise InputError(
                    f"{self._store.location}: targets delegates no roles (not made by dockwright)"
                )
            if name in delegations.roles:
                raise InputError(
                    f"role {name} exists already", hint=f"rotate its keys: dockwright trust rotate {name}"
                )
            entry = DelegatedRole(
                name, keys.keyids, keys.threshold, True, paths=tag_pattern_paths(list(patterns))
            )
            # before the catch-all bins, which would otherwise claim the tags first
            ordered = [(n, r) for n, r in delegations.roles.items() if n != BINS_ROLE] + [(name, entry)]
            ordered += [(n, r) for n, r in delegations.roles.items() if n == BINS_ROLE]
            delegations.roles = dict(ordered)
            delegations.keys.update({k.keyid: k for k in keys.keys})
            state.dirty.add("targets")
            self._add_binned(state, name, "targets", keys, bin_bits)
            return self._commit(state)

    def rotate(self, role: str, keys: RoleKeys) -> list[str]:
        """Replace all keys of ``role`` (top-level, ``bins``, or a delegated role).

        Top-level roles change in a new root, signed by a threshold of the old and of the new
        root keys; delegated roles change in ``targets``. Then only what the role signs is
        signed again with the new keys: for ``timestamp``, just the timestamp.

        Raises:
            InputError: unknown role, a hash bin (rotate its family), or missing signers.
        """
        with self._edit() as state:
            set_role_keys(state, role, keys.keys, keys.threshold)
            roots = set(state.root.signed.roles["root"].keyids)
            online = {k for r in ("targets", "snapshot", "timestamp") for k in state.role_of(r)[0]}
            if roots & online:
                raise InputError("a root key would also be an online key: root keys must stay offline")
            return self._commit(state)

    def revoke(self, keyid: str) -> list[str]:
        """Remove a key from every role that lists it, and re-sign what those roles sign.

        Raises:
            InputError: no role lists the key, or removing it leaves a role below its threshold
                (rotate a new key in first).
        """
        with self._edit() as state:
            using = [r for r in (*TOP_LEVEL, *state.children("targets")) if keyid in state.role_of(r)[0]]
            if not using:
                raise InputError(f"no role of {self._store.location} uses key {keyid}")
            for role in using:
                keyids, threshold = state.role_of(role)
                if len(keyids) - 1 < threshold:
                    raise InputError(
                        f"revoking {keyid[:12]} leaves role {role} with {len(keyids) - 1} keys, "
                        f"below its threshold {threshold}",
                        hint=f"add a new key first: dockwright trust rotate {role}",
                    )
                remaining = [key_of(state, role, k) for k in keyids if k != keyid]
                set_role_keys(state, role, remaining, threshold)
            return self._commit(state)

    # --- freshness and status --------------------------------------------------------------

    def refresh_timestamp(self) -> list[str]:
        """Sign a new timestamp (the same snapshot, a new version and expiry)."""
        with self._edit() as state:
            state.dirty.add("timestamp")
            return self._commit(state)

    def refresh(self, *, within: timedelta) -> list[str]:
        """Re-sign every role expiring within ``within`` whose signers are loaded (loads every role).

        Expiring roles without loaded signers (root, offline delegations) are left alone, so a
        job holding only the online keys keeps those fresh; :meth:`status` lists what remains.
        """
        with self._edit() as state:
            limit = self._clock() + within
            for name in ("root", "snapshot", "timestamp", *state.descendants("targets")):
                expiring = state.metadata(name).signed.expires <= limit
                if expiring and state.can_sign(name, self._keyring):
                    state.dirty.add(name)
            return self._commit(state)

    def status(self) -> TrustStatus:
        """Roles, keys, thresholds, versions and expiries (hash bins are summarized, not loaded)."""
        return repository_status(self._load())
