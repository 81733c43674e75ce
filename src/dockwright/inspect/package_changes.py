"""Which packages two images add, remove, upgrade or downgrade, matched by identity, not position.

Packages are matched by ``(type, name, architecture, install location)``. The install location is
empty for OS packages (deb, rpm, apk: one database per image), the directory holding the
``*.dist-info``/``*.egg-info`` for Python packages, and the directory of the manifest
(``node_modules/x/package.json`` -> ``node_modules/x``) otherwise, so a version in a path does not
break the match. Python names are compared after PEP 503 normalization. A matched pair whose
versions differ is upgraded or downgraded: deb versions compare with dpkg's ordering
(:func:`dockwright.debian.version.compare_versions`), everything else with :func:`compare_generic`.

This module does not look at files or configuration (see :mod:`dockwright.inspect.diff`) and does
no I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from dockwright.debian.version import compare_versions
from dockwright.errors import InputError
from dockwright.inspect.baggage import OS_PACKAGE_TYPES, normalize_path
from dockwright.inspect.model import Package

__all__ = ["PackageChange", "PackageEntry", "compare_generic", "diff_packages"]

_TOKENS = re.compile(r"[0-9]+|[A-Za-z]+|~")
_PYPI_SEPARATORS = re.compile(r"[-_.]+")
_POST_RELEASE = frozenset({"post", "p", "pl", "patch", "rev", "r"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageEntry:
    """A package present in only one of the two images."""

    type: str
    name: str
    version: str
    architecture: str = ""
    location: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageChange:
    """A package in both images with different versions; ``direction`` is upgraded or downgraded."""

    type: str
    name: str
    old_version: str
    new_version: str
    direction: str
    architecture: str = ""
    location: str = ""


def compare_generic(a: str, b: str) -> int:
    """Compare two versions of an ecosystem without its own ordering (pypi, npm, rpm, apk...).

    Versions are split into digit runs, letter runs and ``~``; separators are ignored. Digit runs
    compare as integers and sort above letters; when one version runs out, a following letter run or
    ``~`` on the other side marks a pre-release (``1.0rc1 < 1.0``), a digit run or a post-release
    word (``post``, ``p``, ``pl``, ``patch``, ``rev``, ``r``) a later release (``1.0 < 1.0.1``,
    ``1.0 < 1.0.post1``). This is a heuristic, not PEP 440 or semver.

    Args:
        a: The first version.
        b: The second version.

    Returns:
        -1, 0 or 1.
    """
    left: list[str] = _TOKENS.findall(a)
    right: list[str] = _TOKENS.findall(b)
    for x, y in zip(left, right, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return (int(x) > int(y)) - (int(x) < int(y))
        if x == "~" or y == "~":
            return -1 if x == "~" else 1
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        return (x.lower() > y.lower()) - (x.lower() < y.lower())
    if len(left) == len(right):
        return 0
    longer, sign = (left, 1) if len(left) > len(right) else (right, -1)
    extra = longer[min(len(left), len(right))]
    return sign if extra.isdigit() or extra.lower() in _POST_RELEASE else -sign


def _compare(package_type: str, old: str, new: str) -> int:
    """Compare two versions with the ecosystem's ordering, falling back to the generic one."""
    if package_type == "deb":
        try:
            return int(compare_versions(old, new))
        except InputError:
            pass
    return compare_generic(old, new)


def _location(package: Package) -> str:
    """Return the install location used to match a package across images (module docstring)."""
    if package.type in OS_PACKAGE_TYPES or not package.location:
        return ""
    parts = normalize_path(package.location).split("/")
    for index, part in enumerate(parts):
        if part.endswith((".dist-info", ".egg-info", ".egg")):
            return "/".join(parts[:index])
    return "/".join(parts[:-1]) if "." in parts[-1] else "/".join(parts)


def _key(package: Package) -> tuple[str, str, str, str]:
    """Return the identity of a package across images."""
    name = package.name
    if package.type == "pypi":
        name = _PYPI_SEPARATORS.sub("-", name).lower()
    return (package.type, name, package.architecture, _location(package))


def _entry(package: Package) -> PackageEntry:
    """Describe a package present on one side only."""
    return PackageEntry(
        type=package.type,
        name=package.name,
        version=package.version,
        architecture=package.architecture,
        location=_location(package),
    )


def diff_packages(
    old: Sequence[Package], new: Sequence[Package]
) -> tuple[list[PackageEntry], list[PackageEntry], list[PackageChange]]:
    """Compare the packages of two images.

    Args:
        old: Packages of the old image.
        new: Packages of the new image.

    Returns:
        ``(added, removed, changed)``, each sorted by type and name; ``changed`` holds upgrades and
        downgrades.
    """
    old_by_key: dict[tuple[str, str, str, str], list[Package]] = defaultdict(list)
    new_by_key: dict[tuple[str, str, str, str], list[Package]] = defaultdict(list)
    for package in old:
        old_by_key[_key(package)].append(package)
    for package in new:
        new_by_key[_key(package)].append(package)
    added: list[PackageEntry] = []
    removed: list[PackageEntry] = []
    changed: list[PackageChange] = []
    for key in sorted(old_by_key.keys() | new_by_key.keys()):
        before, after = old_by_key.get(key, []), new_by_key.get(key, [])
        if len(before) == 1 and len(after) == 1:
            change = _version_change(before[0], after[0])
            changed.extend([change] if change is not None else [])
            continue
        # Several copies under one key (rare): compare as multisets of versions.
        old_versions = [package.version for package in before]
        new_versions = [package.version for package in after]
        removed.extend(_entry(p) for p in before if p.version not in new_versions)
        added.extend(_entry(p) for p in after if p.version not in old_versions)
    return added, removed, changed


def _version_change(old: Package, new: Package) -> PackageChange | None:
    """Return the change between two matched packages, or ``None`` when their versions are equal."""
    order = _compare(old.type, old.version, new.version)
    if order == 0:
        return None
    return PackageChange(
        type=new.type,
        name=new.name,
        old_version=old.version,
        new_version=new.version,
        direction="upgraded" if order < 0 else "downgraded",
        architecture=new.architecture,
        location=_location(new),
    )
