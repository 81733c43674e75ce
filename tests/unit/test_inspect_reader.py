"""The image reader: whiteouts, layer accounting, wanted contents, os-release, hostile layers."""

from __future__ import annotations

import hashlib
import tarfile
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, InputError, UnsafeArchiveError
from dockwright.inspect.model import FileKind, ImageContents
from dockwright.inspect.reader import parse_os_release, read_image
from tests.inspect_images import TarMember as M
from tests.inspect_images import blob_file, compress, layer_tar, make_layout, sha256
from tests.unit.reader_modes import both_reading_modes  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("both_reading_modes")  # every test: by workers, and one by one


Layers = Sequence[Sequence[M] | bytes]


def read(tmp_path: Path, layers: Layers, **kwargs: object) -> ImageContents:
    make_layout(tmp_path / "img", layers, compression=str(kwargs.pop("compression", "gzip")))
    return read_image(f"oci:{tmp_path / 'img'}:latest", **kwargs)  # type: ignore[arg-type]


def paths(contents: ImageContents) -> list[str]:
    return sorted(contents.files)


def codes(contents: ImageContents) -> list[tuple[str, str, str]]:
    return [(w.code, w.path, w.message) for w in contents.warnings]


# Whiteouts ---------------------------------------------------------------------------------------


def test_whiteout_deletes_a_file_of_a_lower_layer(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [[M("etc/", kind="dir"), M("etc/a", b"aaa"), M("etc/b", b"b")], [M("etc/a", kind="whiteout")]],
        wanted=lambda p: p == "etc/a",
    )
    assert paths(got) == ["etc", "etc/b"]
    assert got.versions == {"etc/a": ((0, b"aaa"), (1, None))}
    assert got.contents == {}
    assert [(r.files, r.deleted, r.overwritten_bytes) for r in got.layers] == [(3, 0, 3), (0, 1, 0)]


def test_whiteout_deletes_a_directory_with_everything_below(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [
            [M("a/b/c", b"12345"), M("a/b/d/e", b"67"), M("a/keep", b"k")],
            [M("a/b", kind="whiteout")],
        ],
    )
    assert paths(got) == ["a", "a/keep"]
    assert got.layers[0].overwritten_bytes == 7


@pytest.mark.parametrize("marker_at", [0, 1, 3])
def test_opaque_directory_hides_lower_entries_but_keeps_its_own_layers(
    tmp_path: Path, marker_at: int
) -> None:
    upper = [M("d/", kind="dir"), M("d/new", b"new"), M("d/sub/x", b"x")]
    upper.insert(marker_at, M("d", kind="opaque"))
    got = read(
        tmp_path,
        [[M("d/", kind="dir"), M("d/old", b"old"), M("d/sub/y", b"yy"), M("e", b"e")], upper],
        wanted=lambda p: p.startswith("d/"),
    )
    assert paths(got) == ["d", "d/new", "d/sub", "d/sub/x", "e"]
    assert got.versions == {
        "d/new": ((1, b"new"),),
        "d/old": ((0, b"old"), (1, None)),
        "d/sub/x": ((1, b"x"),),
        "d/sub/y": ((0, b"yy"), (1, None)),
    }
    assert got.layers[0].overwritten_bytes == 5
    assert got.layers[1].deleted == 1


def test_opaque_directory_keeps_entries_the_layer_wrote_below_a_lower_subdirectory(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("d/sub/old", b"o")], [M("d/sub/new", b"n"), M("d", kind="opaque")]])
    assert paths(got) == ["d", "d/sub", "d/sub/new"]


def test_whiteout_never_deletes_an_entry_of_its_own_layer(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("a", b"lower")], [M("a", b"upper"), M("a", kind="whiteout")]])
    assert got.files["a"].size == 5
    assert got.files["a"].layer == 1


