"""Which layer added a package and which layer last changed it, from its database's layer versions.

The reader keeps, for every wanted path, what each layer that touched it left there
(:attr:`ImageContents.versions`). A cataloger hands in a function that turns one version into
per-package records (``key -> anything comparable``); this module walks the versions in layer order.
A package's ``added`` layer is where its latest continuous presence began (a package removed and
installed again counts from the reinstall); ``changed`` is the last layer whose record differs
from the layer before (an upgrade, a status change), ``added`` when it never changed.

This module does not parse databases and does not read files: callers supply both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from dockwright.inspect.model import ImageContents

__all__ = ["Span", "default_span", "file_span", "spans"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Span:
    """The layers a package's record came from.

    Attributes:
        added: the layer whose database first listed the package (in its latest presence).
        changed: the last layer that changed the package's record.
    """

    added: int
    changed: int


def spans(
    history: Iterable[tuple[int, T | None]], records: Callable[[T], Mapping[str, object]]
) -> dict[str, Span]:
    """Attribute every package present in the last version to the layers that added and changed it.

    Args:
        history: ``(layer index, data)`` in layer order; ``None`` data means the layer deleted it.
        records: turns one version's data into ``package key -> record``; records compare by ``==``.

    Returns:
        For each key present after the last version, its span.
    """
    previous: Mapping[str, object] = {}
    added: dict[str, int] = {}
    changed: dict[str, int] = {}
    for layer, data in history:
        current = records(data) if data is not None else {}
        for key, record in current.items():
            if key not in previous:
                added[key] = changed[key] = layer
            elif previous[key] != record:
                changed[key] = layer
        previous = current
    return {key: Span(added[key], changed[key]) for key in previous}


def default_span(contents: ImageContents, path: str) -> Span:
    """Fall back on the database file's own layers when no per-layer versions are known.

    Args:
        contents: the image contents.
        path: the database path.

    Returns:
        ``Span(added_in, layer)`` of the file, or ``Span(0, 0)`` when the image has no such file.
    """
    record = contents.files.get(path)
    if record is None:
        return Span(0, 0)
    return Span(record.added_in, record.layer)


def file_span(contents: ImageContents, path: str) -> Span:
    """Attribute a package that is one file (Python metadata, a ``package.json``) to its layers.

    Args:
        contents: the image contents.
        path: the package's metadata path.

    Returns:
        The layer that created the file (in its latest presence) and the last layer that changed
        its bytes; :func:`default_span` when no versions are known.
    """
    history = contents.versions.get(path)
    found = spans(history, lambda data: {"": data}).get("") if history else None
    return found or default_span(contents, path)
