"""OCI and Docker media types, the content descriptor and the platform object.

A :class:`Descriptor` points at a blob by media type, digest and size (OCI ``descriptor.md``).
Like every wire object in :mod:`dockwright.oci`, it is a frozen dataclass with a validating
:meth:`~Descriptor.from_dict` and a :meth:`~Descriptor.to_dict` that keeps fields it does not know
(``extra``), so a document read and written back loses nothing.

What this module does not do: serialize to bytes or compute digests (see
:mod:`dockwright.oci.image`), or fetch what a descriptor points at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockwright.errors import InputError
from dockwright.oci.digest import Digest

__all__ = [
    "ANNOTATION_CREATED",
    "ANNOTATION_REF_NAME",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "Descriptor",
    "Platform",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"


# Validation helpers shared by the wire objects of this package. ``where`` names the field in
# error messages, e.g. ``manifest.layers[2].size``.


def require_object(value: Any, where: str) -> Mapping[str, Any]:
    """Return ``value`` if it is a JSON object, else raise :class:`InputError`."""
    if not isinstance(value, Mapping):
        raise InputError(f"{where} must be a JSON object, not {_json_type(value)}")
    return value


def require_str(value: Any, where: str) -> str:
    """Return ``value`` if it is a string, else raise :class:`InputError`."""
    if not isinstance(value, str):
        raise InputError(f"{where} must be a string, not {_json_type(value)}")
    return value


def optional_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    """Return ``data[key]`` as a string, or None when it is absent or null."""
    value = data.get(key)
    return None if value is None else require_str(value, f"{where}.{key}")


def require_int(value: Any, where: str) -> int:
    """Return ``value`` if it is a non-negative JSON integer, else raise :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where} must be a non-negative integer, not {value!r}")
    return value


def str_list(value: Any, where: str) -> tuple[str, ...]:
    """Return a JSON array of strings as a tuple (null counts as empty)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InputError(f"{where} must be an array of strings, not {_json_type(value)}")
    return tuple(require_str(v, f"{where}[{i}]") for i, v in enumerate(value))


def str_map(value: Any, where: str) -> dict[str, str]:
    """Return a JSON object of strings to strings (null counts as empty)."""
    if value is None:
        return {}
    obj = require_object(value, where)
    return {require_str(k, where): require_str(v, f"{where}[{k!r}]") for k, v in obj.items()}


def extra_fields(data: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """Return the members of ``data`` this package does not model, to be written back as they were."""
    return {k: v for k, v in data.items() if k not in known}


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """The platform an index entry's image runs on (``architecture``/``os`` and refinements)."""

    architecture: str
    os: str
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    variant: str | None = None
    features: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"architecture", "os", "os.version", "os.features", "variant", "features"})

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object, unknown fields included."""
        out: dict[str, Any] = {**self.extra, "architecture": self.architecture, "os": self.os}
        if self.os_version is not None:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant is not None:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "platform") -> Platform:
        """Validate and build from a JSON object.

        Raises:
            InputError: a required field is missing or a field has the wrong type.
        """
        obj = require_object(data, where)
        return cls(
            architecture=require_str(obj.get("architecture"), f"{where}.architecture"),
            os=require_str(obj.get("os"), f"{where}.os"),
            os_version=optional_str(obj, "os.version", where),
            os_features=str_list(obj.get("os.features"), f"{where}.os.features"),
            variant=optional_str(obj, "variant", where),
            features=str_list(obj.get("features"), f"{where}.features"),
            extra=extra_fields(obj, cls._KNOWN),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    """A typed, content-addressed pointer to a blob (OCI ``descriptor.md``)."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    data: str | None = None
    platform: Platform | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {"mediaType", "digest", "size", "urls", "annotations", "artifactType", "data", "platform"}
    )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object; empty optional fields are left out, unknown fields kept."""
        out: dict[str, Any] = {**self.extra}
        out.update(mediaType=self.media_type, digest=str(self.digest), size=self.size)
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        if self.data is not None:
            out["data"] = self.data
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "descriptor") -> Descriptor:
        """Validate and build from a JSON object.

        Args:
            data: the decoded JSON value.
            where: the field's name for error messages, e.g. ``manifest.layers[0]``.

        Raises:
            InputError: a required field is missing, malformed or of the wrong type.
        """
        obj = require_object(data, where)
        platform = obj.get("platform")
        try:
            digest = Digest.parse(require_str(obj.get("digest"), f"{where}.digest"))
        except InputError as exc:
            raise InputError(f"{where}.digest: {exc.message}") from None
        return cls(
            media_type=require_str(obj.get("mediaType"), f"{where}.mediaType"),
            digest=digest,
            size=require_int(obj.get("size"), f"{where}.size"),
            urls=str_list(obj.get("urls"), f"{where}.urls"),
            annotations=str_map(obj.get("annotations"), f"{where}.annotations"),
            artifact_type=optional_str(obj, "artifactType", where),
            data=optional_str(obj, "data", where),
            platform=None if platform is None else Platform.from_dict(platform, f"{where}.platform"),
            extra=extra_fields(obj, cls._KNOWN),
        )
