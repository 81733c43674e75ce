"""The layer tar parser against ``tarfile``: the same members, data, ends and errors, hostile input too.

The oracle is what the reader used before (``tarfile`` in ``r|`` mode with ``SafeTarInfo``'s
limits, data straight from the stream or through ``extractfile`` for sparse files). Every archive
here, well-formed or built to break parsers, and thousands of seeded mutations of them, must read
the same with :mod:`dockwright.inspect._tarstream`, except where that module documents that it is
stricter (an invalid header after the first is always an error; a negative size from a PAX header
is refused).
"""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
from typing import Any, cast

import pytest

from dockwright.inspect._tarheader import checksum_ok
from dockwright.inspect._tarsafe import HostileTarError, LayerTar, SafeTarInfo, _header_end
from dockwright.inspect._tarstream import TarHeader, TarReader, open_tar
from tests.inspect_images import TarMember as M
from tests.inspect_images import layer_tar

_ERRORS = (tarfile.TarError, EOFError, ValueError, IndexError, OverflowError, RecursionError)


class _Steps:
    """What the parser reads: ``read_step()`` over bytes, in steps of ``step`` bytes."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._step = step
        self._pos = 0

    def read_step(self) -> bytes:
        chunk = self._data[self._pos : self._pos + self._step]
        self._pos += len(chunk)
        return chunk


class _StreamTar(LayerTar):
    def next(self) -> tarfile.TarInfo | None:
        info = super().next()
        self.members.clear()  # type: ignore[attr-defined]
        return info


def _digest(chunks: Any) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def _oracle(data: bytes) -> list[Any]:
    """The old reader's view: members (with a digest of their data), then how it ended."""
    out: list[Any] = []
    try:
        try:
            tar = _StreamTar.open(
                fileobj=io.BytesIO(data),
                mode="r|",
                bufsize=32 << 10,
                tarinfo=SafeTarInfo,
                encoding="utf-8",
                errors="surrogateescape",
            )
        except tarfile.ReadError as exc:
            if str(exc) == "empty file":
                return ["empty layer"]
            raise tarfile.ReadError(f"{exc} at offset 0") from None
        while (info := tar.next()) is not None:
            out.append(_describe(info, _oracle_data(tar, info) if info.isreg() else None))
        out.append(("end", tar.end, tar.offset))
    except HostileTarError as exc:
        out.append(("hostile", str(exc)))
    except _ERRORS as exc:
        out.append(("error", type(exc).__name__, str(exc)))
    return out


def _oracle_data(tar: LayerTar, info: tarfile.TarInfo) -> str:
    if info.sparse is None and tar.fileobj.tell() == info.offset_data:
        left, chunks = info.size, []
        while left > 0:
            chunk = tar.fileobj.read(min(1 << 20, left))
            if not chunk:
                raise tarfile.ReadError(f"unexpected end of data in {info.name}")
            left -= len(chunk)
            chunks.append(chunk)
        return _digest(chunks)
    f = tar.extractfile(info)
    assert f is not None
    try:
        return _digest(iter(lambda: f.read(1 << 20), b""))
    except tarfile.ReadError as exc:
        raise tarfile.ReadError(f"{exc} in {info.name}") from None


def _describe(info: tarfile.TarInfo | TarHeader, digest: str | None) -> tuple[Any, ...]:
    sparse = cast(Any, info.sparse)
    return (
        info.name,
        info.type,
        info.size,
        info.mode,
        info.uid,
        info.gid,
        info.linkname,
        None if sparse is None else list(sparse),
        digest,
    )


def _new(data: bytes, step: int = 2 << 20, *, skip: bool = False) -> list[Any]:
    """The same view through the new parser (with ``skip``, data skipped: no digests)."""
    out: list[Any] = []
    try:
        reader = open_tar(cast(Any, _Steps(data, step)))
        if reader is None:
            return ["empty layer"]
        while (header := reader.next()) is not None:
            if skip and header.isreg():
                reader.skip(header)
                out.append(_describe(header, None))
                continue
            out.append(_describe(header, _digest(reader.data(header)) if header.isreg() else None))
        out.append(("end", reader.end, reader.offset))
    except HostileTarError as exc:
        out.append(("hostile", str(exc)))
    except _ERRORS as exc:
        out.append(("error", type(exc).__name__, str(exc)))
    return out


