"""The client side: resolve a tag to the manifest digest its TUF metadata signs, with python-tuf.

:class:`TrustClient` runs the stock ``tuf.ngclient.Updater`` (the TUF 1.0 client workflow:
root rotation, timestamp, snapshot, targets, delegations, hash bins) over a
:class:`~dockwright.trust.fetcher.StoreFetcher`, so the metadata may live in a registry
repository or an OCI layout. Its trust anchor is a root the *caller* hands in: pinned locally
(:class:`RootPins`, ``~/.config/dockwright/trust/<registry>/<repository>/root.json``) after the
user confirmed it once, or given explicitly; it is never taken silently from the registry.
Verified metadata is cached per repository (``~/.cache/dockwright/tuf/...``), which bounds a
warm verification to ``timestamp.json`` plus whatever changed.

Failures map to :mod:`~dockwright.trust._tuf_errors` classes named after the TUF attack they
stop: expired metadata -> :class:`FreezeAttackError`, older versions -> :class:`RollbackAttackError`,
too few signatures -> :class:`TrustSignatureError`, oversized files -> :class:`EndlessDataError`,
files from different states -> :class:`MixAndMatchError`, no target -> :class:`TagNotSignedError`.

What this module does not do: fetch or verify the manifest itself (compare it with
:meth:`TrustedTarget.check`), download targets through TUF, or decide policy (thresholds the
caller requires are checked by ``verify`` using :attr:`TrustedTarget.roles`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib import parse

from tuf.api.exceptions import DownloadError, RepositoryError
from tuf.api.metadata import Metadata, Root, Targets
from tuf.ngclient import Updater, UpdaterConfig

from dockwright.errors import DigestMismatchError, InputError
from dockwright.fsutil import atomic_write_bytes
from dockwright.oci.digest import Digest
from dockwright.trust._tuf_errors import TagNotSignedError, TrustDataMissingError, TrustError, map_tuf_error
from dockwright.trust._tuf_names import tag_target
from dockwright.trust.fetcher import METADATA_BASE_URL, FetchStats, StoreFetcher
from dockwright.trust.metadata_store import MetadataStore

__all__ = [
    "RootPins",
    "TrustClient",
    "TrustedTarget",
    "default_cache_dir",
    "default_trust_dir",
    "initial_root",
    "resolve_tag",
    "root_summary",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedTarget:
    """What the verified metadata says a tag (or another target) names.

    Attributes:
        tag: the tag (or, for other targets, the target path).
        digest: the sha256 the target was signed for (for a tag: the manifest's OCI digest).
        size: the signed length in bytes.
        pinned: digests of the attestations signed together with the tag, or None when none were.
        roles: role name -> valid signatures it carried, for each role on the path to the target
            (``root``, ``timestamp``, ``snapshot``, ``targets``, delegated roles, the hash bin).
        media_type: the manifest media type recorded at signing, if any.
        path: the TUF target path (``tags/<tag>``).
    """

    tag: str
    digest: Digest
    size: int | None
    pinned: frozenset[Digest] | None = None
    roles: Mapping[str, int] = field(default_factory=dict)
    media_type: str | None = None
    path: str = ""

    def check(self, data: bytes) -> None:
        """Check manifest bytes against the signed length and digest.

        Raises:
            DigestMismatchError: other bytes than were signed (the tag was moved).
        """
        if len(data) != self.size or Digest.of(data) != self.digest:
            raise DigestMismatchError(
                f"{self.tag} is signed for {self.digest} ({self.size} bytes), "
                f"not {Digest.of(data)} ({len(data)} bytes)"
            )


def _location_path(location: str) -> Path:
    """A relative directory for a store location: ``host:port/repo`` as is, others hashed."""
    if location.startswith("oci:") or "/" not in location or ".." in location:
        return Path("local") / hashlib.sha256(location.encode()).hexdigest()[:24]
    return Path(*location.split("/"))


def default_trust_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/dockwright/trust`` (``~/.config/dockwright/trust``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dockwright" / "trust"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/dockwright/tuf`` (``~/.cache/dockwright/tuf``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dockwright" / "tuf"


def _parse_root(data: bytes, where: str) -> Metadata[Root]:
    try:
        md: Metadata[Any] = Metadata.from_bytes(data)
        if not isinstance(md.signed, Root):
            raise TrustError(f"{where} is {md.signed.type} metadata, not a root")
        md.signed.verify_delegate("root", md.signed_bytes, md.signatures)
    except RepositoryError as exc:
        raise map_tuf_error(exc, where) from None
    return md


def root_summary(root: bytes) -> str:
    """One line to compare out of band before pinning: version, sha256, root key ids, threshold."""
    md = _parse_root(root, "root")
    role = md.signed.roles["root"]
    keys = ", ".join(sorted(k[:16] for k in role.keyids))
    return (
        f"root v{md.signed.version} sha256:{hashlib.sha256(root).hexdigest()} "
        f"signed by {role.threshold} of [{keys}]"
    )


def initial_root(store: MetadataStore) -> bytes:
    """Read ``1.root.json`` from ``store`` for a first-use pin (show :func:`root_summary` first).

    Raises:
        TrustDataMissingError: the store has no TUF repository.
        TrustError: the root is malformed or not signed by its own threshold.
    """
    data = store.get("1.root.json")
    if data is None:
        raise TrustDataMissingError(f"{store.location} has no TUF metadata (no 1.root.json)")
    _parse_root(data, f"{store.location} 1.root.json")
    return data


class RootPins:
    """Pinned roots, one per repository, under a directory (see :func:`default_trust_dir`)."""

    def __init__(self, directory: Path | None = None) -> None:
        """Use ``directory`` (default: the user's trust directory)."""
        self.directory = directory or default_trust_dir()

    def path(self, location: str) -> Path:
        """Where the pin of ``location`` (``host:port/repo`` or ``oci:PATH``) is kept."""
        return self.directory / _location_path(location) / "root.json"

    def load(self, location: str) -> bytes | None:
        """The pinned root of ``location``, or None when none is pinned."""
        try:
            return self.path(location).read_bytes()
        except FileNotFoundError:
            return None

    def pin(self, location: str, root: bytes, *, replace: bool = False) -> Path:
        """Pin ``root`` for ``location`` (after the user compared :func:`root_summary`).

        Raises:
            InputError: another root is pinned and ``replace`` is false.
            TrustError: ``root`` is not a root signed by its own threshold.
        """
        _parse_root(root, "the root to pin")
        path = self.path(location)
        current = self.load(location)
        if current is not None and current != root and not replace:
            raise InputError(
                f"{location} already has another pinned root ({path})",
                hint="a changed root is normal only after a root key rotation; compare it out of band",
            )
        atomic_write_bytes(path, root, mode=0o644)
        return path


class TrustClient:
    """Resolve tags of one repository through TUF; one metadata refresh per client."""

    def __init__(
        self,
        store: MetadataStore,
        *,
        trusted_root: bytes,
        cache_dir: Path | None = None,
        config: UpdaterConfig | None = None,
    ) -> None:
        """Load the trusted root; nothing is fetched until the first lookup.

        Args:
            store: where the repository's metadata lives.
            trusted_root: the pinned root (any version of this repository's root).
            cache_dir: the base cache directory (default :func:`default_cache_dir`); this
                repository's verified metadata is kept in a subdirectory.
            config: python-tuf limits (lengths, rotations, delegations).

        Raises:
            TrustError: ``trusted_root`` is malformed or not signed by its own threshold.
        """
        self._where = store.location
        base = cache_dir or default_cache_dir()
        self._dir = base / _location_path(store.location)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._fetcher = StoreFetcher(store)
        try:
            self._updater = Updater(
                str(self._dir),
                METADATA_BASE_URL,
                fetcher=self._fetcher,
                config=config,
                bootstrap=trusted_root,
            )
        except (RepositoryError, DownloadError) as exc:
            raise map_tuf_error(exc, f"{self._where} (pinned root)") from None

    @property
    def stats(self) -> FetchStats:
        """Metadata files read from the store so far, and their bytes."""
        return self._fetcher.stats

    def target(self, path: str) -> TrustedTarget | None:
        """The verified target at ``path`` (``tags/<tag>``, ``attestations/...``), or None.

        Raises:
            TrustError: the metadata failed verification (the subclass names the attack).
            NetworkError: the store could not be read.
        """
        try:
            info = self._updater.get_targetinfo(path)
            roles = self._roles(path) if info is not None else {}
        except (RepositoryError, DownloadError) as exc:
            raise map_tuf_error(exc, self._where) from None
        if info is None:
            return None
        sha256 = info.hashes.get("sha256")
        if sha256 is None:
            raise TrustError(f"{self._where}: target {path} is signed without a sha256 hash")
        custom = info.custom if isinstance(info.custom, dict) else {}
        attestations = custom.get("attestations")
        pinned = frozenset(Digest.parse(d) for d in attestations) if isinstance(attestations, list) else None
        media_type = custom.get("mediaType")
        return TrustedTarget(
            tag=path.removeprefix("tags/"),
            digest=Digest(algorithm="sha256", hex=sha256),
            size=info.length,
            pinned=pinned,
            roles=roles,
            media_type=media_type if isinstance(media_type, str) else None,
            path=path,
        )

    def tag(self, tag: str) -> TrustedTarget:
        """The verified target of ``tag``.

        Raises:
            TagNotSignedError: the metadata verifies but holds no such tag.
            TrustError: the metadata failed verification.
            NetworkError: the store could not be read.
        """
        found = self.target(tag_target(tag))
        if found is None:
            raise TagNotSignedError(f"{self._where}: tag {tag} is not signed")
        return found

    def _roles(self, path: str) -> dict[str, int]:
        """Valid signatures per role on the path to ``path``, from the files just verified."""

        def read(role: str) -> Metadata[Any]:
            return Metadata.from_bytes((self._dir / f"{parse.quote(role, '')}.json").read_bytes())

        def count(delegator: Root | Targets, role: str, md: Metadata[Any]) -> int:
            return len(delegator.get_verification_result(role, md.signed_bytes, md.signatures).signed)

        root = read("root")
        counts = {r: count(root.signed, r, read(r)) for r in ("root", "timestamp", "snapshot", "targets")}
        current: Metadata[Targets] = read("targets")
        while current.signed.delegations is not None:
            child = next(current.signed.delegations.get_roles_for_target(path), None)
            if child is None:
                break
            md = read(child[0])
            counts[child[0]] = count(current.signed, child[0], md)
            current = md
        return counts


def resolve_tag(
    store: MetadataStore,
    tag: str,
    *,
    trusted_root: bytes,
    cache_dir: Path | None = None,
    config: UpdaterConfig | None = None,
) -> TrustedTarget:
    """Resolve one tag (see :class:`TrustClient`, :meth:`TrustClient.tag`).

    Raises:
        TagNotSignedError: no such signed tag.
        TrustError: the metadata failed verification.
        NetworkError: the store could not be read.
    """
    return TrustClient(store, trusted_root=trusted_root, cache_dir=cache_dir, config=config).tag(tag)
