"""The merged filesystem of an image, built layer by layer the way a container runtime applies them.

:class:`MergedTree` holds one :class:`~dockwright.inspect.model.FileRecord` per path and applies
entries and whiteouts as in the OCI image-spec (``layer.md``) and containerd/umoci:

* an entry's parent directories are resolved through the image's own symlinks (absolute targets
  and ``..`` are interpreted inside the image, clamped at its root); missing parents are created
  as directories; an entry under a non-directory is skipped with a warning;
* an entry replaces what was at its path (a directory replaced by a non-directory goes with its
  whole subtree); a directory written over a directory keeps the children;
* ``.wh.NAME`` deletes NAME from lower layers and ``.wh..wh..opq`` hides everything lower in its
  directory. Entries of the same layer always stay, whatever their order in the tar (the layer's
  entries and their ancestors are remembered as *touched*, unless the layer deletes nothing);
* regular file data is an :class:`Inode` shared by hard links; when the last path showing an inode
  goes, its bytes count as overwritten in the layer that shipped them. So a hidden copy counts once
  and the copy that stays never does.

What this module does not do: read tars or blobs, hash data, or decide which files to keep
(see :mod:`dockwright.inspect.reader`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable

from dockwright.inspect.model import FileKind, FileRecord, Warning_

__all__ = ["MAX_SYMLINK_HOPS", "Inode", "MergedTree", "SymlinkLoopError", "WarningLog"]

MAX_SYMLINK_HOPS = 40  # Linux's MAXSYMLINKS
_WARNINGS_PER_CODE = 50
_DIR_MODE = 0o755
_DIR, _SYMLINK = FileKind.DIR, FileKind.SYMLINK  # module names: an enum member's lookup is slower


_Record = Callable[[str, FileKind, int, int, int, int, str, str, int, int], FileRecord]


def _record_maker() -> _Record:
    """``FileRecord(path=..., kind=..., ...)`` with every field given in order, less than half as
    dear: the frozen dataclass's ``__init__`` sets each slot through ``object.__setattr__``, this
    sets them through their slot descriptors (a record per path of the image is built)."""
    names = ("path", "kind", "size", "mode", "uid", "gid", "link", "sha256", "layer", "added_in")
    if tuple(field.name for field in dataclasses.fields(FileRecord)) != names:
        raise RuntimeError("FileRecord's fields changed: update _record_maker")
    slots = vars(FileRecord)
    path, kind, size, mode, uid, gid, link, sha256, layer, added_in = (slots[n].__set__ for n in names)
    new = object.__new__

    def record(
        p: str, k: FileKind, s: int, m: int, u: int, g: int, ln: str, h: str, la: int, a: int
    ) -> FileRecord:
        r: FileRecord = new(FileRecord)
        path(r, p)
        kind(r, k)
        size(r, s)
        mode(r, m)
        uid(r, u)
        gid(r, g)
        link(r, ln)
        sha256(r, h)
        layer(r, la)
        added_in(r, a)
        return r

    return record


_record = _record_maker()


class SymlinkLoopError(Exception):
    """A path needs more than :data:`MAX_SYMLINK_HOPS` symlinks to resolve."""


class WarningLog:
    """Warnings in order, at most 50 per code (the rest are counted and summarized)."""

    def __init__(self) -> None:
        self._items: list[Warning_] = []
        self._counts: Counter[str] = Counter()

    def add(self, code: str, message: str, path: str = "") -> None:
        """Record a warning (dropped, but counted, past the limit for its code)."""
        self._counts[code] += 1
        if self._counts[code] <= _WARNINGS_PER_CODE:
            self._items.append(Warning_(code=code, message=message, path=path))

    def extend(self, warnings: list[Warning_]) -> None:
        """Record warnings found elsewhere (a source's)."""
        for w in warnings:
            self.add(w.code, w.message, w.path)

    def result(self) -> tuple[Warning_, ...]:
        """All kept warnings, then one summary per code that went past the limit."""
        more = [
            Warning_(code=code, message=f"{count - _WARNINGS_PER_CODE} more {code!r} warnings not shown")
            for code, count in self._counts.items()
            if count > _WARNINGS_PER_CODE
        ]
        return (*self._items, *more)


class Inode:
    """The data of one regular file as a layer shipped it, shared by its hard links."""

    __slots__ = ("content", "fetch", "layer", "ordinal", "refs", "sha256", "size")

    def __init__(
        self,
        layer: int,
        ordinal: int,
        size: int,
        sha256: str,
        content: bytes | None = None,
        fetch: bool = False,
    ) -> None:
        self.layer = layer
        self.ordinal = ordinal  # the member's position in the layer's tar, to read it again
        self.size = size
        self.sha256 = sha256
        self.refs = 0
        self.content = content
        self.fetch = fetch  # content wanted after the fact: read the layer again


class _Node:
    __slots__ = ("inode", "record")

    def __init__(self, record: FileRecord, inode: Inode | None) -> None:
        self.record = record
        self.inode = inode


class MergedTree:
    """The merged filesystem; paths are normalized and relative (``usr/bin/env``), root is ``""``."""

    def __init__(self, warnings: WarningLog | None = None) -> None:
        """Start empty; warnings go to ``warnings`` (a new log if None)."""
        self.nodes: dict[str, _Node] = {}
        self._children: dict[str, set[str]] = {"": set()}
        self.layer = -1
        self._touched: set[str] | None = set()
        self.overwritten: Counter[int] = Counter()
        self.watched: set[str] = set()
        self.removed_watched: list[str] = []
        self.warnings = warnings if warnings is not None else WarningLog()

    def begin_layer(self, index: int, *, deletions: bool = True) -> None:
        """Start applying layer ``index``; ``deletions=False`` promises it holds no whiteout and no
        opaque marker (so the paths it writes need not be remembered for them)."""
        self.layer = index
        self._touched = set() if deletions else None

    def records(self) -> dict[str, FileRecord]:
        """The merged files by path."""
        return {path: node.record for path, node in self.nodes.items()}

    # Path resolution ---------------------------------------------------------------------------

    def resolve(self, path: str, *, follow_last: bool) -> str:
        """Resolve ``path`` through the image's symlinks, never leaving the image root.

        Raises:
            SymlinkLoopError: more than :data:`MAX_SYMLINK_HOPS` symlinks on the way.
        """
        stack = path.split("/")[::-1]
        out: list[str] = []
        hops = 0
        while stack:
            part = stack.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if out:
                    out.pop()
                continue
            candidate = "/".join((*out, part))
            node = self.nodes.get(candidate)
            if node is not None and node.record.kind is _SYMLINK and (stack or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SymlinkLoopError(path)
                link = node.record.link
                if link.startswith("/"):
                    out = []
                stack.extend(link.split("/")[::-1])
                continue
            out.append(part)
        return "/".join(out)

    def place(self, path: str) -> str | None:
        """Where an entry named ``path`` lands: its parents resolved and created as needed.

        Returns:
            The real path, or None (with a warning) when a parent is not a directory or loops.
        """
        real = path
        parent, _, name = path.rpartition("/")
        if parent:
            node = self.nodes.get(parent)
            if node is None or node.record.kind is not _DIR:
                resolved = self._make_dirs(parent, path)
                if resolved is None:
                    return None
                real = f"{resolved}/{name}" if resolved else name
        touched = self._touched
        if touched is not None:  # _touch, inlined: once per entry
            ancestor = real
            while ancestor and ancestor not in touched:
                touched.add(ancestor)
                ancestor = ancestor.rpartition("/")[0]
        return real

    def _make_dirs(self, parent: str, path: str) -> str | None:
        try:
            resolved = self.resolve(parent, follow_last=True)
        except SymlinkLoopError:
            self.warnings.add("symlink-loop", f"parent of {path} is a symlink loop; entry skipped", path)
            return None
        prefix = ""
        for part in resolved.split("/") if resolved else ():
            prefix = f"{prefix}/{part}" if prefix else part
            node = self.nodes.get(prefix)
            if node is None:
                self._insert(prefix, _DIR, None, _DIR_MODE, 0, 0, "", self.layer)
            elif node.record.kind is not _DIR:
                self.warnings.add(
                    "parent-not-dir", f"{prefix} is not a directory; {path} under it was skipped", path
                )
                return None
        return resolved

    # Entries -------------------------------------------------------------------------------------

    def put(
        self,
        path: str,
        kind: FileKind,
        *,
        mode: int,
        uid: int,
        gid: int,
        link: str = "",
        inode: Inode | None = None,
    ) -> None:
        """Write an entry at ``path`` (a real path from :meth:`place`), replacing what was there."""
        existing = self.nodes.get(path)
        if existing is not None and existing.record.kind is _DIR and kind is _DIR:
            # What replace() would give, built directly (a directory has no size, hash or link).
            added_in = existing.record.added_in
            existing.record = _record(path, kind, 0, mode, uid, gid, "", "", self.layer, added_in)
            return
        added_in = self.layer
        if existing is not None:
            added_in = existing.record.added_in
            if inode is not None:
                inode.refs += 1  # held across the removal (a hard link to what it replaces)
            self._remove(path, keep=None)
            if inode is not None:
                inode.refs -= 1
        self._insert(path, kind, inode, mode, uid, gid, link, added_in)

    def put_hardlink(self, path: str, target: str, *, mode: int, uid: int, gid: int) -> Inode | None:
        """Write a hard link at ``path`` to ``target`` (a normalized name, resolved here).

        Returns:
            The shared data, or None when the target has none (missing, symlink, device).
        """
        try:
            parent, _, name = target.rpartition("/")
            parent = self.resolve(parent, follow_last=True) if parent else ""
        except SymlinkLoopError:
            self.warnings.add("symlink-loop", f"hard link target {target} is a symlink loop", path)
            parent, name = "", target
        real = f"{parent}/{name}" if parent else name
        node = self.nodes.get(real)
        if real == path:
            self.warnings.add("hardlink-to-self", f"{path} is a hard link to itself; skipped", path)
            return None
        if node is not None and node.record.kind is _DIR:
            self.warnings.add("hardlink-to-dir", f"{path} is a hard link to directory {real}; skipped", path)
            return None
        if node is None:
            self.warnings.add("hardlink-missing-target", f"{path} is a hard link to missing {real}", path)
        inode = node.inode if node is not None else None
        self.put(path, FileKind.HARDLINK, mode=mode, uid=uid, gid=gid, link=real, inode=inode)
        return inode

    def _insert(
        self,
        path: str,
        kind: FileKind,
        inode: Inode | None,
        mode: int,
        uid: int,
        gid: int,
        link: str,
        added_in: int,
    ) -> None:
        if inode is None:
            record = _record(path, kind, 0, mode, uid, gid, link, "", self.layer, added_in)
        else:
            record = _record(path, kind, inode.size, mode, uid, gid, link, inode.sha256, self.layer, added_in)
            inode.refs += 1
        self.nodes[path] = _Node(record, inode)
        if kind is _DIR:
            self._children[path] = set()
        self._children[path.rpartition("/")[0]].add(path)

    # Deletions -----------------------------------------------------------------------------------

    def whiteout(self, parent: str, name: str) -> None:
        """Apply ``parent/.wh.name``: delete ``name`` from lower layers."""
        try:
            real_parent = self.resolve(parent, follow_last=True)
        except SymlinkLoopError:
            self.warnings.add("symlink-loop", f"whiteout parent {parent} is a symlink loop", parent)
            return
        node = self.nodes.get(real_parent)
        if real_parent and (node is None or node.record.kind is not _DIR):
            return  # nothing below a missing directory or a file to delete
        target = f"{real_parent}/{name}" if real_parent else name
        if target in self.nodes:
            self._remove(target, keep=self._kept())

    def opaque(self, directory: str) -> None:
        """Apply ``directory/.wh..wh..opq``: hide everything lower in ``directory``."""
        try:
            real = self.resolve(directory, follow_last=True)
        except SymlinkLoopError:
            self.warnings.add("symlink-loop", f"opaque directory {directory} is a symlink loop", directory)
            return
        if real and real not in self._children:
            return
        for child in list(self._children[real]):
            self._remove(child, keep=self._kept())

    def _kept(self) -> set[str]:
        """What this layer's deletions keep: the paths it wrote, with their ancestors."""
        if self._touched is None:
            raise RuntimeError("a deletion in a layer begun with deletions=False")
        return self._touched

    def _remove(self, path: str, *, keep: set[str] | None) -> None:
        """Remove ``path`` and its subtree, except paths in ``keep`` (this layer's, with ancestors)."""
        order: list[str] = []
        stack = [path]
        while stack:
            current = stack.pop()
            order.append(current)
            stack.extend(self._children.get(current, ()))
        for current in reversed(order):
            if keep is None or current not in keep:
                self._drop(current)

    def _drop(self, path: str) -> None:
        node = self.nodes.pop(path)
        self._children[path.rpartition("/")[0]].discard(path)
        if node.record.kind is _DIR:
            del self._children[path]
        inode = node.inode
        if inode is not None:
            inode.refs -= 1
            if inode.refs == 0:
                self.overwritten[inode.layer] += inode.size
        if path in self.watched:
            self.watched.discard(path)
            self.removed_watched.append(path)
