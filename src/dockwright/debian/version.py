"""Debian version comparison with dpkg's ordering, fast enough for the resolver's hot path.

A version ``[epoch:]upstream[-revision]`` is turned once into a sort key (a tuple whose natural
ordering is dpkg's ``verrevcmp`` ordering); keys are cached, so comparing two versions that were
seen before costs two dictionary look-ups and a tuple comparison. python-debian's ``Version``
needs about 30 µs per comparison here, the cached key well under 1 µs.

How a key encodes dpkg's algorithm: a part (upstream or revision) is split into alternating
(non-digit run, digit run) pairs. Non-digit runs compare character by character with ``~`` below
the end of the run, the end below letters, letters below other characters; digit runs compare as
integers. A run's characters become weights with a terminating 0 (the end), and an exhausted part
compares like an empty pair, which is appended (twice) as a sentinel after stripping trailing pairs
equal to it.

This module does not parse relations (see ``relation``) and does not know about architectures.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dockwright.errors import InputError

__all__ = ["VersionKey", "compare_versions", "sort_key", "validate_version"]

_RunKey = tuple[tuple[int, ...], int]
VersionKey = tuple[int, tuple[_RunKey, ...], tuple[_RunKey, ...]]
"""An opaque, totally ordered key; equal keys mean versions dpkg considers equal."""

_VERSION = re.compile(
    r"(?:(?P<epoch>[0-9]+):)?(?P<upstream>[A-Za-z0-9.+~:-]+?)(?:-(?P<revision>[A-Za-z0-9.+~]+))?"
)
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")
_EXHAUSTED: _RunKey = ((0,), 0)
_CACHE_SIZE = 1 << 16


def _weight(char: str) -> int:
    """Return dpkg's ``order()`` of one non-digit character (never 0, which marks the end)."""
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _part_key(part: str) -> tuple[_RunKey, ...]:
    """Return the key of an upstream version or revision, following dpkg's ``verrevcmp``."""
    runs: list[_RunKey] = []
    for letters, digits in _RUNS.findall(part):
        if not letters and not digits:
            continue
        runs.append(((*(_weight(c) for c in letters), 0), int(digits) if digits else 0))
    while runs and runs[-1] == _EXHAUSTED:
        runs.pop()
    # Two sentinels: only the first run can equal _EXHAUSTED, so the second decides that case.
    return (*runs, _EXHAUSTED, _EXHAUSTED)


@lru_cache(maxsize=_CACHE_SIZE)
def sort_key(version: str) -> VersionKey:
    """Return a key whose ordering is dpkg's version ordering.

    Args:
        version: A Debian version such as ``1:2.36-9+deb12u10``.

    Returns:
        A tuple usable with ``sorted(..., key=sort_key)`` and ``<``/``==`` comparisons.

    Raises:
        InputError: The version is empty, has a non-numeric epoch or characters dpkg rejects.
    """
    match = _VERSION.fullmatch(version)
    if (
        match is None
        or not match["upstream"][0].isdigit()
        or match["upstream"].endswith("-")  # an empty revision
        or (match["epoch"] is None and ":" in match["upstream"])
    ):
        raise InputError(
            f"invalid Debian version {version!r}: expected [epoch:]upstream[-revision] "
            "with an upstream version starting with a digit",
            hint="use a version exactly as `apt-cache policy` prints it",
        )
    epoch = int(match["epoch"]) if match["epoch"] else 0
    return (epoch, _part_key(match["upstream"]), _part_key(match["revision"] or ""))


def validate_version(version: str) -> str:
    """Check that a string is a valid Debian version and return it unchanged.

    Args:
        version: The candidate version string.

    Returns:
        The same string.

    Raises:
        InputError: The version is malformed.
    """
    sort_key(version)
    return version


@lru_cache(maxsize=_CACHE_SIZE)
def compare_versions(a: str, b: str) -> int:
    """Compare two Debian versions like ``dpkg --compare-versions``.

    Args:
        a: The first version.
        b: The second version.

    Returns:
        A negative number if ``a`` sorts before ``b``, 0 if dpkg considers them equal, a positive
        number otherwise (exactly -1, 0 or 1).

    Raises:
        InputError: One of the versions is malformed.
    """
    key_a, key_b = sort_key(a), sort_key(b)
    return (key_a > key_b) - (key_a < key_b)