def test_a_path_deleted_then_created_again_counts_as_added_again(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [[M("a", b"1"), M("b", b"1")], [M("a", kind="whiteout"), M("b", b"22")], [M("a", b"333")]],
        wanted=lambda p: p == "a",
    )
    assert (got.files["a"].added_in, got.files["a"].layer) == (2, 2)
    assert (got.files["b"].added_in, got.files["b"].layer) == (0, 1)
    assert got.versions == {"a": ((0, b"1"), (1, None), (2, b"333"))}
    assert got.contents == {"a": b"333"}


def test_aufs_bookkeeping_is_ignored_and_an_empty_whiteout_is_warned(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("a", b"1")], [M(".wh..wh.plnk/1.2", b""), M("d/.wh..", b""), M("d/.wh.", b"")]])
    assert paths(got) == ["a"]
    assert codes(got) == [
        ("invalid-whiteout", "d/.wh..", "whiteout d/.wh.. names no file; ignored"),
        ("invalid-whiteout", "d/.wh.", "whiteout d/.wh. names no file; ignored"),
    ]


# Layer accounting --------------------------------------------------------------------------------


def test_overwritten_bytes_count_each_hidden_copy_once_and_the_kept_copy_never(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [
            [M("a", b"x" * 100), M("same", b"s" * 7)],
            [M("a", b"y" * 200), M("dup", b"1" * 10), M("dup", b"2" * 20)],
            [M("a", b"z" * 300)],
        ],
    )
    assert [r.overwritten_bytes for r in got.layers] == [100, 200 + 10, 0]
    assert [r.files_bytes for r in got.layers] == [107, 230, 300]
    assert got.files["dup"].size == 20
    assert got.files["a"].sha256 == hashlib.sha256(b"z" * 300).hexdigest()


def test_hard_linked_bytes_are_hidden_only_when_every_link_is_gone(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [
            [M("a", b"x" * 100), M("b", kind="hardlink", link="a")],
            [M("a", kind="whiteout")],
            [M("b", kind="whiteout")],
        ],
    )
    assert [r.overwritten_bytes for r in got.layers] == [100, 0, 0]


def test_a_file_replacing_a_directory_removes_its_subtree(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("d/x", b"12"), M("d/y/z", b"3")], [M("d", b"file now")]])
    assert paths(got) == ["d"]
    assert got.files["d"].kind is FileKind.FILE
    assert got.layers[0].overwritten_bytes == 3


def test_entries_land_through_symlinked_parents_inside_the_image(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [
            [M("usr/lib/", kind="dir"), M("lib", kind="symlink", link="usr/lib")],
            [M("lib/x.so", b"elf"), M("abs", kind="symlink", link="/usr"), M("abs/lib/y.so", b"y")],
        ],
    )
    assert paths(got) == ["abs", "lib", "usr", "usr/lib", "usr/lib/x.so", "usr/lib/y.so"]
    assert got.files["lib"].link == "usr/lib"


def test_records_carry_metadata_and_kinds(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [
            [
                M("bin/tool", b"#!", mode=0o755, uid=1000, gid=1001),
                M("bin/alias", kind="hardlink", link="bin/tool"),
                M("dev/null", kind="char"),
                M("run/fifo", kind="fifo"),
            ]
        ],
    )
    tool, alias = got.files["bin/tool"], got.files["bin/alias"]
    assert (tool.kind, tool.mode, tool.uid, tool.gid, tool.size) == (FileKind.FILE, 0o755, 1000, 1001, 2)
    assert (alias.kind, alias.link, alias.size, alias.sha256) == (
        FileKind.HARDLINK,
        "bin/tool",
        2,
        tool.sha256,
    )
    assert got.files["dev/null"].kind is FileKind.OTHER
    assert got.files["run/fifo"].kind is FileKind.OTHER
    assert got.files["bin"].kind is FileKind.DIR


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_every_compression_reads_the_same(tmp_path: Path, compression: str) -> None:
    got = read(tmp_path, [[M("a", b"hello" * 1000)]], compression=compression)
    assert got.layers[0].diff_id == sha256(layer_tar([M("a", b"hello" * 1000)]))
    assert got.layers[0].uncompressed_size == 6656
    assert got.files["a"].size == 5000


