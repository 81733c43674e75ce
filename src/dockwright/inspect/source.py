"""Open an image named in skopeo transport syntax and stream its layers, verified, one at a time.

Transports::

    oci:DIR[:TAG]                        an OCI image layout; TAG and --platform pick one image
    docker-archive:FILE[:NAME[:TAG]]     a `docker save` tar (or :@N for the N-th image)
    dir:ROOTFS                           an unpacked root filesystem, read as one layer
    docker://REF                         (reserved: needs `dockwright pull`)

:func:`open_image` returns an :class:`ImageSource`: the reference, the manifest digest (for a
docker-archive the image ID, for ``dir:`` the digest of a canonical listing), the config as a dict,
and the layers. Each layer's stream (:class:`LayerStream`) is opened only when asked for and gives
the uncompressed tar; every blob (manifest, index, config, layer) is checked against its digest,
layers while they stream, and a mismatch raises :class:`~dockwright.errors.DigestMismatchError`
naming the blob.

What this module does not do: interpret layer contents (see :mod:`dockwright.inspect.reader`),
reach a registry, or parse ``oci:`` and ``docker-archive:`` itself (that grammar lives in
:mod:`dockwright.oci.reference`; this module adds ``dir:`` and the ``docker://`` refusal).
"""

from __future__ import annotations

from dataclasses import dataclass

from dockwright.errors import ImageReferenceError
from dockwright.inspect._image_source import ImageSource, LayerBlob, PlatformSpec, parse_platform
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect._source_archive import open_archive
from dockwright.inspect._source_dir import open_dir
from dockwright.inspect._source_oci import open_oci
from dockwright.oci.reference import DockerArchiveReference, OciReference, Reference, parse_reference

__all__ = [
    "DirReference",
    "ImageSource",
    "LayerBlob",
    "LayerStream",
    "PlatformSpec",
    "SourceReference",
    "open_image",
    "parse_platform",
    "parse_source_reference",
]

DIR_SYNTAX = "dir:ROOTFS"
_SYNTAX = "oci:DIR[:TAG], docker-archive:FILE[:NAME[:TAG]] or dir:ROOTFS"
_PULL_NEEDED = "docker:// needs `dockwright pull` (not yet available)"


@dataclass(frozen=True, slots=True, kw_only=True)
class DirReference:
    """``dir:ROOTFS``: an unpacked root filesystem directory (everything after ``dir:`` is the path)."""

    path: str

    def __str__(self) -> str:
        return f"dir:{self.path}"


SourceReference = Reference | DirReference


def parse_source_reference(text: str) -> SourceReference:
    """Parse any reference :func:`open_image` reads.

    ``dir:`` takes the rest of the text as the path, colons included. ``docker://`` is refused
    until images can be pulled; everything else is :func:`dockwright.oci.reference.parse_reference`.

    Raises:
        ImageReferenceError: malformed, an unknown transport, or ``docker://``.
    """
    transport, sep, rest = text.partition(":")
    # Hook for registries: once `dockwright pull` exists, parse docker://REF here into its own
    # reference type and open it in open_image (pull to a cache, then read it as a layout).
    if transport == "docker" and rest.startswith("//"):
        raise ImageReferenceError(
            _PULL_NEEDED,
            hint="save the image first (skopeo copy docker://REF oci:DIR:TAG) and inspect oci:DIR:TAG",
        )
    if transport == "dir" and sep:
        if not rest:
            raise _fail(text, len(text), "empty directory", DIR_SYNTAX)
        return DirReference(path=rest)
    if transport not in ("oci", "docker-archive"):
        reason = "missing transport" if not sep else f"unknown transport {transport!r}"
        raise _fail(text, 0, reason, _SYNTAX)
    return parse_reference(text)


def _fail(text: str, column: int, reason: str, syntax: str) -> ImageReferenceError:
    return ImageReferenceError(
        f"{reason} in image reference {text!r}: expected {syntax}\n  {text}\n  {' ' * column}^"
    )


def open_image(ref: str, *, platform: str | None = None) -> ImageSource:
    """Open an image for reading: identity, config and lazily opened, verified layer streams.

    Args:
        ref: a reference in skopeo syntax (see the module docstring).
        platform: ``OS/ARCH[/VARIANT]`` to pick from a multi-platform index; for a single image it
            must match the image's config. Ignored for ``dir:``.

    Returns:
        The open source; use it as a context manager.

    Raises:
        ImageReferenceError: the reference is malformed, or ``docker://``.
        InputError: the image cannot be found or chosen, or its JSON is malformed (the message
            lists the choices when a tag or platform is needed).
        DigestMismatchError: a manifest, index or config blob does not match its digest.
    """
    parsed = parse_source_reference(ref)
    wanted = parse_platform(platform) if platform is not None else None
    if isinstance(parsed, DirReference):
        return open_dir(parsed.path, str(parsed))
    if isinstance(parsed, OciReference):
        return open_oci(parsed, wanted)
    assert isinstance(parsed, DockerArchiveReference)
    return open_archive(parsed, wanted)
