"""A semantic diff of two images: packages, files, sizes and run configuration.

Semantic means that what does not change the running container is ignored: modification times
(never recorded), the order of tar entries and layers (the merged filesystems are compared by
path), and the metadata of directories other than their mode and owner.

* Packages are matched by type, name, architecture and install location and compared by version
  (rules in :mod:`dockwright.inspect.package_changes`).
* A file is *changed* when its kind, content digest (or size when a digest is missing), mode,
  uid/gid or link target differ; for directories only kind, mode and owner count, and a symlink's
  mode is ignored (Linux does not use it).
* Configuration changes cover ``Entrypoint``, ``Cmd``, ``User``, ``WorkingDir``, ``StopSignal``,
  ``Env`` (by variable), ``ExposedPorts``, ``Volumes`` and ``Labels`` (by key), and the platform.

This module does no I/O and renders nothing (see :mod:`dockwright.inspect.render`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dockwright.inspect.model import FileKind, FileRecord, ImageContents, Package
from dockwright.inspect.package_changes import PackageChange, PackageEntry, diff_packages

__all__ = [
    "ConfigChange",
    "FileChange",
    "FileEntry",
    "ImageDiff",
    "PackageChange",
    "PackageEntry",
    "SizeChange",
    "diff_images",
]

_SCALAR_FIELDS = ("Entrypoint", "Cmd", "User", "WorkingDir", "StopSignal")
_KEYED_FIELDS = ("ExposedPorts", "Volumes", "Labels")


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEntry:
    """A path present in only one of the two merged filesystems."""

    path: str
    kind: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FileChange:
    """A path in both merged filesystems whose ``changes`` (content, kind, mode, owner, link) differ."""

    path: str
    old_kind: str
    new_kind: str
    old_size: int
    new_size: int
    changes: tuple[str, ...]

    @property
    def size_delta(self) -> int:
        """New size minus old size, in bytes."""
        return self.new_size - self.old_size


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChange:
    """One configuration value that differs; ``old`` or ``new`` is ``None`` when absent there.

    ``field`` is the OCI config field (``Env``, ``Labels``, ``Cmd``, ``platform``); ``key`` the
    variable, label or port within it (``""`` for single-valued fields). Lists are shown as JSON.
    """

    field: str
    key: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeChange:
    """One size of both images: ``compressed`` (layer blobs), ``uncompressed`` (layer tars) or
    ``files`` (regular file bytes of the merged filesystem)."""

    name: str
    old: int
    new: int

    @property
    def delta(self) -> int:
        """New minus old, in bytes."""
        return self.new - self.old


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageDiff:
    """Everything that differs between image ``old`` and image ``new``, each list sorted."""

    old_reference: str
    new_reference: str
    packages_added: tuple[PackageEntry, ...]
    packages_removed: tuple[PackageEntry, ...]
    packages_upgraded: tuple[PackageChange, ...]
    packages_downgraded: tuple[PackageChange, ...]
    files_added: tuple[FileEntry, ...]
    files_removed: tuple[FileEntry, ...]
    files_changed: tuple[FileChange, ...]
    config_changes: tuple[ConfigChange, ...]
    sizes: tuple[SizeChange, ...]

    @property
    def empty(self) -> bool:
        """Whether the images are semantically equal (sizes aside)."""
        return not any(
            (
                self.packages_added,
                self.packages_removed,
                self.packages_upgraded,
                self.packages_downgraded,
                self.files_added,
                self.files_removed,
                self.files_changed,
                self.config_changes,
            )
        )

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (for ``--json``); file changes and sizes carry their deltas."""
        return {
            "old_reference": self.old_reference,
            "new_reference": self.new_reference,
            "packages": {
                "added": [_fields(entry) for entry in self.packages_added],
                "removed": [_fields(entry) for entry in self.packages_removed],
                "upgraded": [_fields(change) for change in self.packages_upgraded],
                "downgraded": [_fields(change) for change in self.packages_downgraded],
            },
            "files": {
                "added": [_fields(entry) for entry in self.files_added],
                "removed": [_fields(entry) for entry in self.files_removed],
                "changed": [
                    {**_fields(change), "changes": list(change.changes), "size_delta": change.size_delta}
                    for change in self.files_changed
                ],
            },
            "config": [_fields(change) for change in self.config_changes],
            "sizes": {
                size.name: {"old": size.old, "new": size.new, "delta": size.delta} for size in self.sizes
            },
        }


def _fields(
    record: PackageEntry | PackageChange | FileEntry | FileChange | ConfigChange,
) -> dict[str, object]:
    """Return the fields of a flat record as a dict."""
    return dataclasses.asdict(record)


def _file_changes(old: FileRecord, new: FileRecord) -> tuple[str, ...]:
    """Return the names of the aspects in which two records of one path differ."""
    changes = []
    if old.kind is not new.kind:
        changes.append("kind")
    if new.kind is FileKind.FILE and old.kind is FileKind.FILE:
        same = old.sha256 == new.sha256 if old.sha256 and new.sha256 else old.size == new.size
        changes.extend([] if same else ["content"])
    both_links = old.kind is new.kind is FileKind.SYMLINK
    if old.mode != new.mode and not both_links:  # a symlink's mode means nothing on Linux
        changes.append("mode")
    if (old.uid, old.gid) != (new.uid, new.gid):
        changes.append("owner")
    if new.kind is not FileKind.DIR and old.link != new.link:
        changes.append("link")
    return tuple(changes)