def _documented_difference(old: list[Any], new: list[Any]) -> bool:
    """The cases where the new parser is stricter on purpose (see the module docstrings)."""
    if old[:-1] != new[:-1]:
        return False
    last_old, last_new = old[-1], new[-1]
    # tarfile ends silently at an invalid PAX record length or GNU sparse extension block.
    if last_old[:2] == ("end", "") and last_new[:2] == ("end", "invalid"):
        return True
    # A short GNU sparse extension block: tarfile's IndexError, here "unexpected end of data".
    if last_old[:2] == ("error", "IndexError") and last_new[2].startswith("unexpected end of data"):
        return True
    # A negative size from a PAX header is refused instead of read as an empty member.
    return bool(last_new[0] == "hostile" and "negative size" in last_new[1])


def _check(data: bytes) -> None:
    old, new = _oracle(data), _new(data)
    if old != new:
        assert _documented_difference(old, new), (old, new)
    assert _new(data, step=1000) == new  # steps that split headers and data anywhere
    no_digests = [(*item[:8], None) if isinstance(item, tuple) and len(item) == 9 else item for item in new]
    assert _new(data, skip=True) == _new(data, step=1000, skip=True) == no_digests


# Archives ----------------------------------------------------------------------------------------


def _info(name: str, **fields: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 1_700_000_000
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _member(info: tarfile.TarInfo, data: bytes = b"", fmt: Any = tarfile.PAX_FORMAT) -> bytes:
    header = info.tobuf(fmt, "utf-8", "surrogateescape")
    return header + data + b"\0" * (-len(data) % 512)


def _raw_header(**fields: bytes) -> bytes:
    """A ustar header with the given raw fields, checksum computed (``chksum=`` to break it)."""
    block = bytearray(_info("raw", size=0).tobuf(tarfile.USTAR_FORMAT))
    offsets = {
        "name": (0, 100),
        "mode": (100, 8),
        "uid": (108, 8),
        "gid": (116, 8),
        "size": (124, 12),
        "mtime": (136, 12),
        "type": (156, 1),
        "linkname": (157, 100),
        "devmajor": (329, 8),
        "devminor": (337, 8),
        "prefix": (345, 155),
    }
    for key, value in fields.items():
        if key == "chksum":
            continue
        start, width = offsets[key]
        block[start : start + width] = value.ljust(width, b"\0")[:width]
    block[148:156] = b" " * 8
    block[148:156] = fields.get("chksum", f"{sum(block):06o}".encode() + b"\0 ")
    return bytes(block)


def _gnu_sparse(name: str, data_at: int, data: bytes, size: int, extension: bytes | None = None) -> bytes:
    block = bytearray(_info(name, size=len(data)).tobuf(tarfile.GNU_FORMAT))
    block[156:157] = tarfile.GNUTYPE_SPARSE
    block[386:398] = f"{data_at:011o}".encode() + b"\0"
    block[398:410] = f"{len(data):011o}".encode() + b"\0"
    block[482] = 1 if extension is not None else 0
    block[483:495] = f"{size:011o}".encode() + b"\0"
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}".encode() + b"\0 "
    return bytes(block) + (extension or b"") + data + b"\0" * (-len(data) % 512)


def _sparse_extension(pairs: list[tuple[int, int]]) -> bytes:
    block = bytearray(512)
    for i, (offset, numbytes) in enumerate(pairs):
        block[i * 24 : i * 24 + 12] = f"{offset:011o}".encode() + b"\0"
        block[i * 24 + 12 : i * 24 + 24] = f"{numbytes:011o}".encode() + b"\0"
    return bytes(block)


