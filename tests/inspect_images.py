"""Build small synthetic images for inspection tests: OCI layouts, multi-arch indexes, docker-archives.

Layers are lists of :class:`TarMember` (or raw tar bytes), written byte by byte so tests control
everything a hostile image could do: whiteouts and opaque markers in any order, hard links to
missing targets, ``../`` and absolute names, GNU sparse files, a missing end-of-archive marker.
JSON documents are written by hand, so tests can also write malformed ones.

Typical use::

    digest = make_layout(tmp_path / "img", [
        [TarMember("etc/", kind="dir"), TarMember("etc/os-release", b"ID=debian\\n")],
        [TarMember("etc/os-release", kind="whiteout")],
    ])
    contents = read_image(f"oci:{tmp_path / 'img'}:latest")

API:

* ``TarMember(name, data=b"", kind="file", link="", mode=None, uid=0, gid=0, size=0)``; kinds:
  ``file dir symlink hardlink char fifo`` (as in tar), ``whiteout`` (``name`` is the path to delete;
  the member is ``dir/.wh.base``), ``opaque`` (``name`` is the directory; the member is
  ``dir/.wh..wh..opq``), ``sparse`` (a GNU sparse file of apparent ``size`` whose only data, ``data``,
  sits at its end), ``raw`` (``data`` is inserted verbatim: a hand-made header and its blocks).
* ``layer_tar(members, *, end=True) -> bytes``: the uncompressed tar (``end=False`` leaves out the
  two zero blocks). ``compress(data, compression) -> bytes`` with ``gzip``, ``zstd`` or ``none``.
* ``make_layout(path, layers, *, tag="latest", platform="linux/amd64", compression="gzip",
  config=None, history=None) -> str``: add one image to the layout at ``path`` (created if
  needed), tagged ``tag``; returns the manifest digest. ``config`` entries override the generated
  config's top-level keys.
* ``make_index(path, images, *, tag="latest") -> str``: a multi-platform image: ``images`` maps
  ``"linux/arm64/v8"`` to layers; returns the index digest.
* ``add_image(path, layers, ...) -> dict``: the building block: blobs and manifest, no tag; returns
  the manifest descriptor (with its platform).
* ``make_docker_archive(path, images, *, legacy=False, compression="none") -> list[str]``: a
  ``docker save`` tar; ``images`` is a list of ``(repo_tags, layers)``; returns the image IDs.
  ``legacy`` names blobs ``<id>/layer.tar`` and ``<hex>.json`` as Docker before 25 did.
* ``blob_file(layout, digest) -> Path``, ``sha256(data) -> str`` (``sha256:...``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

__all__ = [
    "OCI_MANIFEST",
    "TarMember",
    "add_image",
    "blob_file",
    "compress",
    "extract_trusted",
    "layer_tar",
    "make_docker_archive",
    "make_index",
    "make_layout",
    "sha256",
]

MTIME = 1_700_000_000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "fifo": tarfile.FIFOTYPE,
}
_DEFAULT_MODES = {"dir": 0o755, "symlink": 0o777}

Layer = Sequence["TarMember"] | bytes


@dataclass(frozen=True)
class TarMember:
    """One tar entry (see the module docstring for the kinds)."""

    name: str
    data: bytes = b""
    kind: str = "file"
    link: str = ""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    size: int = 0

    def to_bytes(self) -> bytes:
        """The member's header(s), data and padding."""
        if self.kind == "raw":
            return self.data
        if self.kind == "sparse":
            return _sparse(self)
        name = self.name
        kind = self.kind
        if kind in ("whiteout", "opaque"):
            parent, _, base = self.name.rstrip("/").rpartition("/")
            marker = ".wh..wh..opq" if kind == "opaque" else f".wh.{base}"
            if kind == "opaque":
                parent = self.name.rstrip("/")
            name = f"{parent}/{marker}" if parent else marker
            kind = "file"
        info = tarfile.TarInfo(name)
        info.type = _TYPES[kind]
        info.mode = self.mode if self.mode is not None else _DEFAULT_MODES.get(kind, 0o644)
        info.uid, info.gid, info.mtime = self.uid, self.gid, MTIME
        info.linkname = self.link
        if kind == "char":
            info.devmajor, info.devminor = 1, 3
        info.size = len(self.data) if kind == "file" else 0
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        return header + _padded(self.data if kind == "file" else b"")


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\0"


def _sparse(member: TarMember) -> bytes:
    """A GNU (old format) sparse member: one data region, ``member.data``, at the end."""
    info = tarfile.TarInfo(member.name)
    info.mode = member.mode if member.mode is not None else 0o644
    info.mtime = MTIME
    info.size = len(member.data)
    block = bytearray(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
    assert len(block) == tarfile.BLOCKSIZE, "sparse members need a short name"
    block[156:157] = tarfile.GNUTYPE_SPARSE
    block[386:398] = _octal(member.size - len(member.data), 12)
    block[398:410] = _octal(len(member.data), 12)
    block[482] = 0  # no extension blocks
    block[483:495] = _octal(member.size, 12)
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}".encode() + b"\0 "
    return bytes(block) + _padded(member.data)


