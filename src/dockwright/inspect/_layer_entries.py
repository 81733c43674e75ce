"""Tar members prepared for the merged tree: what each one does, worked out without the tree.

An :data:`Entry` is one member as :mod:`dockwright.inspect.reader` applies it: its name normalized
(:func:`~dockwright.inspect._tarsafe.normalize_name`), what it does (an *action*: write a file, a
directory, a link, delete, nothing), whether its path is wanted, and, for a member already read,
the sha256 and kept bytes of its data. All of this depends on the member alone, so the child
process of :mod:`dockwright.inspect._layer_workers` prepares the entries of the layers it reads
and the reader only applies them; a streamed member and a cached one (a
:data:`~dockwright.inspect._layer_cache.Member` row) are prepared here too, so every member goes
through the same code.

What this module does not do: read data, touch the merged tree, or decide what to keep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from dockwright.inspect._layer_cache import Member
from dockwright.inspect._tarsafe import normalize_name
from dockwright.inspect._tarstream import TarHeader

__all__ = [
    "DEVICE",
    "DIRECTORY",
    "FILE",
    "HARDLINK",
    "INVALID_WHITEOUT",
    "NOTHING",
    "OPAQUE",
    "SYMLINK",
    "UNKNOWN",
    "WHITEOUT",
    "Entry",
    "entry_of_header",
    "entry_of_member",
    "has_whiteouts",
    "kept_bytes",
    "member_of",
    "with_data",
]

# Actions: what a member does to the merged tree.
NOTHING: Final = 0  # the root directory itself, or aufs bookkeeping (.wh..wh.plnk/...)
FILE: Final = 1  # a regular file (also contiguous and sparse)
HARDLINK: Final = 2
DIRECTORY: Final = 3
SYMLINK: Final = 4
DEVICE: Final = 5  # character or block device, fifo
WHITEOUT: Final = 6  # .wh.NAME
OPAQUE: Final = 7  # .wh..wh..opq
INVALID_WHITEOUT: Final = 8  # .wh. naming no file
UNKNOWN: Final = 9  # a type flag nobody defines

Entry = tuple[int, str, str, str, str, int, int, int, int, str, str, bytes | None, bool]
"""One member: action, name as written, path (normalized; ``""`` is the root), the warning code of
the normalization (``""``, ``absolute-path`` or ``path-traversal``), type flag (latin-1), size,
mode, uid, gid, link name, sha256 of its data (``""`` when not read or not hashed), its kept bytes
(None when none were kept), and whether ``wanted(path)`` (files and hard links only)."""

_OPAQUE = ".wh..wh..opq"
_AUFS_META = ".wh..wh."
_TYPE_ACTIONS = {
    "0": FILE,
    "\0": FILE,
    "7": FILE,
    "S": FILE,
    "1": HARDLINK,
    "5": DIRECTORY,
    "2": SYMLINK,
    "3": DEVICE,
    "4": DEVICE,
    "6": DEVICE,
}


def _action(path: str, kind: str) -> int:
    if not path or path.startswith(_AUFS_META):
        return NOTHING
    base = path.rpartition("/")[2]
    if not base.startswith(".wh."):
        return _TYPE_ACTIONS.get(kind, UNKNOWN)
    if base == _OPAQUE:
        return OPAQUE
    if base.startswith(_AUFS_META):
        return NOTHING  # aufs bookkeeping, not a deletion
    if base[4:] in ("", ".", ".."):
        return INVALID_WHITEOUT
    return WHITEOUT


def entry_of_member(member: Member, content: bytes | None, wanted: Callable[[str], bool]) -> Entry:
    """The entry of a member row (its sha256 as the row has it) with the bytes kept for it.

    ``wanted`` is asked about the paths of files and hard links only.
    """
    name, kind, size, mode, uid, gid, link, sha, _ = member
    path, issue = normalize_name(name)
    action = _action(path, kind)
    is_wanted = action in (FILE, HARDLINK) and wanted(path)
    return (action, name, path, issue, kind, size, mode, uid, gid, link, sha, content, is_wanted)


def entry_of_header(info: TarHeader, wanted: Callable[[str], bool]) -> Entry:
    """The entry of a member just read from its tar (its data not read yet: no sha256, no bytes)."""
    path, issue = normalize_name(info.name)
    kind = info.type.decode("latin-1")
    action = _action(path, kind)
    is_wanted = action in (FILE, HARDLINK) and wanted(path)
    return (action, info.name, path, issue, kind, info.size, info.mode, info.uid, info.gid,
            info.linkname, "", None, is_wanted)  # fmt: skip


def with_data(entry: Entry, sha: str, content: bytes | None) -> Entry:
    """``entry`` once its member's data was read: its sha256 and the bytes kept (None: none)."""
    return (*entry[:10], sha, content, entry[12])


def member_of(entry: Entry) -> Member:
    """The member row of ``entry`` (see :data:`~dockwright.inspect._layer_cache.Member`)."""
    content = entry[11]
    return (entry[1], entry[4], entry[5], entry[6], entry[7], entry[8], entry[9], entry[10],
            -1 if content is None else len(content))  # fmt: skip


def kept_bytes(entries: list[Entry]) -> bytes:
    """The bytes kept for a layer's entries, in order (a cache entry's contents)."""
    return b"".join(entry[11] for entry in entries if entry[11] is not None)


def has_whiteouts(entries: list[Entry]) -> bool:
    """Whether any of a layer's entries deletes something (a whiteout or an opaque marker)."""
    return any(entry[0] == WHITEOUT or entry[0] == OPAQUE for entry in entries)
