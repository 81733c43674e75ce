"""``dockwright.lock``: the exact package set a spec resolved to, as JSON.

The lock pins every .deb by pool path, size and sha256 (taken from a Packages index whose hash was
checked against a signed InRelease), and records the digest of each InRelease used and of the spec.
A locked build needs nothing else from the network than the .deb files themselves, and each is
checked against the sha256 recorded here.

This module only reads, writes and compares locks; it does not resolve (see
:mod:`dockwright.debian.resolver`) or download (see :mod:`dockwright.net.download`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dockwright.build.spec import Spec
from dockwright.errors import LockError
from dockwright.fsutil import atomic_write_bytes

__all__ = ["LOCK_VERSION", "Lock", "LockedPackage", "LockedRepository", "read_lock", "write_lock"]

LOCK_VERSION = 1
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPackage:
    """One pinned .deb."""

    name: str
    version: str
    architecture: str
    source: str
    source_version: str
    filename: str
    size: int
    sha256: str
    suite: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (camelCase keys)."""
        d = asdict(self)
        d["sourceVersion"] = d.pop("source_version")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LockedPackage:
        """Validate and build from the JSON form."""
        try:
            pkg = cls(
                name=str(d["name"]),
                version=str(d["version"]),
                architecture=str(d["architecture"]),
                source=str(d["source"]),
                source_version=str(d["sourceVersion"]),
                filename=str(d["filename"]),
                size=int(d["size"]),
                sha256=str(d["sha256"]),
                suite=str(d["suite"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LockError(f"malformed package entry in the lock: {exc!r} in {d!r}") from None
        if not _SHA256_RE.match(pkg.sha256):
            raise LockError(f"package {pkg.name}: sha256 {pkg.sha256!r} is not 64 hex digits")
        if pkg.filename.startswith("/") or ".." in pkg.filename.split("/"):
            raise LockError(f"package {pkg.name}: pool path {pkg.filename!r} is not a relative path")
        return pkg


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedRepository:
    """One verified InRelease the resolution used."""

    uri: str
    suite: str
    components: tuple[str, ...]
    inrelease_sha256: str
    date: str
    origin: str = ""
    codename: str = ""
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "uri": self.uri,
            "suite": self.suite,
            "components": list(self.components),
            "inRelease": self.inrelease_sha256,
            "date": self.date,
            "origin": self.origin,
            "codename": self.codename,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LockedRepository:
        """Validate and build from the JSON form."""
        try:
            return cls(
                uri=str(d["uri"]),
                suite=str(d["suite"]),
                components=tuple(str(c) for c in d["components"]),
                inrelease_sha256=str(d["inRelease"]),
                date=str(d["date"]),
                origin=str(d.get("origin", "")),
                codename=str(d.get("codename", "")),
                version=str(d.get("version", "")),
            )
        except (KeyError, TypeError) as exc:
            raise LockError(f"malformed repository entry in the lock: {exc!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Lock:
    """A whole lock file."""

    name: str
    architecture: str
    spec_sha256: str
    inputs: str
    timestamp: int
    repositories: tuple[LockedRepository, ...]
    packages: tuple[LockedPackage, ...]

    def is_fresh_for(self, spec: Spec) -> bool:
        """True when ``spec`` asks for the same resolution this lock answers."""
        return self.inputs == spec.resolution_inputs() and self.architecture == spec.architectures[0]

    def to_bytes(self) -> bytes:
        """Stable JSON (sorted keys, two-space indent, trailing newline)."""
        doc = {
            "lockVersion": LOCK_VERSION,
            "name": self.name,
            "architecture": self.architecture,
            "spec": {"sha256": self.spec_sha256, "inputs": self.inputs},
            "timestamp": self.timestamp,
            "repositories": [r.to_dict() for r in self.repositories],
            "packages": [p.to_dict() for p in sorted(self.packages, key=lambda p: p.name)],
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, path: str = "dockwright.lock") -> Lock:
        """Parse and validate lock JSON."""
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LockError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("lockVersion") != LOCK_VERSION:
            raise LockError(f"{path}: not a dockwright lock of version {LOCK_VERSION}")
        try:
            return cls(
                name=str(doc["name"]),
                architecture=str(doc["architecture"]),
                spec_sha256=str(doc["spec"]["sha256"]),
                inputs=str(doc["spec"]["inputs"]),
                timestamp=int(doc["timestamp"]),
                repositories=tuple(LockedRepository.from_dict(r) for r in doc["repositories"]),
                packages=tuple(LockedPackage.from_dict(p) for p in doc["packages"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LockError(f"{path}: malformed lock: missing or bad {exc}") from None


def read_lock(path: Path) -> Lock:
    """Read the lock at ``path``; a missing file raises :class:`LockError`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LockError(f"{path}: no lock file") from None
    return Lock.from_bytes(data, path=str(path))


def write_lock(lock: Lock, path: Path) -> None:
    """Write ``lock`` atomically (temp file, fsync, rename)."""
    atomic_write_bytes(path, lock.to_bytes())