def _pax_sparse(version: str, name: str) -> bytes:
    data = b"A" * 700 + b"B" * 100
    if version == "1.0":
        headers = {
            "GNU.sparse.major": "1",
            "GNU.sparse.minor": "0",
            "GNU.sparse.name": name,
            "GNU.sparse.realsize": "5000",
        }
        body = b"2\n0\n700\n4200\n100\n".ljust(512, b"\0") + data
    elif version == "0.1":
        headers = {"GNU.sparse.map": "0,700,4200,100", "GNU.sparse.size": "5000", "GNU.sparse.name": name}
        body = data
    else:
        headers = {"GNU.sparse.size": "5000", "GNU.sparse.name": name}
        records = "".join(
            f"{len(f' GNU.sparse.{k}={v}') + len(str(len(f' GNU.sparse.{k}={v}'))) + 1} GNU.sparse.{k}={v}\n"
            for k, v in (("offset", 0), ("numbytes", 700), ("offset", 4200), ("numbytes", 100))
        )
        pax = _info("././@PaxHeader", type=tarfile.XHDTYPE, size=len(records))
        return _member(pax, records.encode(), tarfile.USTAR_FORMAT) + _member(
            _info("GNUSparseFile.0/x", size=len(data), pax_headers=headers), data
        )
    info = _info("GNUSparseFile.0/x", size=len(body), pax_headers=headers)
    return _member(info, body)


def _corpus() -> dict[str, bytes]:
    end = b"\0" * 1024
    long_name = "d/" + "n" * 150 + "/file"
    archives = {
        "members": layer_tar(
            [
                M("etc/", kind="dir"),
                M("etc/a", b"aaa", mode=0o600, uid=1000, gid=1001),
                M("etc/link", kind="symlink", link="a"),
                M("etc/hard", kind="hardlink", link="etc/a"),
                M("dev/null", kind="char"),
                M("run/fifo", kind="fifo"),
                M("etc", kind="opaque"),
                M("gone", kind="whiteout"),
                M("big", bytes(3000)),
            ]
        ),
        "no end marker": layer_tar([M("a", b"1"), M("b", b"22")], end=False),
        "empty": b"",
        "only zeros": end,
        "gnu long names": _member(_info(long_name, size=3), b"abc", tarfile.GNU_FORMAT)
        + _member(_info("l", type=tarfile.SYMTYPE, linkname="t" * 200), fmt=tarfile.GNU_FORMAT)
        + end,
        "ustar prefix": _member(_info("p" * 90 + "/" + "q" * 90, size=1), b"x", tarfile.USTAR_FORMAT) + end,
        "pax fields": _member(
            _info("x", size=2, pax_headers={"path": "pax/name/", "uid": "70000", "gid": "x", "comment": "c"}),
            b"hi",
        )
        + _member(
            _info("y", type=tarfile.SYMTYPE, pax_headers={"linkpath": "é" * 80, "hdrcharset": "BINARY"})
        )
        + end,
        "pax size": _member(_info("z", size=5, pax_headers={"size": "5"}), b"12345") + end,
        "pax global": _member(
            _info("././@PaxHeader", type=tarfile.XGLTYPE, pax_headers={"uid": "4", "gid": "5"}),
            fmt=tarfile.PAX_FORMAT,
        )
        + layer_tar([M("a", b"1"), M("b", b"2")]),
        "v7 directory": _raw_header(name=b"olddir/", type=b"\0") + end,
        "base-256 numbers": _raw_header(name=b"n", uid=b"\x80" + bytes(6) + b"\x01", size=b"0" * 11) + end,
        "negative base-256 size": _raw_header(name=b"neg", size=b"\xff" * 12) + end,
        "signed checksum": _raw_header(name="ü".encode() * 40, chksum=b"") + end,
        "bad checksum first": _raw_header(name=b"x", chksum=b"0000001\0") + end,
        "bad checksum later": layer_tar([M("a", b"1")], end=False)
        + _raw_header(name=b"x", chksum=b"01\0")
        + end,
        "bad number later": layer_tar([M("a", b"1")], end=False) + _raw_header(name=b"x", mtime=b"zz") + end,
        "bad device number": layer_tar([M("a", b"1")], end=False) + _raw_header(devmajor=b"9x") + end,
        "octal quirks": _raw_header(name=b"q", mode=b" 0o17 \0", uid=b"+7\0", gid=b"1_0\0") + end,
        "symlink with data": _raw_header(name=b"s", type=b"2", size=b"00000001000\0")
        + _raw_header(name=b"t", size=b"0\0")
        + end,
        "unknown type with data": _raw_header(name=b"u", type=b"Z", size=b"3\0")
        + b"abc".ljust(512, b"\0")
        + end,
        "old gnu sparse": _gnu_sparse("sp", 4096, b"tail", 5000) + end,
        "old gnu sparse, extension": _gnu_sparse("sx", 0, b"x" * 600, 9000, _sparse_extension([(8000, 10)]))
        + end,
        "pax sparse 0.0": _pax_sparse("0.0", "sparse-0.0") + end,
        "pax sparse 0.1": _pax_sparse("0.1", "sparse-0.1") + end,
        "pax sparse 1.0": _pax_sparse("1.0", "sparse-1.0") + end,
        "truncated data": layer_tar([M("a", b"1"), M("etc/big", b"x" * 5000)])[:3000],
        "truncated header": layer_tar([M("a", b"1"), M("b", b"2")])[:1300],
        "truncated first header": b"x" * 100,
        "not a tar": b"this is not a tar archive\n" * 40,
        "huge extended header": _member(_info("././@PaxHeader", type=tarfile.XHDTYPE, size=2 << 20))[:512]
        + b"9" * 1024,
        "chain of long names": (
            _member(
                _info("././@LongLink", type=tarfile.GNUTYPE_LONGNAME, size=10), b"x" * 10, tarfile.GNU_FORMAT
            )
            * 12
        )
        + layer_tar([M("a")]),
        "pax record of length 0": _member(
            _info("././@PaxHeader", type=tarfile.XHDTYPE, size=12), b"0 path=xxxx\n"
        )
        + layer_tar([M("a")]),
        "pax then nothing": _member(_info("././@PaxHeader", type=tarfile.XHDTYPE, size=12), b"12 path=abc\n"),
    }
    return archives


