"""The Python cataloger: installed distributions from ``*.dist-info`` and ``*.egg-info`` metadata.

A distribution is found by its core metadata: ``<name>.dist-info/METADATA``, an
``<name>.egg-info/PKG-INFO`` file, or an ``<name>.egg-info`` file (the single-file form Debian's
``python3-*`` packages may ship). Owned files come from ``RECORD`` (wheels) or
``installed-files.txt`` (eggs), resolved against the image; ``size`` is the summed size of those
files (``metadata["size_from"] = "files"``); ``INSTALLER`` (pip, uv, ...) lands in
``metadata["installer"]``.

- ``name`` is normalized as syft and PEP 503 do (lower case, runs of ``-_.`` as ``-``); the name as
  written is kept in ``metadata["name"]``. PURL ``pkg:pypi/<normalized name>@<version>``
  (anchore/syft v1.18.1 ``syft/pkg/cataloger/python/package.go`` ``packageURL``).
- ``licenses``: ``License-Expression``; else ``License`` when it is a short one-line value (syft
  keeps any value, also whole license texts); else the ``License ::`` classifiers, mapped to SPDX
  identifiers where the classifier names one license and version exactly (``MIT License``), its last
  part as written otherwise (``Apache Software License``, ``BSD License``). syft 1.18.1
  does not read classifiers; it reads a ``License-File`` instead, which is not done here.
- ``dev``: see :mod:`.devtools`.

This module does not read ``requirements.txt``, lock files, ``.pth`` files, wheels or eggs lying in
the image (archives), nor ``direct_url.json``.
"""

from __future__ import annotations

import csv
import posixpath
import re
from typing import TYPE_CHECKING

from dockwright.inspect.catalog.devtools import is_dev_python
from dockwright.inspect.catalog.distro import purl
from dockwright.inspect.catalog.filesystem import PathResolver
from dockwright.inspect.catalog.history import file_span
from dockwright.inspect.model import FileKind, ImageContents, Package, Warning_

if TYPE_CHECKING:
    from email.message import Message

__all__ = ["CLASSIFIER_LICENSES", "catalog", "normalize_name", "wanted"]

_SUFFIXES = (
    ".dist-info/METADATA",
    ".dist-info/RECORD",
    ".dist-info/INSTALLER",
    ".egg-info/PKG-INFO",
    ".egg-info/installed-files.txt",
    ".egg-info",
)
_NORMALIZE = re.compile(r"[-_.]+")
_LICENSE_CLASSIFIER = "License :: "
_MAX_LICENSE_FIELD = 100
CLASSIFIER_LICENSES = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
}


def wanted(path: str) -> bool:
    """Tell whether the Python cataloger needs the bytes of ``path`` (one ``endswith`` check)."""
    return path.endswith(_SUFFIXES)


def normalize_name(name: str) -> str:
    """Normalize a distribution name as PEP 503 and syft do: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _NORMALIZE.sub("-", name).lower()


def _metadata_paths(contents: ImageContents) -> list[str]:
    found = []
    for path in contents.contents:
        if path.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO")):
            found.append(path)
        elif path.endswith(".egg-info"):
            record = contents.files.get(path)
            if record is None or record.kind is FileKind.FILE:
                found.append(path)
    return sorted(found)


def _parse(data: bytes) -> Message:
    import email.parser  # here: the email package costs a few ms to import, and most images need none
    import email.policy

    text = data.decode("utf-8", "replace")
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)


def _classifier_license(classifier: str) -> str:
    last = classifier.rsplit(" :: ", 1)[-1].strip()
    return CLASSIFIER_LICENSES.get(last, last)


def licenses_of(message: Message) -> tuple[str, ...]:
    """Return the licenses core metadata declares (see the module docstring for the order).

    Args:
        message: the parsed METADATA or PKG-INFO headers.

    Returns:
        One expression, one short ``License`` value, or the classifiers' licenses; ``()`` if none.
    """
    expression = str(message.get("License-Expression", "")).strip()
    if expression:
        return (expression,)
    value = str(message.get("License", "")).strip()
    if value and "\n" not in value and len(value) <= _MAX_LICENSE_FIELD and value.upper() != "UNKNOWN":
        return (value,)
    classifiers = [str(c) for c in message.get_all("Classifier", [])]
    found = {
        _classifier_license(c)
        for c in classifiers
        if c.startswith(_LICENSE_CLASSIFIER) and c.count(" :: ") >= 2  # not "License :: OSI Approved"
    }
    return tuple(sorted(found))


def _record_paths(data: bytes, base: str) -> list[str]:
    """Paths from RECORD (CSV, first column) or installed-files.txt (one per line), joined to ``base``."""
    rows = csv.reader(data.decode("utf-8", "replace").splitlines())
    paths = []
    for row in rows:
        if not row or not row[0].strip():
            continue
        joined = posixpath.normpath(posixpath.join(base, row[0].strip()))
        if not joined.startswith("../") and joined != "..":
            paths.append(joined)
    return paths


def _owned(contents: ImageContents, path: str) -> list[str]:
    if path.endswith("/METADATA"):
        info = posixpath.dirname(path)
        data = contents.contents.get(info + "/RECORD")
        return _record_paths(data, posixpath.dirname(info)) if data is not None else []
    info = posixpath.dirname(path) if path.endswith("/PKG-INFO") else path
    data = contents.contents.get(info + "/installed-files.txt")
    return _record_paths(data, info) if data is not None else []


def _package(contents: ImageContents, resolver: PathResolver, path: str, message: Message) -> Package:
    written = str(message.get("Name", "")).strip()
    name, version = normalize_name(written), str(message.get("Version", "")).strip()
    files, size = resolver.owned_files(_owned(contents, path))
    metadata = {"name": written, "size_from": "files"}
    installer = contents.contents.get(posixpath.dirname(path) + "/INSTALLER")
    if path.endswith("/METADATA") and installer is not None:
        metadata["installer"] = installer.decode("utf-8", "replace").strip()
    span = file_span(contents, path)
    return Package(
        name=name,
        version=version,
        type="pypi",
        purl=purl("pypi", "", name, version, {}),
        licenses=licenses_of(message),
        files=files,
        size=size,
        layer_added=span.added,
        layer_changed=span.changed,
        location=path,
        dev=is_dev_python(name),
        metadata=metadata,
    )


def catalog(contents: ImageContents, warnings: list[Warning_]) -> list[Package]:
    """List the Python distributions installed in the image.

    Args:
        contents: the image contents, read with :func:`wanted` among the wanted paths.
        warnings: receives a warning for metadata without a name or version.

    Returns:
        The packages, by metadata path.
    """
    resolver = PathResolver(contents.files)  # one for the image: distributions share directories
    packages = []
    for path in _metadata_paths(contents):
        message = _parse(contents.contents[path])
        if not str(message.get("Name", "")).strip() or not str(message.get("Version", "")).strip():
            text = f"{path}: Python metadata without Name or Version; skipped"
            warnings.append(Warning_(code="python-metadata-malformed", message=text, path=path))
            continue
        packages.append(_package(contents, resolver, path, message))
    return packages
