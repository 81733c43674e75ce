"""What inspection knows about an image: its merged files, its layers and its packages.

These records are the contract between the image reader (:mod:`dockwright.inspect.reader`, which
streams layers and applies whiteouts), the catalogers (:mod:`dockwright.inspect.catalog`), and the
reports (SBOM writers, waste, diff). They hold no I/O and no behaviour beyond small derived values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "FileKind",
    "FileRecord",
    "ImageContents",
    "LayerRecord",
    "Package",
    "Warning_",
]


class FileKind(enum.Enum):
    """Kinds of entries a layer may hold (``OTHER`` covers devices, fifos and sockets)."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRecord:
    """One path of the merged (final) filesystem, or one path as a layer wrote it.

    ``path`` is normalized and relative to the image root (``usr/bin/python3``). ``sha256`` is the
    hex digest of a regular file's bytes (``""`` otherwise, and for every file when the image was
    read without ``hash_files``). ``layer`` is the index of the layer that
    last wrote the path; ``added_in`` the index of the layer that first created it (they differ when
    a later layer changed the file).
    """

    path: str
    kind: FileKind
    size: int = 0
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""
    sha256: str = ""
    layer: int = 0
    added_in: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRecord:
    """One layer: its digests and what it did to the filesystem below it.

    ``size`` is the compressed blob size, ``uncompressed_size`` the tar's. ``files_bytes`` is the sum
    of regular file sizes the layer writes. ``overwritten_bytes`` counts bytes of files this layer
    wrote that a later layer replaced or deleted (reclaimable: they are shipped but never seen).
    """

    index: int
    digest: str
    diff_id: str
    size: int
    uncompressed_size: int
    created_by: str = ""
    files: int = 0
    files_bytes: int = 0
    deleted: int = 0
    overwritten_bytes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    """A package a cataloger found, with where it came from.

    ``type`` is the PURL type (``deb``, ``rpm``, ``apk``, ``pypi``, ``npm``). ``files`` are the
    image paths the package owns (as far as its database says). ``layer_added`` is the layer whose
    database first listed the package; ``layer_changed`` the last layer that changed its record.
    ``dev`` marks development-only packages (npm devDependencies, compilers, headers, test tools).
    """

    name: str
    version: str
    type: str
    purl: str
    architecture: str = ""
    source: str = ""
    licenses: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    size: int = 0
    layer_added: int = 0
    layer_changed: int = 0
    location: str = ""
    dev: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Warning_:
    """Something inspection could not do fully (a partial result is clearly marked)."""

    code: str
    message: str
    path: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageContents:
    """Everything read from an image in one streaming pass.

    ``files`` is the merged filesystem after whiteouts, by path. ``contents`` holds the bytes of the
    few files catalogers asked for (package databases, metadata), by path, as merged. ``versions``
    keeps, for each such wanted path, what every layer that touched it left there, in layer order:
    ``(layer index, bytes)``, or ``(layer index, None)`` when that layer deleted it. Catalogers use
    it to say which layer added a package and which last changed it.
    """

    reference: str
    manifest_digest: str
    config: dict[str, object]
    layers: tuple[LayerRecord, ...]
    files: dict[str, FileRecord]
    contents: dict[str, bytes]
    versions: dict[str, tuple[tuple[int, bytes | None], ...]]
    warnings: tuple[Warning_, ...] = ()
    os_release: dict[str, str] = field(default_factory=dict)
