"""The RPM cataloger: header blobs, the sqlite rpmdb (synthetic and built by rpm), BDB/NDB warnings."""

from __future__ import annotations

import random
import shutil
import sqlite3
import struct
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from dockwright.inspect.catalog import rpm
from dockwright.inspect.catalog.rpmheader import HeaderError, Tag, parse_header
from dockwright.inspect.model import Package, Warning_
from tests.unit.catalog_support import DIR, make_contents

FEDORA_40 = {"ID": "fedora", "VERSION_ID": "40"}
DB = "var/lib/rpm/rpmdb.sqlite"

_Value = str | int | list[int] | list[str]


def encode_header(tags: Mapping[int, _Value], *, int16: Sequence[int] = ()) -> bytes:
    """Encode an rpm header blob (no magic) the way rpm stores it in rpmdb.sqlite."""
    index, data = b"", b""
    for tag, value in sorted(tags.items()):
        if isinstance(value, str):
            kind, count, payload = 6, 1, value.encode() + b"\0"
        elif isinstance(value, int):
            data += b"\0" * (-len(data) % 4)
            kind, count, payload = 4, 1, struct.pack(">I", value)
        elif tag in int16:
            data += b"\0" * (-len(data) % 2)
            kind, count, payload = 3, len(value), struct.pack(f">{len(value)}H", *value)
        elif value and isinstance(value[0], int):
            data += b"\0" * (-len(data) % 4)
            kind, count, payload = 4, len(value), struct.pack(f">{len(value)}I", *value)
        else:
            kind, count, payload = 8, len(value), b"".join(str(v).encode() + b"\0" for v in value)
        index += struct.pack(">IIiI", tag, kind, len(data), count)
        data += payload
    return struct.pack(">II", len(tags), len(data)) + index + data


BASH_TAGS: dict[int, _Value] = {
    Tag.NAME: "bash",
    Tag.VERSION: "5.2.26",
    Tag.RELEASE: "3.fc40",
    Tag.EPOCH: 1,
    Tag.ARCH: "x86_64",
    Tag.LICENSE: "GPL-3.0-or-later",
    Tag.SOURCERPM: "bash-5.2.26-3.fc40.src.rpm",
    Tag.SIZE: 8_000_000,
    Tag.VENDOR: "Fedora Project",
    Tag.DIRNAMES: ["/usr/bin/", "/usr/share/doc/"],
    Tag.BASENAMES: ["bash", "sh", "bash"],
    Tag.DIRINDEXES: [0, 0, 1],
    Tag.FILEMODES: [0o100755, 0o120777, 0o040755],
}
TZDATA_TAGS: dict[int, _Value] = {
    Tag.NAME: "tzdata",
    Tag.VERSION: "2024a",
    Tag.RELEASE: "5.fc40",
    Tag.ARCH: "noarch",
    Tag.LICENSE: "LicenseRef-Fedora-Public-Domain",
    Tag.SOURCERPM: "tzdata-2024a-5.fc40.src.rpm",
    Tag.SIZE: 1000,
}


def sqlite_rpmdb(tmp_path: Path, blobs: Sequence[object]) -> bytes:
    """An rpmdb.sqlite with rpm's Packages schema holding ``blobs``."""
    path = tmp_path / f"rpmdb-{len(list(tmp_path.iterdir()))}.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)")
    connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    connection.commit()
    connection.close()
    return path.read_bytes()


def _header(tags: Mapping[int, _Value]) -> bytes:
    return encode_header(tags, int16=[Tag.FILEMODES])


def _catalog(layers: Sequence[Mapping[str, object]], warnings: list[Warning_] | None = None) -> list[Package]:
    sink: list[Warning_] = [] if warnings is None else warnings
    packages = rpm.catalog(make_contents(layers, os_release=FEDORA_40), sink)
    if warnings is None:
        assert sink == []
    return packages


