"""The lock file: round trip, freshness against the spec, and refusal of malformed locks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockwright.build.lock import Lock, LockedPackage, LockedRepository, read_lock, write_lock
from dockwright.build.spec import parse_spec
from dockwright.errors import LockError


def _lock(spec_text: str = "name: x\npackages: [bash]\n") -> Lock:
    spec = parse_spec(spec_text)
    return Lock(
        name=spec.name,
        architecture="amd64",
        spec_sha256=spec.sha256,
        inputs=spec.resolution_inputs(),
        timestamp=1700000000,
        repositories=(
            LockedRepository(
                uri="http://127.0.0.1/debian",
                suite="stable",
                components=("main",),
                inrelease_sha256="sha256:" + "a" * 64,
                date="Sat, 01 Jan 2000 00:00:00 UTC",
            ),
        ),
        packages=(
            LockedPackage(
                name="zlib1g",
                version="1:1.2",
                architecture="amd64",
                source="zlib",
                source_version="1:1.2",
                filename="pool/main/z/zlib/zlib1g.deb",
                size=10,
                sha256="b" * 64,
                suite="stable",
            ),
            LockedPackage(
                name="bash",
                version="5.2",
                architecture="amd64",
                source="bash",
                source_version="5.2",
                filename="pool/main/b/bash/bash.deb",
                size=20,
                sha256="c" * 64,
                suite="stable",
            ),
        ),
    )


def test_round_trip_is_stable_and_sorted(tmp_path: Path) -> None:
    lock = _lock()
    write_lock(lock, tmp_path / "dockwright.lock")
    again = read_lock(tmp_path / "dockwright.lock")
    assert again.to_bytes() == lock.to_bytes()
    names = [p["name"] for p in json.loads(lock.to_bytes())["packages"]]
    assert names == ["bash", "zlib1g"]
    assert list(tmp_path.iterdir()) == [tmp_path / "dockwright.lock"]


def test_freshness_follows_resolution_inputs() -> None:
    lock = _lock()
    assert lock.is_fresh_for(parse_spec("name: x\npackages: [bash]\nentrypoint: [/bin/bash]\n"))
    assert not lock.is_fresh_for(parse_spec("name: x\npackages: [bash, curl]\n"))


def test_missing_lock(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="no lock file"):
        read_lock(tmp_path / "dockwright.lock")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(lockVersion=9), "not a dockwright lock of version 1"),
        (lambda d: d["packages"][0].update(sha256="zz"), "sha256 'zz' is not 64 hex digits"),
        (lambda d: d["packages"][0].update(filename="../../etc/passwd"), "is not a relative path"),
        (lambda d: d.pop("timestamp"), "malformed lock: missing or bad 'timestamp'"),
    ],
)
def test_malformed_locks_are_refused(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(_lock().to_bytes())
    mutate(doc)
    with pytest.raises(LockError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Lock.from_bytes(json.dumps(doc).encode())
