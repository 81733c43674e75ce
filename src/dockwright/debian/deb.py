"""Read Debian binary packages (.deb): the ar container, the control member and the data tarball.

A .deb is an ar archive holding ``debian-binary`` (``2.0``), ``control.tar[.gz|.xz|.zst]`` and
``data.tar[.gz|.xz|.zst|.bz2]``, in that order. This module parses the ar container itself (it is
sixty-byte headers and even padding), then streams the compressed tarballs through the standard
decompressors and :mod:`tarfile`, never seeking back and never trusting a header alone: every
decompressed byte is counted against :class:`ExtractLimits` as it is read, so a bomb is refused
after at most the limit has been inflated.

Every problem with the archive itself is reported as one
:class:`~dockwright.errors.UnsafeArchiveError` naming the package and the member.

What this module does not do: judge member *paths* or types (see :mod:`dockwright.build.extract`),
write anything anywhere, verify the package's digest against an index (the fetcher does), or run
or even look at maintainer scripts.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import zstandard

from dockwright.debian.stanza import parse_control_fields
from dockwright.errors import UnsafeArchiveError

__all__ = ["DebControl", "ExtractLimits", "iter_data", "parse_control_fields", "read_control"]

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
_CONTROL_MAX = 64 * 1024 * 1024  # control tarballs are tiny; even md5sums of huge packages stay small
_RATIO_FLOOR = 4 * 1024 * 1024  # tiny tarballs (mostly zero padding) compress absurdly well
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractLimits:
    """Bounds on what one package may inflate to; exceeding any of them refuses the package.

    Attributes:
        max_member_size: largest single member, in bytes.
        max_total_size: largest decompressed data tarball, in bytes (headers and padding included).
        max_members: most members in the data tarball.
        max_ratio: largest decompressed/compressed ratio, checked once past a few MiB.
    """

    max_member_size: int = 1 << 30
    max_total_size: int = 4 << 30
    max_members: int = 200_000
    max_ratio: int = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class DebControl:
    """The control information of one package.

    Attributes:
        raw: the ``control`` file exactly as shipped.
        fields: its fields in order; continuation lines are kept verbatim after a newline.
        conffiles: the paths listed in ``conffiles`` (flags such as ``remove-on-upgrade`` dropped).
        md5sums: the ``md5sums`` member as shipped, or None when the package has none.
    """

    raw: str
    fields: dict[str, str] = field(default_factory=dict)
    conffiles: tuple[str, ...] = ()
    md5sums: bytes | None = None

    @property
    def package(self) -> str:
        """The ``Package`` field."""
        return self.fields.get("Package", "")

    @property
    def version(self) -> str:
        """The ``Version`` field."""
        return self.fields.get("Version", "")

    @property
    def architecture(self) -> str:
        """The ``Architecture`` field."""
        return self.fields.get("Architecture", "")


@dataclass(frozen=True, slots=True)
class _ArMember:
    name: str
    offset: int
    size: int


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _LimitExceeded(Exception):
    """Raised inside the counting reader; mapped to UnsafeArchiveError with context."""


class _Bounded(io.RawIOBase):
    """A read-only window ``[offset, offset + size)`` of an open file."""

    def __init__(self, f: BinaryIO, member: _ArMember) -> None:
        self._f = f
        self._pos = member.offset
        self._end = member.offset + member.size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._end - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._pos)
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class _Counting(io.RawIOBase):
    """Counts decompressed bytes and refuses to hand out more than ``limit`` of them."""

    def __init__(self, inner: _Readable, *, limit: int, compressed: int, max_ratio: int) -> None:
        self._inner = inner
        self._limit = limit
        self._compressed = max(compressed, 1)
        self._max_ratio = max_ratio
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        # Never ask the decompressor for more than one byte past the budget.
        want = min(len(buffer), self._limit - self.total + 1, _CHUNK)
        data = self._inner.read(want)
        self.total += len(data)
        if self.total > self._limit:
            raise _LimitExceeded(f"decompresses to more than {self._limit} bytes")
        if self.total > _RATIO_FLOOR and self.total > self._max_ratio * self._compressed:
            raise _LimitExceeded(f"decompresses more than {self._max_ratio} times its size")
        buffer[: len(data)] = data
        return len(data)


def _refuse(label: str, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{label}: refusing member {member}: {why}")


def _ar_members(f: BinaryIO, label: str) -> list[_ArMember]:
    size = os.fstat(f.fileno()).st_size
    if f.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise UnsafeArchiveError(f"{label}: not a Debian package: bad ar magic")
    members: list[_ArMember] = []
    pos = len(_AR_MAGIC)
    while pos < size:
        f.seek(pos)
        header = f.read(_AR_HEADER)
        members.append(_parse_ar_header(header, pos, size, label))
        pos += _AR_HEADER + members[-1].size + (members[-1].size & 1)
    return members


def _parse_ar_header(header: bytes, pos: int, file_size: int, label: str) -> _ArMember:
    if len(header) != _AR_HEADER or header[58:60] != b"`\n":
        raise UnsafeArchiveError(f"{label}: corrupt ar header at offset {pos}")
    name = header[:16].decode("ascii", "replace").rstrip(" ").rstrip("/")
    size_field = header[48:58].decode("ascii", "replace").strip()
    if not size_field.isdigit():
        raise _refuse(label, name, f"bad ar size field {size_field!r}")
    member = _ArMember(name, pos + _AR_HEADER, int(size_field))
    if member.offset + member.size > file_size:
        raise _refuse(label, name, "ar member runs past the end of the file")
    return member


def _find_members(f: BinaryIO, label: str) -> tuple[_ArMember, _ArMember]:
    """Return the control and data members after checking the container's shape."""
    members = [m for m in _ar_members(f, label) if not m.name.startswith("_")]
    if not members or members[0].name != "debian-binary":
        raise UnsafeArchiveError(f"{label}: not a Debian package: debian-binary is not the first member")
    f.seek(members[0].offset)
    version = f.read(min(members[0].size, 16))
    if version != b"2.0\n":
        raise _refuse(label, "debian-binary", f"unsupported format version {version!r} (expected 2.0)")
    names = [m.name for m in members[1:]]
    if len(names) != 2 or not names[0].startswith("control.tar") or not names[1].startswith("data.tar"):
        raise UnsafeArchiveError(
            f"{label}: not a Debian package: expected control.tar* then data.tar*, found {names}"
        )
    return members[1], members[2]