def test_header_parser_reads_every_type() -> None:
    header = parse_header(_header(BASH_TAGS))
    assert header.problems == ()
    assert header.string(Tag.NAME) == "bash"
    assert header.integer(Tag.EPOCH) == 1
    assert header.strings(Tag.BASENAMES) == ("bash", "sh", "bash")
    assert header.integers(Tag.FILEMODES) == (0o100755, 0o120777, 0o040755)
    assert header.integer(Tag.LONGSIZE) is None
    assert header.string(Tag.DIRINDEXES) == ""


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\0\0\0", "a header needs at least 8 bytes, got 3"),
        (struct.pack(">II", 2, 0), "header claims 40 bytes, the blob has 8"),
        (struct.pack(">II", 0x10000, 0), "header claims 65536 entries and 0 data bytes: beyond rpm's limits"),
    ],
)
def test_header_parser_refuses_blobs_that_overflow(blob: bytes, message: str) -> None:
    with pytest.raises(HeaderError) as caught:
        parse_header(blob)
    assert str(caught.value) == message


def test_header_parser_skips_bad_entries_and_keeps_the_rest() -> None:
    good = _header({Tag.NAME: "x", Tag.VERSION: "1"})
    il, dl = struct.unpack_from(">II", good)
    bad_entries = [
        struct.pack(">IIiI", Tag.LICENSE, 6, dl + 5, 1),  # offset beyond the data store
        struct.pack(">IIiI", Tag.SIZE, 4, dl - 2, 1),  # an int32 that runs past the end
        struct.pack(">IIiI", Tag.ARCH, 6, -1, 1),  # negative offset
        struct.pack(">IIiI", Tag.BASENAMES, 8, 0, 1000),  # more strings than bytes
        struct.pack(">IIiI", 1234, 77, 0, 1),  # unknown type
    ]
    entries = good[8 : 8 + 16 * il] + b"".join(bad_entries)
    blob = struct.pack(">II", il + len(bad_entries), dl) + entries + good[8 + 16 * il :]
    header = parse_header(blob)
    assert header.string(Tag.NAME) == "x"
    assert header.problems == (
        f"entry 2 (tag 1014, type 6): offset {dl + 5} or count 1 outside the {dl}-byte data store",
        "entry 3 (tag 1009, type 4): 1 values of 4 bytes run past the data store",
        f"entry 4 (tag 1022, type 6): offset -1 or count 1 outside the {dl}-byte data store",
        f"entry 5 (tag 1117, type 8): offset 0 or count 1000 outside the {dl}-byte data store",
        "entry 6 (tag 1234, type 77): unknown type 77",
    )


def test_sqlite_rpmdb_packages_with_syft_purls(tmp_path: Path) -> None:
    db = sqlite_rpmdb(tmp_path, [_header(BASH_TAGS), _header(TZDATA_TAGS)])
    layer = {DB: db, "usr": DIR, "usr/bin": DIR, "usr/bin/bash": b"ELF", "usr/share/doc/bash": DIR}
    bash, tzdata = _catalog([layer])
    # syft v1.18.1 syft/pkg/cataloger/redhat/package.go: version [epoch:]version-release; PURL version
    # version-release, qualifiers arch, epoch, upstream=<source rpm>, distro=ID-VERSION_ID, sorted.
    assert bash.version == "1:5.2.26-3.fc40"
    assert bash.purl == (
        "pkg:rpm/fedora/bash@5.2.26-3.fc40?arch=x86_64&distro=fedora-40&epoch=1&upstream=bash-5.2.26-3.fc40.src.rpm"
    )
    assert tzdata.version == "2024a-5.fc40"
    assert tzdata.purl == (
        "pkg:rpm/fedora/tzdata@2024a-5.fc40?arch=noarch&distro=fedora-40&upstream=tzdata-2024a-5.fc40.src.rpm"
    )
    assert bash.files == ("usr/bin/bash", "usr/bin/sh")  # the doc directory is no file
    assert (bash.source, bash.licenses, bash.size, bash.architecture) == (
        "bash",
        ("GPL-3.0-or-later",),
        8_000_000,
        "x86_64",
    )
    assert bash.metadata == {
        "size_from": "installed-size",
        "release": "3.fc40",
        "sourcerpm": "bash-5.2.26-3.fc40.src.rpm",
        "vendor": "Fedora Project",
    }
    assert bash.location == DB


