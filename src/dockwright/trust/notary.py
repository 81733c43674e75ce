"""Import the signed tags of a Notary v1 (Docker Content Trust) repository, verified, into dockwright.

A notary-server serves a repository's (a GUN's) metadata over HTTP at
``/v2/<gun>/_trust/tuf/<role>.json``: ``root``, ``timestamp``, ``snapshot``, ``targets`` and
delegations such as ``targets/releases``. It is a TUF dialect python-tuf cannot parse, so this
module verifies it itself:

* signed bytes are the Go canonical JSON of ``signed`` (sorted keys, no whitespace, Go's string
  escaping: ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, ``\\b`` and ``\\f`` as ``\\u00XX``);
* key ids are the sha256 of a key's canonical JSON (checked for every key used);
* keys: ``ed25519`` (raw 32 bytes), ``ecdsa`` and ``rsa`` (DER SubjectPublicKeyInfo), and the root's
  ``ecdsa-x509`` / ``rsa-x509`` (a PEM certificate whose public key signs; it must be valid now,
  and its common name must be the GUN, as notary requires);
* signature methods: ``ecdsa`` (raw ``r||s`` over sha256), ``eddsa``, ``rsapss`` (sha256, salt
  length = hash length) and ``rsapkcs1v15`` (sha256); RSA keys under 2048 bits are refused;
* hashes are base64; ``timestamp`` pins ``snapshot``, ``snapshot`` pins ``root``, ``targets``
  and each delegation by length and sha256 (and sha512 when given); every role needs a
  threshold of distinct valid signatures and must not be expired;
* delegations (``targets/<name>``) only count for the target names under their ``paths``
  prefixes; a tag is taken, as Docker does, from ``targets/releases`` first, then ``targets``,
  then any other delegation in delegation order.

The root is the trust anchor and is never taken silently from the server: the caller pins it by
the sha256 of ``root.json`` (printed on first use), by the root certificate (which must be a
root-role key that signed the root), or explicitly trusts it on first use.

:func:`import_notary` re-signs the verified tags (name -> length and sha256, the manifest digest)
into a :class:`~dockwright.trust.repository.TrustRepository`; any verification failure raises a
:class:`~dockwright.trust._tuf_errors.TrustError` (exit 5) before anything is signed.

What this module does not do: remember metadata versions between runs (each import verifies one
consistent state from the pinned root; rollback across runs is not detected), fetch manifests,
talk to a notary-signer, or write Notary metadata.

This module fetches the metadata and follows the chain from the root to the delegations; the
dialect's cryptography (canonical JSON, key ids, keys, signatures) is in
:mod:`dockwright.trust.notary_keys` and the per-document checks (shape, threshold, expiry,
pinned hashes) in :mod:`dockwright.trust._notary_metadata`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib import parse

import httpx

from dockwright.errors import InputError, NetworkError
from dockwright.oci.digest import Digest
from dockwright.trust._notary_metadata import (
    RoleSpec,
    check_expiry,
    check_meta,
    check_signatures,
    parse_document,
    role_spec,
)
from dockwright.trust._tuf_errors import (
    EndlessDataError,
    TrustDataMissingError,
    TrustError,
    TrustSignatureError,
)
from dockwright.trust._tuf_names import tag_target
from dockwright.trust.notary_keys import (
    PublicKey,
    canonical_json,
    decode_base64,
    load_keys,
    notary_key_id,
    pinned_cert_keyids,
)
from dockwright.trust.repository import TrustRepository

__all__ = [
    "NotaryTag",
    "NotaryTrustData",
    "canonical_json",
    "import_notary",
    "notary_key_id",
    "read_notary",
]

MAX_ROOT_BYTES = 1 << 20
MAX_TIMESTAMP_BYTES = 1 << 20
MAX_DELEGATION_DEPTH = 8
RELEASES_ROLE = "targets/releases"
_GUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}")
_ROLE_NAME = re.compile(r"targets(/[A-Za-z0-9_.-]+)+")


@dataclass(frozen=True, slots=True, kw_only=True)
class NotaryTag:
    """A verified tag: the manifest digest and length it is signed for, and the role that signed it."""

    tag: str
    digest: Digest
    size: int
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NotaryTrustData:
    """What :func:`read_notary` verified.

    Attributes:
        gun: the Notary repository name.
        root_sha256: sha256 (hex) of the ``root.json`` bytes that anchored the verification.
        tags: verified tags by name, the first role in Docker's order winning.
        skipped: target name -> why it is not importable as a tag (not a valid tag name, ...).
        bytes_fetched: metadata bytes downloaded.
    """

    gun: str
    root_sha256: str
    tags: Mapping[str, NotaryTag]
    skipped: Mapping[str, str] = field(default_factory=dict)
    bytes_fetched: int = 0


# --- fetching -------------------------------------------------------------------------------------


class _Server:
    def __init__(self, client: httpx.Client, base: str, gun: str) -> None:
        self._client = client
        self._base = f"{base.rstrip('/')}/v2/{parse.quote(gun)}/_trust/tuf/"
        self.bytes_fetched = 0

    def get(self, role: str, limit: int) -> bytes:
        url = self._base + parse.quote(role) + ".json"
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code == 404:
                    raise TrustDataMissingError(f"the notary server has no {role}.json", role=role)
                if response.status_code != 200:
                    raise NetworkError(f"GET {url}: HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    self.bytes_fetched += len(chunk)
                    if size > limit:
                        raise EndlessDataError(
                            f"{role}.json is larger than the {limit} bytes allowed", role=role
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise NetworkError(f"GET {url}: {exc}") from None
        return b"".join(chunks)


# --- verification ---------------------------------------------------------------------------------


def _verify_root(
    data: bytes,
    gun: str,
    now: datetime,
    *,
    trusted_root_sha256: str | None,
    root_cert: bytes | None,
) -> dict[str, Any]:
    actual = hashlib.sha256(data).hexdigest()
    if trusted_root_sha256 is not None and actual != trusted_root_sha256.lower().removeprefix("sha256:"):
        raise TrustSignatureError(
            f"root.json has sha256 {actual}, not the pinned {trusted_root_sha256}",
            role="root",
            hint="the Notary root changed (rotated, or replaced by an attacker): confirm the new root "
            "out of band before pinning it",
        )
    root = parse_document(data, "root", "Root")
    roles = root["signed"].get("roles")
    if not isinstance(roles, Mapping):
        raise TrustError("root.json names no roles", role="root")
    spec = role_spec(roles.get("root"), "root")
    keys = load_keys(root["signed"].get("keys"), spec.keyids, gun, now, "root")
    signed_by = check_signatures(root, "root", spec, keys)
    if root_cert is not None and not pinned_cert_keyids(root_cert, keys) & signed_by:
        raise TrustSignatureError("root.json is not signed by the pinned root certificate's key", role="root")
    check_expiry(root, "root", now)
    return root


def _delegation_paths(entry: Mapping[str, Any], role: str) -> tuple[str, ...]:
    paths = entry.get("paths")
    if entry.get("path_hash_prefixes"):
        return ()  # hash-prefix delegations hold no tag names we can check: ignore them
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise TrustError(f"delegation {role} has malformed paths", role=role)
    return tuple(paths)


@dataclass
class _Walk:
    server: _Server
    snapshot_meta: Mapping[str, Any]
    gun: str
    now: datetime
    found: dict[str, list[tuple[str, Mapping[str, Any]]]] = field(default_factory=dict)
    visited: set[str] = field(default_factory=set)

    def targets(
        self,
        role: str,
        spec: RoleSpec,
        keys: Mapping[str, tuple[str, PublicKey, bytes]],
        paths: tuple[str, ...] | None,
        depth: int,
    ) -> None:
        if role in self.visited or depth > MAX_DELEGATION_DEPTH:
            return
        self.visited.add(role)
        meta = self.snapshot_meta.get(role)
        if meta is None:
            if role == "targets":
                raise TrustError("snapshot does not pin targets", role="targets")
            return  # a delegation never published: it signs nothing
        length = meta.get("length") if isinstance(meta, Mapping) else None
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise TrustError(f"snapshot pins {role} without a length", role=role)
        data = self.server.get(role, length)
        check_meta(data, meta, role, "snapshot")
        document = parse_document(data, role, "Targets")
        check_signatures(document, role, spec, keys)
        check_expiry(document, role, self.now)
        signed = document["signed"]
        entries = signed.get("targets", {})
        if not isinstance(entries, Mapping):
            raise TrustError(f"{role} has malformed targets", role=role)
        for name, target in entries.items():
            if paths is None or any(name.startswith(p) for p in paths):
                self.found.setdefault(name, []).append((role, target))
        delegations = signed.get("delegations")
        if not delegations:
            return
        if not isinstance(delegations, Mapping) or not isinstance(delegations.get("roles", []), list):
            raise TrustError(f"{role} has malformed delegations", role=role)
        for entry in delegations.get("roles") or []:
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if not isinstance(name, str) or not _ROLE_NAME.fullmatch(name) or not name.startswith(role + "/"):
                raise TrustError(f"{role} delegates to a malformed role {name!r}", role=role)
            child = role_spec(entry, name)
            child_keys = load_keys(delegations.get("keys", {}), child.keyids, None, self.now, role)
            child_paths = _delegation_paths(entry, name)
            if paths is not None:
                child_paths = tuple(p for p in child_paths if any(p.startswith(q) for q in paths))
            self.targets(name, child, child_keys, child_paths, depth + 1)


def _priority(role: str) -> int:
    """Docker's order: ``targets/releases``, then ``targets``, then other delegations."""
    return 0 if role == RELEASES_ROLE else 1 if role == "targets" else 2


