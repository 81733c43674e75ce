"""The distroless-style dpkg database: status.d stanzas and md5sums."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest

from dockwright.build.dpkgdb import compute_md5sums, status_stanza, write_package_db
from dockwright.build.extract import extract_deb
from dockwright.debian.deb import DebControl, parse_control_fields, read_control
from dockwright.errors import UnsafeArchiveError
from dockwright.fs.tree import EntryType, FileTree
from tests.unit.test_deb import build_deb, craft_deb, member


def _control(raw: str, md5sums: bytes | None = None) -> DebControl:
    return DebControl(raw=raw, fields=parse_control_fields(raw), md5sums=md5sums)


def test_status_is_inserted_after_package() -> None:
    raw = "Package: zlib1g\nSource: zlib\nVersion: 1:1.2.13\nDescription: x\n more\n"
    assert status_stanza(_control(raw)) == (
        "Package: zlib1g\nStatus: install ok installed\nSource: zlib\nVersion: 1:1.2.13\nDescription: x\n more\n"
    )


def test_status_replaces_a_shipped_status_and_needs_package() -> None:
    text = status_stanza(_control("Status: purge ok not-installed\nPackage: a\nVersion: 1\n"))
    assert text == "Package: a\nStatus: install ok installed\nVersion: 1\n"
    with pytest.raises(UnsafeArchiveError, match=r"^control file has no Package field$"):
        status_stanza(DebControl(raw="Version: 1\n", fields={"Version": "1"}))


def test_shipped_md5sums_are_kept_verbatim(tmp_path: Path) -> None:
    deb = build_deb(
        tmp_path, "libz", {"usr/lib/libz.so.1": b"z"}, control_files={"md5sums": "ffff  usr/lib/libz.so.1\n"}
    )
    tree = FileTree()
    installed = extract_deb(deb, tree, package="libz")
    written = write_package_db(tree, read_control(deb), installed)
    assert written == ["var/lib/dpkg/status.d/libz", "var/lib/dpkg/status.d/libz.md5sums"]
    md5 = tree.get("var/lib/dpkg/status.d/libz.md5sums")
    status = tree.get("var/lib/dpkg/status.d/libz")
    assert md5 is not None and md5.data == b"ffff  usr/lib/libz.so.1\n"
    assert status is not None and status.data.startswith(
        b"Package: libz\nStatus: install ok installed\nVersion: 1.0\n"
    )
    for entry in (md5, status):
        assert (entry.type, entry.mode, entry.uid, entry.gid, entry.origin) == (
            EntryType.FILE,
            0o644,
            0,
            0,
            "dockwright",
        )


def test_md5sums_are_computed_when_absent(tmp_path: Path) -> None:
    deb = craft_deb(
        tmp_path / "p.deb",
        [
            member("./", kind=tarfile.DIRTYPE),
            member("./usr/bin/b", b"bee"),
            member("./usr/bin/a", b"ay"),
            member("./usr/bin/h", kind=tarfile.LNKTYPE, link="./usr/bin/a"),
            member("./usr/bin/s", kind=tarfile.SYMTYPE, link="a"),
        ],
        control="Package: evil\nVersion: 1\n",
    )
    tree = FileTree()
    installed = extract_deb(deb, tree, package="evil")
    write_package_db(tree, read_control(deb), installed)
    md5 = tree.get("var/lib/dpkg/status.d/evil.md5sums")
    a, b = (hashlib.md5(x).hexdigest() for x in (b"ay", b"bee"))
    assert md5 is not None and md5.data.decode() == f"{a}  usr/bin/a\n{b}  usr/bin/b\n{a}  usr/bin/h\n"


def test_md5sums_match_dpkg_deb_contents(tmp_path: Path) -> None:
    files = {"usr/share/z/x": b"x" * 10, "usr/share/a b": b"space", "etc/c": b"c"}
    deb = build_deb(tmp_path, "p", files)
    tree = FileTree()
    sums = compute_md5sums(tree, extract_deb(deb, tree, package="p")).decode().splitlines()
    assert sums == [f"{hashlib.md5(files[p]).hexdigest()}  {p}" for p in sorted(files)]


@pytest.mark.parametrize("name", ["../../etc/passwd", "UPPER", "a/b", ""])
def test_hostile_package_names_never_become_paths(name: str) -> None:
    with pytest.raises(UnsafeArchiveError, match=r"refusing member control: invalid package name$"):
        write_package_db(FileTree(), _control(f"Package: {name}\nVersion: 1\n"), [])
