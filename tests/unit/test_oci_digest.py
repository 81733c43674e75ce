"""Digest parsing and the hashing writer."""

from __future__ import annotations

import hashlib
import io

import pytest

from dockwright.errors import InputError
from dockwright.oci.digest import Digest, HashingWriter, sha256_file

HEX = hashlib.sha256(b"abc").hexdigest()


def test_parse_round_trips() -> None:
    digest = Digest.parse(f"sha256:{HEX}")
    assert (digest.algorithm, digest.hex) == ("sha256", HEX)
    assert str(digest) == f"sha256:{HEX}"
    assert digest == Digest.of(b"abc")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "malformed digest 'abc': expected sha256:<64 hex digits>"),
        (f"sha512:{HEX}", "unsupported digest algorithm 'sha512': only sha256 is accepted"),
        (
            f"sha256:{HEX.upper()}",
            f"malformed sha256 digest '{HEX.upper()}': expected 64 lowercase hex digits",
        ),
        ("sha256:abc", "malformed sha256 digest 'abc': expected 64 lowercase hex digits"),
        (f"sha256:{HEX}\n", f"malformed sha256 digest '{HEX}\\n': expected 64 lowercase hex digits"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        Digest.parse(text)
    assert info.value.message == message


def test_hashing_writer_hashes_and_counts_what_it_writes() -> None:
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    for part in (b"a", bytearray(b"bc"), memoryview(b"defg")[1:]):
        writer.write(part)
    assert sink.getvalue() == b"abcefg"
    assert writer.size == 6
    assert writer.digest == Digest.of(b"abcefg")


def test_sha256_file_reads_from_the_current_position() -> None:
    stream = io.BytesIO(b"xx" + b"y" * 3_000_000)
    stream.seek(2)
    assert sha256_file(stream) == (Digest.of(b"y" * 3_000_000), 3_000_000)