def read_notary(
    server_url: str,
    gun: str,
    *,
    trusted_root_sha256: str | None = None,
    root_cert: bytes | None = None,
    trust_on_first_use: bool = False,
    transport: httpx.BaseTransport | None = None,
    verify: bool | str = True,
    timeout: float = 60,
    now: datetime | None = None,
) -> NotaryTrustData:
    """Fetch and verify a Notary repository's metadata; return its signed tags.

    Args:
        server_url: the notary-server, ``https://host:port`` (``http://`` for loopback tests).
        gun: the repository's globally unique name, e.g. ``registry.example/team/app``.
        trusted_root_sha256: the pinned sha256 (hex) of ``root.json``.
        root_cert: a pinned root certificate (PEM or DER): a root-role key that signed the root.
        trust_on_first_use: accept the server's root without a pin (report ``root_sha256``!).
        transport, verify, timeout: for the ``httpx`` client (a CA file path for ``verify``).
        now: the time expiries are checked against (tests move it).

    Raises:
        InputError: no pin given and ``trust_on_first_use`` not set, or a bad GUN.
        TrustError: any verification failure (exit 5).
        NetworkError: the server could not be reached or answered an error.
    """
    if not _GUN.fullmatch(gun) or ".." in gun.split("/"):
        raise InputError(f"invalid Notary repository name {gun!r}")
    if trusted_root_sha256 is None and root_cert is None and not trust_on_first_use:
        raise InputError(
            "no trusted root given for the Notary repository",
            hint="pin it with its root certificate or root.json sha256, or trust it on first use",
        )
    moment = now or datetime.now(UTC)
    with httpx.Client(transport=transport, verify=verify, timeout=timeout) as client:
        server = _Server(client, server_url, gun)
        root_bytes = server.get("root", MAX_ROOT_BYTES)
        root = _verify_root(
            root_bytes, gun, moment, trusted_root_sha256=trusted_root_sha256, root_cert=root_cert
        )
        roles = root["signed"]["roles"]
        root_keys = root["signed"].get("keys")

        def top(role: str) -> tuple[RoleSpec, dict[str, tuple[str, PublicKey, bytes]]]:
            spec = role_spec(roles.get(role), role)
            return spec, load_keys(root_keys, spec.keyids, gun, moment, "root")

        timestamp = parse_document(server.get("timestamp", MAX_TIMESTAMP_BYTES), "timestamp", "Timestamp")
        check_signatures(timestamp, "timestamp", *top("timestamp"))
        check_expiry(timestamp, "timestamp", moment)
        ts_meta = timestamp["signed"].get("meta")
        snapshot_pin = ts_meta.get("snapshot") if isinstance(ts_meta, Mapping) else None
        length = snapshot_pin.get("length") if isinstance(snapshot_pin, Mapping) else None
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise TrustError("timestamp does not pin the snapshot's length", role="timestamp")
        snapshot_bytes = server.get("snapshot", length)
        check_meta(snapshot_bytes, snapshot_pin, "snapshot", "timestamp")
        snapshot = parse_document(snapshot_bytes, "snapshot", "Snapshot")
        check_signatures(snapshot, "snapshot", *top("snapshot"))
        check_expiry(snapshot, "snapshot", moment)
        snapshot_meta = snapshot["signed"].get("meta")
        if not isinstance(snapshot_meta, Mapping):
            raise TrustError("snapshot pins nothing", role="snapshot")
        if "root" in snapshot_meta:
            check_meta(root_bytes, snapshot_meta["root"], "root", "snapshot")
        walk = _Walk(server, snapshot_meta, gun, moment)
        walk.targets("targets", *top("targets"), None, 0)
        fetched = server.bytes_fetched

    tags: dict[str, NotaryTag] = {}
    skipped: dict[str, str] = {}
    for name, candidates in walk.found.items():
        role, target = min(candidates, key=lambda c: _priority(c[0]))
        try:
            tag_target(name)
        except InputError as exc:
            skipped[name] = exc.message
            continue
        tags[name] = _tag(name, role, target)
    return NotaryTrustData(
        gun=gun,
        root_sha256=hashlib.sha256(root_bytes).hexdigest(),
        tags=dict(sorted(tags.items())),
        skipped=skipped,
        bytes_fetched=fetched,
    )


