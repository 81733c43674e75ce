"""Byte sizes for humans: the unit table the ``--fail-on`` grammar accepts, and size formatting.

Decimal units (``kB``/``KB``, ``MB``, ``GB``) are powers of 1000, binary units (``KiB``, ``MiB``,
``GiB``) powers of 1024, as in IEC 80000-13; ``B`` is one byte. Unit names are case-sensitive except
that ``KB`` is accepted for ``kB``, because ``kB`` versus ``KB`` is a common slip and neither is
ambiguous here.

This module does not parse whole expressions (see :mod:`dockwright.inspect.gate`) and does no I/O.
"""

from __future__ import annotations

__all__ = ["UNITS", "format_size", "is_binary_unit"]

UNITS: dict[str, int] = {
    "B": 1,
    "kB": 1000,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
"""Every unit a size threshold may carry, with its multiplier in bytes."""

_DECIMAL = (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000))
_BINARY = (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def is_binary_unit(unit: str) -> bool:
    """Return whether ``unit`` is one of the binary (power of 1024) units.

    Args:
        unit: A key of :data:`UNITS`, or ``""``.

    Returns:
        True for ``KiB``, ``MiB`` and ``GiB``.
    """
    return unit.endswith("iB")


def format_size(size: int | float, *, binary: bool = False) -> str:
    """Format a byte count with one decimal in the largest unit that keeps it at least 1.

    Args:
        size: A number of bytes (may be negative, for deltas).
        binary: Use KiB/MiB/GiB instead of kB/MB/GB.

    Returns:
        ``"48.2 MB"``, ``"512 B"``, ``"-1.5 MiB"``.
    """
    magnitude = abs(size)
    for unit, factor in _BINARY if binary else _DECIMAL:
        if magnitude >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{int(size)} B"