def test_gzip_with_several_members_is_read_whole(tmp_path: Path) -> None:
    tar = layer_tar([M("a", b"1" * 3000), M("b", b"2")])
    blob = compress(tar[:2048], "gzip") + compress(tar[2048:], "gzip")
    (tmp_path / "blob").write_bytes(blob)
    make_layout(tmp_path / "img", [[M("x")]], compression="gzip")
    _replace_layer(tmp_path / "img", blob, tar)
    assert paths(read_image(f"oci:{tmp_path / 'img'}")) == ["a", "b"]


def _replace_layer(layout: Path, blob: bytes, tar: bytes) -> None:
    """Swap the (only) layer blob for ``blob`` and fix the manifest, config and index to match."""
    import json

    index = json.loads((layout / "index.json").read_bytes())
    manifest = json.loads(blob_file(layout, index["manifests"][0]["digest"]).read_bytes())
    config = json.loads(blob_file(layout, manifest["config"]["digest"]).read_bytes())
    config["rootfs"]["diff_ids"] = [sha256(tar)]
    config_bytes = json.dumps(config).encode()
    for data in (blob, config_bytes):
        blob_file(layout, sha256(data)).write_bytes(data)
    manifest["layers"][0].update(digest=sha256(blob), size=len(blob))
    manifest["config"].update(digest=sha256(config_bytes), size=len(config_bytes))
    manifest_bytes = json.dumps(manifest).encode()
    blob_file(layout, sha256(manifest_bytes)).write_bytes(manifest_bytes)
    index["manifests"][0].update(digest=sha256(manifest_bytes), size=len(manifest_bytes))
    (layout / "index.json").write_text(json.dumps(index))


# Wanted contents ---------------------------------------------------------------------------------


def test_wanted_contents_stop_at_the_limit_with_a_warning(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [[M("a", b"1" * 60), M("b", b"2" * 60), M("c", b"3" * 30)]],
        wanted=lambda p: True,
        max_wanted_bytes=100,
    )
    assert got.contents == {"a": b"1" * 60, "c": b"3" * 30}
    assert codes(got) == [
        ("wanted-limit", "b", "b (60 bytes) not kept: wanted contents are limited to 100 bytes")
    ]


def test_a_wanted_hard_link_gets_its_targets_bytes_even_when_the_target_was_not_wanted(
    tmp_path: Path,
) -> None:
    got = read(
        tmp_path,
        [
            [M("data/big", b"payload"), M("other", b"o")],
            [M("db/status", kind="hardlink", link="data/big")],
        ],
        wanted=lambda p: p.startswith("db/"),
    )
    assert got.contents == {"db/status": b"payload"}
    assert got.versions == {"db/status": ((1, b"payload"),)}
    assert got.files["db/status"].link == "data/big"


def test_wanted_files_replaced_by_a_symlink_are_deleted_versions(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("a", b"1")], [M("a", kind="symlink", link="b")]], wanted=lambda p: p == "a")
    assert got.versions == {"a": ((0, b"1"), (1, None))}
    assert got.contents == {}


# os-release --------------------------------------------------------------------------------------

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n# comment\n'


@pytest.mark.parametrize(
    "link", ["../usr/lib/os-release", "/usr/lib/os-release", "/../../../../usr/lib/os-release"]
)
def test_os_release_is_found_through_symlinks_inside_the_image(tmp_path: Path, link: str) -> None:
    got = read(
        tmp_path,
        [[M("usr/lib/os-release", OS_RELEASE), M("etc/os-release", kind="symlink", link=link)]],
    )
    assert got.os_release == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "ID": "debian",
        "VERSION_ID": "12",
    }
    assert got.contents == {}


