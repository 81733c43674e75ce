"""os-release is written from the lock's signed Release fields, and never over a package's own."""

from __future__ import annotations

from dockwright.build.lock import LockedRepository
from dockwright.build.osrelease import os_release_text, write_os_release
from dockwright.fs.tree import Entry, EntryType, FileTree


def _repo(origin: str = "Debian", version: str = "12.15", codename: str = "bookworm") -> LockedRepository:
    return LockedRepository(
        uri="http://127.0.0.1/debian", suite=codename, components=("main",), inrelease_sha256="sha256:" + "0" * 64,
        date="Sat, 11 Jul 2026 10:16:37 UTC", origin=origin, codename=codename, version=version,
    )  # fmt: skip


def test_debian_release_fields_become_os_release() -> None:
    text = os_release_text([_repo()])
    assert text is not None
    fields = dict(line.split("=", 1) for line in text.splitlines())
    assert fields["ID"] == "debian"
    assert fields["VERSION_ID"] == '"12"'
    assert fields["VERSION_CODENAME"] == "bookworm"
    assert fields["PRETTY_NAME"] == '"Debian GNU/Linux 12 (bookworm)"'


def test_unknown_origin_or_missing_version_writes_nothing() -> None:
    assert os_release_text([_repo(origin="Example")]) is None
    assert os_release_text([_repo(version="")]) is None
    tree = FileTree()
    assert write_os_release(tree, [_repo(origin="Example")]) is False
    assert tree.get("etc/os-release") is None


def test_written_as_distroless_does_and_never_over_a_package() -> None:
    tree = FileTree()
    assert write_os_release(tree, [_repo()]) is True
    link = tree.get("etc/os-release")
    assert link is not None and link.type is EntryType.SYMLINK and link.target == "../usr/lib/os-release"
    shipped = FileTree()
    shipped.add(
        Entry(path="usr/lib/os-release", type=EntryType.FILE, data=b"ID=debian\n", origin="base-files")
    )
    assert write_os_release(shipped, [_repo()]) is False
    entry = shipped.get("usr/lib/os-release")
    assert entry is not None and entry.data == b"ID=debian\n"
