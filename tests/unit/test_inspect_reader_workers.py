"""The reader's threads and child process: what they leave behind, and results equal to a serial read.

Every test runs twice (``both_reading_modes``): with the layer workers (a child process reads the
later layers) and one layer after another.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, InputError
from dockwright.inspect._layer_workers import _alone as REAL_ALONE
from dockwright.inspect.model import ImageContents
from dockwright.inspect.reader import read_image
from tests.inspect_images import TarMember as M
from tests.inspect_images import blob_file, layer_tar, make_layout
from tests.unit.reader_modes import both_reading_modes  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("both_reading_modes")


def paths(contents: ImageContents) -> list[str]:
    return sorted(contents.files)


def test_no_prefetch_thread_outlives_a_read_that_failed(tmp_path: Path) -> None:
    import threading

    make_layout(tmp_path / "img", [[M("a", b"1" * 100_000)], [M("b", b"2")]])
    layer = read_image(f"oci:{tmp_path / 'img'}").layers[1]
    blob = blob_file(tmp_path / "img", layer.digest)
    blob.write_bytes(blob.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(DigestMismatchError, match=r"^layer 1 "):
        read_image(f"oci:{tmp_path / 'img'}")
    assert [t.name for t in threading.enumerate() if t.name == "layer-prefetch"] == []


# Layers read by workers --------------------------------------------------------------------------


def _tricky_layers() -> list[list[M]]:
    """Whiteouts, opaque directories, hard links, a parent made a symlink by a lower layer (so a
    wanted file's real path differs from its name), a sparse file mid-layer, and os-release."""
    return [
        [M("etc/", kind="dir"), M("etc/os-release", b"ID=debian\n"), M("usr/lib/", kind="dir"),
         M("lib", kind="symlink", link="usr/lib"), M("var/lib/dpkg/status", b"Package: a\n\n"),
         M("d/old", b"old"), M("d/sub/y", b"yy"), M("big", b"x" * 300_000)],
        [M("lib/want/x", b"through a symlink"), M("d", kind="opaque"), M("d/new", b"new"),
         M("h", kind="hardlink", link="var/lib/dpkg/status"), M("s", b"tail", kind="sparse", size=50_000),
         M("after/y.wanted", b"after the sparse file"), M("big", kind="whiteout")],
        [M("var/lib/dpkg/status", b"Package: b\n\n"), M("etc/os-release", kind="whiteout"),
         M("usr/lib/os-release", b"ID=other\n")],
    ]  # fmt: skip


def _wanted(path: str) -> bool:
    # usr/lib/want/x is named lib/want/x in its layer: a worker cannot tell it is wanted.
    return path.endswith(".wanted") or path.startswith("usr/lib/want/") or path == "var/lib/dpkg/status"


@pytest.mark.parametrize("hash_files", [True, False])
@pytest.mark.parametrize("limit", [256 << 20, 20])
def test_workers_give_what_a_layer_by_layer_read_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hash_files: bool, limit: int
) -> None:
    from dockwright.inspect import reader
    from tests.unit.reader_modes import NoWorkers

    make_layout(tmp_path / "img", _tricky_layers())
    ref = f"oci:{tmp_path / 'img'}:latest"
    kwargs: dict[str, object] = {"wanted": _wanted, "hash_files": hash_files, "max_wanted_bytes": limit}
    monkeypatch.setattr(reader, "_PARALLEL_FROM", 1)
    by_workers = read_image(ref, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(reader, "LayerWorkers", NoWorkers)
    one_by_one = read_image(ref, **kwargs)  # type: ignore[arg-type]
    assert by_workers == one_by_one
    if limit > 100:
        assert by_workers.contents["usr/lib/want/x"] == b"through a symlink"
        assert by_workers.contents["after/y.wanted"] == b"after the sparse file"
        assert by_workers.os_release == {"ID": "other"}
    assert paths(by_workers) == paths(one_by_one)


@pytest.mark.parametrize("broken", [0, 1])
def test_an_error_in_a_layer_read_ahead_is_raised_in_layer_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: int
) -> None:
    import threading

    from dockwright.inspect import _layer_workers, reader

    forked: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(_layer_workers.os, "fork", fork)
    layers: list[Sequence[M] | bytes] = [[M("a", b"1" * 100_000)], [M("b", b"2")], [M("c", b"3")]]
    layers[broken] = layer_tar([M("x", b"data")])[:700]  # truncated inside the data
    make_layout(tmp_path / "img", layers)
    with pytest.raises(InputError, match=rf"^layer {broken} .* is truncated"):
        read_image(f"oci:{tmp_path / 'img'}")
    names = {"layer-prefetch", "layer-child"}
    assert [t.name for t in threading.enumerate() if t.name in names] == []
    for pid in forked:
        with pytest.raises(ChildProcessError):  # the child process was reaped
            os.waitpid(pid, os.WNOHANG)
    assert len(forked) == (reader.LayerWorkers is _layer_workers.LayerWorkers)