def test_os_release_elsewhere_is_read_again_from_its_layer(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [[M("opt/rel", b"ID=alpine\n"), M("etc/os-release", kind="symlink", link="/opt/rel")], [M("x", b"")]],
    )
    assert got.os_release == {"ID": "alpine"}


def test_os_release_symlink_loop_is_a_warning(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [[M("etc/os-release", kind="symlink", link="os-release"), M("usr/lib/os-release", b"ID=x\n")]],
    )
    assert got.os_release == {"ID": "x"}
    assert codes(got) == [("os-release-unresolved", "etc/os-release", "etc/os-release is a symlink loop")]


def test_parse_os_release_follows_shell_quoting() -> None:
    text = 'A=plain\nB=\'single quoted\'\nC="with \\"escape\\""\n bad line\n1X=no\nD="unterminated\n'
    assert parse_os_release(text) == {
        "A": "plain",
        "B": "single quoted",
        "C": 'with "escape"',
        "D": "unterminated",
    }


# Hostile input -----------------------------------------------------------------------------------


def test_traversal_and_absolute_names_are_clamped_at_the_root_with_warnings(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("../../etc/passwd", b"x"), M("/etc/shadow", b"y"), M("a/../../b", b"z")]])
    assert paths(got) == ["b", "etc", "etc/passwd", "etc/shadow"]
    assert codes(got) == [
        (
            "path-traversal",
            "etc/passwd",
            "layer 0 (" + got.layers[0].digest + "): member '../../etc/passwd' read as etc/passwd",
        ),
        (
            "absolute-path",
            "etc/shadow",
            "layer 0 (" + got.layers[0].digest + "): member '/etc/shadow' read as etc/shadow",
        ),
        ("path-traversal", "b", "layer 0 (" + got.layers[0].digest + "): member 'a/../../b' read as b"),
    ]


def test_symlinks_pointing_out_of_the_image_stay_inside(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [
            [M("up", kind="symlink", link="../../../../.."), M("root", kind="symlink", link="/")],
            [M("up/tmp/x", b"1"), M("root/etc/y", b"2")],
        ],
    )
    assert paths(got) == ["etc", "etc/y", "root", "tmp", "tmp/x", "up"]


def test_a_symlink_loop_as_parent_skips_the_entry(tmp_path: Path) -> None:
    got = read(
        tmp_path, [[M("a", kind="symlink", link="b"), M("b", kind="symlink", link="a")], [M("a/x", b"1")]]
    )
    assert paths(got) == ["a", "b"]
    assert codes(got) == [("symlink-loop", "a/x", "parent of a/x is a symlink loop; entry skipped")]


def test_an_entry_below_a_file_is_skipped(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("f", b"1"), M("f/x", b"2")]])
    assert paths(got) == ["f"]
    assert codes(got) == [("parent-not-dir", "f/x", "f is not a directory; f/x under it was skipped")]


def test_hard_links_to_missing_targets_directories_or_themselves_are_warned(tmp_path: Path) -> None:
    got = read(
        tmp_path,
        [
            [
                M("d/", kind="dir"),
                M("l1", kind="hardlink", link="nowhere"),
                M("l2", kind="hardlink", link="d"),
                M("l3", kind="hardlink", link="l3"),
            ]
        ],
        wanted=lambda p: True,
    )
    assert paths(got) == ["d", "l1"]
    assert got.files["l1"].kind is FileKind.HARDLINK
    assert codes(got) == [
        ("hardlink-missing-target", "l1", "l1 is a hard link to missing nowhere"),
        ("hardlink-to-dir", "l2", "l2 is a hard link to directory d; skipped"),
        ("hardlink-to-self", "l3", "l3 is a hard link to itself; skipped"),
    ]


def test_a_hard_link_through_a_symlink_loop_is_warned(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("a", kind="symlink", link="a"), M("h", kind="hardlink", link="a/x")]])
    assert codes(got) == [
        ("symlink-loop", "h", "hard link target a/x is a symlink loop"),
        ("hardlink-missing-target", "h", "h is a hard link to missing a/x"),
    ]