def layer_tar(members: Sequence[TarMember], *, end: bool = True) -> bytes:
    """The uncompressed tar of ``members`` (with the two zero blocks unless ``end`` is False)."""
    out = io.BytesIO()
    for member in members:
        out.write(member.to_bytes())
    if end:
        out.write(b"\0" * (2 * tarfile.BLOCKSIZE))
    return out.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    """``data`` compressed with ``gzip``, ``zstd`` or ``none``."""
    if compression == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    assert compression == "none", compression
    return data


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def extract_trusted(tar_bytes: bytes, root: Path) -> None:
    """Unpack a tar these tests built into ``root`` (``filter="tar"`` where Python has filters:
    3.11.4 and later, which Debian's 3.11.2 is not)."""
    options: dict[str, Any] = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        tar.extractall(root, **options)


def blob_file(layout: Path, digest: str) -> Path:
    """Where the blob ``digest`` lives in the layout."""
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _write_blob(layout: Path, data: bytes) -> str:
    digest = sha256(data)
    path = blob_file(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _init_layout(layout: Path) -> dict[str, Any]:
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_bytes(_dumps({"imageLayoutVersion": "1.0.0"}))
    index_file = layout / "index.json"
    if index_file.exists():
        index: dict[str, Any] = json.loads(index_file.read_bytes())
        return index
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def _platform(text: str) -> dict[str, str]:
    parts = text.split("/")
    out = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        out["variant"] = parts[2]
    return out


def _tar_bytes(layer: Layer) -> bytes:
    return layer if isinstance(layer, bytes) else layer_tar(layer)


def _config(
    tars: list[bytes], platform: str, config: dict[str, Any] | None, history: list[str] | None
) -> bytes:
    document: dict[str, Any] = {
        **_platform(platform),
        "created": "2023-11-14T22:13:20Z",
        "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]},
        "config": {"Env": ["PATH=/usr/bin:/bin"]},
        "history": [{"created_by": h} for h in (history or [f"layer {i}" for i in range(len(tars))])],
    }
    document.update(config or {})
    return _dumps(document)


def add_image(
    path: Path,
    layers: Sequence[Layer],
    *,
    platform: str = "linux/amd64",
    compression: str = "gzip",
    config: dict[str, Any] | None = None,
    history: list[str] | None = None,
) -> dict[str, Any]:
    """Write one image's blobs and manifest into the layout at ``path``; return its descriptor."""
    path.mkdir(parents=True, exist_ok=True)
    tars = [_tar_bytes(layer) for layer in layers]
    config_bytes = _config(tars, platform, config, history)
    descriptors = []
    for tar in tars:
        blob = compress(tar, compression)
        descriptors.append(
            {"mediaType": _LAYER_TYPES[compression], "digest": _write_blob(path, blob), "size": len(blob)}
        )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": _write_blob(path, config_bytes),
            "size": len(config_bytes),
        },
        "layers": descriptors,
    }
    manifest_bytes = _dumps(manifest)
    return {
        "mediaType": OCI_MANIFEST,
        "digest": _write_blob(path, manifest_bytes),
        "size": len(manifest_bytes),
        "platform": _platform(platform),
    }


def _tag(path: Path, descriptor: dict[str, Any], tag: str | None) -> None:
    index = _init_layout(path)
    entry = dict(descriptor)
    if tag is not None:
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index["manifests"].append(entry)
    (path / "index.json").write_bytes(_dumps(index))


def make_layout(
    path: Path,
    layers: Sequence[Layer],
    *,
    tag: str | None = "latest",
    platform: str = "linux/amd64",
    compression: str = "gzip",
    config: dict[str, Any] | None = None,
    history: list[str] | None = None,
) -> str:
    """Add an image of ``layers`` to the OCI layout at ``path``, tagged ``tag``; return its manifest digest."""
    descriptor = add_image(
        path, layers, platform=platform, compression=compression, config=config, history=history
    )
    descriptor.pop("platform")
    _tag(path, descriptor, tag)
    return str(descriptor["digest"])


def make_index(path: Path, images: dict[str, Sequence[Layer]], *, tag: str | None = "latest") -> str:
    """Add a multi-platform image (an image index) to the layout at ``path``; return the index digest."""
    manifests = [add_image(path, layers, platform=platform) for platform, layers in images.items()]
    index_bytes = _dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    descriptor = {"mediaType": OCI_INDEX, "digest": _write_blob(path, index_bytes), "size": len(index_bytes)}
    _tag(path, descriptor, tag)
    return str(descriptor["digest"])


def make_docker_archive(
    path: Path,
    images: Sequence[tuple[Sequence[str], Sequence[Layer]]],
    *,
    legacy: bool = False,
    compression: str = "none",
) -> list[str]:
    """Write a docker-archive holding ``images`` (``(repo_tags, layers)`` each); return their image IDs."""
    files: dict[str, bytes] = {}
    entries = []
    ids = []
    for repo_tags, layers in images:
        tars = [_tar_bytes(layer) for layer in layers]
        config_bytes = _config(tars, "linux/amd64", None, None)
        config_hex = hashlib.sha256(config_bytes).hexdigest()
        config_name = f"{config_hex}.json" if legacy else f"blobs/sha256/{config_hex}"
        files[config_name] = config_bytes
        names = []
        for i, tar in enumerate(tars):
            blob = compress(tar, compression)
            digest_hex = hashlib.sha256(blob).hexdigest()
            name = (
                f"{hashlib.sha256(f'{config_hex}{i}'.encode()).hexdigest()}/layer.tar"
                if legacy
                else f"blobs/sha256/{digest_hex}"
            )
            files[name] = blob
            names.append(name)
        entries.append({"Config": config_name, "RepoTags": list(repo_tags), "Layers": names})
        ids.append(f"sha256:{config_hex}")
    files["manifest.json"] = _dumps(entries)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), MTIME
            archive.addfile(info, io.BytesIO(data))
    return ids
