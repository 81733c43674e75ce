"""Path helpers over an image's merged file list: follow symlinks, turn database paths into files.

Package databases name paths as the package shipped them (``/bin/bash``); in a merged-``/usr``
image the file is at ``usr/bin/bash`` behind the ``bin -> usr/bin`` symlink. These helpers resolve
such paths against :attr:`ImageContents.files` so owned files and sizes point at real entries.

This module never touches the disk: it works on the records and on the bytes the reader kept.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from dockwright.inspect.model import FileKind, FileRecord, ImageContents, Warning_

__all__ = ["content", "normalize", "owned_files", "resolve"]

_MAX_LINKS = 40  # as Linux's MAXSYMLINKS: a loop stops here instead of spinning


def normalize(path: str) -> str:
    """Return ``path`` relative to the image root, without ``.``/``..`` parts or a leading slash.

    Args:
        path: an absolute or root-relative path as a database writes it.

    Returns:
        The normalized path (``""`` for the root itself).
    """
    clean = posixpath.normpath("/" + path.strip())
    return clean.lstrip("/")


def resolve(files: Mapping[str, FileRecord], path: str) -> str:
    """Follow symlinks in every component of ``path``, as the kernel would inside the image.

    Args:
        files: the merged file list.
        path: a root-relative, normalized path.

    Returns:
        The path of the entry ``path`` leads to. When a component is missing or symlinks loop, the
        path as resolved so far joined with the rest (it may not exist).
    """
    parts = [p for p in path.split("/") if p]
    parts.reverse()  # popped from the end
    done = ""
    hops = 0
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
        parts.extend(reversed([p for p in target.split("/") if p]))
        done = ""
    return done


def owned_files(files: Mapping[str, FileRecord], paths: Iterable[str]) -> tuple[tuple[str, ...], int]:
    """Turn the paths a package database lists into image paths, and sum their sizes.

    Each path is resolved through symlinked directories (not through a final symlink: a package may
    own the link itself). Directories are dropped (packages share them), also when the image holds
    a symlink to a directory there; paths the image does not hold are kept as the database wrote
    them, since the database still says the package owns them.

    Args:
        files: the merged file list.
        paths: database paths, absolute or root-relative.

    Returns:
        The sorted, de-duplicated image paths, and the summed size of the regular files among them.
    """
    found: set[str] = set()
    size = 0
    heads: dict[str, str] = {}  # a package's files share few directories: resolve each once
    for raw in paths:
        path = normalize(raw)
        if not path:
            continue
        head, _, name = path.rpartition("/")
        if head:
            real_head = heads.get(head)
            if real_head is None:
                real_head = heads[head] = resolve(files, head)
            real = f"{real_head}/{name}" if real_head else name
        else:
            real = name
        record = files.get(real)
        if record is None:
            found.add(path)
            continue
        if record.kind is FileKind.SYMLINK and files.get(resolve(files, real), record).kind is FileKind.DIR:
            continue  # a directory the package ships, a symlink in this image (``bin`` under merged /usr)
        if record.kind is FileKind.DIR or real in found:
            continue
        found.add(real)
        if record.kind is FileKind.FILE:
            size += record.size
    return tuple(sorted(found)), size


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