CORPUS = _corpus()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_archive_reads_as_tarfile_reads_it(name: str) -> None:
    _check(CORPUS[name])


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    out = []
    for _ in range(40):
        buf = bytearray(data)
        how = rng.randrange(4)
        if how == 0 and buf:  # flip bytes
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif how == 1 and buf:  # cut
            del buf[rng.randrange(len(buf)) :]
        elif how == 2 and len(buf) >= 512:  # one field of a header block gets text or digits
            block = rng.randrange(len(buf) // 512) * 512
            start = block + rng.choice([100, 108, 124, 136, 156, 157, 329, 345, 386, 482, 483])
            buf[start : start + 8] = rng.choice(
                [b"-0000001", b"77777777", b"\x80\0\0\0\0\0\0\x10", b"abc\0\0\0\0\0"]
            )
            buf[block + 148 : block + 156] = b" " * 8
            buf[block + 148 : block + 156] = f"{sum(buf[block : block + 512]):06o}".encode() + b"\0 "
        else:  # a PAX-like record in the middle
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = rng.choice([b"9 size=-4\n", b"0 x=y\n", b"11 path=q/\n", b"\x1f\x8b"])
        out.append(bytes(buf))
    return out


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_mutated_archives_read_as_tarfile_reads_them(name: str) -> None:
    rng = random.Random(name)
    for mutated in _mutations(CORPUS[name], rng):
        _check(mutated)


# Limits ------------------------------------------------------------------------------------------


def _first_error(data: bytes) -> Any:
    return _new(data)[-1]


def test_limits_are_the_ones_tarsafe_sets() -> None:
    assert _first_error(CORPUS["huge extended header"]) == (
        "hostile",
        "extended header of 2097152 bytes at offset 0 (the limit is 1048576)",
    )
    assert _first_error(CORPUS["chain of long names"]) == (
        "hostile",
        "more than 8 extended headers in a row at offset 8192",
    )
    assert _first_error(CORPUS["negative base-256 size"]) == ("hostile", "member 'neg' has a negative size")


def test_a_negative_size_from_a_pax_header_is_refused() -> None:
    data = _member(_info("p", size=0, pax_headers={"size": "-5"})) + b"\0" * 1024
    assert _first_error(data) == ("hostile", "member 'p' has a negative size")


def test_a_pax_1_0_sparse_map_larger_than_a_mebibyte_is_refused() -> None:
    headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "5"}
    body = b"999999999\n" + b"0\n" * (2 << 20)  # tarfile would build a list of millions of numbers
    data = _member(_info("GNUSparseFile.0/x", size=len(body), pax_headers=headers), body)
    assert _first_error(data) == (
        "hostile",
        "sparse map of member 'GNUSparseFile.0/x' is larger than 1048576 bytes",
    )


