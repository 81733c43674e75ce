"""WritebackWriter: the bytes are those written; the kernel is asked to write back each 8 MiB just
written (and only that, and the tail when the file is finished), and without ``posix_fadvise``
nothing changes but the hint."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from dockwright.fsutil import WRITEBACK_STEP, WritebackWriter


def _write(path: Path, pieces: list[bytes], *, finish: bool = False) -> None:
    with WritebackWriter(io.FileIO(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644), "wb")) as f:
        for piece in pieces:
            assert f.write(piece) == len(piece)
        if finish:
            f.write_back()
            f.write_back()  # nothing new since: no second hint


def test_the_file_holds_what_was_written_and_each_step_is_handed_back_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(
        os, "posix_fadvise", lambda fd, offset, length, advice: calls.append((offset, length, advice))
    )
    piece = WRITEBACK_STEP * 3 // 8  # three pieces pass one step
    pieces = [os.urandom(piece) for _ in range(7)] + [b"tail"]
    _write(tmp_path / "blob", pieces)
    assert (tmp_path / "blob").read_bytes() == b"".join(pieces)
    hint = os.POSIX_FADV_DONTNEED
    assert calls == [
        (0, 3 * piece, hint),
        (3 * piece, 3 * piece, hint),
    ]  # the last 1 piece + 4 bytes: no hint
    calls.clear()
    _write(tmp_path / "finished", pieces, finish=True)
    assert calls[2:] == [(6 * piece, piece + 4, hint)]  # write_back() hands the tail back too
    assert (tmp_path / "finished").read_bytes() == b"".join(pieces)


def test_without_posix_fadvise_the_writer_still_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "posix_fadvise")
    data = os.urandom(WRITEBACK_STEP + 1)
    _write(tmp_path / "blob", [data])
    assert (tmp_path / "blob").read_bytes() == data
