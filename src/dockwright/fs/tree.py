"""An in-memory root filesystem: the meeting point of assembly (which writes it) and layering.

Paths are POSIX, relative to the image root, normalized, without a leading slash
(``usr/bin/python3``); the root itself is ``""``. Symbolic links are stored as written by their
package and are only *interpreted* here, the way a chroot would: an absolute target is relative to
the image root and ``..`` never climbs above it. So nothing looked up through this tree can name a
path outside the image.

What this module does not do: read archives (see :mod:`dockwright.build.extract`), decide which of
two conflicting origins wins (the caller does), or write tar streams (see :mod:`dockwright.oci.layer`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, replace

from dockwright.errors import UnsafeArchiveError

__all__ = ["MAX_SYMLINK_HOPS", "Entry", "EntryType", "FileTree", "normalize"]

MAX_SYMLINK_HOPS = 40  # the Linux kernel's limit (MAXSYMLINKS)


class EntryType(enum.Enum):
    """Kinds of filesystem entries an image may hold (devices and fifos are refused earlier)."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One path in the tree.

    ``data`` holds a regular file's bytes; ``target`` a symlink's target exactly as written, or a
    hardlink's normalized target path. ``origin`` names who put it there (a package name, or
    ``files`` for local content, or ``dockwright`` for generated files) for layering and SBOMs.
    """

    path: str
    type: EntryType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    uname: str = "root"
    gname: str = "root"
    data: bytes = b""
    target: str = ""
    origin: str = ""

    @property
    def size(self) -> int:
        """Bytes of content (0 for anything but a regular file)."""
        return len(self.data) if self.type is EntryType.FILE else 0


def normalize(path: str) -> str:
    """Return ``path`` as a tree key: relative, normalized, ``..`` clamped at the root.

    ``/usr//bin/../lib/`` becomes ``usr/lib``; ``../../etc`` becomes ``etc`` (as in a chroot).
    """
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


class FileTree:
    """A mutable mapping of normalized paths to :class:`Entry`, with chroot-like lookup."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {"": Entry(path="", type=EntryType.DIR, mode=0o755)}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and normalize(path) in self._entries

    def get(self, path: str) -> Entry | None:
        """Return the entry stored at ``path`` itself (no symlink is followed)."""
        return self._entries.get(normalize(path))

    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """Return the canonical tree path for ``path``, following symlinks inside the tree.

        Intermediate components are always followed; the last one only with ``follow_last``.
        Components that do not exist yet are kept as they are, so the result is where a new entry
        would land. Raises :class:`UnsafeArchiveError` on a symlink loop.
        """
        pending = [p for p in normalize(path).split("/") if p]
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            candidate = "/".join([*resolved, part])
            entry = self._entries.get(candidate)
            is_last = not pending
            if entry is not None and entry.type is EntryType.SYMLINK and (follow_last or not is_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise UnsafeArchiveError(f"too many levels of symbolic links resolving /{path}")
                base = [] if entry.target.startswith("/") else resolved
                target_parts = normalize("/".join([*base, entry.target])).split("/")
                pending = [p for p in target_parts if p] + pending
                resolved = []
                continue
            resolved.append(part)
        return "/".join(resolved)

    def add(self, entry: Entry) -> Entry | None:
        """Insert ``entry`` after resolving its parent directories through in-tree symlinks.

        Missing parent directories are created (0755, root). A directory added over an existing
        directory, or over a symlink that resolves to one (merged-/usr), keeps what is there but
        takes the new metadata for a real directory. Returns the entry that was replaced, if any.
        Raises :class:`UnsafeArchiveError` when a parent is a regular file.
        """
        key = normalize(entry.path)
        if not key:
            self._entries[""] = replace(entry, path="", type=EntryType.DIR)
            return None
        parent = self.resolve(_parent(key)) if "/" in key else ""
        self._ensure_dir(parent)
        name = key.rpartition("/")[2]
        final = f"{parent}/{name}" if parent else name
        existing = self._entries.get(final)
        if entry.type is EntryType.DIR and existing is not None:
            if existing.type is EntryType.SYMLINK:
                target = self._entries.get(self.resolve(final))
                if target is not None and target.type is EntryType.DIR:
                    return None  # a package's directory over the merged-/usr link keeps the link
            elif existing.type is EntryType.DIR:
                self._entries[final] = replace(entry, path=final)
                return existing
        if existing is not None and existing.type is EntryType.DIR and entry.type is not EntryType.DIR:
            self.remove(final)
        self._entries[final] = replace(entry, path=final)
        return existing

    def _ensure_dir(self, path: str) -> None:
        if not path:
            return
        entry = self._entries.get(path)
        if entry is None:
            self._ensure_dir(_parent(path))
            self._entries[path] = Entry(path=path, type=EntryType.DIR, mode=0o755, origin="dockwright")
        elif entry.type is not EntryType.DIR:
            raise UnsafeArchiveError(f"/{path} is a {entry.type.value}, not a directory")

    def remove(self, path: str) -> list[Entry]:
        """Remove ``path`` (not following a final symlink) and everything below it."""
        key = normalize(path)
        prefix = key + "/"
        gone = [e for p, e in self._entries.items() if p == key or p.startswith(prefix)]
        for e in gone:
            if e.path:
                del self._entries[e.path]
        return gone

    def entries(self) -> Iterator[Entry]:
        """Yield every entry except the root, parents before children, in a stable order.

        The order compares paths component by component, so ``a/b`` comes before ``a.b``.
        """
        for key in sorted(self._entries, key=lambda p: p.split("/")):
            if key:
                yield self._entries[key]

    def total_size(self) -> int:
        """Sum of regular file sizes (hardlinks count once)."""
        return sum(e.size for e in self._entries.values())