def _tag(name: str, role: str, target: object) -> NotaryTag:
    if not isinstance(target, Mapping) or not isinstance(target.get("hashes"), Mapping):
        raise TrustError(f"target {name!r} in {role} is malformed", role=role)
    size = target.get("length")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise TrustError(f"target {name!r} in {role} has no length", role=role)
    raw = decode_base64(target["hashes"].get("sha256"), f"the sha256 of target {name!r}")
    if len(raw) != 32:
        raise TrustError(f"target {name!r} in {role} has a malformed sha256", role=role)
    return NotaryTag(tag=name, digest=Digest(algorithm="sha256", hex=raw.hex()), size=size, role=role)


def import_notary(
    server_url: str,
    gun: str,
    repo: TrustRepository,
    *,
    trusted_root_sha256: str | None,
    root_cert: bytes | None = None,
    trust_on_first_use: bool = False,
    tags: Sequence[str] | None = None,
    report: Callable[[NotaryTrustData], None] | None = None,
    transport: httpx.BaseTransport | None = None,
    verify: bool | str = True,
    now: datetime | None = None,
) -> list[NotaryTag]:
    """Verify a Notary repository's tags (see :func:`read_notary`) and sign them into ``repo``.

    Args:
        tags: only these tags (each must be signed in Notary); None imports every tag.
        report: called with the verified data before anything is signed (the CLI prints the
            root's sha256 from it).
        the rest: see :func:`read_notary`.

    Returns:
        The imported tags, by name.

    Raises:
        TrustError: verification failed; nothing was signed.
        InputError: a requested tag is not signed in Notary (or is no valid tag), no pin, or
            ``repo`` lacks the signers for the roles the tags land in.
    """
    data = read_notary(
        server_url,
        gun,
        trusted_root_sha256=trusted_root_sha256,
        root_cert=root_cert,
        trust_on_first_use=trust_on_first_use,
        transport=transport,
        verify=verify,
        now=now,
    )
    if report is not None:
        report(data)
    if tags is None:
        chosen = list(data.tags.values())
    else:
        missing = [t for t in tags if t not in data.tags]
        if missing:
            why = "; ".join(f"{t}: {data.skipped.get(t, 'not signed in Notary')}" for t in missing)
            raise InputError(f"cannot import from {gun}: {why}")
        chosen = [data.tags[t] for t in dict.fromkeys(tags)]
    if chosen:
        repo.sign_tags({t.tag: (t.size, t.digest.hex) for t in chosen})
    return chosen