def test_unknown_member_types_are_skipped_with_a_warning(tmp_path: Path) -> None:
    info = tarfile.TarInfo("weird")
    info.type = b"Z"
    info.size = 3
    raw = info.tobuf(tarfile.PAX_FORMAT) + b"abc".ljust(512, b"\0")
    got = read(tmp_path, [[M("weird", raw, kind="raw"), M("ok", b"1")]])
    assert paths(got) == ["ok"]
    assert codes(got) == [("unknown-type", "weird", "weird has unknown tar type b'Z'; skipped")]


def test_a_huge_sparse_file_is_streamed_and_hashed_in_bounded_memory(tmp_path: Path) -> None:
    size = 1 << 30
    make_layout(tmp_path / "img", [[M("var/sparse", b"tail", kind="sparse", size=size)]])
    tracemalloc.start()
    got = read_image(f"oci:{tmp_path / 'img'}")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    expected = hashlib.sha256()
    zeros = bytes(1 << 20)
    for _ in range((size - 4) >> 20):
        expected.update(zeros)
    expected.update(bytes((size - 4) % (1 << 20)) + b"tail")
    record = got.files["var/sparse"]
    assert (record.kind, record.size, record.sha256) == (FileKind.FILE, size, expected.hexdigest())
    assert got.layers[0].files_bytes == size
    assert peak < 16 << 20


def test_a_large_regular_file_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    data = bytes(64 << 20)
    make_layout(tmp_path / "img", [[M("big", data)]])
    del data
    tracemalloc.start()
    got = read_image(f"oci:{tmp_path / 'img'}")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got.files["big"].size == 64 << 20
    assert peak < 16 << 20


def test_a_layer_blob_that_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[M("a", b"1")]])
    got = read_image(f"oci:{tmp_path / 'img'}")
    layer = got.layers[0]
    blob = blob_file(tmp_path / "img", layer.digest)
    blob.write_bytes(compress(layer_tar([M("a", b"2")]), "gzip"))
    with pytest.raises(DigestMismatchError) as caught:
        read_image(f"oci:{tmp_path / 'img'}")
    assert caught.value.message.startswith(
        f"layer 0 ({layer.digest}) blob {layer.digest} ({layer.size} bytes) holds "
    )
    assert caught.value.message.endswith(": the image was modified or is corrupt")


def test_a_layer_whose_uncompressed_bytes_do_not_match_the_diff_id_is_refused(tmp_path: Path) -> None:
    make_layout(
        tmp_path / "img",
        [[M("a", b"1")]],
        config={"rootfs": {"type": "layers", "diff_ids": [sha256(b"other")]}},
    )
    with pytest.raises(
        DigestMismatchError,
        match=r"uncompressed has digest sha256:\w+, but the image config says its diff_id is "
        + sha256(b"other"),
    ):
        read_image(f"oci:{tmp_path / 'img'}")


def test_a_tampered_blob_is_reported_as_a_mismatch_not_as_a_broken_tar(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[M("a", b"1" * 5000)]], compression="none")
    layer = read_image(f"oci:{tmp_path / 'img'}").layers[0]
    blob = blob_file(tmp_path / "img", layer.digest)
    blob.write_bytes(b"garbage!" * 64 + blob.read_bytes()[512:])
    with pytest.raises(
        DigestMismatchError,
        match=r"^layer 0 \(sha256:\w+\) blob sha256:\w+ \(6656 bytes\) holds 6656 bytes with digest sha256:\w+: the image was modified or is corrupt$",
    ):
        read_image(f"oci:{tmp_path / 'img'}")


def _single(tmp_path: Path, tar: bytes, compression: str = "gzip") -> str:
    make_layout(tmp_path / "img", [tar], compression=compression)
    return f"oci:{tmp_path / 'img'}"


