"""Where an image's bytes are: the largest paths of the merged filesystem as a tree, like ``du``.

Sizes are aggregated by directory from the regular files of the merged filesystem (symlinks,
hardlinks and directories carry no bytes). :func:`largest_paths` keeps the ``n`` largest paths (files
or directories) no deeper than ``depth`` segments. Because a directory is never smaller than
anything below it, and ties are broken by depth, the kept set always contains the parents of every
kept path: it is a tree whose root is the image root.

This module computes only; :mod:`dockwright.inspect.render` draws the tree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from dockwright.inspect.model import FileKind, FileRecord

__all__ = ["PathNode", "largest_paths"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PathNode:
    """One kept path: its aggregate ``size`` and number of regular ``files`` at or below it.

    ``path`` is relative to the root (``""`` for the root, whose ``name`` is ``/``); ``children``
    are sorted largest first.
    """

    name: str
    path: str
    size: int
    files: int
    is_dir: bool
    children: tuple[PathNode, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict, children included."""
        return {
            "name": self.name,
            "path": self.path,
            "size": self.size,
            "files": self.files,
            "is_dir": self.is_dir,
            "children": [child.to_dict() for child in self.children],
        }


def _aggregate(
    files: Mapping[str, FileRecord], depth: int
) -> tuple[dict[str, int], dict[str, int], set[str]]:
    """Sum bytes and file counts for every path prefix up to ``depth`` segments."""
    sizes: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    leaves: set[str] = set()
    for path, record in files.items():
        if record.kind is not FileKind.FILE or not path:
            continue
        parts = path.split("/")
        for end in range(1, min(len(parts), depth) + 1):
            prefix = "/".join(parts[:end])
            sizes[prefix] += record.size
            counts[prefix] += 1
        if len(parts) <= depth:
            leaves.add(path)
    return sizes, counts, leaves


def largest_paths(files: Mapping[str, FileRecord], n: int = 20, *, depth: int = 4) -> PathNode:
    """Return a tree of the ``n`` largest paths of a merged filesystem.

    Args:
        files: The merged filesystem by normalized path (:attr:`ImageContents.files`).
        n: How many paths to keep below the root.
        depth: How many path segments deep to look (``usr/lib/x86_64-linux-gnu`` is 3).

    Returns:
        The root node (all regular file bytes); its descendants are the kept paths.
    """
    sizes, counts, leaves = _aggregate(files, depth)
    ranked = sorted(sizes, key=lambda path: (-sizes[path], path.count("/"), path))
    kept = ranked[: max(0, n)]
    children: dict[str, list[str]] = defaultdict(list)
    for path in kept:
        children[path.rpartition("/")[0]].append(path)

    def build(path: str) -> PathNode:
        below = tuple(build(child) for child in children.get(path, []))
        return PathNode(
            name=path.rpartition("/")[2] or "/",
            path=path,
            size=sizes[path] if path else sum(size for key, size in sizes.items() if "/" not in key),
            files=counts[path] if path else sum(count for key, count in counts.items() if "/" not in key),
            is_dir=path not in leaves,
            children=tuple(sorted(below, key=lambda node: (-node.size, node.name))),
        )

    return build("")