def test_no_child_is_forked_while_another_thread_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from dockwright.inspect import _layer_workers, reader

    def no_fork() -> int:
        raise AssertionError("forked while another thread ran")

    monkeypatch.setattr(_layer_workers, "_alone", REAL_ALONE)  # undo the reading-modes fixture
    monkeypatch.setattr(reader, "_PARALLEL_FROM", 1)
    monkeypatch.setattr(_layer_workers.os, "fork", no_fork)
    make_layout(tmp_path / "img", [[M("a", b"1")], [M("b", b"2")], [M("c", b"3")]])
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        contents = read_image(f"oci:{tmp_path / 'img'}")
    finally:
        stop.set()
        other.join()
    assert set(contents.files) >= {"a", "b", "c"}


@pytest.mark.parametrize("hash_files", [True, False])
def test_cache_entries_are_the_same_bytes_whoever_encodes_and_stores_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hash_files: bool
) -> None:
    """The child encodes and stores the cache entries of its layers; one it has not stored when the
    reader has applied every layer is stored by the reader, as the child encoded it, or encoded by
    the reader if that has not arrived either: the same bytes. (A layer-by-layer read may keep more
    bytes: lib/want/x is wanted through a symlink the child cannot see.)"""
    from dockwright.inspect import _layer_workers, reader
    from dockwright.inspect._layer_cache import LayerCache
    from tests.unit.reader_modes import NoWorkers

    layers = [[m for m in layer if m.kind != "sparse"] for layer in _tricky_layers()]
    make_layout(tmp_path / "img", layers)
    ref = f"oci:{tmp_path / 'img'}:latest"
    Workers = _layer_workers.LayerWorkers
    real_head, real_stored, real_run = Workers.cache_head, Workers.stored, _layer_workers._Child.run
    by_child: dict[str, list[int]] = {"child": [], "head": []}

    def wait(self: _layer_workers.LayerWorkers, kind: str, index: int) -> None:
        with self._arrived:
            self._arrived.wait_for(lambda: (kind, index) in self._messages or self._ended)

    def child_stored(self: _layer_workers.LayerWorkers, index: int) -> bool:
        wait(self, "stored", index)
        stored = real_stored(self, index)
        by_child["child"].extend([index] if stored else [])
        return stored

    def child_head(self: _layer_workers.LayerWorkers, index: int) -> bytes | None:
        wait(self, "cache-head", index)
        head = real_head(self, index)
        by_child["head"].extend([index] if head is not None else [])
        # the child stores into another cache, which the reader does not clean when it stops the
        # child: let the child finish writing there before the read ends
        wait(self, "stored", index)
        return head

    def run_storing_in(cache: LayerCache | None) -> object:
        def run(self: _layer_workers._Child, indexes: list[int], _: LayerCache | None) -> None:
            real_run(self, indexes, cache)

        return run

    monkeypatch.setattr(reader, "_PARALLEL_FROM", 1)
    monkeypatch.setattr(reader, "LayerWorkers", Workers)
    monkeypatch.setattr(_layer_workers, "_alone", lambda: True)
    results = {}
    for how, stored, head, run in [
        ("child", child_stored, real_head, real_run),  # the child stores them
        ("head", lambda *_: False, child_head, run_storing_in(LayerCache(tmp_path / "elsewhere"))),
        ("reader", lambda *_: False, real_head, run_storing_in(None)),  # no head: the reader encodes
    ]:
        monkeypatch.setattr(Workers, "stored", stored)
        monkeypatch.setattr(Workers, "cache_head", head)
        monkeypatch.setattr(_layer_workers._Child, "run", run)
        results[how] = read_image(
            ref, wanted=_wanted, hash_files=hash_files, cache=LayerCache(tmp_path / how)
        )
    monkeypatch.setattr(reader, "LayerWorkers", NoWorkers)
    results["serial"] = read_image(
        ref, wanted=_wanted, hash_files=hash_files, cache=LayerCache(tmp_path / "serial")
    )
    assert by_child == {"child": [1, 2], "head": [1, 2]}
    assert results["child"] == results["head"] == results["reader"] == results["serial"]
    files = {how: {p.name: p.read_bytes() for p in (tmp_path / how).iterdir()} for how in results}
    assert len(files["serial"]) == 3
    assert files["child"] == files["head"] == files["reader"]
    assert files["child"].keys() == files["serial"].keys()
    elsewhere = {p.name: p.read_bytes() for p in (tmp_path / "elsewhere").iterdir()}
    assert len(elsewhere) == 2
    assert elsewhere.items() <= files["child"].items()


