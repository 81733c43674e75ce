"""The rules that say which files and packages an image ships but does not need at run time.

Each path rule takes a normalized image path split into segments (``usr/share/doc/bash/NEWS.gz`` ->
``["usr", "share", "doc", "bash", "NEWS.gz"]``) and returns a short *label* (what kind of baggage,
or whose) or ``None``. The waste report (:mod:`dockwright.inspect.waste`) applies them in a fixed
order so that a path counts once.

Package caches (:func:`cache_label`):

* ``var/cache/apt/archives/**/*.deb`` (``apt archives``) and ``var/cache/apt/*.bin``
  (``apt cache``: ``pkgcache.bin`` and ``srcpkgcache.bin``, which ``apt-get clean`` removes);
* ``var/lib/apt/lists/*``: the files directly in ``lists``, except ``lock``; the ``partial``
  directory is not counted (``apt lists``);
* any ``**/.cache/pip/**`` (``root/.cache/pip`` included), ``**/.npm/_cacache/**``,
  ``usr/local/share/.cache/yarn/**`` and any ``**/.cache/yarn/**``;
* *stray bytecode*: ``**/__pycache__/**`` and ``*.pyc`` files that are **not** inside a
  ``site-packages`` or ``dist-packages`` directory and not under the interpreter's own library
  (``usr/lib/python3*/``, ``usr/local/lib/python3*/``). Bytecode of installed packages and of the
  standard library is kept on purpose: it saves compile time at every start. Bytecode elsewhere is
  what running the application or its tests during the build left behind.

Dev and test packages (:func:`dev_reason`): a package is dev when its cataloger set
``Package.dev`` (npm devDependencies), or by name. For OS packages (deb, rpm, apk, alpm):
``gcc*``, ``g++*``, ``cpp*``, ``clang*``, ``make``, ``cmake*``, ``binutils*``, ``build-essential``,
``build-base``, ``libc6-dev``, ``linux-libc-dev``, ``*-dev``, ``*-devel``, ``python3-pytest``,
``tox``; but never ``gcc-*-base`` (a run-time dependency of ``libgcc-s1``). For Python packages
(names compared after PEP 503 normalization): ``pytest``, ``pytest-*``, ``tox``, ``nox``,
``coverage``, ``hypothesis``.

Test trees (:func:`test_label`): files below a ``tests`` or ``test`` directory that is itself
inside a ``site-packages``, ``dist-packages`` or ``node_modules`` directory; the label is the
package directory (``numpy``, ``@scope/name``).

Docs (:func:`doc_label`): ``usr/share/doc/**`` and ``usr/local/share/doc/**`` except files named
``copyright`` (licences must stay). Man and info pages (:func:`man_label`): ``usr/share/man/**``,
``usr/share/info/**``, ``usr/local/share/man/**``. Locales (:func:`locale_label`):
``usr/share/locale/**`` except ``usr/share/locale/locale.alias``.

This module does not add bytes up or decide the order of categories (the waste report does), and
it looks at names only: it never reads file contents.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase

from dockwright.inspect.model import FileKind, FileRecord, Package

__all__ = [
    "OS_PACKAGE_TYPES",
    "cache_label",
    "dev_reason",
    "doc_label",
    "locale_label",
    "man_label",
    "normalize_path",
    "resolve_path",
    "test_label",
]

OS_PACKAGE_TYPES = frozenset({"deb", "rpm", "apk", "alpm"})
"""PURL types whose package names follow distribution conventions (``-dev``, ``gcc-12``)."""

_OS_DEV_PATTERNS = (
    "gcc*",
    "g++*",
    "cpp*",
    "clang*",
    "make",
    "cmake*",
    "binutils*",
    "build-essential",
    "build-base",
    "libc6-dev",
    "linux-libc-dev",
    "*-dev",
    "*-devel",
    "python3-pytest",
    "tox",
)
_OS_NOT_DEV_PATTERNS = ("gcc-*-base", "g++-*-base", "cpp-*-base")
_PYPI_DEV_PATTERNS = ("pytest", "pytest-*", "tox", "nox", "coverage", "hypothesis")
_PYPI_SEPARATORS = re.compile(r"[-_.]+")
_PACKAGE_ROOTS = frozenset({"site-packages", "dist-packages", "node_modules"})
_PYTHON_ROOTS = frozenset({"site-packages", "dist-packages"})
_MAX_LINK_HOPS = 16


def normalize_path(path: str) -> str:
    """Return an image path relative to the root, without ``/``, ``./`` or ``..`` parts.

    Args:
        path: A path as a package database or a layer spells it (``/usr/bin/gcc``, ``./etc``).

    Returns:
        ``usr/bin/gcc``; ``""`` for the root itself.
    """
    normal = posixpath.normpath("/" + path).lstrip("/")
    return "" if normal == "." else normal


def resolve_path(path: str, files: Mapping[str, FileRecord]) -> str | None:
    """Find the merged-filesystem key of a path, following symlinked parent directories.

    A package database may say ``/bin/ls`` when the image has ``bin -> usr/bin`` (merged /usr), so
    a direct look-up is tried first and then each symlinked prefix is replaced by its target.

    Args:
        path: An image path, absolute or relative to the root.
        files: The merged filesystem by normalized path.

    Returns:
        The key in ``files``, or ``None`` when the path does not exist there.
    """
    direct = path.lstrip("/")
    if direct in files:  # the common case, without normalizing
        return direct
    current = normalize_path(path)
    for _ in range(_MAX_LINK_HOPS):
        if current in files:
            return current
        parts = current.split("/")
        for end in range(1, len(parts)):
            record = files.get("/".join(parts[:end]))
            if record is not None and record.kind is FileKind.SYMLINK:
                base = "" if record.link.startswith("/") else "/".join(parts[: end - 1])
                current = normalize_path(posixpath.join(base, record.link, *parts[end:]))
                break
        else:
            return None
    return None


def _below(parts: list[str], *names: str) -> bool:
    """Return whether ``names`` occur as consecutive directories somewhere above the last part."""
    width = len(names)
    return any(tuple(parts[i : i + width]) == names for i in range(len(parts) - width))


def _packaged_python(parts: list[str]) -> bool:
    """Return whether a path lies in site-/dist-packages or under the interpreter's library."""
    if any(part in _PYTHON_ROOTS for part in parts[:-1]):
        return True
    if parts[:2] == ["usr", "lib"] and len(parts) > 3:
        return parts[2].startswith("python3")
    if parts[:3] == ["usr", "local", "lib"] and len(parts) > 4:
        return parts[3].startswith("python3")
    return False


