"""The library side of the trust commands: open a repository's trust data, load keys, pin roots.

Every ``dockwright trust ...``, ``sign`` and ``verify`` command is one function here over a
:class:`TrustLocation` (the image repository or OCI layout whose ``tuf-*`` tags hold the TUF
metadata) and signers loaded by :func:`load_signers`; the CLI (:mod:`dockwright.cli.trust_cmds`)
only parses flags and prints. Locations are written ``docker://HOST[:PORT]/REPO[:TAG]`` or
``oci:DIR[:TAG]``.

A key is named by a path to a ``.key`` file (its ``.pub`` sibling is used when present),
``env:VARIABLE``, or a securesystemslib signer URI; the public key of a URI is appended after a
``#``: ``gcpkms:projects/...#keys/targets.pub``.

Roots are pinned per location (:class:`~dockwright.trust.client.RootPins`): on first use from
``--trusted-root FILE`` or, without it, from the repository itself (trust on first use, announced);
a pinned root is never replaced silently (:func:`pinned_root`).

What this module does not do: print (messages go through the ``announce`` callback), prompt for
passphrases (they come from ``$DOCKWRIGHT_KEY_PASSPHRASE`` or the caller's callback), or verify
images itself (see :mod:`dockwright.trust.verify`; signing is in :mod:`dockwright.trust.signing`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from securesystemslib.signer import Signer

from dockwright.errors import InputError
from dockwright.trust._tuf_edit import RoleKeys
from dockwright.trust._tuf_status import TrustStatus
from dockwright.trust.client import RootPins, TrustClient, TrustedTarget, initial_root, root_summary
from dockwright.trust.keys import Passphrase, create_key, load_signer
from dockwright.trust.location import ClientConnector, TrustLocation, copy_trust_metadata, open_location
from dockwright.trust.repository import TrustRepository

if TYPE_CHECKING:
    pass

__all__ = [
    "ClientConnector",
    "InitKeys",
    "TrustLocation",
    "copy_trust_metadata",
    "init_repository",
    "load_signers",
    "open_location",
    "pinned_root",
    "status_dict",
    "trust_resolver",
]

Announce = Callable[[str], None]
_PUB_SEPARATOR = "#"


def load_signers(
    specs: Iterable[str], keys_dir: Path | None = None, *, passphrase: Passphrase = None
) -> list[Signer]:
    """Load every signer named in ``specs`` and every ``*.key`` file of ``keys_dir``.

    Raises:
        InputError: a key cannot be read or decrypted.
    """
    named = list(specs)
    if keys_dir is not None:
        if not keys_dir.is_dir():
            raise InputError(f"the keys directory {keys_dir} does not exist")
        named += [str(p) for p in sorted(keys_dir.glob("*.key"))]
    signers: dict[str, Signer] = {}
    for spec in named:
        signer = load_key(spec, passphrase=passphrase)
        signers[signer.public_key.keyid] = signer
    return list(signers.values())


def load_key(spec: str, *, passphrase: Passphrase = None) -> Signer:
    """Load one signer: a ``.key`` path, ``env:VAR`` or a URI, with ``#PUBFILE`` when needed.

    Raises:
        InputError: the key cannot be read, decrypted, or matched with its public key.
    """
    reference, sep, public = spec.rpartition(_PUB_SEPARATOR)
    if not sep:
        reference, public = spec, ""
    return load_signer(reference, public_key=Path(public) if public else None, passphrase=passphrase)


@dataclass(frozen=True, slots=True, kw_only=True)
class InitKeys:
    """The keys ``trust init`` was given (specs as for :func:`load_key`); missing ones are generated."""

    root: tuple[str, ...] = ()
    root_threshold: int | None = None
    targets: str | None = None
    snapshot: str | None = None
    timestamp: str | None = None
    bins: str | None = None
    keys_dir: Path | None = None
    generated_root_keys: int = 3
    bin_bits: int = 8


def _role_signers(
    keys: InitKeys, role: str, spec: str | None, count: int, announce: Announce
) -> list[Signer]:
    if spec is not None:
        return [load_key(spec)]
    if keys.keys_dir is None:
        raise InputError(
            f"no key for role {role}", hint=f"pass --{role}-key FILE, or --keys-dir DIR to generate"
        )
    names = [role] if count == 1 else [f"{role}-{i}" for i in range(1, count + 1)]
    signers = []
    for name in names:
        files = create_key(keys.keys_dir, name, passphrase=None)
        announce(f"generated {files.private} (key id {files.keyid[:16]})")
        signers.append(load_key(str(files.private)))
    return signers


def init_repository(location: TrustLocation, keys: InitKeys, announce: Announce) -> list[str]:
    """Create the TUF repository of ``location`` (see :meth:`TrustRepository.init`).

    Root keys are those given, else ``generated_root_keys`` new ones in ``keys_dir``; online
    keys likewise (``bins`` shares the targets key when neither is given nor generated).

    Returns:
        The metadata files written.

    Raises:
        InputError: an existing repository, missing or unreadable keys, a bad threshold.
    """
    if location.store.get("1.root.json") is not None:
        raise InputError(f"{location.store.location} already has a TUF repository")
    roots = [load_key(s) for s in keys.root] or _role_signers(
        keys, "root", None, max(keys.generated_root_keys, keys.root_threshold or 1), announce
    )
    threshold = keys.root_threshold or min(2, len(roots))
    online = {
        role: _role_signers(keys, role, spec, 1, announce)[0]
        for role, spec in (
            ("targets", keys.targets),
            ("snapshot", keys.snapshot),
            ("timestamp", keys.timestamp),
        )
    }
    bins = None
    if keys.bins is not None or keys.keys_dir is not None:
        bins = _role_signers(keys, "bins", keys.bins, 1, announce)[0]
    repo = TrustRepository(location.store, [*roots, *online.values(), *([bins] if bins else [])])
    return repo.init(
        root=RoleKeys.of(*roots, threshold=threshold),
        targets=RoleKeys.of(online["targets"]),
        snapshot=RoleKeys.of(online["snapshot"]),
        timestamp=RoleKeys.of(online["timestamp"]),
        bins=RoleKeys.of(bins) if bins else None,
        bin_bits=keys.bin_bits,
    )


def pinned_root(
    location: TrustLocation,
    announce: Announce,
    *,
    trusted_root: Path | None = None,
    pins: RootPins | None = None,
) -> bytes:
    """The root this machine trusts for ``location``, pinning it on first use.

    With ``trusted_root`` the file is pinned (or must equal the pin); without it, an existing pin
    is used, else the repository's ``1.root.json`` is pinned and announced (trust on first use).

    Raises:
        InputError: ``trusted_root`` differs from the root pinned already (never re-pinned).
        TrustError: the root is malformed or not signed by its own threshold.
        TrustDataMissingError: the repository has no trust data.
    """
    pins = pins or RootPins()
    where = location.store.location
    current = pins.load(where)
    if trusted_root is not None:
        try:
            given = trusted_root.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the trusted root {trusted_root}: {exc.strerror}") from None
        if current is not None and current != given:
            raise InputError(
                f"{trusted_root} is not the root pinned for {where} ({pins.path(where)}); "
                "a pinned root is never replaced silently",
                hint="if the root changed legitimately, compare it out of band, then delete the pin file",
            )
        if current is None:
            path = pins.pin(where, given)
            announce(f"pinned the root of {where} from {trusted_root}: {root_summary(given)} ({path})")
        return given
    if current is not None:
        return current
    root = initial_root(location.store)
    path = pins.pin(where, root)
    announce(
        f"trust on first use: pinned the root of {where}: {root_summary(root)} ({path}); "
        "compare it with the repository's owners"
    )
    return root


def trust_resolver(
    location: TrustLocation, root: bytes, cache_dir: Path | None = None
) -> Callable[[str], TrustedTarget]:
    """A ``resolve(tag)`` over one :class:`TrustClient` (for ``verify_image``)."""
    client = TrustClient(location.store, trusted_root=root, cache_dir=cache_dir)
    return client.tag


def status_dict(status: TrustStatus) -> dict[str, Any]:
    """The ``trust status --json`` form."""
    return {
        "location": status.location,
        "consistentSnapshot": status.consistent_snapshot,
        "roles": [
            {
                "name": r.name,
                "delegator": r.delegator,
                "keyids": list(r.keyids),
                "threshold": r.threshold,
                "version": r.version,
                "expires": r.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "paths": list(r.paths),
                "bins": r.bins,
            }
            for r in status.roles
        ],
    }


def refresh_repository(repo: TrustRepository, within: timedelta) -> list[str]:
    """Re-sign the roles expiring within ``within`` whose keys are loaded, and the timestamp."""
    return [*repo.refresh(within=within), *repo.refresh_timestamp()]