def test_an_invalid_header_after_the_first_is_reported_with_its_reason() -> None:
    reader = open_tar(cast(Any, _Steps(CORPUS["bad number later"], 1 << 20)))
    assert reader is not None
    while reader.next() is not None:
        pass
    assert (reader.end, reader.end_reason, reader.offset) == ("invalid", "invalid header", 1024)


def test_header_end_states_match_tarsafe() -> None:
    for data in (b"", b"x" * 100, bytes(512), b"y" * 512):
        reader = TarReader(cast(Any, _Steps(layer_tar([M("a", b"1")], end=False) + data, 1 << 20)))
        reader.next()
        assert reader.next() is None
        assert reader.end == _header_end(data)


def test_data_of_a_member_is_streamed_as_views_without_copies() -> None:
    data = layer_tar([M("big", bytes(5 << 20))])
    reader = open_tar(cast(Any, _Steps(data, 2 << 20)))
    assert reader is not None
    header = reader.next()
    assert header is not None
    chunks = list(reader.data(header))
    assert all(isinstance(c, memoryview) and len(c) <= 1 << 20 for c in chunks)
    assert sum(len(c) for c in chunks) == 5 << 20


def test_skipping_a_truncated_member_names_it() -> None:
    data = layer_tar([M("a", b"1"), M("etc/big", b"x" * 5000)])[:3000]
    reader = open_tar(cast(Any, _Steps(data, 1 << 20)))
    assert reader is not None
    reader.next()
    header = reader.next()
    assert header is not None
    with pytest.raises(tarfile.ReadError, match=r"^unexpected end of data in etc/big$"):
        reader.skip(header)


# Checksums ---------------------------------------------------------------------------------------


def _checksum_cases(rng: random.Random) -> list[bytes]:
    extremes = [bytes([255]) * 512, bytes([128]) * 512, bytes([127]) * 512, b"\x01" * 512]
    mixed = [bytes(rng.choice((0, 1, 127, 128, 254, 255)) for _ in range(512)) for _ in range(40)]
    return extremes + mixed + [rng.randbytes(512) for _ in range(200)]


@pytest.mark.parametrize("seed", range(3))
def test_a_checksum_is_accepted_exactly_when_tarfile_accepts_it(seed: int) -> None:
    rng = random.Random(seed)
    for block in _checksum_cases(rng):
        unsigned, signed = tarfile.calc_chksums(block)  # type: ignore[attr-defined]
        for stored in {unsigned, signed, unsigned + 1, unsigned - 1, signed + 256, unsigned - 256, 0}:
            buf = bytearray(block)
            buf[148:156] = f"{stored:06o}".encode() + b"\0 "
            field = bytes(buf[148:156])
            accepted = tarfile.nti(field) in tarfile.calc_chksums(bytes(buf))  # type: ignore[attr-defined]
            assert checksum_ok(bytes(buf), field) is accepted, (seed, stored, block[:16])