def test_a_truncated_layer_is_a_clear_error(tmp_path: Path) -> None:
    tar = layer_tar([M("a", b"1"), M("etc/big", b"x" * 5000)])[:3000]
    ref = _single(tmp_path, tar)
    digest = read_digest(tmp_path)
    with pytest.raises(InputError) as caught:
        read_image(ref)
    assert caught.value.message == f"layer 0 ({digest}) is truncated: unexpected end of data in etc/big"


def test_a_truncated_gzip_stream_is_a_clear_error(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[M("a", b"1" * 100_000)]])
    layer = read_image(f"oci:{tmp_path / 'img'}").layers[0]
    blob = blob_file(tmp_path / "img", layer.digest).read_bytes()
    _replace_layer(tmp_path / "img", blob[: len(blob) // 2], layer_tar([M("a", b"1" * 100_000)]))
    with pytest.raises(
        InputError, match=r"^layer 0 \(sha256:\w+\) is truncated: its gzip stream ends early$"
    ):
        read_image(f"oci:{tmp_path / 'img'}")


def test_a_layer_cut_inside_a_header_is_a_clear_error(tmp_path: Path) -> None:
    ref = _single(tmp_path, layer_tar([M("a", b"1"), M("b", b"2")])[:1300])
    with pytest.raises(
        InputError, match=r"is truncated: unexpected end of data inside a header at offset 1024$"
    ):
        read_image(ref)


def test_a_layer_that_is_not_a_tar_is_a_clear_error(tmp_path: Path) -> None:
    ref = _single(tmp_path, b"this is not a tar archive\n" * 40)
    with pytest.raises(
        InputError,
        match=r"^layer 0 \(sha256:\w+\) is not a valid tar archive: invalid header at offset 0$",
    ):
        read_image(ref)


def test_a_corrupt_header_after_the_first_is_a_clear_error(tmp_path: Path) -> None:
    tar = bytearray(layer_tar([M("a", b"1"), M("b", b"2")]))
    tar[1024:1030] = b"XXXXXX"
    ref = _single(tmp_path, bytes(tar))
    with pytest.raises(
        InputError, match=r"is not a valid tar archive: corrupt header at offset 1024 \(bad checksum\)$"
    ):
        read_image(ref)


def test_a_layer_without_end_marker_is_read_with_a_warning(tmp_path: Path) -> None:
    got = read(tmp_path, [layer_tar([M("a", b"1")], end=False)])
    assert paths(got) == ["a"]
    assert [w.code for w in got.warnings] == ["no-end-marker"]


def test_an_empty_layer_blob_is_an_empty_layer(tmp_path: Path) -> None:
    got = read(tmp_path, [[M("a", b"1")], b""], compression="none")
    assert paths(got) == ["a"]
    assert got.layers[1].uncompressed_size == 0


def test_a_huge_extended_header_is_refused_as_hostile(tmp_path: Path) -> None:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = 2 << 20
    raw = info.tobuf(tarfile.USTAR_FORMAT) + b"9" * 1024
    ref = _single(tmp_path, raw + layer_tar([M("a")]))
    with pytest.raises(
        UnsafeArchiveError, match=r"holds a hostile tar header: extended header of 2097152 bytes at offset 0"
    ):
        read_image(ref)


def test_a_chain_of_long_name_headers_is_refused_as_hostile(tmp_path: Path) -> None:
    info = tarfile.TarInfo("././@LongLink")
    info.type = tarfile.GNUTYPE_LONGNAME
    info.size = 10
    one = info.tobuf(tarfile.GNU_FORMAT) + b"x" * 10 + b"\0" * 502
    ref = _single(tmp_path, one * 2000 + layer_tar([M("a")]))
    with pytest.raises(UnsafeArchiveError, match=r"more than 8 extended headers in a row"):
        read_image(ref)


def read_digest(tmp_path: Path) -> str:
    import json

    layout = tmp_path / "img"
    index = json.loads((layout / "index.json").read_bytes())
    manifest = json.loads(blob_file(layout, index["manifests"][0]["digest"]).read_bytes())
    return str(manifest["layers"][0]["digest"])
