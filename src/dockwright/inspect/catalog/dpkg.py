"""The dpkg cataloger: Debian packages from ``var/lib/dpkg/status`` and distroless ``status.d/*``.

For each installed stanza it reports name, version, architecture, source package, the files the
package owns, its licenses (see :mod:`.debcopyright`), its size, a PURL exactly like syft's, and the
layers that added and last changed it (see :mod:`.history`).

- Installed means the ``Status`` field's state is ``installed`` (or ``triggers-pending`` /
  ``triggers-awaited``: configured, files in place), whatever the selection (``install``, ``hold``,
  ``deinstall``); ``not-installed``, ``config-files``, ``half-installed``, ``unpacked`` and
  ``half-configured`` stanzas are skipped. A stanza without ``Status`` counts as installed, as in
  syft: distroless ``status.d`` entries often have none.
- Owned files come from ``info/<pkg>[:<arch>].list`` (every path, links included), else
  ``info/<pkg>[:<arch>].md5sums`` (regular files only), plus the ``Conffiles`` field. For
  ``status.d/<file>`` they come from ``status.d/<pkg>[:<arch>].md5sums`` or ``status.d/<file>.md5sums``.
  Directories are left out (see :func:`.filesystem.owned_files`).
- ``size`` is ``Installed-Size`` times 1024 (dpkg's own estimate, in KiB); when the field is absent
  or malformed, the summed size of the owned regular files. ``metadata["size_from"]`` says which
  (``installed-size`` or ``files``).
- PURL (anchore/syft v1.18.1 ``syft/pkg/cataloger/debian/package.go`` ``packageURL``): namespace is
  os-release ``ID`` when it is or is like ``debian`` (``debian`` otherwise), qualifiers ``arch``,
  ``distro`` and ``upstream`` whenever the stanza has a ``Source`` field: ``<source>`` or, when the
  field carries a version, ``<source>@<version>``. Unlike syft, which gives no PURL at all without
  os-release, the PURL is then written without ``distro``.

This module does not read ``status`` databases outside ``var/lib/dpkg`` (syft also globs nested
roots such as ``**/lib/dpkg/status``), opkg databases, diversions or ``.deb`` files in the image.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from dockwright.debian.stanza import parse_control_fields
from dockwright.errors import UnsafeArchiveError
from dockwright.inspect.catalog.debcopyright import copyright_licenses
from dockwright.inspect.catalog.devtools import is_dev_deb
from dockwright.inspect.catalog.distro import Distro, distro_of, purl
from dockwright.inspect.catalog.filesystem import PathResolver, content
from dockwright.inspect.catalog.history import Span, default_span, spans
from dockwright.inspect.model import ImageContents, Package, Warning_

__all__ = ["INFO_DIR", "STATUS", "STATUS_DIR", "catalog", "package_url", "wanted"]

STATUS = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d/"
INFO_DIR = "var/lib/dpkg/info/"
_DPKG = "var/lib/dpkg/"
_DOC = "usr/share/doc/"
_NAME = "dpkg"
_INSTALLED = frozenset({"installed", "triggers-pending", "triggers-awaited"})
_PARAGRAPHS = re.compile(r"\n(?:[ \t]*\n)+")
_SOURCE = re.compile(r"(\S+)(?:\s*\((\S+)\))?")

_Entry = tuple[str, dict[str, str], str]  # key ("name:arch"), fields, stanza text


def wanted(path: str) -> bool:
    """Tell whether the dpkg cataloger needs the bytes of ``path`` (cheap: prefix/suffix checks).

    Args:
        path: a normalized image path.

    Returns:
        True for the status database, ``status.d`` entries, ``info/*.list`` and ``info/*.md5sums``
        files, and ``usr/share/doc/<pkg>/copyright`` files.
    """
    if path.startswith(_DPKG):
        return (
            path == STATUS
            or path.startswith(STATUS_DIR)
            or (path.startswith(INFO_DIR) and path.endswith((".list", ".md5sums")))
        )
    return path.startswith(_DOC) and path.endswith("/copyright") and path.count("/") == 4


def _installed(status: str) -> bool:
    words = status.split()
    return len(words) == 3 and words[2] in _INSTALLED


def _entries(data: bytes, path: str, warnings: list[Warning_] | None) -> Iterator[_Entry]:
    """Yield the installed stanzas of one database file; warn about malformed ones when asked."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    for number, paragraph in enumerate(_PARAGRAPHS.split(text), start=1):
        if not paragraph.strip():
            continue
        try:
            fields = parse_control_fields(paragraph, label=f"{path} stanza {number}")
        except UnsafeArchiveError as error:
            if warnings is not None:
                warnings.append(Warning_(code="dpkg-stanza-malformed", message=error.message, path=path))
            continue
        status = fields.get("Status")
        if status is not None and not _installed(status):
            continue
        name, version = fields.get("Package", ""), fields.get("Version", "")
        if not name or not version:
            if warnings is not None:
                message = f"{path} stanza {number}: an installed package needs Package and Version"
                warnings.append(Warning_(code="dpkg-stanza-malformed", message=message, path=path))
            continue
        yield f"{name}:{fields.get('Architecture', '')}", fields, paragraph.strip()


def _databases(contents: ImageContents) -> list[str]:
    found = [STATUS] if STATUS in contents.files else []
    for path in sorted(p for p in contents.files if p.startswith(STATUS_DIR)):
        rest = path[len(STATUS_DIR) :]
        if rest and "/" not in rest and not rest.endswith(".md5sums"):
            found.append(path)
    return found


def _paths_from_list(data: bytes) -> list[str]:
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    return [line for line in lines if (path := line.strip()) and path != "/."]


def _paths_from_md5sums(data: bytes) -> list[str]:
    paths = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            paths.append(parts[1])
    return paths


def _conffiles(fields: dict[str, str]) -> list[str]:
    return [line.split()[0] for line in fields.get("Conffiles", "").splitlines() if line.strip()]


def _owned_paths(contents: ImageContents, fields: dict[str, str], db: str) -> list[str]:
    name, arch = fields["Package"], fields.get("Architecture", "")
    keys = [f"{name}:{arch}", name] if arch and arch != "all" else [name]
    if db == STATUS:
        candidates = [(INFO_DIR + k + ".list", _paths_from_list) for k in keys]
        candidates += [(INFO_DIR + k + ".md5sums", _paths_from_md5sums) for k in keys]
    else:
        stem = db.rpartition("/")[2]
        names = [*keys, stem] if stem not in keys else keys
        candidates = [(STATUS_DIR + k + ".md5sums", _paths_from_md5sums) for k in names]
    for path, parse in candidates:
        data = contents.contents.get(path)
        if data is not None:
            return parse(data) + _conffiles(fields)
    return _conffiles(fields)


def _licenses(contents: ImageContents, resolver: PathResolver, name: str) -> tuple[str, ...]:
    path = resolver.resolve(f"{_DOC}{name}/copyright")
    data = contents.contents.get(path)
    return copyright_licenses(data) if data is not None else ()


def _size(fields: dict[str, str], files_size: int) -> tuple[int, str]:
    value = fields.get("Installed-Size", "").strip()
    if value.isdigit():
        return int(value) * 1024, "installed-size"
    return files_size, "files"


def package_url(fields: dict[str, str], distro: Distro) -> str:
    """Return syft's PURL for one dpkg stanza.

    Args:
        fields: the stanza's fields (``Package``, ``Version``, ``Architecture``, ``Source``).
        distro: the image's distribution.

    Returns:
        For example ``pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc``.
    """
    qualifiers = {"arch": fields.get("Architecture", "")}
    match = _SOURCE.match(fields.get("Source", "").strip())
    if match:
        source, source_version = match.group(1), match.group(2) or ""
        qualifiers["upstream"] = f"{source}@{source_version}" if source_version else source
    namespace = distro.id if distro.is_like("debian") else "debian"
    return purl("deb", namespace, fields["Package"], fields["Version"], qualifiers, distro)


def _package(
    contents: ImageContents,
    resolver: PathResolver,
    fields: dict[str, str],
    db: str,
    distro: Distro,
    span: Span,
) -> Package:
    name = fields["Package"]
    match = _SOURCE.match(fields.get("Source", "").strip())
    source, source_version = (match.group(1), match.group(2) or "") if match else (name, "")
    files, files_size = resolver.owned_files(_owned_paths(contents, fields, db))
    size, size_from = _size(fields, files_size)
    metadata = {"size_from": size_from}
    if source_version:
        metadata["source_version"] = source_version
    return Package(
        name=name,
        version=fields["Version"],
        type="deb",
        purl=package_url(fields, distro),
        architecture=fields.get("Architecture", ""),
        source=source,
        licenses=_licenses(contents, resolver, name),
        files=files,
        size=size,
        layer_added=span.added,
        layer_changed=span.changed,
        location=db,
        dev=is_dev_deb(name),
        metadata=metadata,
    )


def _records(path: str, merged: bytes, entries: list[_Entry]) -> Callable[[bytes], dict[str, str]]:
    """Per-layer records for :func:`.history.spans`; ``entries`` are those of ``merged``, parsed."""

    def records(data: bytes) -> dict[str, str]:
        found = entries if data == merged else _entries(data, path, None)  # merged: parsed already
        return {key: text for key, _, text in found}

    return records


def catalog(contents: ImageContents, warnings: list[Warning_]) -> list[Package]:
    """List the Debian packages installed in the image.

    Args:
        contents: the image contents, read with :func:`wanted` among the wanted paths.
        warnings: receives a warning for every malformed stanza or database without bytes.

    Returns:
        The packages, in database order.
    """
    distro = distro_of(contents)
    resolver = PathResolver(contents.files)  # one for the image: packages share directories
    packages = []
    for db in _databases(contents):
        data = content(contents, db, warnings, _NAME)
        if data is None:
            continue
        entries = list(_entries(data, db, warnings))
        history = contents.versions.get(db)
        found = spans(history, _records(db, data, entries)) if history else {}
        fallback = default_span(contents, db)
        for key, fields, _ in entries:
            packages.append(_package(contents, resolver, fields, db, distro, found.get(key, fallback)))
    return packages