def _diff_files(
    old: Mapping[str, FileRecord], new: Mapping[str, FileRecord]
) -> tuple[list[FileEntry], list[FileEntry], list[FileChange]]:
    """Return paths added, removed and changed between two merged filesystems."""
    added = [_file_entry(path, new[path]) for path in sorted(new.keys() - old.keys())]
    removed = [_file_entry(path, old[path]) for path in sorted(old.keys() - new.keys())]
    changed = []
    for path in sorted(old.keys() & new.keys()):
        changes = _file_changes(old[path], new[path])
        if changes:
            changed.append(
                FileChange(
                    path=path,
                    old_kind=old[path].kind.value,
                    new_kind=new[path].kind.value,
                    old_size=_bytes(old[path]),
                    new_size=_bytes(new[path]),
                    changes=changes,
                )
            )
    return added, removed, changed


def _bytes(record: FileRecord) -> int:
    """Return the bytes a record occupies (regular files only)."""
    return record.size if record.kind is FileKind.FILE else 0


def _file_entry(path: str, record: FileRecord) -> FileEntry:
    """Describe a path present on one side only."""
    return FileEntry(path=path, kind=record.kind.value, size=_bytes(record))


def _runtime(config: Mapping[str, object]) -> Mapping[str, object]:
    """Return the ``config`` object of an OCI image configuration (empty when missing)."""
    inner = config.get("config")
    return inner if isinstance(inner, Mapping) else {}


def _show(value: object) -> str | None:
    """Render a configuration value as text (lists and maps as compact JSON)."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _keyed(field: str, value: object) -> dict[str, str]:
    """Return a keyed configuration field as ``{key: shown value}``."""
    if field == "Env":
        items: Iterable[object] = value if isinstance(value, list) else []
        pairs = (str(item).partition("=") for item in items)
        return {name: text for name, _, text in pairs}
    if isinstance(value, Mapping):
        return {str(key): _show(item) or "" for key, item in value.items()}
    return {}


def _diff_config(old: Mapping[str, object], new: Mapping[str, object]) -> list[ConfigChange]:
    """Return configuration changes in a fixed field order, keys sorted."""
    changes = []
    old_platform = "/".join(str(old.get(name, "")) for name in ("os", "architecture", "variant"))
    new_platform = "/".join(str(new.get(name, "")) for name in ("os", "architecture", "variant"))
    if old_platform != new_platform:
        changes.append(ConfigChange(field="platform", key="", old=old_platform, new=new_platform))
    before, after = _runtime(old), _runtime(new)
    for field in _SCALAR_FIELDS:
        old_value, new_value = _show(before.get(field)), _show(after.get(field))
        if old_value != new_value:
            changes.append(ConfigChange(field=field, key="", old=old_value, new=new_value))
    for field in ("Env", *_KEYED_FIELDS):
        old_map, new_map = _keyed(field, before.get(field)), _keyed(field, after.get(field))
        for key in sorted(old_map.keys() | new_map.keys()):
            if old_map.get(key) != new_map.get(key):
                changes.append(ConfigChange(field=field, key=key, old=old_map.get(key), new=new_map.get(key)))
    return changes


def _sizes(old: ImageContents, new: ImageContents) -> tuple[SizeChange, ...]:
    """Return compressed, uncompressed and merged-file sizes of both images."""
    return (
        SizeChange(
            name="compressed",
            old=sum(layer.size for layer in old.layers),
            new=sum(layer.size for layer in new.layers),
        ),
        SizeChange(
            name="uncompressed",
            old=sum(layer.uncompressed_size for layer in old.layers),
            new=sum(layer.uncompressed_size for layer in new.layers),
        ),
        SizeChange(
            name="files",
            old=sum(_bytes(record) for record in old.files.values()),
            new=sum(_bytes(record) for record in new.files.values()),
        ),
    )


def diff_images(
    a: tuple[ImageContents, Sequence[Package]], b: tuple[ImageContents, Sequence[Package]]
) -> ImageDiff:
    """Compare two images semantically (see the module docstring for what counts).

    Args:
        a: The old image and its cataloged packages.
        b: The new image and its cataloged packages.

    Returns:
        The differences, every list sorted (packages by type and name, files by path).
    """
    (old, old_packages), (new, new_packages) = a, b
    added, removed, changed = diff_packages(old_packages, new_packages)
    files_added, files_removed, files_changed = _diff_files(old.files, new.files)
    return ImageDiff(
        old_reference=old.reference,
        new_reference=new.reference,
        packages_added=tuple(added),
        packages_removed=tuple(removed),
        packages_upgraded=tuple(change for change in changed if change.direction == "upgraded"),
        packages_downgraded=tuple(change for change in changed if change.direction == "downgraded"),
        files_added=tuple(files_added),
        files_removed=tuple(files_removed),
        files_changed=tuple(files_changed),
        config_changes=tuple(_diff_config(old.config, new.config)),
        sizes=_sizes(old, new),
    )
