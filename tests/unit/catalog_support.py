"""Build ImageContents for cataloger tests: from layer dicts in memory, or from a directory on disk.

``make_contents([{path: bytes | Link | DIR | None}, ...])`` applies the layers in order the way the
image reader does: a value writes the path in that layer, ``None`` deletes it (a whiteout). Every
path whose bytes ``wanted`` accepts lands in ``contents`` (merged) and ``versions`` (per layer).
``contents_from_dir(root)`` walks an unpacked root filesystem as one layer.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockwright.inspect.catalog import WANTED
from dockwright.inspect.model import FileKind, FileRecord, ImageContents, LayerRecord


@dataclass(frozen=True)
class Link:
    """A symlink to ``target`` in a layer dict."""

    target: str


DIR = object()  # a directory in a layer dict

DEBIAN_12 = {"ID": "debian", "VERSION_ID": "12", "NAME": "Debian GNU/Linux"}


def _record(path: str, value: object, layer: int, added_in: int) -> FileRecord:
    if isinstance(value, Link):
        return FileRecord(path=path, kind=FileKind.SYMLINK, link=value.target, layer=layer, added_in=added_in)
    if value is DIR:
        return FileRecord(path=path, kind=FileKind.DIR, mode=0o755, layer=layer, added_in=added_in)
    assert isinstance(value, bytes)
    digest = hashlib.sha256(value).hexdigest()
    return FileRecord(
        path=path, kind=FileKind.FILE, size=len(value), sha256=digest, layer=layer, added_in=added_in
    )


def make_contents(
    layers: Sequence[Mapping[str, object]],
    *,
    os_release: Mapping[str, str] | None = None,
    wanted: Callable[[str], bool] = WANTED,
) -> ImageContents:
    """Apply ``layers`` in order and return what the reader would have produced."""
    files: dict[str, FileRecord] = {}
    contents: dict[str, bytes] = {}
    versions: dict[str, list[tuple[int, bytes | None]]] = {}
    for index, layer in enumerate(layers):
        for path, value in layer.items():
            if value is None:
                files.pop(path, None)
                contents.pop(path, None)
            else:
                previous = files.get(path)
                added_in = previous.added_in if previous is not None else index
                files[path] = _record(path, value, index, added_in)
                if isinstance(value, bytes) and wanted(path):
                    contents[path] = value
            if wanted(path) and (value is None or isinstance(value, bytes)):
                versions.setdefault(path, []).append((index, value if isinstance(value, bytes) else None))
    records = tuple(
        LayerRecord(
            index=i, digest=f"sha256:{i:064x}", diff_id=f"sha256:{i:064x}", size=0, uncompressed_size=0
        )
        for i in range(len(layers))
    )
    return ImageContents(
        reference="test:image",
        manifest_digest="sha256:" + "0" * 64,
        config={},
        layers=records,
        files=files,
        contents=contents,
        versions={path: tuple(history) for path, history in versions.items()},
        os_release=dict(os_release or {}),
    )


def contents_from_dir(root: Path, *, wanted: Callable[[str], bool] = WANTED) -> ImageContents:
    """Walk an unpacked root filesystem into one-layer contents (no digests: catalogers need none)."""
    files: dict[str, FileRecord] = {}
    contents: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            path = full.relative_to(root).as_posix()
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                files[path] = FileRecord(path=path, kind=FileKind.SYMLINK, link=os.readlink(full))
            elif stat.S_ISDIR(info.st_mode):
                files[path] = FileRecord(path=path, kind=FileKind.DIR, mode=0o755)
            elif stat.S_ISREG(info.st_mode):
                files[path] = FileRecord(path=path, kind=FileKind.FILE, size=info.st_size)
                if wanted(path):
                    contents[path] = full.read_bytes()
            else:
                files[path] = FileRecord(path=path, kind=FileKind.OTHER)
    layer = LayerRecord(
        index=0, digest="sha256:" + "0" * 64, diff_id="sha256:" + "0" * 64, size=0, uncompressed_size=0
    )
    return ImageContents(
        reference=f"dir:{root}",
        manifest_digest="",
        config={},
        layers=(layer,),
        files=files,
        contents=contents,
        versions={path: ((0, data),) for path, data in contents.items()},
    )
