"""Turn layers of tree entries and a few settings into an image at an ``oci:`` or ``docker-archive:`` target.

:func:`write_image` is what the builder calls. Each layer is streamed straight to disk on the
target's filesystem (into the layout's staging directory, or a temp directory next to the archive)
and hashed while written; then the config and manifest are built from those digests and the image
is published atomically by :class:`~dockwright.oci.layout.OciLayoutWriter` or
:func:`~dockwright.oci.archive.write_docker_archive`.

Choices that shape the config: ``env`` keeps the caller's order (a mapping from the spec is already
in a stable order, and users read ``Env`` in the order they wrote it); ports without a protocol get
``/tcp``; ``created`` defaults to ``mtime`` so a rebuild from the same inputs gives the same digest.

What this module does not do: decide what goes in which layer, push to registries, sign, or write
image indexes for several platforms.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dockwright.errors import DigestMismatchError, ImageReferenceError, InputError
from dockwright.fs.tree import Entry, FileTree
from dockwright.oci.archive import ArchiveLayer, write_docker_archive
from dockwright.oci.descriptor import OCI_CONFIG, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import SHA256, Digest, Writable
from dockwright.oci.image import ContainerConfig, History, ImageConfig, Manifest, RootFS, rfc3339
from dockwright.oci.layer import LayerInfo, write_layer
from dockwright.oci.layout import OciLayoutWriter
from dockwright.oci.reference import DockerArchiveReference, OciReference, Reference, parse_reference

__all__ = [
    "ImageConfigInput",
    "ImageResult",
    "PrebuiltLayer",
    "build_config",
    "build_manifest",
    "write_image",
]

_PORT = re.compile(r"([0-9]{1,5})(?:/(tcp|udp|sctp))?")
_DEFAULT_CREATED_BY = "dockwright"
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PrebuiltLayer:
    """A layer blob already on disk (a build cache), with what :func:`write_layer` returned for it.

    It is copied into the target, and both ``info.digest`` and ``info.diff_id`` are checked while
    it streams; ``comment`` is the caller's note and is not written anywhere by this module.
    """

    info: LayerInfo
    path: Path
    comment: str = ""


LayerSource = PrebuiltLayer | FileTree | Iterable[Entry]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageConfigInput:
    """What the user decides about an image's config; everything else is derived.

    Attributes:
        env: variables in the order to write them (``KEY=VALUE``); insertion order is kept.
        ports: ``8080``, ``8080/tcp``, ``53/udp`` or ``/sctp``; a bare port means tcp.
        annotations: manifest annotations.
        created: seconds since the epoch for ``created``; None uses ``mtime``.
        history: ``created_by`` text per layer, in layer order; missing ones say ``dockwright``.
    """

    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None
    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None
    ports: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    created: int | None = None
    history: Sequence[str] = ()
    author: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageResult:
    """What was written. For a docker-archive the manifest is computed but not stored in it."""

    target: Reference
    manifest_digest: Digest
    manifest: bytes
    config_digest: Digest
    config: bytes
    layers: tuple[LayerInfo, ...]


def _port(text: str) -> str:
    match = _PORT.fullmatch(text)
    if match is None or not 0 < int(match[1]) <= 65535:
        raise InputError(f"invalid port {text!r}: expected PORT or PORT/tcp|udp|sctp, e.g. 8080/tcp")
    return f"{int(match[1])}/{match[2] or 'tcp'}"


def _env(env: Mapping[str, str]) -> tuple[str, ...]:
    for key in env:
        if not key or "=" in key:
            raise InputError(f"invalid environment variable name {key!r}")
    return tuple(f"{key}={value}" for key, value in env.items())


def _validate(settings: ImageConfigInput, layer_count: int) -> None:
    if len(settings.history) > layer_count:
        raise InputError(f"{len(settings.history)} history entries for {layer_count} layers")
    for port in settings.ports:
        _port(port)
    _env(settings.env)


def build_config(settings: ImageConfigInput, layers: Sequence[LayerInfo], *, mtime: int) -> ImageConfig:
    """Build the image config for ``layers`` (in order) from ``settings``.

    Raises:
        InputError: a port or variable name is malformed, or there are more history entries than
            layers.
    """
    _validate(settings, len(layers))
    created = rfc3339(mtime if settings.created is None else settings.created)
    texts = [*settings.history, *[_DEFAULT_CREATED_BY] * (len(layers) - len(settings.history))]
    container = ContainerConfig(
        user=settings.user,
        exposed_ports=tuple(sorted({_port(p) for p in settings.ports})),
        env=_env(settings.env),
        entrypoint=None if settings.entrypoint is None else tuple(settings.entrypoint),
        cmd=None if settings.cmd is None else tuple(settings.cmd),
        working_dir=settings.workdir,
        labels=dict(settings.labels),
    )
    return ImageConfig(
        architecture=settings.architecture,
        os=settings.os,
        variant=settings.variant,
        created=created,
        author=settings.author,
        config=container,
        rootfs=RootFS(diff_ids=tuple(layer.diff_id for layer in layers)),
        history=tuple(History(created=created, created_by=text) for text in texts),
    )


def build_manifest(config: bytes, layers: Sequence[LayerInfo], annotations: Mapping[str, str]) -> Manifest:
    """Build the OCI manifest for the exact ``config`` bytes and ``layers``."""
    return Manifest(
        config=Descriptor(media_type=OCI_CONFIG, digest=Digest.of(config), size=len(config)),
        layers=tuple(layer.descriptor() for layer in layers),
        annotations=dict(annotations),
    )


def write_image(
    layers: Sequence[LayerSource],
    config: ImageConfigInput,
    target: Reference | str,
    *,
    mtime: int,
    annotations: Mapping[str, str] | None = None,
    compresslevel: int = 6,
) -> ImageResult:
    """Write an image with ``layers`` (bottom first) and ``config`` to ``target``, atomically.

    Args:
        layers: each a :class:`FileTree`, entries in tar order (parents first), or a
            :class:`PrebuiltLayer` already written.
        config: the config settings.
        target: ``oci:DIR[:TAG]`` or ``docker-archive:FILE[:NAME[:TAG]]``, parsed or as text.
        mtime: SOURCE_DATE_EPOCH: every file's mtime, and ``created`` unless the config sets it.
        annotations: manifest annotations, added over ``config.annotations``.
        compresslevel: gzip level for the layers.

    Returns:
        The digests and bytes written.

    Raises:
        ImageReferenceError: the target is malformed, or names an image to read (``@N``).
        InputError: a config setting is malformed, or the target is not a layout or is in the way.
        UnsafeArchiveError, BuildConflictError: a layer's entries cannot be written as a tar.
        DigestMismatchError: a prebuilt layer's file does not match its digest or DiffID.
    """
    ref = parse_reference(target) if isinstance(target, str) else target
    _validate(config, len(layers))  # before any layer is written
    merged = {**config.annotations, **(annotations or {})}
    if isinstance(ref, OciReference):
        return _write_oci(layers, config, ref, merged, mtime=mtime, level=compresslevel)
    return _write_archive(layers, config, ref, merged, mtime=mtime, level=compresslevel)


def _write_source(source: LayerSource, out: Writable, *, mtime: int, level: int) -> LayerInfo:
    """Write one layer into ``out``: build it from entries, or copy and check a prebuilt blob."""
    if isinstance(source, PrebuiltLayer):
        _copy_prebuilt(source, out)
        return source.info
    entries = source.entries() if isinstance(source, FileTree) else source
    return write_layer(entries, out, mtime=mtime, compresslevel=level)


def _copy_prebuilt(layer: PrebuiltLayer, out: Writable) -> None:
    """Copy a prebuilt blob, checking its size and sha256 as it streams.

    The DiffID is not recomputed: it was computed when the blob was written, and the blob digest
    binds the bytes to that record (recomputing it costs a full gunzip per rebuild).
    """
    info = layer.info
    blob_hash, size = hashlib.sha256(), 0
    with open(layer.path, "rb") as f:
        while chunk := f.read(_COPY_CHUNK):
            out.write(chunk)
            blob_hash.update(chunk)
            size += len(chunk)
    if (blob_hash.hexdigest(), size) != (info.digest.hex, info.size):
        raise DigestMismatchError(
            f"prebuilt layer {layer.path} is not the layer recorded for it: digest "
            f"{SHA256}:{blob_hash.hexdigest()} ({size} bytes), expected {info.digest} ({info.size} bytes)",
            hint="remove the build cache entry and build again",
        )


def _write_oci(
    layers: Sequence[LayerSource],
    settings: ImageConfigInput,
    ref: OciReference,
    annotations: Mapping[str, str],
    *,
    mtime: int,
    level: int,
) -> ImageResult:
    infos: list[LayerInfo] = []
    with OciLayoutWriter(Path(ref.path)) as layout:
        for source in layers:
            with layout.blob() as out:
                infos.append(_write_source(source, out, mtime=mtime, level=level))
        config_bytes = build_config(settings, infos, mtime=mtime).to_json()
        layout.add_blob(config_bytes)
        manifest = build_manifest(config_bytes, infos, annotations).to_json()
        descriptor = layout.commit(manifest, media_type=OCI_MANIFEST, tag=ref.tag)
    return ImageResult(
        target=ref,
        manifest_digest=descriptor.digest,
        manifest=manifest,
        config_digest=Digest.of(config_bytes),
        config=config_bytes,
        layers=tuple(infos),
    )


def _write_archive(
    layers: Sequence[LayerSource],
    settings: ImageConfigInput,
    ref: DockerArchiveReference,
    annotations: Mapping[str, str],
    *,
    mtime: int,
    level: int,
) -> ImageResult:
    if ref.source_index is not None:
        raise ImageReferenceError(
            f"{ref} selects an image to read; to write an archive use docker-archive:FILE[:NAME[:TAG]]"
        )
    path = Path(ref.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    infos: list[LayerInfo] = []
    files: list[ArchiveLayer] = []
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
        for i, source in enumerate(layers):
            layer_path = Path(tmp) / f"layer-{i}.tar.gz"
            with open(layer_path, "wb") as out:  # prebuilt layers too: checked, and safe from changes
                info = _write_source(source, out, mtime=mtime, level=level)
            infos.append(info)
            files.append(ArchiveLayer(path=layer_path, digest=info.digest))
        config_bytes = build_config(settings, infos, mtime=mtime).to_json()
        names = () if ref.name is None else (ref.name,)
        write_docker_archive(path, config=config_bytes, layers=files, repo_tags=names, mtime=mtime)
    manifest = build_manifest(config_bytes, infos, annotations).to_json()
    return ImageResult(
        target=ref,
        manifest_digest=Digest.of(manifest),
        manifest=manifest,
        config_digest=Digest.of(config_bytes),
        config=config_bytes,
        layers=tuple(infos),
    )
