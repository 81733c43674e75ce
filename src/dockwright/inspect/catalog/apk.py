"""The apk cataloger: Alpine (and Wolfi, Chimera...) packages from ``lib/apk/db/installed``.

The database is a list of stanzas separated by blank lines, one ``K:value`` per line: ``P`` name,
``V`` version, ``A`` architecture, ``L`` license, ``o`` origin (source) package, ``I`` installed size
in bytes, then the files as ``F:<dir>`` followed by ``R:<file>`` lines (``a``, ``M``, ``Z``, ``T``...
are ignored here).

- ``licenses``: an SPDX-looking expression (one word, or words joined by ``AND``/``OR``/``WITH``)
  is kept whole; otherwise the value is split on spaces, the old style (``GPL2 MIT``), as syft does
  after failing to parse an SPDX expression.
- PURL (anchore/syft v1.18.1 ``syft/pkg/cataloger/alpine/package.go`` ``packageURL``): namespace is
  os-release ``ID`` in lower case (``alpine`` without os-release), qualifiers ``arch``, ``distro`` and
  ``upstream=<origin>`` when the origin differs from the name:
  ``pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl``.

This module does not read apk's scripts or triggers databases, nor ``world`` (what was asked for).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from dockwright.inspect.catalog.distro import Distro, distro_of, purl
from dockwright.inspect.catalog.filesystem import PathResolver, content
from dockwright.inspect.catalog.history import Span, default_span, spans
from dockwright.inspect.model import ImageContents, Package, Warning_

__all__ = ["INSTALLED", "catalog", "package_url", "wanted"]

INSTALLED = "lib/apk/db/installed"
_NAME = "apk"
_OPERATORS = frozenset({"AND", "OR", "WITH"})


def wanted(path: str) -> bool:
    """Tell whether the apk cataloger needs the bytes of ``path``: only the installed database."""
    return path == INSTALLED


def _stanzas(data: bytes) -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """Yield ``(first line, [(key, value), ...])`` per stanza; a line without ``K:`` is ``("", line)``."""
    lines: list[tuple[str, str]] = []
    start = 1
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            if lines:
                yield start, lines
            lines, start = [], number + 1
            continue
        key, colon, value = line.partition(":")
        lines.append((key, value) if colon and len(key) == 1 else ("", line))
    if lines:
        yield start, lines


def _fields(lines: list[tuple[str, str]]) -> tuple[dict[str, str], list[str], list[str]]:
    """Return single-valued fields, file paths and the malformed lines of one stanza."""
    fields: dict[str, str] = {}
    files: list[str] = []
    bad: list[str] = []
    directory = ""
    for key, value in lines:
        if key == "F":
            directory = value
        elif key == "R":
            files.append(posixpath.join(directory, value) if directory else value)
        elif key:
            fields.setdefault(key, value)
        else:
            bad.append(value)
    return fields, files, bad


def _records(data: bytes) -> dict[str, str]:
    records = {}
    for _, lines in _stanzas(data):
        fields, _, _ = _fields(lines)
        if fields.get("P") and fields.get("V"):
            records[fields["P"]] = "\n".join(f"{k}:{v}" for k, v in lines)
    return records


def _licenses(value: str) -> tuple[str, ...]:
    words = value.split()
    if len(words) <= 1 or _OPERATORS.intersection(words):
        return (value.strip(),) if value.strip() else ()
    return tuple(words)


def package_url(fields: dict[str, str], distro: Distro) -> str:
    """Return syft's PURL for one apk database stanza.

    Args:
        fields: the stanza's single-letter fields (``P``, ``V``, ``A``, ``o``).
        distro: the image's distribution.

    Returns:
        For example ``pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1``.
    """
    name = fields["P"]
    origin = fields.get("o", "")
    qualifiers = {"arch": fields.get("A", ""), "upstream": origin if origin != name else ""}
    return purl("apk", distro.id or "alpine", name, fields["V"], qualifiers, distro)


def _package(
    resolver: PathResolver, fields: dict[str, str], paths: list[str], distro: Distro, span: Span
) -> Package:
    files, files_size = resolver.owned_files(paths)
    size_text = fields.get("I", "").strip()
    size, size_from = (int(size_text), "installed-size") if size_text.isdigit() else (files_size, "files")
    return Package(
        name=fields["P"],
        version=fields["V"],
        type="apk",
        purl=package_url(fields, distro),
        architecture=fields.get("A", ""),
        source=fields.get("o", "") or fields["P"],
        licenses=_licenses(fields.get("L", "")),
        files=files,
        size=size,
        layer_added=span.added,
        layer_changed=span.changed,
        location=INSTALLED,
        metadata={"size_from": size_from},
    )


def catalog(contents: ImageContents, warnings: list[Warning_]) -> list[Package]:
    """List the apk packages installed in the image.

    Args:
        contents: the image contents, read with :func:`wanted` among the wanted paths.
        warnings: receives a warning for every malformed line or stanza.

    Returns:
        The packages, in database order.
    """
    data = content(contents, INSTALLED, warnings, _NAME)
    if data is None:
        return []
    distro = distro_of(contents)
    history = contents.versions.get(INSTALLED)
    found = spans(history, _records) if history else {}
    fallback = default_span(contents, INSTALLED)
    resolver = PathResolver(contents.files)  # one for the image: packages share directories
    packages = []
    for start, lines in _stanzas(data):
        fields, paths, bad = _fields(lines)
        for line in bad:
            message = f"{INSTALLED}: stanza at line {start}: not a 'K:value' line: {line[:80]!r}"
            warnings.append(Warning_(code="apk-line-malformed", message=message, path=INSTALLED))
        if not fields.get("P") or not fields.get("V"):
            message = f"{INSTALLED}: stanza at line {start} has no P: (name) or V: (version); skipped"
            warnings.append(Warning_(code="apk-stanza-malformed", message=message, path=INSTALLED))
            continue
        packages.append(_package(resolver, fields, paths, distro, found.get(fields["P"], fallback)))
    return packages
