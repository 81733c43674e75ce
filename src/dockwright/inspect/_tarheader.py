"""One tar header block, read as ``tarfile.TarInfo.frombuf`` reads it: fields, numbers, checksum.

:func:`parse_header` checks a 512-byte block (empty, truncated, all zeros, bad checksum: a
:class:`HeaderError` whose ``kind`` says how an archive ending there ends) and returns a
:class:`TarHeader` with the name (and ustar ``prefix``), mode, owner, size, type flag and link
name, plus the old GNU sparse map when the type is ``S``. Numbers are octal text or base-256, as
``tarfile`` reads them; the checksum may be the unsigned or the signed sum. Numeric fields repeat
from member to member (modes, owners, times, sizes), so their parsed values are remembered.

What this module does not do: read streams, or follow GNU long names and PAX headers (see
:mod:`dockwright.inspect._tarstream`, which does both).
"""

from __future__ import annotations

import struct
from zlib import adler32

__all__ = [
    "AREG",
    "BLOCK",
    "CONT",
    "DIR",
    "GNU",
    "LONGLINK",
    "LONGNAME",
    "META",
    "PAX",
    "PAX_GLOBAL",
    "REG",
    "REGULAR",
    "SOLARIS_PAX",
    "SPARSE",
    "SUPPORTED",
    "HeaderError",
    "TarHeader",
    "checksum_ok",
    "nti",
    "nts",
    "padded",
    "parse_header",
]

BLOCK = 512
_ZEROS = bytes(BLOCK)
REG = b"0"
AREG = b"\0"
CONT = b"7"
DIR = b"5"
SPARSE = b"S"
LONGNAME = b"L"
LONGLINK = b"K"
PAX = b"x"
PAX_GLOBAL = b"g"
SOLARIS_PAX = b"X"
REGULAR = frozenset({REG, AREG, CONT, SPARSE})
SUPPORTED = frozenset({REG, AREG, b"1", b"2", DIR, b"6", CONT, b"3", b"4", LONGNAME, LONGLINK, SPARSE})
META = frozenset({LONGNAME, LONGLINK, PAX, PAX_GLOBAL, SOLARIS_PAX})
GNU = frozenset({LONGNAME, LONGLINK, SPARSE})
# name, mode+uid+gid, size, mtime, chksum, type, linkname, (magic version uname gname),
# devmajor+devminor, prefix
_FIELDS = struct.Struct("100s24s12s12s8sc100s72x16s155s12x")
# Numeric fields seen before (modes, owners, times and sizes repeat), parsed once per read.
_OWNERS: dict[bytes, tuple[int, int, int]] = {}
_NUMBERS: dict[bytes, int] = {}
_VALID: set[bytes] = set()
_MAX_REMEMBERED = 4096