def _decompressor(raw: io.BufferedReader, name: str, label: str) -> _Readable:
    suffix = name.rpartition(".tar")[2]
    if suffix == "":
        return raw
    if suffix == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if suffix == ".xz":
        return lzma.LZMAFile(raw)
    if suffix == ".bz2" and name.startswith("data."):
        return bz2.BZ2File(raw)
    if suffix == ".zst":
        reader: _Readable = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return reader
    raise _refuse(label, name, "unknown compression")


_DECODE_ERRORS = (
    tarfile.TarError,
    EOFError,
    lzma.LZMAError,
    zlib.error,
    OSError,
    zstandard.ZstdError,
    UnicodeDecodeError,
)


def _open_tar(
    f: BinaryIO, member: _ArMember, label: str, *, limit: int, max_ratio: int
) -> tuple[tarfile.TarFile, _Counting]:
    inner = _decompressor(io.BufferedReader(_Bounded(f, member)), member.name, label)
    counting = _Counting(inner, limit=limit, compressed=member.size, max_ratio=max_ratio)
    stream = io.BufferedReader(counting, buffer_size=64 * 1024)
    return tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="strict"), counting


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(info)
    if handle is None:
        return b""
    chunks: list[bytes] = []
    got = 0
    while chunk := handle.read(_CHUNK):
        got += len(chunk)
        chunks.append(chunk)
    if got != info.size:
        raise tarfile.ReadError(f"member {info.name} is truncated")
    return b"".join(chunks)


def read_control(path: Path, *, package: str | None = None) -> DebControl:
    """Read the control member of the .deb at ``path``.

    Args:
        path: the .deb file.
        package: the name to use in error messages (defaults to the file name).

    Returns:
        The control stanza (raw and parsed), conffiles and md5sums.

    Raises:
        UnsafeArchiveError: the file is not a well-formed Debian package.
    """
    label = package or path.name
    files: dict[str, bytes] = {}
    with open(path, "rb") as f:
        control, _ = _find_members(f, label)
        try:
            tar, _counting = _open_tar(f, control, label, limit=_CONTROL_MAX, max_ratio=1 << 30)
            with tar:
                for info in tar:
                    name = info.name.removeprefix("./")
                    if info.isreg() and name in ("control", "md5sums", "conffiles"):
                        files[name] = _read_member(tar, info)
        except _LimitExceeded as exc:
            raise _refuse(label, control.name, str(exc)) from None
        except _DECODE_ERRORS as exc:
            raise _refuse(label, control.name, f"corrupt archive: {exc}") from None
    return _control_from_files(files, label)


def _control_from_files(files: dict[str, bytes], label: str) -> DebControl:
    if "control" not in files:
        raise _refuse(label, "control.tar", "it has no control file")
    try:
        raw = files["control"].decode("utf-8")
        conffiles_text = files.get("conffiles", b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(label, "control.tar", f"control is not UTF-8: {exc}") from None
    fields = parse_control_fields(raw, label=f"{label}: control")
    conffiles = tuple(line.split()[-1] for line in conffiles_text.splitlines() if line.strip())
    return DebControl(raw=raw, fields=fields, conffiles=conffiles, md5sums=files.get("md5sums"))


def iter_data(
    path: Path, *, package: str | None = None, limits: ExtractLimits | None = None
) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    """Stream the members of the data tarball of the .deb at ``path``.

    Regular files come with their content, read under the limits; every other member comes with
    ``b""``. Member names are passed through untouched: judging them is the caller's job.

    Args:
        path: the .deb file.
        package: the name to use in error messages (defaults to the file name).
        limits: size, count and ratio bounds (defaults to :class:`ExtractLimits`).

    Yields:
        ``(TarInfo, content)`` pairs in archive order.

    Raises:
        UnsafeArchiveError: the container is malformed, corrupt, sparse or exceeds a limit.
    """
    label = package or path.name
    limits = limits or ExtractLimits()
    with open(path, "rb") as f:
        _, data = _find_members(f, label)
        name = data.name
        try:
            tar, _counting = _open_tar(
                f, data, label, limit=limits.max_total_size, max_ratio=limits.max_ratio
            )
            with tar:
                for count, info in enumerate(tar, start=1):
                    name = info.name
                    _check_header(info, count, limits, label)
                    yield info, (_read_member(tar, info) if info.isreg() else b"")
        except _LimitExceeded as exc:
            raise _refuse(label, name, f"{data.name} {exc}") from None
        except _DECODE_ERRORS as exc:
            raise _refuse(label, name, f"corrupt {data.name}: {exc}") from None


def _check_header(info: tarfile.TarInfo, count: int, limits: ExtractLimits, label: str) -> None:
    if count > limits.max_members:
        raise _refuse(label, info.name, f"more than {limits.max_members} members")
    if info.size > limits.max_member_size:
        raise _refuse(label, info.name, f"size {info.size} exceeds the limit of {limits.max_member_size}")
    if info.issparse():
        raise _refuse(label, info.name, "sparse files are not supported")