def cache_label(parts: list[str]) -> str | None:
    """Return the kind of package cache a path belongs to, or ``None``.

    Args:
        parts: The segments of a normalized image path.

    Returns:
        ``apt archives``, ``apt cache``, ``apt lists``, ``pip cache``, ``npm cache``, ``yarn cache``,
        ``stray bytecode`` or ``None``.
    """
    if parts[:4] == ["var", "cache", "apt", "archives"] and parts[-1].endswith(".deb"):
        return "apt archives"
    if parts[:3] == ["var", "cache", "apt"] and len(parts) == 4 and parts[3].endswith(".bin"):
        return "apt cache"
    if parts[:4] == ["var", "lib", "apt", "lists"] and len(parts) == 5 and parts[4] != "lock":
        return "apt lists"
    if _below(parts, ".cache", "pip"):
        return "pip cache"
    if _below(parts, ".npm", "_cacache"):
        return "npm cache"
    if _below(parts, ".cache", "yarn"):
        return "yarn cache"
    bytecode = "__pycache__" in parts[:-1] or parts[-1].endswith(".pyc")
    if bytecode and not _packaged_python(parts):
        return "stray bytecode"
    return None


def test_label(parts: list[str]) -> str | None:
    """Return the package whose test tree holds a path, or ``None``.

    Args:
        parts: The segments of a normalized image path.

    Returns:
        The directory name right below the innermost ``site-packages``, ``dist-packages`` or
        ``node_modules`` above the ``tests``/``test`` directory (two segments for ``@scope/name``).
    """
    root = -1
    for index, part in enumerate(parts[:-1]):
        if part in _PACKAGE_ROOTS:
            root = index
        elif part in ("tests", "test") and root >= 0:
            label = parts[root + 1]
            if label.startswith("@") and root + 2 < index:
                label += "/" + parts[root + 2]
            return label
    return None


def doc_label(parts: list[str]) -> str | None:
    """Return the documentation directory a path belongs to, or ``None``.

    Args:
        parts: The segments of a normalized image path.

    Returns:
        The package directory below ``usr/share/doc`` (or ``usr/local/share/doc``); ``None`` for
        files named ``copyright`` and for paths elsewhere.
    """
    if parts[-1] == "copyright":
        return None
    for prefix in (["usr", "share", "doc"], ["usr", "local", "share", "doc"]):
        depth = len(prefix)
        if parts[:depth] == prefix and len(parts) > depth:
            return parts[depth] if len(parts) > depth + 1 else "/".join(prefix)
    return None


def man_label(parts: list[str]) -> str | None:
    """Return ``man pages`` or ``info pages`` for a path below a manual directory, else ``None``.

    Args:
        parts: The segments of a normalized image path.

    Returns:
        The label, or ``None``.
    """
    if len(parts) > 3 and parts[:3] == ["usr", "share", "man"]:
        return "man pages"
    if len(parts) > 4 and parts[:4] == ["usr", "local", "share", "man"]:
        return "man pages"
    if len(parts) > 3 and parts[:3] == ["usr", "share", "info"]:
        return "info pages"
    return None


def locale_label(parts: list[str]) -> str | None:
    """Return the language of a translation file below ``usr/share/locale``, else ``None``.

    Args:
        parts: The segments of a normalized image path.

    Returns:
        The language directory (``de``, ``pt_BR``), ``usr/share/locale`` for loose files, or
        ``None`` for ``locale.alias`` and paths elsewhere.
    """
    if parts[:3] != ["usr", "share", "locale"] or len(parts) < 4:
        return None
    if len(parts) == 4:
        return None if parts[3] == "locale.alias" else "usr/share/locale"
    return parts[3]


def dev_reason(package: Package) -> str | None:
    """Say why a package is only needed to build or test, or return ``None``.

    Args:
        package: A cataloged package.

    Returns:
        ``"marked dev by its cataloger"``, ``"compiler or build tool"``, ``"test tool"`` or
        ``None``.
    """
    if package.dev:
        return "marked dev by its cataloger"
    if package.type in OS_PACKAGE_TYPES:
        name = package.name
        if any(fnmatchcase(name, pattern) for pattern in _OS_NOT_DEV_PATTERNS):
            return None
        if name in ("python3-pytest", "tox"):
            return "test tool"
        if any(fnmatchcase(name, pattern) for pattern in _OS_DEV_PATTERNS):
            return "compiler or build tool"
        return None
    if package.type == "pypi":
        name = _PYPI_SEPARATORS.sub("-", package.name).lower()
        if any(fnmatchcase(name, pattern) for pattern in _PYPI_DEV_PATTERNS):
            return "test tool"
    return None