def test_a_child_killed_while_it_stores_an_entry_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader stores what the child did not, and removes what the child was writing."""
    import time

    from dockwright.inspect import _layer_workers, reader
    from dockwright.inspect._layer_cache import LayerCache

    reader_pid = os.getpid()
    real_replace = Path.replace

    def replace(self: Path, target: str | os.PathLike[str]) -> Path:
        if os.getpid() != reader_pid:  # the child, its temporary file written: killed before it is renamed
            time.sleep(60)
        return real_replace(self, target)

    monkeypatch.setattr(reader, "_PARALLEL_FROM", 1)
    monkeypatch.setattr(reader, "LayerWorkers", _layer_workers.LayerWorkers)
    monkeypatch.setattr(_layer_workers, "_alone", lambda: True)
    monkeypatch.setattr(Path, "replace", replace)
    make_layout(tmp_path / "img", [[M("a", b"1" * 100_000)], [M("b", b"2")], [M("c", b"3")]])
    cache = LayerCache(tmp_path / "cache")
    cold = read_image(f"oci:{tmp_path / 'img'}", cache=cache)
    assert sorted(p.name.rpartition(".")[2] for p in cache.root.iterdir()) == ["v1", "v1", "v1"]
    assert read_image(f"oci:{tmp_path / 'img'}", cache=cache) == cold


def test_meanwhile_runs_after_the_fork_and_has_ended_when_the_read_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from dockwright.inspect import _layer_workers, reader

    make_layout(tmp_path / "img", [[M("a", b"1" * 100_000)], [M("b", b"2")], [M("c", b"3")]])
    events: list[str] = []
    checked = _layer_workers._alone

    def alone() -> bool:
        events.append("fork check")
        return checked()

    def work() -> None:
        events.append(f"meanwhile on {threading.current_thread().name}")
        time.sleep(0.05)
        events.append("meanwhile done")

    monkeypatch.setattr(_layer_workers, "_alone", alone)
    contents = read_image(f"oci:{tmp_path / 'img'}", meanwhile=work)
    assert set(contents.files) >= {"a", "b", "c"}
    assert events[-2:] == ["meanwhile on dockwright-meanwhile", "meanwhile done"]
    if reader.LayerWorkers is _layer_workers.LayerWorkers:  # decided whether to fork before it started
        assert events[0] == "fork check"
    assert "dockwright-meanwhile" not in [t.name for t in threading.enumerate()]


def test_an_error_in_meanwhile_does_not_change_the_read(tmp_path: Path) -> None:
    make_layout(tmp_path / "img", [[M("a", b"1")], [M("b", b"2")]])

    def broken() -> None:
        raise RuntimeError("the caller's preparation failed")

    assert set(read_image(f"oci:{tmp_path / 'img'}", meanwhile=broken).files) >= {"a", "b"}


@pytest.mark.parametrize("with_cache", [True, False])
def test_the_child_encodes_and_stores_cache_entries_only_for_a_reader_that_keeps_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_cache: bool
) -> None:
    from dockwright.inspect import _layer_workers
    from dockwright.inspect._layer_cache import LayerCache
    from dockwright.inspect.source import open_image

    monkeypatch.setattr(_layer_workers, "_alone", lambda: True)
    make_layout(tmp_path / "img", [[M("a", b"1")], [M("b", b"2")], [M("c", b"3")]])
    cache = LayerCache(tmp_path / "cache") if with_cache else None
    with open_image(f"oci:{tmp_path / 'img'}") as source:
        workers = _layer_workers.LayerWorkers(
            source, [0, 1, 2], wanted=lambda path: False, max_kept=1 << 20, hash_files=False, cache=cache
        )
        try:
            by_child = [i for i in (1, 2) if workers.take(i) is not None]
            assert by_child  # at least the last layer
            with workers._arrived:  # everything the child sends has come once the pipe closes
                assert workers._arrived.wait_for(lambda: workers._ended, timeout=30)
            assert [workers.cache_head(i) is not None for i in by_child] == [with_cache] * len(by_child)
            assert [workers.stored(i) for i in by_child] == [with_cache] * len(by_child)
            digests = {source.layers[i].digest.removeprefix("sha256:") for i in by_child}
        finally:
            workers.close()
    stored = {p.name.partition(".")[0] for p in (tmp_path / "cache").iterdir()} if with_cache else set()
    assert stored == (digests if with_cache else set())
