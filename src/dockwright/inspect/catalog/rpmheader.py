"""Parse one RPM header blob as the sqlite rpmdb stores it (no lead, no header magic).

Layout (big-endian; ``rpm/lib/header.c``)::

    blob    := il:uint32 dl:uint32 entry{il} data[dl]
    entry   := tag:uint32 type:uint32 offset:int32 count:uint32

``offset`` points into ``data``. Types: NULL=0, CHAR=1, INT8=2, INT16=3, INT32=4, INT64=5, STRING=6 (one
NUL-terminated string), BIN=7 (``count`` bytes), STRING_ARRAY=8 and I18NSTRING=9 (``count``
NUL-terminated strings). Every entry is bounds-checked on its own: a bad entry is reported and
skipped, the rest of the header is still read. Strings are decoded as UTF-8 with replacement.

This module does not verify signatures or digests, does not interpret region tags (63, 62, 61) or
the dribble entries rpm appends, and does not read Berkeley DB or NDB databases.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["Header", "HeaderError", "Tag", "parse_header"]

_ENTRY = struct.Struct(">IIiI")
_MAX_ENTRIES = 0xFFFF  # rpm's HEADER_TAGS_MAX
_MAX_DATA = 256 * 1024 * 1024  # rpm's HEADER_DATA_MAX
_INT_SIZES = {2: 1, 3: 2, 4: 4, 5: 8}
_INT_FORMATS = {1: "B", 2: "B", 3: "H", 4: "I", 5: "Q"}

Value = str | bytes | tuple[int, ...] | tuple[str, ...]


class Tag:
    """The header tags the cataloger reads (``rpm/include/rpm/rpmtag.h``)."""

    NAME = 1000
    VERSION = 1001
    RELEASE = 1002
    EPOCH = 1003
    SIZE = 1009
    LICENSE = 1014
    VENDOR = 1011
    ARCH = 1022
    FILEMODES = 1030
    SOURCERPM = 1044
    DIRINDEXES = 1116
    BASENAMES = 1117
    DIRNAMES = 1118
    LONGSIZE = 5009


class HeaderError(ValueError):
    """The blob is not an RPM header at all (too short, or its counts overflow it)."""


@dataclass(frozen=True, slots=True)
class Header:
    """The decoded entries of one header, and what was wrong with the entries that were skipped.

    Attributes:
        values: tag to value (a string, bytes, or a tuple of integers or strings).
        problems: one line per skipped entry.
    """

    values: dict[int, Value] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def string(self, tag: int) -> str:
        """Return a STRING tag, the first of a string array, or ``""``."""
        value = self.values.get(tag)
        if isinstance(value, str):
            return value
        if isinstance(value, tuple) and value and isinstance(value[0], str):
            return value[0]
        return ""

    def strings(self, tag: int) -> tuple[str, ...]:
        """Return a STRING_ARRAY tag (a lone STRING as one element), or ``()``."""
        value = self.values.get(tag)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            return tuple(str(v) for v in value)
        return ()

    def integers(self, tag: int) -> tuple[int, ...]:
        """Return an integer-array tag, or ``()``."""
        value = self.values.get(tag)
        if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
            return tuple(int(v) for v in value)
        return ()

    def integer(self, tag: int) -> int | None:
        """Return the first value of an integer tag, or ``None`` when absent."""
        values = self.integers(tag)
        return values[0] if values else None


def _strings(data: bytes, offset: int, count: int) -> tuple[str, ...]:
    out = []
    for _ in range(count):
        end = data.find(b"\0", offset)
        if end < 0:
            raise ValueError("string runs past the data store")
        out.append(data[offset:end].decode("utf-8", "replace"))
        offset = end + 1
    return tuple(out)


def _value(kind: int, data: bytes, offset: int, count: int) -> Value:
    if offset < 0 or offset > len(data) or count > len(data):
        raise ValueError(f"offset {offset} or count {count} outside the {len(data)}-byte data store")
    if kind in _INT_FORMATS:
        size = _INT_SIZES.get(kind, 1)
        if offset + size * count > len(data):
            raise ValueError(f"{count} values of {size} bytes run past the data store")
        return tuple(struct.unpack_from(f">{count}{_INT_FORMATS[kind]}", data, offset))
    if kind == 0:
        return b""
    if kind == 6:
        return _strings(data, offset, 1)[0]
    if kind in (8, 9):
        return _strings(data, offset, count)
    if kind == 7:
        if offset + count > len(data):
            raise ValueError(f"{count} bytes run past the data store")
        return data[offset : offset + count]
    raise ValueError(f"unknown type {kind}")


def parse_header(blob: bytes) -> Header:
    """Decode a header blob; entries that do not fit are skipped and named in ``problems``.

    Args:
        blob: the ``blob`` column of one ``Packages`` row.

    Returns:
        The decoded header.

    Raises:
        HeaderError: the blob is shorter than its own index and data counts say.
    """
    if len(blob) < 8:
        raise HeaderError(f"a header needs at least 8 bytes, got {len(blob)}")
    il, dl = struct.unpack_from(">II", blob)
    if il > _MAX_ENTRIES or dl > _MAX_DATA:
        raise HeaderError(f"header claims {il} entries and {dl} data bytes: beyond rpm's limits")
    start = 8 + il * _ENTRY.size
    if start + dl > len(blob):
        raise HeaderError(f"header claims {start + dl} bytes, the blob has {len(blob)}")
    data = blob[start : start + dl]
    values: dict[int, Value] = {}
    problems = []
    for index in range(il):
        tag, kind, offset, count = _ENTRY.unpack_from(blob, 8 + index * _ENTRY.size)
        try:
            values[tag] = _value(kind, data, offset, count)
        except (ValueError, struct.error) as error:
            problems.append(f"entry {index} (tag {tag}, type {kind}): {error}")
    return Header(values, tuple(problems))
