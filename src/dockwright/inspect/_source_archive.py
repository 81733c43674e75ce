"""Open an image in a ``docker-archive`` tar (``docker save``, ``skopeo copy docker-archive:``).

``manifest.json`` lists the images of the archive, each with the archive paths of its config and
layers (``blobs/sha256/<hex>`` since Docker 25, ``<id>/layer.tar`` and ``<hex>.json`` before); the
reference picks one by name (``:NAME[:TAG]``) or position (``:@N``), or the archive must hold one.
Paths are found wherever ``manifest.json`` says, through symlinks and hard links inside the archive
(Docker links duplicate layers). Layers may be plain or gzip-compressed tars.

The archive has no manifest digest: the image is identified by its config digest (the image ID,
what ``docker images`` shows), and that is what ``manifest_digest`` holds. The config is checked
against its name when the name is a digest; every layer is checked against the config's diff_id as
it streams, and against its name when stored as ``blobs/sha256/<hex>``.

What this module does not do: read compressed archives (``docker save | gzip``: decompress first),
the legacy ``repositories`` file, or the per-layer ``json`` files.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Any

from dockwright.errors import DigestMismatchError, ImageReferenceError, InputError
from dockwright.inspect._image_source import (
    MAX_JSON,
    ImageSource,
    LayerBlob,
    PlatformSpec,
    check_platform,
    created_by,
    diff_ids,
    load_json,
    parse_config,
)
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect._tarsafe import LayerTar, SafeTarInfo, normalize_name
from dockwright.oci.digest import Digest
from dockwright.oci.reference import DockerArchiveReference, parse_docker_name

__all__ = ["open_archive"]

_MAX_LINK_HOPS = 16
_CONFIG_NAME = re.compile(r"(?:^|/)(?:sha256/)?([0-9a-f]{64})(?:\.json)?")
_BLOB_NAME = re.compile(r"(?:^|/)blobs/sha256/([0-9a-f]{64})")
_COMPRESSED = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ": "xz"}


def open_archive(ref: DockerArchiveReference, platform: PlatformSpec | None) -> ImageSource:
    """Open the image ``ref`` names in its archive, checking it runs on ``platform`` if given.

    Raises:
        InputError: not a docker-archive, no such image, several images and no choice, bad JSON.
        DigestMismatchError: the config does not match the digest it is named by.
    """
    path = Path(ref.path)
    reference = str(ref)
    _check_plain_tar(path, reference)
    try:
        tar = LayerTar.open(path, "r:", tarinfo=SafeTarInfo, encoding="utf-8", errors="surrogateescape")
        members = {normalize_name(m.name)[0]: m for m in tar.getmembers()}
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise InputError(f"{reference}: {path} is not a readable tar archive: {exc}") from None
    try:
        return _open(tar, members, ref, platform)
    except BaseException:
        tar.close()
        raise


def _open(
    tar: LayerTar,
    members: dict[str, tarfile.TarInfo],
    ref: DockerArchiveReference,
    platform: PlatformSpec | None,
) -> ImageSource:
    reference = str(ref)
    if "manifest.json" not in members:
        raise InputError(f"{reference}: {ref.path} is not a docker-archive (it has no manifest.json)")
    entries = _entries(_read(tar, members, "manifest.json", reference), reference)
    entry = _select(entries, ref, reference)
    config_name = entry["Config"]
    config_bytes = _read(tar, members, config_name, reference)
    config_digest = Digest.of(config_bytes)
    named = _CONFIG_NAME.search(config_name)
    if named and named.group(1) != config_digest.hex:
        raise DigestMismatchError(
            f"{reference}: config {config_name} has digest {config_digest}: "
            "the archive was modified or is corrupt"
        )
    config_dict, config = parse_config(config_bytes, reference)
    check_platform(config, platform, reference)
    names: list[str] = entry["Layers"]
    ids = diff_ids(config, len(names), reference)
    steps = created_by(config, len(names))
    found = [_member(members, name, reference) for name in names]
    layers = tuple(
        LayerBlob(
            index=i,
            digest=f"sha256:{m.group(1)}" if (m := _BLOB_NAME.search(name)) else "",
            size=found[i].size,
            diff_id=ids[i],
            created_by=steps[i],
        )
        for i, name in enumerate(names)
    )

    def opener(blob: LayerBlob) -> LayerStream:
        f = tar.extractfile(found[blob.index])
        if f is None:  # pragma: no cover (_member only returns regular files)
            raise InputError(f"{reference}: {names[blob.index]} is not a file")
        return blob.stream(f)

    return ImageSource(
        reference=reference,
        manifest_digest=str(config_digest),
        config=config_dict,
        layers=layers,
        opener=opener,
        closer=tar.close,
    )


def _check_plain_tar(path: Path, reference: str) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except FileNotFoundError:
        raise InputError(f"{reference}: no such file {path}") from None
    except IsADirectoryError:
        raise InputError(f"{reference}: {path} is a directory, not a docker-archive tar") from None
    for magic, name in _COMPRESSED.items():
        if head.startswith(magic):
            raise InputError(
                f"{reference}: {path} is {name}-compressed; a docker-archive is a plain tar",
                hint=f"decompress it first (e.g. with {name} -d) and read the .tar",
            )


def _member(members: dict[str, tarfile.TarInfo], name: str, reference: str) -> tarfile.TarInfo:
    """The regular file ``name`` stands for, through links inside the archive."""
    current = normalize_name(name)[0]
    for _ in range(_MAX_LINK_HOPS):
        info = members.get(current)
        if info is None:
            raise InputError(f"{reference}: manifest.json names {name}, which the archive does not hold")
        if info.isreg():
            return info
        if info.issym():
            parent = current.rpartition("/")[0]
            target = info.linkname if info.linkname.startswith("/") else f"{parent}/{info.linkname}"
            current = normalize_name(target)[0]
        elif info.islnk():
            current = normalize_name(info.linkname)[0]
        else:
            raise InputError(f"{reference}: {name} in the archive is not a file")
    raise InputError(f"{reference}: {name} in the archive is a chain of more than {_MAX_LINK_HOPS} links")


def _read(tar: LayerTar, members: dict[str, tarfile.TarInfo], name: str, reference: str) -> bytes:
    info = _member(members, name, reference)
    if info.size > MAX_JSON:
        raise InputError(f"{reference}: {name} is {info.size} bytes; the limit is {MAX_JSON}")
    f = tar.extractfile(info)
    if f is None:  # pragma: no cover (_member only returns regular files)
        raise InputError(f"{reference}: {name} is not a file")
    with f:
        try:
            return f.read()
        except tarfile.TarError as exc:
            raise InputError(f"{reference}: cannot read {name} from the archive: {exc}") from None


def _entries(data: bytes, reference: str) -> list[dict[str, Any]]:
    decoded = load_json(data, f"manifest.json of {reference}")
    if not isinstance(decoded, list) or not decoded:
        raise InputError(f"{reference}: manifest.json must be a non-empty array of images")
    for i, entry in enumerate(decoded):
        where = f"{reference}: manifest.json[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where} must be an object")
        if not isinstance(entry.get("Config"), str):
            raise InputError(f"{where}.Config must be a string")
        layers = entry.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise InputError(f"{where}.Layers must be an array of strings")
        tags = entry.get("RepoTags")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(x, str) for x in tags)):
            raise InputError(f"{where}.RepoTags must be an array of strings")
    return decoded


def _select(entries: list[dict[str, Any]], ref: DockerArchiveReference, reference: str) -> dict[str, Any]:
    if ref.source_index is not None:
        if ref.source_index >= len(entries):
            raise InputError(
                f"{reference}: the archive holds {len(entries)} images (@0 to @{len(entries) - 1})",
                hint=_choices(entries),
            )
        return entries[ref.source_index]
    if ref.name is not None:
        for entry in entries:
            if any(_same_name(tag, ref) for tag in entry.get("RepoTags") or ()):
                return entry
        raise InputError(f"{reference}: no image named {ref.name} in the archive", hint=_choices(entries))
    if len(entries) == 1:
        return entries[0]
    raise InputError(
        f"{reference} holds {len(entries)} images; choose one:\n{_choices(entries)}",
        hint="add :NAME:TAG or :@N to the reference",
    )


def _same_name(tag: str, ref: DockerArchiveReference) -> bool:
    try:
        return parse_docker_name(tag) == ref.name
    except ImageReferenceError:
        return False


def _choices(entries: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  @{i}  {', '.join(e.get('RepoTags') or ['(untagged)'])}" for i, e in enumerate(entries)
    )
