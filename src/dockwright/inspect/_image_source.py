"""What every image source gives the reader: identity, config, and layers opened one at a time.

:class:`ImageSource` is the same whatever the transport: a reference string, a manifest digest, the
config as a dict, and :class:`LayerBlob` descriptors whose streams (:class:`LayerStream`) are opened
lazily, one at a time, and verified as they are read. :class:`PlatformSpec` (``OS/ARCH[/VARIANT]``,
from :mod:`dockwright.oci.platform`) is re-exported for the sources. The helpers here validate a
config and check it against a requested platform.

What this module does not do: find or read any particular format (see the ``_source_*`` modules).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from dockwright.errors import InputError
from dockwright.inspect._layer_stream import LayerStream
from dockwright.inspect.model import Warning_
from dockwright.oci.image import ImageConfig
from dockwright.oci.platform import PlatformSpec, parse_platform

__all__ = [
    "ImageSource",
    "LayerBlob",
    "PlatformSpec",
    "check_platform",
    "created_by",
    "parse_config",
    "parse_platform",
]

MAX_JSON = 8 << 20  # manifests, indexes and configs larger than this are refused unread


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerBlob:
    """One layer as the image describes it.

    ``digest`` is the stored blob's ``sha256:...`` and ``diff_id`` the uncompressed tar's; either is
    ``""`` when the format does not say (a legacy docker-archive layer, a ``dir:``), and the reader
    then takes what it computed while streaming. ``size`` is -1 when unknown.
    """

    index: int
    digest: str
    size: int
    diff_id: str
    media_type: str = ""
    created_by: str = ""

    @property
    def what(self) -> str:
        """How messages name this layer: ``layer 2 (sha256:...)``."""
        return f"layer {self.index} ({self.digest})" if self.digest else f"layer {self.index}"

    def stream(self, f: IO[bytes]) -> LayerStream:
        """This layer's stream over ``f`` (its stored bytes), which the stream closes; ``f`` is
        closed here if the stream cannot be made."""
        try:
            return LayerStream(
                f, what=self.what, digest=self.digest, size=self.size, diff_id=self.diff_id, on_close=f.close
            )
        except BaseException:
            f.close()
            raise


class ImageSource:
    """An opened image: identity, config and layers, each streamed on demand and verified.

    Use as a context manager (an archive keeps its file open until closed)::

        with open_image("oci:layout:latest") as source:
            for blob, stream in source.iter_layers():
                ...  # read the uncompressed tar from ``stream``
    """

    def __init__(
        self,
        *,
        reference: str,
        manifest_digest: str,
        config: dict[str, object],
        layers: tuple[LayerBlob, ...],
        opener: Callable[[LayerBlob], LayerStream],
        closer: Callable[[], None] | None = None,
        warnings: list[Warning_] | None = None,
        parallel_layers: bool = False,
    ) -> None:
        """Assemble a source; ``opener`` opens one layer's stream, ``closer`` releases the image.

        ``parallel_layers`` says that layers may be opened and read from several threads at once
        (each stream in one thread), as files of a layout can.
        """
        self.reference = reference
        self.manifest_digest = manifest_digest
        self.config = config
        self.layers = layers
        self.warnings: list[Warning_] = warnings if warnings is not None else []
        self.parallel_layers = parallel_layers
        self._opener = opener
        self._closer = closer

    def open_layer(self, index: int) -> LayerStream:
        """Open layer ``index``'s uncompressed tar stream (close it when done).

        Raises:
            DigestMismatchError: the blob is missing.
        """
        return self._opener(self.layers[index])

    def iter_layers(self) -> Iterator[tuple[LayerBlob, LayerStream]]:
        """Yield each layer with its stream, opened lazily; each is closed before the next opens."""
        for blob in self.layers:
            with self._opener(blob) as stream:
                yield blob, stream

    def close(self) -> None:
        """Release files the source holds open (idempotent)."""
        if self._closer is not None:
            closer, self._closer = self._closer, None
            closer()

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_json(data: bytes, what: str) -> Any:
    """Decode JSON bytes, or raise InputError naming ``what``."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} is not valid JSON: {exc}") from None


def parse_config(data: bytes, reference: str) -> tuple[dict[str, object], ImageConfig]:
    """Decode and validate an image config.

    Raises:
        InputError: not JSON, or not a valid image config (the message names the image).
    """
    decoded = load_json(data, f"image config of {reference}")
    if not isinstance(decoded, dict):
        raise InputError(f"image config of {reference} must be a JSON object")
    try:
        config = ImageConfig.from_dict(decoded)
    except InputError as exc:
        raise InputError(f"{reference}: malformed image config: {exc.message}") from None
    return decoded, config


def created_by(config: ImageConfig, layers: int) -> list[str]:
    """The ``created_by`` of each layer: history entries that are not ``empty_layer``, in order."""
    steps = [h.created_by or "" for h in config.history if not h.empty_layer]
    return (steps + [""] * layers)[:layers]


def check_platform(config: ImageConfig, wanted: PlatformSpec | None, reference: str) -> None:
    """Refuse an image whose config names another platform than ``wanted``.

    Raises:
        InputError: the platforms differ.
    """
    if wanted is None:
        return
    actual = PlatformSpec.of(config.os, config.architecture, config.variant)
    if not wanted.matches(actual):
        raise InputError(f"{reference} is an image for {actual}, not {wanted}")


def diff_ids(config: ImageConfig, layers: int, reference: str) -> list[str]:
    """The config's diff_ids as strings, one per layer.

    Raises:
        InputError: the config lists another number of layers than the manifest.
    """
    ids = [str(d) for d in config.rootfs.diff_ids]
    if len(ids) != layers:
        raise InputError(f"{reference}: the config lists {len(ids)} diff_ids for {layers} layers")
    return ids
