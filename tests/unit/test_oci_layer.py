"""Deterministic layer tars: contents, hardlink ordering, PAX, digests, and reproducibility."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from dockwright.errors import BuildConflictError, UnsafeArchiveError
from dockwright.fs.tree import Entry, EntryType, FileTree
from dockwright.oci.digest import Digest
from dockwright.oci.layer import LayerInfo, write_layer

MTIME = 1_700_000_000
F, D, L, H = EntryType.FILE, EntryType.DIR, EntryType.SYMLINK, EntryType.HARDLINK
BIG = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(3 << 15))  # 3 MiB, 3 chunks


def _tree() -> FileTree:
    tree = FileTree()
    tree.add(Entry(path="etc", type=D, mode=0o755))
    tree.add(Entry(path="etc/passwd", type=F, data=b"root:x:0:0::/root:/bin/sh\n"))
    tree.add(Entry(path="usr/bin/app", type=F, mode=0o4755, data=b"\x7fELF" * 100))
    tree.add(Entry(path="usr/bin/app-link", type=H, target="usr/bin/app"))
    tree.add(Entry(path="bin", type=L, target="usr/bin", mode=0o777))
    tree.add(Entry(path="tmp", type=D, mode=0o1777))
    tree.add(Entry(path="home/app", type=D, mode=0o700, uid=1000, gid=1001, uname="app", gname="staff"))
    tree.add(Entry(path="home/app/big", type=F, data=BIG, uid=1000, gid=1001))
    return tree


def _write(entries: list[Entry] | FileTree, **kwargs: int) -> tuple[bytes, LayerInfo]:
    out = io.BytesIO()
    items = list(entries.entries()) if isinstance(entries, FileTree) else entries
    info = write_layer(items, out, mtime=kwargs.pop("mtime", MTIME), **kwargs)
    return out.getvalue(), info


def _members(blob: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        return tar.getmembers()


def test_tar_contents_follow_the_entries() -> None:
    blob, _ = _write(_tree())
    members = {m.name: m for m in _members(blob)}
    assert list(members) == [
        "bin", "etc", "etc/passwd", "home", "home/app", "home/app/big", "tmp", "usr", "usr/bin",
        "usr/bin/app", "usr/bin/app-link",
    ]  # fmt: skip
    assert {m.mtime for m in members.values()} == {MTIME}
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    assert members["usr/bin/app"].mode == 0o4755 and members["usr/bin/app"].size == 400
    assert members["usr/bin/app-link"].islnk() and members["usr/bin/app-link"].linkname == "usr/bin/app"
    home = members["home/app"]
    assert (home.uid, home.gid, home.uname, home.gname, home.mode) == (1000, 1001, "app", "staff", 0o700)
    assert (members["etc"].uid, members["etc"].uname) == (0, "root")
    assert not any(m.pax_headers for m in members.values())


def test_raw_header_fields_are_fixed() -> None:
    blob, _ = _write([Entry(path="d", type=D, mode=0o755)])
    raw = gzip.decompress(blob)
    header = raw[:512]
    assert header[:2] == b"d/"  # directories carry a trailing slash, as tar wants
    assert header[257:265] == b"ustar\x0000"
    assert header[136:148] == b"%011o\x00" % MTIME
    assert header[329:345] == b"0000000\x00" * 2
    assert len(raw) == 512 + 1024  # one header, then the two zero blocks that end an archive
    assert raw[512:] == b"\x00" * 1024


def test_digests_are_of_the_exact_bytes() -> None:
    blob, info = _write(_tree())
    tar = gzip.decompress(blob)
    assert info.digest == Digest.of(blob) and info.size == len(blob)
    assert info.diff_id == Digest.of(tar) and info.uncompressed_size == len(tar)
    assert info.descriptor().to_dict() == {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": str(info.digest),
        "size": len(blob),
    }


@pytest.mark.parametrize(("level", "xfl"), [(6, 0), (9, 2), (1, 4), (0, 0)])
def test_gzip_header_is_fixed(level: int, xfl: int) -> None:
    blob, _ = _write(_tree(), compresslevel=level)
    assert blob[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes([xfl, 255])
    assert gzip.decompress(blob)  # and the trailer's crc and size check out


def test_bytes_do_not_depend_on_thread_count() -> None:
    blobs = {_write(_tree(), threads=n)[0] for n in (1, 2, 5)}
    assert len(blobs) == 1


def test_same_input_same_bytes_different_mtime_different_bytes() -> None:
    assert _write(_tree())[0] == _write(_tree())[0]
    assert _write(_tree())[0] != _write(_tree(), mtime=MTIME + 1)[0]


def test_hardlink_sorting_before_its_target_takes_the_data() -> None:
    entries = [
        Entry(path="a", type=D, mode=0o755),
        Entry(path="a/link", type=H, target="z/file"),
        Entry(path="a/link2", type=H, target="a/link"),  # a chain ends at z/file too
        Entry(path="z", type=D, mode=0o755),
        Entry(path="z/file", type=F, data=b"payload", mode=0o750, uid=7, uname="u"),
    ]
    blob, _ = _write(entries)
    members = {m.name: m for m in _members(blob)}
    assert list(members) == ["a", "a/link", "a/link2", "z", "z/file"]
    first = members["a/link"]
    assert first.isfile() and (first.size, first.mode, first.uid, first.uname) == (7, 0o750, 7, "u")
    assert members["a/link2"].islnk() and members["a/link2"].linkname == "a/link"
    assert members["z/file"].islnk() and members["z/file"].linkname == "a/link"
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        extracted = tar.extractfile("z/file")
        assert extracted is not None and extracted.read() == b"payload"


def test_hardlink_into_a_lower_layer_is_kept() -> None:
    entries = [
        Entry(path="b", type=H, target="lower/x"),
        Entry(path="c", type=H, target="b"),
    ]
    members = {m.name: m for m in _members(_write(entries)[0])}
    assert members["b"].linkname == "lower/x"
    assert members["c"].linkname == "lower/x"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [Entry(path="d", type=D), Entry(path="l", type=H, target="d")],
            "hardlink /l points at directory /d",
        ),
        ([Entry(path="a", type=H, target="b"), Entry(path="b", type=H, target="a")], "hardlink loop at /a"),
        ([Entry(path="/etc", type=D)], "refusing to write '/etc' into a layer: not a normalized path"),
        (
            [Entry(path="a/../../b", type=F)],
            "refusing to write 'a/../../b' into a layer: not a normalized path",
        ),
    ],
)
def test_refuses_unsafe_entries(entries: list[Entry], message: str) -> None:
    with pytest.raises(UnsafeArchiveError) as info:
        _write(entries)
    assert info.value.message == message


def test_refuses_duplicate_paths() -> None:
    entries = [Entry(path="x", type=F, origin="pkg-a"), Entry(path="x", type=F, origin="pkg-b")]
    with pytest.raises(BuildConflictError) as info:
        _write(entries)
    assert (info.value.path, info.value.origins) == ("x", ("pkg-a", "pkg-b"))


@pytest.mark.parametrize("kwargs", [{"mtime": -1}, {"mtime": 8**11}, {"compresslevel": 10}])
def test_rejects_out_of_range_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        _write(_tree(), **kwargs)


def test_root_entry_is_skipped_and_empty_layer_is_valid() -> None:
    blob, info = _write([Entry(path="", type=D)])
    assert _members(blob) == []
    assert info.uncompressed_size == 1024


def test_long_names_use_ustar_prefix_then_pax() -> None:
    deep = "/".join(["d" * 60] * 3) + "/file"  # 188 bytes: fits ustar prefix + name
    long_component = "x" * 150  # cannot be split
    unicode_name = "usr/share/doc/caf\u00e9/R\u00e9sum\u00e9.txt"
    long_target = "/" + "t" * 200
    entries = [
        Entry(path=deep, type=F, data=b"1"),
        Entry(path=long_component, type=F, data=b"2"),
        Entry(path=unicode_name, type=F, data=b"3"),
        Entry(path="s", type=L, target=long_target),
        Entry(path="u", type=F, uid=3_000_000, gid=5, uname="a-very-long-user-name-over-32-chars", gname="g"),
    ]
    blob, _ = _write(entries)
    members = _members(blob)
    assert [m.name for m in members] == [deep, long_component, unicode_name, "s", "u"]
    assert members[0].pax_headers == {}  # split into prefix/name, no extended header
    assert members[1].pax_headers == {"path": long_component}
    assert members[2].pax_headers == {"path": unicode_name}
    assert members[3].linkname == long_target
    assert (members[4].uid, members[4].uname) == (3_000_000, "a-very-long-user-name-over-32-chars")
    assert set(members[4].pax_headers) == {"uid", "uname"}


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is not installed")
def test_gnu_tar_agrees(tmp_path: Path) -> None:
    blob, _ = _write(_tree())
    (tmp_path / "layer.tar.gz").write_bytes(blob)
    listing = subprocess.run(
        ["tar", "--numeric-owner", "--full-time", "-tvzf", "layer.tar.gz"],
        cwd=tmp_path, capture_output=True, text=True, check=True, env={"TZ": "UTC", "LC_ALL": "C"},
    ).stdout  # fmt: skip
    lines = {fields[5]: fields for fields in map(str.split, listing.splitlines())}
    assert lines["usr/bin/app"][:2] == ["-rwsr-xr-x", "0/0"]
    assert lines["usr/bin/app-link"][0] == "hrwsr-xr-x"
    assert lines["tmp/"][0] == "drwxrwxrwt"
    assert lines["bin"][0] == "lrwxrwxrwx"
    assert {tuple(fields[3:5]) for fields in lines.values()} == {("2023-11-14", "22:13:20")}


def test_write_errors_propagate() -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def write(self, data: bytes | bytearray | memoryview, /) -> int:
            self.calls += 1
            if self.calls > 2:
                raise OSError(28, "No space left on device")
            return len(data)

    with pytest.raises(OSError, match="No space left"):
        write_layer(_tree().entries(), Broken(), mtime=MTIME, threads=2)


_CHILD = textwrap.dedent(
    """
    import os, sys
    from dockwright.fs.tree import Entry, EntryType, FileTree
    from dockwright.oci.image_writer import ImageConfigInput, write_image
    tree = FileTree()
    tree.add(Entry(path="etc/motd", type=EntryType.FILE, data=b"hello\\n" * 50000))
    tree.add(Entry(path="usr/bin/a", type=EntryType.FILE, mode=0o755, data=bytes(range(256)) * 9000))
    tree.add(Entry(path="usr/bin/b", type=EntryType.HARDLINK, target="usr/bin/a"))
    tree.add(Entry(path="srv/caf\\u00e9", type=EntryType.SYMLINK, target="../etc/motd"))
    config = ImageConfigInput(env={"B": "2", "A": "1"}, cmd=["/usr/bin/a"], labels={"l": "\\u00e9"})
    result = write_image([tree], config, "oci:" + sys.argv[1] + ":t", mtime=1700000000)
    print(result.manifest_digest)
    """
)


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


def test_identical_output_across_timezone_umask_and_locale(tmp_path: Path) -> None:
    """Two honest runs in separate processes with different TZ, umask and locale."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    runs = []
    for name, tz, umask, lang in (
        ("one", "UTC", "022", "C.UTF-8"),
        ("two", "Pacific/Kiritimati", "077", "C"),
    ):
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": src, "TZ": tz, "LC_ALL": lang}
        script = f'umask {umask}; exec "$0" -c "$1" "$2"'
        done = subprocess.run(
            ["sh", "-c", script, sys.executable, _CHILD, str(tmp_path / name)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        runs.append(done.stdout.strip())
    assert runs[0] == runs[1] and runs[0].startswith("sha256:")
    one, two = _snapshot(tmp_path / "one"), _snapshot(tmp_path / "two")
    assert one == two
    assert {mode & 0o777 for mode, _ in one.values()} == {0o644, 0o755}
