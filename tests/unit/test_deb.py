"""Reading .deb files: the ar container, control members, data streaming and bomb limits.

The helpers at the top (``build_deb``, ``craft_deb``, ``tar_bytes``, ``member``) are shared with
the other build tests: ``build_deb`` uses the real ``dpkg-deb --build --root-owner-group``;
``craft_deb`` writes the ar container and tarballs by hand so hostile archives can be made.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import zstandard

from dockwright.debian.deb import ExtractLimits, iter_data, parse_control_fields, read_control
from dockwright.errors import UnsafeArchiveError

Files = Mapping[str, "bytes | tuple[str, str]"]


def build_deb(
    tmp_path: Path,
    name: str,
    files: Files,
    *,
    version: str = "1.0",
    extra: str = "",
    compression: str = "xz",
    control_files: dict[str, str] | None = None,
    modes: dict[str, int] | None = None,
) -> Path:
    """Build a real .deb with dpkg-deb: ``files`` maps paths to bytes or ``("symlink", target)``."""
    root = tmp_path / f"{name}-root"
    (root / "DEBIAN").mkdir(parents=True)
    control = f"Package: {name}\nVersion: {version}\nArchitecture: amd64\nMaintainer: t <t@example.org>\n"
    control += extra + f"Description: test package {name}\n a test package\n"
    (root / "DEBIAN" / "control").write_text(control)
    for leaf, text in (control_files or {}).items():
        (root / "DEBIAN" / leaf).write_text(text)
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            target.symlink_to(content[1])
        else:
            target.write_bytes(content)
            target.chmod(0o644)
    for path, mode in (modes or {}).items():
        (root / path.lstrip("/")).chmod(mode)
    out = tmp_path / f"{name}_{version}_amd64.deb"
    cmd = ["dpkg-deb", "--build", "--root-owner-group", f"-Z{compression}", str(root), str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def member(
    name: str,
    data: bytes = b"",
    *,
    kind: bytes = tarfile.REGTYPE,
    link: str = "",
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    uname: str = "root",
    gname: str = "root",
) -> tuple[tarfile.TarInfo, bytes]:
    """A tar member for ``tar_bytes``."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = mode
    info.uid, info.gid, info.uname, info.gname = uid, gid, uname, gname
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    return info, data


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """An uncompressed GNU tar stream holding ``members`` in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.size else None)
    return buf.getvalue()


def compress(data: bytes, suffix: str) -> bytes:
    """Compress ``data`` for a ``*.tar<suffix>`` member name."""
    table: dict[str, Callable[[bytes], bytes]] = {
        "": lambda d: d,
        ".gz": gzip.compress,
        ".xz": lzma.compress,
        ".bz2": bz2.compress,
        ".zst": zstandard.ZstdCompressor().compress,
    }
    return table[suffix](data)


def ar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    """An ar archive (the .deb container) holding ``members`` in order."""
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n"
        out += header.encode() + data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


CONTROL = "Package: evil\nVersion: 1\nArchitecture: amd64\nDescription: x\n"


def craft_deb(
    path: Path,
    data_members: list[tuple[tarfile.TarInfo, bytes]],
    *,
    data_suffix: str = ".xz",
    control: str = CONTROL,
    data_tar: bytes | None = None,
) -> Path:
    """Write a hand-made .deb (any member names and types) at ``path``."""
    control_tar = tar_bytes([member("./control", control.encode())])
    data = data_tar if data_tar is not None else compress(tar_bytes(data_members), data_suffix)
    path.write_bytes(
        ar_bytes(
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", gzip.compress(control_tar)),
                (f"data.tar{data_suffix}", data),
            ]
        )
    )
    return path


# --------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_read_control_and_data_of_real_dpkg_deb(tmp_path: Path, compression: str) -> None:
    deb = build_deb(
        tmp_path,
        "hello",
        {
            "usr/bin/hello": b"#!/bin/sh\necho hi\n",
            "etc/hello.conf": b"x=1\n",
            "usr/bin/hi": ("symlink", "hello"),
        },
        compression=compression,
        extra="Depends: libc6 (>= 2.36)\n",
        control_files={"conffiles": "/etc/hello.conf\n", "md5sums": "abc  usr/bin/hello\n"},
    )
    control = read_control(deb)
    assert control.package == "hello"
    assert control.version == "1.0"
    assert control.architecture == "amd64"
    assert control.fields["Depends"] == "libc6 (>= 2.36)"
    assert control.fields["Description"] == "test package hello\n a test package"
    assert control.raw.startswith("Package: hello\n")
    assert control.conffiles == ("/etc/hello.conf",)
    assert control.md5sums == b"abc  usr/bin/hello\n"
    members = {info.name: (info, data) for info, data in iter_data(deb)}
    assert members["./usr/bin/hello"][1] == b"#!/bin/sh\necho hi\n"
    assert members["./usr/bin/hi"][0].issym()
    assert members["./usr/bin/hi"][0].linkname == "hello"
    assert members["."][0].isdir()


def test_control_without_md5sums_or_conffiles(tmp_path: Path) -> None:
    control = read_control(build_deb(tmp_path, "plain", {"usr/share/x": b"x"}))
    assert control.md5sums is None
    assert control.conffiles == ()


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz", ".bz2", ".zst"])
def test_every_data_compression(tmp_path: Path, suffix: str) -> None:
    deb = craft_deb(tmp_path / "c.deb", [member("./a", b"hello")], data_suffix=suffix)
    assert [(i.name, d) for i, d in iter_data(deb)] == [("./a", b"hello")]


def _container(tmp_path: Path, members: list[tuple[str, bytes]]) -> Path:
    path = tmp_path / "bad.deb"
    path.write_bytes(ar_bytes(members))
    return path


GOOD_CONTROL = gzip.compress(tar_bytes([member("./control", CONTROL.encode())]))
GOOD_DATA = lzma.compress(tar_bytes([member("./a", b"a")]))


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (
            [("control.tar.gz", GOOD_CONTROL), ("debian-binary", b"2.0\n"), ("data.tar.xz", GOOD_DATA)],
            "bad.deb: not a Debian package: debian-binary is not the first member",
        ),
        (
            [("debian-binary", b"3.0\n"), ("control.tar.gz", GOOD_CONTROL), ("data.tar.xz", GOOD_DATA)],
            "bad.deb: refusing member debian-binary: unsupported format version b'3.0\\n' (expected 2.0)",
        ),
        (
            [("debian-binary", b"2.0\n"), ("data.tar.xz", GOOD_DATA), ("control.tar.gz", GOOD_CONTROL)],
            "bad.deb: not a Debian package: expected control.tar* then data.tar*, "
            "found ['data.tar.xz', 'control.tar.gz']",
        ),
        (
            [("debian-binary", b"2.0\n"), ("control.tar.gz", GOOD_CONTROL)],
            "bad.deb: not a Debian package: expected control.tar* then data.tar*, found ['control.tar.gz']",
        ),
        (
            [("debian-binary", b"2.0\n"), ("control.tar.gz", GOOD_CONTROL), ("data.tar.lz4", GOOD_DATA)],
            "bad.deb: refusing member data.tar.lz4: unknown compression",
        ),
    ],
)
def test_malformed_containers_are_refused(
    tmp_path: Path, members: list[tuple[str, bytes]], message: str
) -> None:
    deb = _container(tmp_path, members)
    with pytest.raises(UnsafeArchiveError) as err:
        read_control(deb)
        list(iter_data(deb))
    assert err.value.message == message


def test_bad_magic_and_truncated_member(tmp_path: Path) -> None:
    path = tmp_path / "x.deb"
    path.write_bytes(b"PK\x03\x04 not an ar file")
    with pytest.raises(UnsafeArchiveError, match=r"^x.deb: not a Debian package: bad ar magic$"):
        read_control(path)
    good = ar_bytes(
        [("debian-binary", b"2.0\n"), ("control.tar.gz", GOOD_CONTROL), ("data.tar.xz", GOOD_DATA)]
    )
    path.write_bytes(good[:-10])
    with pytest.raises(UnsafeArchiveError) as err:
        read_control(path)
    assert err.value.message == "x.deb: refusing member data.tar.xz: ar member runs past the end of the file"


def test_corrupt_data_is_one_clear_error(tmp_path: Path) -> None:
    deb = craft_deb(tmp_path / "c.deb", [], data_tar=b"\xfd7zXZ\x00garbage" * 10)
    with pytest.raises(
        UnsafeArchiveError, match=r"^evil: refusing member data.tar.xz: corrupt data.tar.xz: "
    ):
        list(iter_data(deb, package="evil"))


def test_package_name_in_messages(tmp_path: Path) -> None:
    deb = craft_deb(tmp_path / "c.deb", [member("./big", b"x" * 100)])
    with pytest.raises(UnsafeArchiveError) as err:
        list(iter_data(deb, package="pkg", limits=ExtractLimits(max_member_size=10)))
    assert err.value.message == "pkg: refusing member ./big: size 100 exceeds the limit of 10"


def test_too_many_members(tmp_path: Path) -> None:
    deb = craft_deb(tmp_path / "c.deb", [member(f"./f{i}", b"x") for i in range(5)])
    with pytest.raises(UnsafeArchiveError) as err:
        list(iter_data(deb, package="pkg", limits=ExtractLimits(max_members=3)))
    assert err.value.message == "pkg: refusing member ./f3: more than 3 members"


def _zero_bomb(size: int) -> bytes:
    """An xz file of a tar holding one file of ``size`` zero bytes (concatenated xz streams)."""
    info = tarfile.TarInfo("./zeros")
    info.size = size
    mib = lzma.compress(bytes(1 << 20))
    return (
        lzma.compress(info.tobuf(format=tarfile.GNU_FORMAT)) + mib * (size >> 20) + lzma.compress(bytes(1024))
    )


@pytest.fixture(scope="module")
def gib_bomb() -> bytes:
    return _zero_bomb(1 << 30)


def test_decompression_bomb_is_refused_while_streaming(tmp_path: Path, gib_bomb: bytes) -> None:
    assert len(gib_bomb) < 300_000  # 1 GiB of zeros
    deb = craft_deb(tmp_path / "bomb.deb", [], data_tar=gib_bomb)
    limits = ExtractLimits(max_total_size=8 << 20, max_member_size=2 << 30)
    with pytest.raises(UnsafeArchiveError) as err:
        list(iter_data(deb, package="bomb", limits=limits))
    assert (
        err.value.message
        == "bomb: refusing member ./zeros: data.tar.xz decompresses to more than 8388608 bytes"
    )


def test_ratio_limit(tmp_path: Path, gib_bomb: bytes) -> None:
    deb = craft_deb(tmp_path / "bomb.deb", [], data_tar=gib_bomb)
    limits = ExtractLimits(max_member_size=2 << 30, max_total_size=4 << 30, max_ratio=100)
    with pytest.raises(UnsafeArchiveError) as err:
        list(iter_data(deb, package="bomb", limits=limits))
    assert (
        err.value.message
        == "bomb: refusing member ./zeros: data.tar.xz decompresses more than 100 times its size"
    )


def test_header_size_is_not_trusted_alone(tmp_path: Path) -> None:
    """A header claiming a small size cannot smuggle more bytes: tar framing stays consistent."""
    deb = craft_deb(tmp_path / "c.deb", [member("./a", b"a" * 3000)])
    limits = ExtractLimits(max_total_size=2048)
    with pytest.raises(UnsafeArchiveError, match="decompresses to more than 2048 bytes"):
        list(iter_data(deb, package="p", limits=limits))


def test_parse_control_fields_grammar() -> None:
    text = "Package: a\nDescription: short\n long\n .\n more\n# comment\nDepends: b,\n c\n"
    assert parse_control_fields(text) == {
        "Package": "a",
        "Description": "short\n long\n .\n more",
        "Depends": "b,\n c",
    }
    with pytest.raises(UnsafeArchiveError, match=r"^control:1: continuation line before any field$"):
        parse_control_fields(" x\n")
    with pytest.raises(UnsafeArchiveError, match=r"^control:2: expected 'Field: value', got 'oops'$"):
        parse_control_fields("Package: a\noops\n")


def test_control_tarball_without_control_file(tmp_path: Path) -> None:
    path = tmp_path / "n.deb"
    control_tar = gzip.compress(tar_bytes([member("./md5sums", b"")]))
    path.write_bytes(
        ar_bytes([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar), ("data.tar.xz", GOOD_DATA)])
    )
    with pytest.raises(UnsafeArchiveError) as err:
        read_control(path, package="n")
    assert err.value.message == "n: refusing member control.tar: it has no control file"
