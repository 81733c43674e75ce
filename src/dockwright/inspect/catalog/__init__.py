"""Catalogers: the packages an image holds, from the databases and metadata its files carry.

``WANTED`` is the predicate to hand the image reader (``read_image(ref, wanted=WANTED)``): it says
which paths' bytes the catalogers need, and is called for every path of the image, so it only
makes prefix, suffix and set checks. ``catalog_image`` then runs every cataloger over the
:class:`~dockwright.inspect.model.ImageContents`:

===========  ============================================================  ======================
cataloger    reads                                                         PURL type
===========  ============================================================  ======================
``dpkg``     ``var/lib/dpkg/status``, ``status.d/*``, ``info/*.list``       ``deb``
``rpm``      ``rpmdb.sqlite`` (warns about Berkeley DB / NDB)              ``rpm``
``apk``      ``lib/apk/db/installed``                                      ``apk``
``python``   ``*.dist-info/METADATA`` + ``RECORD``, ``*.egg-info``         ``pypi``
``npm``      ``node_modules/**/package.json``, ``package-lock.json``       ``npm``
===========  ============================================================  ======================

This package does not read images (the reader does), write SBOMs, or judge what it finds (waste,
policy): it turns bytes into :class:`~dockwright.inspect.model.Package` records and, for what it
could not read, :class:`~dockwright.inspect.model.Warning_` records.
"""

from __future__ import annotations

from collections.abc import Callable

from dockwright.inspect.catalog import apk, dpkg, npm, python, rpm
from dockwright.inspect.catalog.distro import OS_RELEASE_PATHS
from dockwright.inspect.model import ImageContents, Package, Warning_

__all__ = ["CATALOGERS", "WANTED", "catalog_image"]

Cataloger = Callable[[ImageContents, list[Warning_]], list[Package]]
CATALOGERS: tuple[tuple[str, Cataloger], ...] = (
    ("dpkg", dpkg.catalog),
    ("rpm", rpm.catalog),
    ("apk", apk.catalog),
    ("python", python.catalog),
    ("npm", npm.catalog),
)
_OS_RELEASE = frozenset(OS_RELEASE_PATHS)


def _wanted(path: str) -> bool:
    return (
        dpkg.wanted(path)
        or python.wanted(path)
        or npm.wanted(path)
        or rpm.wanted(path)
        or apk.wanted(path)
        or path in _OS_RELEASE
    )


WANTED: Callable[[str], bool] = _wanted
"""True for every path whose bytes some cataloger needs (and os-release, for the ``distro`` PURL
qualifier when the reader fills no ``os_release``)."""


def _sort_key(package: Package) -> tuple[str, str, str, str]:
    return (package.type, package.name, package.version, package.location)


def catalog_image(contents: ImageContents, *, warnings: list[Warning_] | None = None) -> list[Package]:
    """Run every cataloger over the image contents.

    Args:
        contents: what the reader found, read with :data:`WANTED` as its wanted predicate.
        warnings: when given, receives what the catalogers could not read (an RPM Berkeley DB, a
            malformed stanza, a database whose bytes the reader did not keep).

    Returns:
        Every package found, sorted by (type, name, version, location).
    """
    sink: list[Warning_] = [] if warnings is None else warnings
    packages: list[Package] = []
    for _, cataloger in CATALOGERS:
        packages.extend(cataloger(contents, sink))
    return sorted(packages, key=_sort_key)
