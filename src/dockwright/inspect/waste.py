"""How much of an image is waste, per layer and per kind of baggage, counted once.

Two kinds of waste are measured, and they never overlap:

**Reclaimable bytes** are layering waste: bytes of regular files that a layer wrote and a later layer
replaced or deleted. They are shipped (pulled, stored, unpacked) but never visible in the final
filesystem. Each such copy counts **once**, and the copy the final filesystem keeps is not waste.
A 10 MB file written in layer 0 and rewritten in layer 2 wastes 10 MB, not 20 MB: dive counts
every copy of a path seen in two or more layers, including the one you keep, and so reports 20 MB.
The per-layer numbers come from :attr:`LayerRecord.overwritten_bytes`, charged to the layer that
wrote the hidden copy.

**Efficiency** is ``1 - R / S`` where ``R`` is the sum of reclaimable bytes over all layers and ``S``
the sum of :attr:`LayerRecord.files_bytes` (bytes of regular files written by all layers, every
copy included: what the image ships). It is 1.0 when ``S`` is 0. It measures layering only: caches or
docs left in the final filesystem do not lower it; they are the second kind of waste.

**Baggage categories** are files of the final (merged) filesystem an application container does not
need at run time (rules in :mod:`dockwright.inspect.baggage`). A path counts in the first category
that claims it, in this order: ``caches``, ``dev-packages``, ``tests``, ``docs``, ``man``,
``locales``. Caches come first because no package owns them; dev packages next because removing the
package removes its docs, man pages and tests too. Only regular files carry bytes; symlinks,
hardlinks and directories do not.

**Wasted** (what the image could save) is reclaimable bytes plus the bytes of every category. The
two never double count, since reclaimable copies are not in the merged filesystem.

This module does no I/O and does not render anything (see :mod:`dockwright.inspect.render`); it
trusts the reader's per-layer numbers and does not recompute them from layer contents.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dockwright.inspect import baggage
from dockwright.inspect.model import FileKind, FileRecord, ImageContents, Package

__all__ = [
    "CATEGORY_ORDER",
    "CATEGORY_TITLES",
    "DevPackage",
    "LayerWaste",
    "WasteCategory",
    "WasteKind",
    "WastePath",
    "WasteReport",
    "waste_report",
]

CATEGORY_ORDER = ("caches", "dev-packages", "tests", "docs", "man", "locales")
"""Category keys in claiming order: a path counts in the first one that matches."""

CATEGORY_TITLES = {
    "caches": "package caches",
    "dev-packages": "dev/test packages",
    "tests": "test trees",
    "docs": "docs",
    "man": "man/info pages",
    "locales": "locales",
}
"""Human titles of the categories."""

_PATH_RULES: dict[str, Callable[[list[str]], str | None]] = {
    "caches": baggage.cache_label,
    "tests": baggage.test_label,
    "docs": baggage.doc_label,
    "man": baggage.man_label,
    "locales": baggage.locale_label,
}


def _jsonable(value: object) -> object:
    """Turn tuples into lists, recursively, so ``to_dict`` output compares equal to parsed JSON."""
    if isinstance(value, dict):
        return _jsonable_dict(value)
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _jsonable_dict(data: dict[str, Any]) -> dict[str, object]:
    """Apply :func:`_jsonable` to the values of a dict from :func:`dataclasses.asdict`."""
    return {key: _jsonable(value) for key, value in data.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerWaste:
    """One layer's sizes and the bytes it ships that nobody sees.

    ``files_bytes`` is what the layer writes; ``reclaimable_bytes`` the part of it that a later
    layer replaced or deleted.
    """

    index: int
    digest: str
    created_by: str
    size: int
    uncompressed_size: int
    files: int
    files_bytes: int
    deleted: int
    reclaimable_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WastePath:
    """One path of the merged filesystem that a category claims, with its size."""

    path: str
    size: int
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WasteKind:
    """A part of a category: ``apt archives`` in caches, ``gcc-12`` in dev packages."""

    label: str
    bytes: int
    files: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WasteCategory:
    """One kind of baggage: what removing it would save.

    ``bytes`` and ``files`` count only paths no earlier category claimed. ``paths`` are the largest
    claimed paths and ``kinds`` the largest parts, both limited to the report's ``top``.
    """

    key: str
    title: str
    bytes: int
    files: int
    paths: tuple[WastePath, ...]
    kinds: tuple[WasteKind, ...]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict of every field."""
        return _jsonable_dict(dataclasses.asdict(self))


