"""A summary of a TUF repository for ``trust status``: roles, keys, thresholds, versions, expiry.

What this module does not do: load hash bins (their versions come from the snapshot; their
expiry is only checked by ``refresh``), or judge anything beyond "expires before a date".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dockwright.trust._tuf_state import TOP_LEVEL, RepositoryState

__all__ = ["RoleStatus", "TrustStatus", "repository_status"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleStatus:
    """One role: who delegates it, its keys and threshold, its version and expiry.

    ``paths`` are the delegation patterns (``tags/v*``); ``bins`` counts the hash bins the role
    spreads its targets over, whose lowest and highest versions are ``bin_versions``.
    """

    name: str
    delegator: str
    keyids: tuple[str, ...]
    threshold: int
    version: int
    expires: datetime
    paths: tuple[str, ...] = ()
    bins: int = 0
    bin_versions: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustStatus:
    """Every role of one repository, top-level roles first, then delegations in order."""

    location: str
    consistent_snapshot: bool
    roles: tuple[RoleStatus, ...]

    def role(self, name: str) -> RoleStatus:
        """The status of role ``name``.

        Raises:
            KeyError: no such role.
        """
        for role in self.roles:
            if role.name == name:
                return role
        raise KeyError(name)

    def roles_of_key(self, keyid: str) -> list[str]:
        """The roles that list ``keyid``."""
        return [r.name for r in self.roles if keyid in r.keyids]

    def expiring(self, before: datetime) -> list[str]:
        """Roles whose metadata expires before ``before`` (hash bins not included)."""
        return [r.name for r in self.roles if r.expires < before]

    def lines(self) -> list[str]:
        """A plain-text table, one role a line."""
        out = [f"{self.location}  (consistent snapshots: {'yes' if self.consistent_snapshot else 'no'})"]
        for r in self.roles:
            keys = ", ".join(k[:12] for k in r.keyids)
            extra = f"  paths {' '.join(r.paths)}" if r.paths else ""
            if r.bins:
                low, high = r.bin_versions or (0, 0)
                extra += f"  {r.bins} bins (v{low}..v{high})"
            out.append(
                f"{r.name:<10} v{r.version:<5} expires {r.expires:%Y-%m-%d %H:%M}Z  "
                f"{r.threshold} of [{keys}] (by {r.delegator}){extra}"
            )
        return out


def repository_status(state: RepositoryState) -> TrustStatus:
    """Summarize ``state`` (loads the top-level roles and each delegated role, not the bins)."""
    roles = []
    for name in (*TOP_LEVEL, *state.children("targets")):
        signed = state.metadata(name).signed
        keyids, threshold = state.role_of(name)
        paths: tuple[str, ...] = ()
        if name not in TOP_LEVEL:
            entry = state.targets("targets").signed.delegations
            assert entry is not None and entry.roles is not None
            paths = tuple(entry.roles[name].paths or ())
        bins, versions = _bins(state, name)
        roles.append(
            RoleStatus(
                name=name,
                delegator=state.parent(name),
                keyids=tuple(keyids),
                threshold=threshold,
                version=signed.version,
                expires=signed.expires,
                paths=paths,
                bins=bins,
                bin_versions=versions,
            )
        )
    return TrustStatus(
        location=state.where,
        consistent_snapshot=bool(state.root.signed.consistent_snapshot),
        roles=tuple(roles),
    )


def _bins(state: RepositoryState, name: str) -> tuple[int, tuple[int, int] | None]:
    if name in ("root", "snapshot", "timestamp"):
        return 0, None
    delegations = state.targets(name).signed.delegations
    succinct = delegations.succinct_roles if delegations else None
    if succinct is None:
        return 0, None
    meta = state.snapshot.signed.meta
    versions = [meta[f"{b}.json"].version for b in succinct.get_roles() if f"{b}.json" in meta]
    return succinct.number_of_bins, (min(versions), max(versions)) if versions else None