def test_rhel_namespace_is_redhat(tmp_path: Path) -> None:
    db = sqlite_rpmdb(tmp_path, [_header(TZDATA_TAGS)])
    contents = make_contents(
        [{"usr/lib/sysimage/rpm/rpmdb.sqlite": db}], os_release={"ID": "rhel", "VERSION_ID": "9.4"}
    )
    (tzdata,) = rpm.catalog(contents, [])
    assert tzdata.purl == (
        "pkg:rpm/redhat/tzdata@2024a-5.fc40?arch=noarch&distro=rhel-9.4&upstream=tzdata-2024a-5.fc40.src.rpm"
    )


def test_layers_of_rpm_packages(tmp_path: Path) -> None:
    bash2 = {**BASH_TAGS, Tag.RELEASE: "4.fc40"}
    layers = [
        {DB: sqlite_rpmdb(tmp_path, [_header(BASH_TAGS)])},
        {DB: sqlite_rpmdb(tmp_path, [_header(BASH_TAGS), _header(TZDATA_TAGS)])},
        {DB: sqlite_rpmdb(tmp_path, [_header(TZDATA_TAGS), _header(bash2)])},
    ]
    packages = {p.name: p for p in _catalog(layers)}
    assert (packages["bash"].layer_added, packages["bash"].layer_changed) == (0, 2)
    assert (packages["tzdata"].layer_added, packages["tzdata"].layer_changed) == (1, 1)


def test_malformed_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    no_name = _header({Tag.VERSION: "1"})
    db = sqlite_rpmdb(tmp_path, [b"\0\0", _header(TZDATA_TAGS), no_name, "text, not a blob"])
    warnings: list[Warning_] = []
    assert [p.name for p in _catalog([{DB: db}], warnings)] == ["tzdata"]
    assert [(w.code, w.message) for w in warnings] == [
        ("rpm-header-malformed", f"{DB}: package row 1: a header needs at least 8 bytes, got 2"),
        ("rpm-header-malformed", f"{DB}: package row 3: no NAME or VERSION tag"),
        ("rpm-header-malformed", f"{DB}: package row 4: the blob column holds no bytes"),
    ]


def test_a_file_that_is_no_sqlite_database_is_reported() -> None:
    warnings: list[Warning_] = []
    assert _catalog([{DB: b"not a database" * 100}], warnings) == []
    assert [w.code for w in warnings] == ["rpmdb-unreadable"]
    assert warnings[0].message.startswith(f"{DB}: not a readable sqlite rpmdb (")


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        (
            "var/lib/rpm/Packages",
            "rpm-bdb-unsupported",
            "found an RPM Berkeley DB database at var/lib/rpm/Packages; it is not read",
        ),
        (
            "usr/lib/sysimage/rpm/Packages.db",
            "rpm-ndb-unsupported",
            "found an RPM NDB database at usr/lib/sysimage/rpm/Packages.db; it is not read",
        ),
    ],
)
def test_berkeley_and_ndb_databases_are_reported_not_read(path: str, code: str, message: str) -> None:
    warnings: list[Warning_] = []
    assert _catalog([{path: b"\x00\x06\x15\x61" * 64}], warnings) == []
    assert warnings == [Warning_(code=code, message=message, path=path)]


def test_wanted_paths() -> None:
    assert rpm.wanted("var/lib/rpm/rpmdb.sqlite")
    assert rpm.wanted("usr/lib/sysimage/rpm/rpmdb.sqlite-wal")
    assert not rpm.wanted("var/lib/rpm/Packages")  # only its presence matters
    assert not rpm.wanted("var/lib/rpm/rpmdb.sqlite-shm")


SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: test package
License: MIT AND Apache-2.0
BuildArch: noarch
%description
A test package for dockwright.
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {version} > %{{buildroot}}/usr/share/{name}/greeting
%files
%dir /usr/share/{name}
/usr/share/{name}/greeting
"""


def _rpmbuild(top: Path, name: str, version: str, release: str, epoch: str = "") -> Path:
    spec = top / f"{name}-{version}.spec"
    spec.write_text(
        SPEC.format(name=name, version=version, release=release, epoch=f"Epoch: {epoch}\n" if epoch else "")
    )
    subprocess.run(
        ["rpmbuild", "--define", f"_topdir {top}", "--define", "_build_id_links none", "-bb", str(spec)],
        check=True,
        capture_output=True,
    )
    return top / "RPMS" / "noarch" / f"{name}-{version}-{release}.noarch.rpm"


def _rpm(dbpath: Path, *args: str) -> None:
    subprocess.run(
        ["rpm", "--dbpath", str(dbpath), *args, "--nodeps", "--justdb", "--ignoreos"],
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(
    shutil.which("rpmbuild") is None or shutil.which("rpm") is None,
    reason="needs rpm and rpmbuild (Debian package 'rpm') to build a real sqlite rpmdb",
)
def test_a_real_sqlite_rpmdb_built_by_rpm(tmp_path: Path) -> None:
    check = subprocess.run(["rpm", "--eval", "%_db_backend"], capture_output=True, text=True, check=True)
    if check.stdout.strip() != "sqlite":
        pytest.skip(f"rpm's default database backend is {check.stdout.strip()!r}, not sqlite")
    top, dbpath = tmp_path / "top", tmp_path / "db"
    top.mkdir()
    hello1 = _rpmbuild(top, "hello-dw", "1.2", "3", epoch="2")
    hello2 = _rpmbuild(top, "hello-dw", "1.3", "1", epoch="2")
    other = _rpmbuild(top, "other-dw", "0.1", "1")
    subprocess.run(["rpm", "--dbpath", str(dbpath), "--initdb"], check=True, capture_output=True)
    versions = []
    for args in (["-i", str(hello1)], ["-i", str(other)], ["-U", str(hello2)]):
        _rpm(dbpath, *args)
        versions.append((dbpath / "rpmdb.sqlite").read_bytes())
        # rpm checkpoints its WAL on close; an image holds the database as rpm left it
        assert not (dbpath / "rpmdb.sqlite-wal").exists() or (dbpath / "rpmdb.sqlite-wal").stat().st_size == 0
    greeting: dict[str, object] = {"usr/share/hello-dw": DIR, "usr/share/hello-dw/greeting": b"1.3\n"}
    layers: list[dict[str, object]] = [{DB: versions[0]}, {DB: versions[1]}, {DB: versions[2], **greeting}]
    packages = {p.name: p for p in _catalog(layers)}
    hello = packages["hello-dw"]
    assert hello.version == "2:1.3-1"
    assert hello.purl == (
        "pkg:rpm/fedora/hello-dw@1.3-1?arch=noarch&distro=fedora-40&epoch=2&upstream=hello-dw-1.3-1.src.rpm"
    )
    assert hello.licenses == ("MIT AND Apache-2.0",)
    assert hello.files == ("usr/share/hello-dw/greeting",)
    assert hello.size == 4
    assert hello.source == "hello-dw"
    assert (hello.layer_added, hello.layer_changed) == (0, 2)
    assert (packages["other-dw"].layer_added, packages["other-dw"].layer_changed) == (1, 1)
    assert packages["other-dw"].purl == (
        "pkg:rpm/fedora/other-dw@0.1-1?arch=noarch&distro=fedora-40&upstream=other-dw-0.1-1.src.rpm"
    )


def test_header_parser_survives_random_corruption() -> None:
    good = _header(BASH_TAGS)
    rng = random.Random(20240611)
    for _ in range(2000):
        blob = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        blob = blob[: rng.randint(0, len(blob))] if rng.random() < 0.2 else blob
        try:
            header = parse_header(bytes(blob))
        except HeaderError:
            continue
        header.strings(Tag.BASENAMES), header.integers(Tag.DIRINDEXES), header.string(Tag.NAME)