class HeaderError(Exception):
    """A block that is not a header; ``kind`` is how the archive ends if it is at the top level."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class TarHeader:
    """One member: what ``tarfile.TarInfo`` says about it, and where its data is.

    ``type`` is the one-byte type flag (``b"0"``, ``b"5"``, ...); ``sparse`` the GNU sparse map
    ``[(offset, length), ...]`` or None; ``offset`` where the member's first header starts and
    ``offset_data`` where its data starts, in the uncompressed stream.
    """

    __slots__ = ("gid", "linkname", "mode", "name", "offset", "offset_data", "size", "sparse", "type", "uid")

    def __init__(self) -> None:
        self.name = ""
        self.type = REG
        self.size = 0
        self.mode = 0
        self.uid = 0
        self.gid = 0
        self.linkname = ""
        self.sparse: list[tuple[int, int]] | None = None
        self.offset = 0
        self.offset_data = 0

    def isreg(self) -> bool:
        """A regular file (also a contiguous or GNU sparse file)."""
        return self.type in REGULAR

    def isdir(self) -> bool:
        """A directory."""
        return self.type == DIR

    def issym(self) -> bool:
        """A symbolic link."""
        return self.type == b"2"

    def islnk(self) -> bool:
        """A hard link."""
        return self.type == b"1"


def nts(raw: bytes) -> str:
    end = raw.find(0)
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def nti(raw: bytes) -> int:
    """A numeric field: octal text, or base-256 (``0x80``/``0xff`` first byte), as tarfile reads it."""
    if raw[0] in (0o200, 0o377):
        n = int.from_bytes(raw[1:], "big")
        if raw[0] == 0o377:
            n = -(256 ** (len(raw) - 1) - n)
        return n
    end = raw.find(0)
    if end >= 0:
        raw = raw[:end]
    try:
        return int(raw.decode("ascii").strip() or "0", 8)
    except ValueError:
        raise HeaderError("invalid", "invalid header") from None


def padded(count: int) -> int:
    blocks, remainder = divmod(count, BLOCK)
    return (blocks + 1) * BLOCK if remainder else blocks * BLOCK


def _number(raw: bytes) -> int:
    """:func:`nti`, remembering what it returned for the same bytes."""
    n = _NUMBERS.get(raw)
    if n is None:
        n = nti(raw)
        if len(_NUMBERS) >= _MAX_REMEMBERED:
            _NUMBERS.clear()
        _NUMBERS[raw] = n
    return n


def _owners(raw: bytes) -> tuple[int, int, int]:
    """Mode, uid and gid (three 8-byte fields), remembered like :func:`_number`."""
    found = _OWNERS.get(raw)
    if found is None:
        found = (nti(raw[0:8]), nti(raw[8:16]), nti(raw[16:24]))
        if len(_OWNERS) >= _MAX_REMEMBERED:
            _OWNERS.clear()
        _OWNERS[raw] = found
    return found


def _check_unused(mtime: bytes, devices: bytes) -> None:
    """Parse the fields dockwright does not use (mtime, devmajor, devminor): malformed is invalid."""
    key = mtime + devices
    if key not in _VALID:
        nti(mtime)
        nti(devices[0:8])
        nti(devices[8:16])
        if len(_VALID) >= _MAX_REMEMBERED:
            _VALID.clear()
        _VALID.add(key)


def checksum_ok(buf: bytes, field: bytes) -> bool:
    """Whether ``field`` holds the header's checksum, unsigned or signed (``tarfile``'s two sums).

    The unsigned sum of the bytes outside the field comes from two adler32s, several times faster
    than ``sum(buf)``: adler32's low 16 bits are 1 plus the byte sum modulo 65521, and neither
    part (248 and 256 bytes of at most 255) can reach 65521, so each gives its exact sum.
    """
    stored = nti(field)
    first = adler32(buf[156:256], adler32(buf[:148])) & 0xFFFF  # 1 + bytes 0-147 and 156-255
    second = adler32(buf[256:]) & 0xFFFF  # 1 + bytes 256-511
    unsigned = 256 + (first - 1) + (second - 1)
    if stored == unsigned:
        return True
    high = sum(1 for b in buf[:148] if b > 127) + sum(1 for b in buf[156:] if b > 127)
    return stored == unsigned - 256 * high


def parse_header(buf: bytes) -> tuple[TarHeader, tuple[list[tuple[int, int]], bool, int] | None]:
    """Parse one header block as ``TarInfo.frombuf`` does (same checks, same order)."""
    if not buf:
        raise HeaderError("empty", "empty header")
    if len(buf) != BLOCK:
        raise HeaderError("truncated", "truncated header")
    if buf == _ZEROS:
        raise HeaderError("zero", "end of file header")
    name, owners, size, mtime, chksum, kind, linkname, devices, prefix_raw = _FIELDS.unpack(buf)
    if not checksum_ok(buf, chksum):
        raise HeaderError("invalid", "bad checksum")
    h = TarHeader()
    h.name = nts(name)
    h.mode, h.uid, h.gid = _owners(owners)
    h.size = _number(size)
    _check_unused(mtime, devices)
    h.type = kind
    h.linkname = nts(linkname) if linkname[0] else ""
    prefix = nts(prefix_raw) if prefix_raw[0] else ""
    if h.type == AREG and h.name.endswith("/"):
        h.type = DIR
    sparse = None
    if h.type == SPARSE:
        structs = [(nti(buf[pos : pos + 12]), nti(buf[pos + 12 : pos + 24])) for pos in range(386, 482, 24)]
        sparse = (structs, bool(buf[482]), nti(buf[483:495]))
    if h.type == DIR:
        h.name = h.name.rstrip("/")
    if prefix and h.type not in GNU:
        h.name = f"{prefix}/{h.name}"
    return h, sparse
