"""The per-layer analysis cache, ``hash_files`` and the inflaters: same results, never unverified bytes.

A read that replays cached layers must give exactly what a read from the blobs gives (files, layer
accounting, wanted contents and versions, warnings, os-release), must check every blob against
its digest first (so a changed blob is refused as it would be without the cache), and must not
decompress a cached layer. Reading without file hashes changes only ``FileRecord.sha256``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, InputError
from dockwright.inspect import _layer_stream
from dockwright.inspect._layer_cache import FORMAT, LayerCache
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect.catalog import WANTED
from dockwright.inspect.model import ImageContents
from dockwright.inspect.reader import read_image
from tests.inspect_images import TarMember as M
from tests.inspect_images import blob_file, compress, layer_tar, make_docker_archive, make_layout, sha256
from tests.unit.reader_modes import both_reading_modes  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("both_reading_modes")  # every test: by workers, and one by one


OS_RELEASE = b'ID=debian\nVERSION_ID="12"\n'


def _layers() -> list[list[M]]:
    """Whiteouts, an opaque directory, hard links, a symlinked parent, os-release through a link."""
    return [
        [
            M("usr/lib/", kind="dir"),
            M("usr/lib/os-release", OS_RELEASE),
            M("etc/os-release", kind="symlink", link="../usr/lib/os-release"),
            M("lib", kind="symlink", link="usr/lib"),
            M("var/lib/dpkg/status", b"Package: a\nStatus: install ok installed\nVersion: 1\n"),
            M("data/big", b"payload" * 100),
            M("d/old", b"old"),
            M("tmp/x", b"x" * 5000),
            M("../escape", b"e"),
        ],
        [
            M("lib/libx.so", b"elf"),
            M("tmp/x", kind="whiteout"),
            M("d", kind="opaque"),
            M("d/new", b"new"),
            M("var/lib/dpkg/status", b"Package: a\nStatus: install ok installed\nVersion: 2\n"),
            M("db/link", kind="hardlink", link="data/big"),
            M("f", b"1"),
            M("f/under-a-file", b"2"),
        ],
        [M("var/lib/dpkg/status", kind="whiteout")],
    ]


def _wanted(path: str) -> bool:
    return WANTED(path) or path.startswith(("db/", "data/"))  # the hard link's target too: no late read


@pytest.fixture
def image(tmp_path: Path) -> str:
    make_layout(tmp_path / "img", _layers())
    return f"oci:{tmp_path / 'img'}:latest"


def _read(ref: str, cache: LayerCache | None, **kwargs: object) -> ImageContents:
    return read_image(ref, wanted=_wanted, cache=cache, **kwargs)  # type: ignore[arg-type]


def _no_decompression(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: LayerStream) -> bytes:
        raise AssertionError("a cached layer was decompressed")

    monkeypatch.setattr(LayerStream, "read_step", refuse)


# Same results ------------------------------------------------------------------------------------


@pytest.mark.parametrize("hash_files", [True, False])
def test_a_warm_read_gives_exactly_what_a_cold_read_gives(
    image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hash_files: bool
) -> None:
    cache = LayerCache(tmp_path / "cache")
    plain = _read(image, None, hash_files=hash_files)
    cold = _read(image, cache, hash_files=hash_files)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        f"{layer.digest.removeprefix('sha256:')}.v{FORMAT}" for layer in cold.layers
    )
    _no_decompression(monkeypatch)
    warm = _read(image, cache, hash_files=hash_files)
    assert warm == cold == plain
    assert warm.contents["db/link"] == b"payload" * 100
    assert warm.os_release == {"ID": "debian", "VERSION_ID": "12"}
    assert {w.code for w in warm.warnings} >= {"path-traversal", "parent-not-dir"}


def test_without_file_hashes_only_the_hashes_are_missing(image: str) -> None:
    hashed = _read(image, None)
    plain = _read(image, None, hash_files=False)
    assert hashed.files["data/big"].sha256 == hashlib.sha256(b"payload" * 100).hexdigest()
    assert {r.sha256 for r in plain.files.values()} == {""}
    assert plain.files == {path: replace(record, sha256="") for path, record in hashed.files.items()}
    assert (plain.layers, plain.contents, plain.versions, plain.warnings) == (
        hashed.layers,
        hashed.contents,
        hashed.versions,
        hashed.warnings,
    )


def test_without_file_hashes_every_blob_and_diff_id_is_still_checked(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[M("a", b"1")]])
    layer = read_image(f"oci:{tmp_path / 'img'}").layers[0]
    blob_file(tmp_path / "img", layer.digest).write_bytes(compress(layer_tar([M("a", b"2")]), "gzip"))
    with pytest.raises(
        DigestMismatchError, match=r"^layer 0 \(sha256:\w+\) blob sha256:\w+ \(\d+ bytes\) holds"
    ):
        read_image(f"oci:{tmp_path / 'img'}", hash_files=False)


def test_entries_of_one_image_serve_another_holding_the_same_layer(tmp_path: Path) -> None:
    base = _layers()[0]
    make_layout(tmp_path / "a", [base, [M("only-a", b"a")]])
    make_layout(tmp_path / "b", [base, [M("only-b", b"b")], [M("usr/lib/os-release", kind="whiteout")]])
    cache = LayerCache(tmp_path / "cache")
    _read(f"oci:{tmp_path / 'a'}", cache)
    assert _read(f"oci:{tmp_path / 'b'}", cache) == _read(f"oci:{tmp_path / 'b'}", None)


def test_bytes_a_cached_form_lacks_are_read_again_from_the_layer(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", _layers())
    ref = f"oci:{tmp_path / 'img'}"
    cache = LayerCache(tmp_path / "cache")
    read_image(ref, cache=cache, hash_files=False)  # keeps nothing wanted but os-release
    warm = read_image(ref, cache=cache, wanted=WANTED, hash_files=False)
    assert warm == read_image(ref, wanted=WANTED, hash_files=False)
    assert [(layer, data and data[-2:]) for layer, data in warm.versions["var/lib/dpkg/status"]] == [
        (0, b"1\n"),
        (1, b"2\n"),
        (2, None),
    ]


def test_a_hashed_entry_serves_a_read_without_hashes_but_not_the_other_way(
    image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = LayerCache(tmp_path / "cache")
    plain = _read(image, cache, hash_files=False)
    hashed = _read(image, cache)  # the unhashed entries do not serve it: read, and stored with hashes
    assert hashed.files["f"].sha256 == hashlib.sha256(b"1").hexdigest()
    _no_decompression(monkeypatch)
    assert _read(image, cache) == hashed
    assert _read(image, cache, hash_files=False) == plain


# Never unverified bytes --------------------------------------------------------------------------


def test_a_blob_changed_after_it_was_cached_is_refused(image: str, tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "cache")
    cold = _read(image, cache)
    layer = cold.layers[1]
    path = blob_file(tmp_path / "img", layer.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError) as warm:
        _read(image, cache)
    with pytest.raises(DigestMismatchError) as plain:
        _read(image, None)
    assert warm.value.message == plain.value.message
    assert warm.value.message.startswith(f"layer 1 ({layer.digest}) blob {layer.digest} ({layer.size} bytes)")


def test_a_cached_layer_under_a_config_with_another_diff_id_is_refused(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[M("a", b"1")]])
    cache = LayerCache(tmp_path / "cache")
    layer = read_image(f"oci:{tmp_path / 'img'}", cache=cache).layers[0]
    blob = blob_file(tmp_path / "img", layer.digest).read_bytes()
    other = tmp_path / "other"
    make_layout(other, [[M("b", b"2")]], config={"rootfs": {"type": "layers", "diff_ids": [sha256(b"x")]}})
    _swap_layer(other, blob)
    for with_cache in (cache, None):
        with pytest.raises(
            DigestMismatchError, match=r"uncompressed has digest sha256:\w+, but the image config"
        ):
            read_image(f"oci:{other}", cache=with_cache)


def _swap_layer(layout: Path, blob: bytes) -> None:
    """Make the (only) layer of ``layout`` the blob ``blob`` (manifest and index fixed; config kept)."""
    index = json.loads((layout / "index.json").read_bytes())
    manifest = json.loads(blob_file(layout, index["manifests"][0]["digest"]).read_bytes())
    blob_file(layout, sha256(blob)).write_bytes(blob)
    manifest["layers"][0].update(digest=sha256(blob), size=len(blob))
    data = json.dumps(manifest).encode()
    blob_file(layout, sha256(data)).write_bytes(data)
    index["manifests"][0].update(digest=sha256(data), size=len(data))
    (layout / "index.json").write_text(json.dumps(index))


def test_a_corrupt_or_foreign_entry_is_ignored_and_replaced(image: str, tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "cache")
    cold = _read(image, cache)
    entries = sorted((tmp_path / "cache").iterdir())
    entries[0].write_bytes(entries[0].read_bytes()[:-1] + b"!")  # checksum no longer matches
    entries[1].write_bytes(b"")
    entries[2].write_bytes(entries[0].read_bytes())  # another digest's entry
    assert _read(image, cache) == cold
    assert all(LayerCache(tmp_path / "cache").load(layer.digest, need_hashes=True) for layer in cold.layers)


def test_a_layer_with_a_sparse_file_is_not_cached(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[M("s", b"tail", kind="sparse", size=100_000)], [M("a", b"1")]])
    cache = LayerCache(tmp_path / "cache")
    contents = read_image(f"oci:{tmp_path / 'img'}", cache=cache)
    assert [cache.has(layer.digest) for layer in contents.layers] == [False, True]


def test_a_docker_archive_layer_is_verified_before_its_entry_is_used(tmp_path: Path) -> None:
    make_docker_archive(tmp_path / "a.tar", [(["x:1"], _layers())])
    ref = f"docker-archive:{tmp_path / 'a.tar'}"
    cache = LayerCache(tmp_path / "cache")
    cold = _read(ref, cache)
    assert all(cache.has(layer.digest) for layer in cold.layers)
    assert _read(ref, cache) == cold


def test_the_cache_directory_is_kept_under_its_size_bound(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "cache", max_bytes=1)
    for i in range(3):
        make_layout(tmp_path / f"img{i}", [[M(f"file{i}", b"x")]])
        read_image(f"oci:{tmp_path / f'img{i}'}", cache=cache)
    assert len(list((tmp_path / "cache").iterdir())) == 1  # the newest, written last


def test_a_cache_that_cannot_be_written_only_costs_time(image: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    assert _read(image, LayerCache(tmp_path / "file" / "cache")) == _read(image, None)


# The inflaters -----------------------------------------------------------------------------------


def _gzip_cases() -> dict[str, bytes]:
    tar = layer_tar([M("a", os.urandom(300_000) + bytes(3_000_000)), M("b", b"2")])
    one = gzip.compress(tar, mtime=0)
    return {
        "one member": one,
        "several members": gzip.compress(tar[:100_000], mtime=0) + gzip.compress(tar[100_000:], mtime=0),
        "zero padding": one + bytes(5000),
        "data after the end": one + b"garbage",
        "truncated": one[: len(one) // 2],
        "cut after the last member's header byte": one + b"\x1f",
    }


@pytest.mark.parametrize("case", sorted(_gzip_cases()))
def test_isa_l_and_zlib_inflate_alike(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = _gzip_cases()[case]
    outcomes = []
    for inflater in ("default", "zlib"):
        if inflater == "zlib":
            monkeypatch.setattr(_layer_stream, "_new_gzip", _layer_stream._zlib_gzip)
        for chunk in (1 << 20, 7):  # the blob read in big chunks, and in tiny ones
            outcomes.append(_inflate(blob, chunk))
    assert all(o == outcomes[0] for o in outcomes), outcomes


def _inflate(blob: bytes, chunk: int) -> tuple[str, str]:
    class Source:
        def __init__(self) -> None:
            self.pos = 0

        def read(self, n: int = -1) -> bytes:
            take = min(n, chunk)
            data = blob[self.pos : self.pos + take]
            self.pos += len(data)
            return data

    digest = hashlib.sha256()
    with LayerStream(Source(), what="layer 0", digest=sha256(blob), size=len(blob)) as stream:
        try:
            while data := stream.read_step():
                digest.update(data)
        except InputError as exc:
            return "error", exc.message
    return "ok", digest.hexdigest()


def test_isa_l_is_used_when_installed() -> None:
    pytest.importorskip("isal")
    assert _layer_stream.INFLATE == "isa-l"


def test_zlib_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_isal(name: str, *args: object, **kwargs: object) -> object:
        if name == "isal":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_isal)
    new, errors, name = _layer_stream._inflater()
    assert (name, errors) == ("zlib", (zlib.error,))
    d = new()
    assert d.decompress(gzip.compress(b"hello")) == b"hello"


def test_the_temporary_files_of_a_killed_writer_are_removed_and_no_others(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    hex64 = "a" * 64
    names = [f".{hex64}.v{FORMAT}.{pid}.x_1Yz.tmp" for pid in (41, 4, 411)]
    names += [f"{hex64}.v{FORMAT}", ".41.tmp", f".{hex64}.v{FORMAT}.41.x_1Yz.part"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    cache.discard_temporaries(41)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])
    LayerCache(tmp_path / "never-written").discard_temporaries(41)  # no directory: nothing to do


def test_an_entry_is_written_through_a_temporary_file_named_after_its_writer(
    image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    prefixes: list[str] = []
    real = tempfile.mkstemp

    def mkstemp(*args: object, prefix: str, **kwargs: object) -> tuple[int, str]:
        prefixes.append(prefix)
        return real(*args, prefix=prefix, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    read_image(image, cache=LayerCache(tmp_path))
    assert prefixes  # the layers this process read, at least (the child writes those it read)
    assert {p.split(".")[3] for p in prefixes} == {str(os.getpid())}
    assert all(p.startswith(".") and p.endswith(".") and len(p.split(".")) == 5 for p in prefixes)
