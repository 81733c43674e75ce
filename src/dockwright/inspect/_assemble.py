"""The end of a read: per-layer counts, and the :class:`ImageContents` assembled from the merged tree.

:class:`LayerStats` is what the reader counts for one layer as it applies it; :func:`assemble`
finishes a read (os-release resolved, late bytes fetched, the source's warnings added) and builds
the contents the reader returns.

What this module does not do: read layers or apply them to the tree (see
:mod:`dockwright.inspect.reader`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockwright.inspect._image_source import ImageSource, LayerBlob
from dockwright.inspect._late_reads import DataReader, fetch_late, os_release_inode, parse_os_release
from dockwright.inspect._merge import Inode, MergedTree, WarningLog
from dockwright.inspect.model import ImageContents, LayerRecord

__all__ = ["LayerStats", "assemble"]


@dataclass(slots=True)
class LayerStats:
    """What one layer wrote and where its blob came from (see :class:`LayerRecord`)."""

    blob: LayerBlob
    files: int = 0
    files_bytes: int = 0
    deleted: int = 0
    digest: str = ""
    diff_id: str = ""
    size: int = 0
    uncompressed_size: int = 0


def assemble(
    source: ImageSource,
    tree: MergedTree,
    log: WarningLog,
    versions: Mapping[str, list[tuple[int, Inode | None]]],
    stats: list[LayerStats],
    read_data: DataReader,
) -> ImageContents:
    """Finish a read (late reads, os-release) and assemble the contents."""
    os_inode = os_release_inode(tree, log)
    fetch_late(source, tree, versions, read_data)
    log.extend(source.warnings)
    os_release = {}
    if os_inode is not None and os_inode.content is not None:
        os_release = parse_os_release(os_inode.content.decode("utf-8", "replace"))
    contents = {}
    for path in sorted(tree.watched):
        inode = tree.nodes[path].inode
        if inode is not None and inode.content is not None:
            contents[path] = inode.content
    layers = tuple(
        LayerRecord(
            index=s.blob.index,
            digest=s.digest,
            diff_id=s.diff_id,
            size=s.size,
            uncompressed_size=s.uncompressed_size,
            created_by=s.blob.created_by,
            files=s.files,
            files_bytes=s.files_bytes,
            deleted=s.deleted,
            overwritten_bytes=tree.overwritten[s.blob.index],
        )
        for s in stats
    )
    return ImageContents(
        reference=source.reference,
        manifest_digest=source.manifest_digest,
        config=source.config,
        layers=layers,
        files=tree.records(),
        contents=contents,
        versions={
            path: tuple((layer, inode.content if inode is not None else None) for layer, inode in entries)
            for path, entries in sorted(versions.items())
        },
        warnings=log.result(),
        os_release=os_release,
    )