@dataclass(frozen=True, slots=True, kw_only=True)
class DevPackage:
    """A package needed only to build or test, with the bytes of its files in the final image.

    ``bytes`` counts every regular file the package owns, including ones another category (a cache)
    claimed first; the ``dev-packages`` category total does not.
    """

    name: str
    version: str
    type: str
    reason: str
    bytes: int
    files: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WasteReport:
    """Everything ``dockwright inspect --waste`` reports, and what ``--fail-on`` is checked against.

    ``compressed_size`` and ``uncompressed_size`` sum the layer blobs and tars; ``shipped_bytes``
    sums the regular file bytes all layers write; ``image_bytes`` those of the merged filesystem.
    ``categories`` holds every category of :data:`CATEGORY_ORDER`, in that order, even when empty.
    """

    reference: str
    layers: tuple[LayerWaste, ...]
    compressed_size: int
    uncompressed_size: int
    shipped_bytes: int
    image_bytes: int
    reclaimable_bytes: int
    efficiency: float
    categories: tuple[WasteCategory, ...]
    dev_packages: tuple[DevPackage, ...]
    wasted_bytes: int

    def category(self, key: str) -> WasteCategory:
        """Return the category with ``key`` (one of :data:`CATEGORY_ORDER`).

        Raises:
            KeyError: ``key`` is not a category.
        """
        for category in self.categories:
            if category.key == key:
                return category
        raise KeyError(key)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict of every field (for ``--json``)."""
        return _jsonable_dict(dataclasses.asdict(self))


def _layer_waste(contents: ImageContents) -> tuple[LayerWaste, ...]:
    """Copy the reader's per-layer numbers into report rows."""
    return tuple(
        LayerWaste(
            index=layer.index,
            digest=layer.digest,
            created_by=layer.created_by,
            size=layer.size,
            uncompressed_size=layer.uncompressed_size,
            files=layer.files,
            files_bytes=layer.files_bytes,
            deleted=layer.deleted,
            reclaimable_bytes=layer.overwritten_bytes,
        )
        for layer in contents.layers
    )


def _dev_owners(
    files: dict[str, FileRecord], packages: Sequence[Package]
) -> tuple[dict[str, str], tuple[DevPackage, ...]]:
    """Map merged paths to the first dev package owning them, and describe every dev package."""
    owners: dict[str, str] = {}
    found: list[DevPackage] = []
    for package in packages:
        reason = baggage.dev_reason(package)
        if reason is None:
            continue
        owned: set[str] = set()
        for path in package.files:
            key = baggage.resolve_path(path, files)
            if key is not None and files[key].kind is FileKind.FILE:
                owned.add(key)
        for key in owned:
            owners.setdefault(key, package.name)
        size = sum(files[key].size for key in owned)
        found.append(
            DevPackage(
                name=package.name,
                version=package.version,
                type=package.type,
                reason=reason,
                bytes=size,
                files=len(owned),
            )
        )
    found.sort(key=lambda dev: (-dev.bytes, dev.type, dev.name))
    return owners, tuple(found)


def _claim(path: str, owners: dict[str, str]) -> tuple[str, str] | None:
    """Return ``(category key, label)`` of the first category claiming a merged file."""
    parts = path.split("/")
    for key in CATEGORY_ORDER:
        label = owners.get(path) if key == "dev-packages" else _PATH_RULES[key](parts)
        if label is not None:
            return key, label
    return None


def _category(key: str, claimed: Iterable[WastePath], top: int) -> WasteCategory:
    """Sum the paths one category claimed and keep the largest paths and kinds."""
    paths = sorted(claimed, key=lambda item: (-item.size, item.path))
    kind_bytes: dict[str, int] = defaultdict(int)
    kind_files: dict[str, int] = defaultdict(int)
    for item in paths:
        kind_bytes[item.label] += item.size
        kind_files[item.label] += 1
    kinds = sorted(
        (WasteKind(label=label, bytes=size, files=kind_files[label]) for label, size in kind_bytes.items()),
        key=lambda kind: (-kind.bytes, kind.label),
    )
    return WasteCategory(
        key=key,
        title=CATEGORY_TITLES[key],
        bytes=sum(item.size for item in paths),
        files=len(paths),
        paths=tuple(paths[:top]),
        kinds=tuple(kinds[:top]),
    )


def waste_report(contents: ImageContents, packages: Sequence[Package], *, top: int = 10) -> WasteReport:
    """Measure layering waste and baggage of an image.

    Args:
        contents: What the reader found in the image (merged files and per-layer records).
        packages: What the catalogers found; dev packages are picked by
            :func:`dockwright.inspect.baggage.dev_reason`.
        top: How many of the largest paths and kinds each category keeps.

    Returns:
        The report; see the module docstring for the definitions of its numbers.
    """
    layers = _layer_waste(contents)
    owners, dev_packages = _dev_owners(contents.files, packages)
    claimed: dict[str, list[WastePath]] = {key: [] for key in CATEGORY_ORDER}
    image_bytes = 0
    for path, record in contents.files.items():
        if record.kind is not FileKind.FILE:
            continue
        image_bytes += record.size
        claim = _claim(path, owners)
        if claim is not None:
            key, label = claim
            claimed[key].append(WastePath(path=path, size=record.size, label=label))
    categories = tuple(_category(key, claimed[key], top) for key in CATEGORY_ORDER)
    shipped = sum(layer.files_bytes for layer in layers)
    reclaimable = sum(layer.reclaimable_bytes for layer in layers)
    efficiency = 1.0 if shipped <= 0 else max(0.0, min(1.0, 1.0 - reclaimable / shipped))
    return WasteReport(
        reference=contents.reference,
        layers=layers,
        compressed_size=sum(layer.size for layer in layers),
        uncompressed_size=sum(layer.uncompressed_size for layer in layers),
        shipped_bytes=shipped,
        image_bytes=image_bytes,
        reclaimable_bytes=reclaimable,
        efficiency=efficiency,
        categories=categories,
        dev_packages=dev_packages,
        wasted_bytes=reclaimable + sum(category.bytes for category in categories),
    )
