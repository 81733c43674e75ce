"""OCI image config, image manifest and image index, with canonical JSON serialization.

Each document is a frozen dataclass with a validating ``from_dict`` (and ``from_json`` for bytes)
and a ``to_dict``; unknown members are kept in ``extra`` and written back. :func:`canonical_json`
is the one serializer: sorted keys, no whitespace, UTF-8 (not ASCII-escaped), so the same document
always gives the same bytes. Callers hash exactly the bytes they write (``to_json()`` returns them)
and never re-serialize a document they read to compute its digest: keep the original bytes.

What this module does not do: write files (see :mod:`dockwright.oci.layout` and
:mod:`dockwright.oci.archive`), build layers, or convert to Docker schema 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dockwright.errors import InputError
from dockwright.oci.descriptor import (
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    extra_fields,
    optional_str,
    require_object,
    require_str,
    str_list,
    str_map,
)
from dockwright.oci.digest import Digest

__all__ = [
    "ContainerConfig",
    "History",
    "ImageConfig",
    "Index",
    "Manifest",
    "RootFS",
    "canonical_json",
    "rfc3339",
]


def canonical_json(value: Mapping[str, Any] | list[Any]) -> bytes:
    """Serialize ``value`` with sorted keys, compact separators and UTF-8 encoding."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def rfc3339(epoch: int) -> str:
    """Format seconds since the epoch as an RFC 3339 UTC timestamp, e.g. ``2024-01-01T00:00:00Z``."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} is not valid JSON: {exc}") from None


def _set_dict(value: Any, where: str) -> tuple[str, ...]:
    """Read a Go ``map[string]struct{}`` (``{"8080/tcp": {}}``) as its sorted keys."""
    if value is None:
        return ()
    return tuple(sorted(require_object(value, where)))


def _optional_list(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = data.get(key)
    return None if value is None else str_list(value, f"{where}.{key}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """The execution defaults of an image (the ``config`` member of the image config).

    ``entrypoint`` and ``cmd`` distinguish ``None`` (not set, left out) from ``()`` (set to
    empty, written as ``[]``), because runtimes treat the two differently.
    """

    user: str | None = None
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {"User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal"}
    )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object; unset fields are left out."""
        out: dict[str, Any] = {**self.extra}
        simple = {"User": self.user, "WorkingDir": self.working_dir, "StopSignal": self.stop_signal}
        out.update({k: v for k, v in simple.items() if v is not None})
        if self.exposed_ports:
            out["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {volume: {} for volume in self.volumes}
        if self.labels:
            out["Labels"] = dict(self.labels)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "config.config") -> ContainerConfig:
        """Validate and build from a JSON object.

        Raises:
            InputError: a field has the wrong type.
        """
        obj = require_object(data, where)
        return cls(
            user=optional_str(obj, "User", where),
            exposed_ports=_set_dict(obj.get("ExposedPorts"), f"{where}.ExposedPorts"),
            env=str_list(obj.get("Env"), f"{where}.Env"),
            entrypoint=_optional_list(obj, "Entrypoint", where),
            cmd=_optional_list(obj, "Cmd", where),
            volumes=_set_dict(obj.get("Volumes"), f"{where}.Volumes"),
            working_dir=optional_str(obj, "WorkingDir", where),
            labels=str_map(obj.get("Labels"), f"{where}.Labels"),
            stop_signal=optional_str(obj, "StopSignal", where),
            extra=extra_fields(obj, cls._KNOWN),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RootFS:
    """The ordered layer DiffIDs (sha256 of each uncompressed layer tar)."""

    diff_ids: tuple[Digest, ...]
    type: str = "layers"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object."""
        return {"type": self.type, "diff_ids": [str(d) for d in self.diff_ids]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "config.rootfs") -> RootFS:
        """Validate and build from a JSON object.

        Raises:
            InputError: ``type`` is not ``layers`` or a DiffID is malformed.
        """
        obj = require_object(data, where)
        kind = require_str(obj.get("type"), f"{where}.type")
        if kind != "layers":
            raise InputError(f"{where}.type must be 'layers', not {kind!r}")
        ids = str_list(obj.get("diff_ids"), f"{where}.diff_ids")
        return cls(diff_ids=tuple(Digest.parse(d) for d in ids), type=kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """One history entry: how a layer (or an empty step) was made."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"created", "created_by", "author", "comment", "empty_layer"})

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object; unset fields are left out."""
        out: dict[str, Any] = {**self.extra}
        fields = {
            "created": self.created,
            "created_by": self.created_by,
            "author": self.author,
            "comment": self.comment,
        }
        out.update({k: v for k, v in fields.items() if v is not None})
        if self.empty_layer:
            out["empty_layer"] = True
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "config.history[]") -> History:
        """Validate and build from a JSON object.

        Raises:
            InputError: a field has the wrong type.
        """
        obj = require_object(data, where)
        empty = obj.get("empty_layer", False)
        if not isinstance(empty, bool):
            raise InputError(f"{where}.empty_layer must be a boolean")
        return cls(
            created=optional_str(obj, "created", where),
            created_by=optional_str(obj, "created_by", where),
            author=optional_str(obj, "author", where),
            comment=optional_str(obj, "comment", where),
            empty_layer=empty,
            extra=extra_fields(obj, cls._KNOWN),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageConfig:
    """The OCI image configuration (``application/vnd.oci.image.config.v1+json``)."""

    architecture: str
    os: str
    rootfs: RootFS
    created: str | None = None
    author: str | None = None
    variant: str | None = None
    config: ContainerConfig | None = None
    history: tuple[History, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"architecture", "os", "rootfs", "created", "author", "variant", "config", "history"})

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object; unset fields are left out."""
        out: dict[str, Any] = {**self.extra}
        out.update(architecture=self.architecture, os=self.os, rootfs=self.rootfs.to_dict())
        simple = {"created": self.created, "author": self.author, "variant": self.variant}
        out.update({k: v for k, v in simple.items() if v is not None})
        if self.config is not None:
            out["config"] = self.config.to_dict()
        if self.history:
            out["history"] = [h.to_dict() for h in self.history]
        return out

    def to_json(self) -> bytes:
        """Return the canonical JSON bytes (hash these, write these)."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> ImageConfig:
        """Validate and build from a JSON object.

        Raises:
            InputError: a required field is missing or a field has the wrong type.
        """
        obj = require_object(data, "config")
        history = obj.get("history") or []
        if not isinstance(history, list):
            raise InputError("config.history must be an array")
        container = obj.get("config")
        return cls(
            architecture=require_str(obj.get("architecture"), "config.architecture"),
            os=require_str(obj.get("os"), "config.os"),
            rootfs=RootFS.from_dict(obj.get("rootfs")),
            created=optional_str(obj, "created", "config"),
            author=optional_str(obj, "author", "config"),
            variant=optional_str(obj, "variant", "config"),
            config=None if container is None else ContainerConfig.from_dict(container),
            history=tuple(History.from_dict(h, f"config.history[{i}]") for i, h in enumerate(history)),
            extra=extra_fields(obj, cls._KNOWN),
        )

    @classmethod
    def from_json(cls, data: bytes) -> ImageConfig:
        """Parse and validate config bytes.

        Raises:
            InputError: the bytes are not JSON or not a valid image config.
        """
        return cls.from_dict(_load_json(data, "image config"))


def _schema_version(obj: Mapping[str, Any], where: str) -> int:
    version = obj.get("schemaVersion")
    if version != 2 or isinstance(version, bool):
        raise InputError(f"{where}.schemaVersion must be 2, not {version!r}")
    return 2


def _descriptors(value: Any, where: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise InputError(f"{where} must be an array of descriptors")
    return tuple(Descriptor.from_dict(d, f"{where}[{i}]") for i, d in enumerate(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """An image manifest (OCI, or Docker schema 2 when ``media_type`` says so)."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = OCI_MANIFEST
    annotations: Mapping[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    schema_version: int = 2
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {"schemaVersion", "mediaType", "config", "layers", "annotations", "subject", "artifactType"}
    )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object; unset optional fields are left out."""
        out: dict[str, Any] = {**self.extra}
        out.update(schemaVersion=self.schema_version, mediaType=self.media_type)
        out["config"] = self.config.to_dict()
        out["layers"] = [layer.to_dict() for layer in self.layers]
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out

    def to_json(self) -> bytes:
        """Return the canonical JSON bytes (hash these, write these)."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Validate and build from a JSON object.

        Raises:
            InputError: not schema version 2, or a required field is missing or malformed.
        """
        obj = require_object(data, "manifest")
        subject = obj.get("subject")
        return cls(
            schema_version=_schema_version(obj, "manifest"),
            media_type=optional_str(obj, "mediaType", "manifest") or OCI_MANIFEST,
            config=Descriptor.from_dict(obj.get("config"), "manifest.config"),
            layers=_descriptors(obj.get("layers"), "manifest.layers"),
            annotations=str_map(obj.get("annotations"), "manifest.annotations"),
            subject=None if subject is None else Descriptor.from_dict(subject, "manifest.subject"),
            artifact_type=optional_str(obj, "artifactType", "manifest"),
            extra=extra_fields(obj, cls._KNOWN),
        )

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and validate manifest bytes.

        Raises:
            InputError: the bytes are not JSON or not a valid manifest.
        """
        return cls.from_dict(_load_json(data, "manifest"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    """An image index (also the shape of an OCI layout's ``index.json``)."""

    manifests: tuple[Descriptor, ...] = ()
    media_type: str | None = OCI_INDEX
    annotations: Mapping[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    schema_version: int = 2
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"schemaVersion", "mediaType", "manifests", "annotations", "subject", "artifactType"})

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object; unset optional fields are left out."""
        out: dict[str, Any] = {**self.extra, "schemaVersion": self.schema_version}
        if self.media_type is not None:
            out["mediaType"] = self.media_type
        out["manifests"] = [m.to_dict() for m in self.manifests]
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out

    def to_json(self) -> bytes:
        """Return the canonical JSON bytes."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> Index:
        """Validate and build from a JSON object.

        Raises:
            InputError: not schema version 2, or a descriptor is malformed.
        """
        obj = require_object(data, "index")
        subject = obj.get("subject")
        return cls(
            schema_version=_schema_version(obj, "index"),
            media_type=optional_str(obj, "mediaType", "index"),
            manifests=_descriptors(obj.get("manifests", []), "index.manifests"),
            annotations=str_map(obj.get("annotations"), "index.annotations"),
            subject=None if subject is None else Descriptor.from_dict(subject, "index.subject"),
            artifact_type=optional_str(obj, "artifactType", "index"),
            extra=extra_fields(obj, cls._KNOWN),
        )

    @classmethod
    def from_json(cls, data: bytes) -> Index:
        """Parse and validate index bytes.

        Raises:
            InputError: the bytes are not JSON or not a valid index.
        """
        return cls.from_dict(_load_json(data, "index"))
