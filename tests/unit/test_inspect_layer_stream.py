"""LayerStream: the blob and the tar are verified whichever thread hashes them."""

from __future__ import annotations

import gzip
import os
import time

import pytest

from dockwright.errors import DigestMismatchError
from dockwright.inspect import _layer_stream
from dockwright.inspect._layer_stream import LayerStream
from tests.inspect_images import sha256


class _Source:
    """A blob read in chunks of at most ``chunk`` bytes."""

    def __init__(self, blob: bytes, chunk: int = 1 << 20) -> None:
        self.blob = blob
        self.chunk = chunk
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        take = min(n, self.chunk)
        data = self.blob[self.pos : self.pos + take]
        self.pos += len(data)
        return data


def _tar() -> bytes:
    return os.urandom(2_000_000) + bytes(6_000_000)  # incompressible, then very compressible


def _read_all(stream: LayerStream, *, pause: float = 0.0) -> bytes:
    parts = []
    while data := stream.read_step():
        parts.append(data)
        time.sleep(pause)
    return b"".join(parts)


@pytest.mark.parametrize("hash_in_thread", [True, False])
@pytest.mark.parametrize("started", [True, False])
def test_the_digests_do_not_depend_on_which_thread_hashes(hash_in_thread: bool, started: bool) -> None:
    tar = _tar()
    blob = gzip.compress(tar, mtime=0)
    with LayerStream(
        _Source(blob, 100_000), what="layer 0", digest=sha256(blob), size=len(blob), diff_id=sha256(tar)
    ) as stream:
        stream.hash_in_thread = hash_in_thread
        if started:
            stream.start()
            stream.start()  # idempotent
        assert _read_all(stream) == tar
    assert (stream.blob_digest, stream.blob_size) == (sha256(blob), len(blob))
    assert (stream.diff_id, stream.size) == (sha256(tar), len(tar))


@pytest.mark.parametrize("hash_in_thread", [True, False])
def test_a_modified_blob_is_a_digest_mismatch_whichever_thread_hashes(hash_in_thread: bool) -> None:
    tar = _tar()
    blob = gzip.compress(tar, mtime=0)
    other = gzip.compress(tar, mtime=1)  # the same tar, another blob
    with LayerStream(
        _Source(other), what="layer 0", digest=sha256(blob), size=len(other), diff_id=sha256(tar)
    ) as stream:
        stream.hash_in_thread = hash_in_thread
        with pytest.raises(DigestMismatchError, match=r"layer 0 blob sha256:\w+ .* holds"):
            _read_all(stream)


def test_a_slow_reader_leaves_at_most_a_few_mib_of_the_blob_to_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_layer_stream, "_MAX_UNHASHED", 256 << 10)  # the thread hashes past it
    tar = os.urandom(3_000_000)  # stored: every step is as big as its blob bytes
    blob = gzip.compress(tar, mtime=0, compresslevel=1)
    with LayerStream(_Source(blob), what="layer 0", digest=sha256(blob), size=len(blob)) as stream:
        stream.hash_in_thread = False
        assert _read_all(stream, pause=0.01) == tar
    assert stream.blob_digest == sha256(blob)
