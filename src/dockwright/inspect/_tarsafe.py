"""``tarfile`` hardened for hostile archives, told how each archive ended; tar error mapping.

:class:`LayerTar` is a :class:`tarfile.TarFile` whose headers are parsed by :class:`SafeTarInfo`,
which refuses what ``tarfile`` would otherwise read whole into memory or recurse on: a PAX or GNU
long-name header larger than 1 MiB, more than 8 such headers in a row, negative sizes. It also
records the header error that ended the archive in :attr:`LayerTar.end`, because ``tarfile``
treats a zero block, a missing trailer, a truncated header and a corrupt header after the first
alike (as the end) and only the first two are an honest end. The docker-archive source reads the
outer archive with it; layers are parsed by :mod:`dockwright.inspect._tarstream`, which keeps these
limits (its tests check it against this module). :class:`tar_errors` maps both parsers' errors to
dockwright's (:func:`check_end` raises for a layer that ended badly); :func:`normalize_name` turns
member names into image paths.

What this module does not do: read member data, or bound the size of GNU sparse maps (they grow
with the archive's own bytes, never with the sizes it claims).
"""

from __future__ import annotations

import tarfile
from typing import TYPE_CHECKING, Self

from dockwright.errors import InputError, UnsafeArchiveError
from dockwright.inspect._image_source import LayerBlob
from dockwright.inspect._layer_stream import LayerStream

if TYPE_CHECKING:
    from dockwright.inspect._tarstream import TarReader

__all__ = ["HostileTarError", "LayerTar", "SafeTarInfo", "check_end", "normalize_name", "tar_errors"]

_META_TYPES = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)
_MAX_META = 1 << 20
_MAX_META_CHAIN = 8
# What tarfile raises on malformed input besides TarError (sparse maps, numbers, nesting).
_TAR_ERRORS = (tarfile.TarError, EOFError, ValueError, IndexError, OverflowError, RecursionError)


class HostileTarError(tarfile.TarError):
    """The archive holds a header built to exhaust memory or recursion."""


class LayerTar(tarfile.TarFile):
    """A tar read with :class:`SafeTarInfo`.

    :attr:`end` says how the last header read failed: ``zero`` (a zero block: the proper end),
    ``empty`` (no more bytes: no end marker), ``truncated`` (a partial block) or ``invalid``
    (a bad checksum); ``""`` while none has.
    """

    end: str = ""
    meta_chain: int = 0


def _header_end(buf: bytes) -> str:
    """Why ``buf`` is not a header (the checks of ``TarInfo.frombuf``, in its order)."""
    if not buf:
        return "empty"
    if len(buf) != tarfile.BLOCKSIZE:
        return "truncated"
    if buf.count(0) == tarfile.BLOCKSIZE:
        return "zero"
    return "invalid"


class SafeTarInfo(tarfile.TarInfo):
    """Header parsing with limits (see the module docstring)."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        """Read the next header from ``tarfile_``, refusing hostile extended headers."""
        buf = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
        try:
            obj = cls.frombuf(buf, tarfile_.encoding, tarfile_.errors)
        except tarfile.HeaderError:
            if isinstance(tarfile_, LayerTar):
                tarfile_.end = _header_end(buf)
            raise
        obj.offset = tarfile_.fileobj.tell() - tarfile.BLOCKSIZE
        if obj.size < 0:
            raise HostileTarError(f"member {obj.name!r} has a negative size")
        if obj.type not in _META_TYPES:
            return obj._proc_member(tarfile_)  # type: ignore[attr-defined,no-any-return]
        if obj.size > _MAX_META:
            raise HostileTarError(
                f"extended header of {obj.size} bytes at offset {obj.offset} (the limit is {_MAX_META})"
            )
        chain = getattr(tarfile_, "meta_chain", 0)
        if chain >= _MAX_META_CHAIN:
            raise HostileTarError(
                f"more than {_MAX_META_CHAIN} extended headers in a row at offset {obj.offset}"
            )
        if isinstance(tarfile_, LayerTar):
            tarfile_.meta_chain = chain + 1
        try:
            return obj._proc_member(tarfile_)  # type: ignore[attr-defined,no-any-return]
        finally:
            if isinstance(tarfile_, LayerTar):
                tarfile_.meta_chain = chain


def normalize_name(name: str) -> tuple[str, str]:
    """Normalize a member name as a runtime does: relative, no ``.``/``..``, clamped at the root.

    Returns:
        The path (``""`` for the root) and a warning code: ``""``, ``absolute-path`` or
        ``path-traversal``.
    """
    if name.startswith("./"):
        name = name[2:]
    if (
        not name.startswith("/")
        and "//" not in name
        and "/./" not in name
        and "/../" not in name
        and not name.startswith(("../", "./"))
        and name not in (".", "..")
        and not name.endswith(("/.", "/.."))
    ):
        return name.rstrip("/"), ""
    issue = "absolute-path" if name.startswith("/") else ""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            issue = "path-traversal"
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts), issue


class tar_errors:
    """Map tarfile's errors to ours, after checking the blob's digest (the likelier cause)."""

    def __init__(self, blob: LayerBlob, stream: LayerStream) -> None:
        self._blob = blob
        self._stream = stream

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, HostileTarError):
            self._stream.verify_after_error()
            raise UnsafeArchiveError(
                f"{self._blob.what} holds a hostile tar header: {exc}",
                hint="the image is malformed or built to attack tools that read it; do not use it",
            ) from None
        if isinstance(exc, _TAR_ERRORS):
            self._stream.verify_after_error()
            text = str(exc) or type(exc).__name__
            if "unexpected end of data" in text or isinstance(exc, EOFError):
                raise InputError(f"{self._blob.what} is truncated: {text}") from None
            raise InputError(f"{self._blob.what} is not a valid tar archive: {text}") from None


def check_end(tar: TarReader) -> None:
    """After a layer's last member: raise if its tar ended inside a header or at a corrupt one.

    Raises:
        tarfile.ReadError: :attr:`TarReader.end` is ``truncated`` or ``invalid`` (for
            :class:`tar_errors` to map).
    """
    if tar.end == "truncated":
        raise tarfile.ReadError(f"unexpected end of data inside a header at offset {tar.offset}")
    if tar.end == "invalid":
        raise tarfile.ReadError(f"corrupt header at offset {tar.offset} ({tar.end_reason})")
