"""Path helpers over an image's merged file list: follow symlinks, turn database paths into files.

Package databases name paths as the package shipped them (``/bin/bash``); in a merged-``/usr``
image the file is at ``usr/bin/bash`` behind the ``bin -> usr/bin`` symlink. These helpers resolve
such paths against :attr:`ImageContents.files` so owned files and sizes point at real entries;
a :class:`PathResolver` does so for a whole image, walking each directory once.

This module never touches the disk: it works on the records and on the bytes the reader kept.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from dockwright.inspect.model import FileKind, FileRecord, ImageContents, Warning_

__all__ = ["PathResolver", "content", "normalize", "owned_files", "resolve"]

_MAX_LINKS = 40  # as Linux's MAXSYMLINKS: a loop stops here instead of spinning
_NOT_NAMES = frozenset({"", ".", ".."})  # last parts of a path that normalizing removes


def normalize(path: str) -> str:
    """Return ``path`` relative to the image root, without ``.``/``..`` parts or a leading slash.

    Args:
        path: an absolute or root-relative path as a database writes it.

    Returns:
        The normalized path (``""`` for the root itself).
    """
    return _clean(path.strip())


def _clean(path: str) -> str:
    """:func:`normalize` without stripping surrounding whitespace."""
    return posixpath.normpath("/" + path).lstrip("/")


def resolve(files: Mapping[str, FileRecord], path: str) -> str:
    """Follow symlinks in every component of ``path``, as the kernel would inside the image.

    Args:
        files: the merged file list.
        path: a root-relative, normalized path.

    Returns:
        The path of the entry ``path`` leads to. When a component is missing or symlinks loop, the
        path as resolved so far joined with the rest (it may not exist).
    """
    return _walk(files, _parts(path), _ROOT)[0]


_Walked = tuple[str, int]  # a path resolved so far, and the symlinks followed to get there
_ROOT: _Walked = ("", 0)


def _parts(path: str) -> list[str]:
    """The components of ``path`` in the order :func:`_walk` pops them (last first)."""
    parts = [p for p in path.split("/") if p]
    parts.reverse()
    return parts


def _walk(
    files: Mapping[str, FileRecord],
    parts: list[str],
    start: _Walked,
    known: Mapping[str, _Walked] | None = None,
) -> _Walked:
    """Take ``parts`` (see :func:`_parts`) from where a walk stands, following symlinks.

    Walking ``a/b`` from the root and then ``c`` from there gives what walking ``a/b/c`` gives,
    which lets :class:`PathResolver` walk each directory once. ``known`` maps directories to their
    walks from the root: a link's target directory found there is not walked again, provided the
    links followed so far and those of that walk stay within the limit (past it, the walk could
    stop elsewhere).
    """
    done, hops = start
    symlink = FileKind.SYMLINK
    while parts:
        part = parts.pop()
        candidate = f"{done}/{part}" if done else part
        record = files.get(candidate)
        if record is None or record.kind is not symlink or hops >= _MAX_LINKS:
            done = candidate
            continue
        hops += 1
        base = "" if record.link.startswith("/") else done
        target = normalize(posixpath.join("/", base, record.link))
        head, _, name = target.rpartition("/")
        walked = known.get(head) if known is not None and head else None
        if walked is not None and hops + walked[1] <= _MAX_LINKS:
            done, hops = walked[0], hops + walked[1]
            parts.append(name)
            continue
        parts.extend(_parts(target))
        done = ""
    return done, hops


def owned_files(files: Mapping[str, FileRecord], paths: Iterable[str]) -> tuple[tuple[str, ...], int]:
    """Turn the paths one package database entry lists into image paths, and sum their sizes.

    A shorthand for ``PathResolver(files).owned_files(paths)``; catalogers that list many packages
    keep one :class:`PathResolver` for the image instead.
    """
    return PathResolver(files).owned_files(paths)


_Prefixes = tuple[str, str]  # a directory normalized, and resolved, each "" or ending in "/"


class PathResolver:
    """Resolves database paths against one image's merged file list, remembering directories.

    An image's packages list thousands of paths in about a thousand directories. Each directory is
    normalized and walked once, mostly in one step from its parent's walk; a path is then its
    directory's result and one more step. Results are those of :func:`normalize` and
    :func:`resolve`. The file list must not change while a resolver is in use.
    """

    def __init__(self, files: Mapping[str, FileRecord]) -> None:
        """Resolve against ``files``, the merged file list."""
        self.files = files
        self._walked: dict[str, _Walked] = {}  # directory -> its walk from the root
        self._written: dict[str, _Prefixes] = {}  # directory as a database writes it -> prefixes

    def resolve(self, path: str) -> str:
        """Return :func:`resolve` of ``path`` (a root-relative, normalized path) in this image."""
        head, _, name = path.rpartition("/")
        start = self._directory(head) if head else _ROOT
        return _walk(self.files, [name] if name else [], start, self._walked)[0]

    def owned_files(self, paths: Iterable[str]) -> tuple[tuple[str, ...], int]:
        """Turn the paths a package database lists into image paths, and sum their sizes.

        Each path is resolved through symlinked directories (not through a final symlink: a
        package may own the link itself). Directories are dropped (packages share them), also when
        the image holds a symlink to a directory there; paths the image does not hold are kept as
        the database wrote them, since the database still says the package owns them.

        Args:
            paths: database paths, absolute or root-relative.

        Returns:
            The sorted, de-duplicated image paths, and the summed size of the regular files among
            them.
        """
        files = self.files
        written = self._written
        symlink, directory, regular = FileKind.SYMLINK, FileKind.DIR, FileKind.FILE
        found: set[str] = set()
        size = 0
        for raw in paths:
            head, _, name = raw.strip().rpartition("/")
            if name in _NOT_NAMES:  # normalizing changes the directory too
                head, _, name = normalize(raw).rpartition("/")
                if not name:
                    continue  # the root
            clean_directory, real_directory = written.get(head) or self._written_directory(head)
            real = real_directory + name
            record = files.get(real)
            if record is None:
                found.add(clean_directory + name)  # normalize(raw)
                continue
            kind = record.kind
            if kind is symlink and files.get(self.resolve(real), record).kind is directory:
                continue  # a directory the package ships, a symlink in this image (``bin`` under merged /usr)
            if kind is directory or real in found:
                continue
            found.add(real)
            if kind is regular:
                size += record.size
        return tuple(sorted(found)), size

    def _written_directory(self, head: str) -> _Prefixes:
        """Normalize and resolve a directory as a database writes it, once."""
        clean = _clean(head)
        real = self._directory(clean)[0] if clean else ""
        prefixes = self._written[head] = (f"{clean}/" if clean else "", f"{real}/" if real else "")
        return prefixes

    def _directory(self, path: str) -> _Walked:
        """The walk of ``path`` from the root: one step from its parent's when that is known."""
        walked = self._walked.get(path)
        if walked is None:
            parent, _, name = path.rpartition("/")
            start = self._walked.get(parent) if parent else _ROOT
            if start is None:
                walked = _walk(self.files, _parts(path), _ROOT, self._walked)
            else:
                walked = _walk(self.files, [name] if name else [], start, self._walked)
            self._walked[path] = walked
        return walked


def content(contents: ImageContents, path: str, warnings: list[Warning_], cataloger: str) -> bytes | None:
    """Return the bytes the reader kept for a wanted path, warning when a regular file has no bytes.

    Args:
        contents: the image contents.
        path: a wanted, normalized path.
        warnings: receives a ``catalog-content-missing`` warning when the bytes are absent.
        cataloger: names the cataloger in the warning.

    Returns:
        The bytes, or ``None`` when there are none.
    """
    data = contents.contents.get(path)
    record = contents.files.get(path)
    if data is None and record is not None and record.kind is FileKind.FILE:
        message = f"{cataloger}: the reader kept no bytes for {path}; its packages are not listed"
        warnings.append(Warning_(code="catalog-content-missing", message=message, path=path))
    return data
