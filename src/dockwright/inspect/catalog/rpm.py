"""The RPM cataloger: packages from the sqlite rpmdb (rpm >= 4.16, Fedora 33+, RHEL 9, SUSE).

Reads ``var/lib/rpm/rpmdb.sqlite`` or ``usr/lib/sysimage/rpm/rpmdb.sqlite`` (with its ``-wal``
file when the image carries one) through the stdlib :mod:`sqlite3` from a private temporary copy,
and decodes every row of the ``Packages`` table with :mod:`.rpmheader`. A malformed row is reported
as a warning and skipped; the others are still listed.

- ``version`` is syft's ``[epoch:]version-release``; the PURL version is ``version-release`` with
  ``epoch`` as a qualifier (anchore/syft v1.18.1 ``syft/pkg/cataloger/redhat/package.go``
  ``packageURL``): ``pkg:rpm/fedora/bash@5.2.26-3.fc40?arch=x86_64&distro=fedora-40&epoch=1&``
  ``upstream=bash-5.2.26-3.fc40.src.rpm``. The namespace is os-release ``ID`` (``rhel`` becomes
  ``redhat``); ``upstream`` is the source RPM file name, as syft writes it.
- ``licenses`` holds the ``LICENSE`` tag as one expression; ``size`` is ``LONGSIZE`` or ``SIZE``
  (the installed size rpm recorded; ``metadata["size_from"]`` is ``installed-size``).
- ``gpg-pubkey`` pseudo-packages are listed, as ``rpm -qa`` lists them.

This module does not read Berkeley DB (``var/lib/rpm/Packages``) or NDB (``Packages.db``)
databases: when it finds one it adds a warning saying so and never guesses their contents. It does
not read ``.rpm`` files lying in the image either.
"""

from __future__ import annotations

import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockwright.inspect.catalog.distro import Distro, distro_of, purl
from dockwright.inspect.catalog.filesystem import PathResolver, content
from dockwright.inspect.catalog.history import Span, default_span, spans
from dockwright.inspect.catalog.rpmheader import Header, HeaderError, Tag, parse_header
from dockwright.inspect.model import ImageContents, Package, Warning_

__all__ = ["BDB_PATHS", "NDB_PATHS", "SQLITE_PATHS", "catalog", "package_url", "wanted"]

SQLITE_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
BDB_PATHS = ("var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages")
NDB_PATHS = ("var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db")
_WAL = "-wal"
_WANTED = frozenset(SQLITE_PATHS + tuple(p + _WAL for p in SQLITE_PATHS))
_NAME = "rpm"
_Versions = tuple[tuple[int, bytes | None], ...]


def wanted(path: str) -> bool:
    """Tell whether the RPM cataloger needs the bytes of ``path``: the sqlite rpmdb and its WAL."""
    return path in _WANTED


@dataclass(frozen=True, slots=True)
class _Row:
    key: str
    blob: bytes
    header: Header


def _read_rows(db: bytes, wal: bytes | None) -> list[tuple[object, object]]:
    """Return ``(hnum, blob)`` rows; raises :class:`sqlite3.Error` for anything that is not an rpmdb."""
    import sqlite3  # here: most images hold no rpmdb

    with tempfile.TemporaryDirectory(prefix="dockwright-rpmdb-") as tmp:
        path = Path(tmp) / "rpmdb.sqlite"
        path.write_bytes(db)
        if wal:
            Path(tmp, "rpmdb.sqlite" + _WAL).write_bytes(wal)
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA trusted_schema = OFF")
            return connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
        finally:
            connection.close()


def _rows(db: bytes, wal: bytes | None, where: str, warnings: list[Warning_] | None) -> list[_Row]:
    """Decode the rows of one database version, keyed by ``name.arch`` (plus EVR when repeated)."""

    def warn(code: str, message: str) -> None:
        if warnings is not None:
            warnings.append(Warning_(code=code, message=f"{where}: {message}", path=where))

    import sqlite3

    try:
        raw = _read_rows(db, wal)
    except sqlite3.Error as error:
        warn("rpmdb-unreadable", f"not a readable sqlite rpmdb ({error}); its packages are not listed")
        return []
    decoded: list[tuple[str, bytes, Header]] = []
    for hnum, blob in raw:
        if not isinstance(blob, bytes):
            warn("rpm-header-malformed", f"package row {hnum}: the blob column holds no bytes")
            continue
        try:
            header = parse_header(blob)
        except HeaderError as error:
            warn("rpm-header-malformed", f"package row {hnum}: {error}")
            continue
        for problem in header.problems:
            warn("rpm-header-malformed", f"package row {hnum}: {problem}")
        if not header.string(Tag.NAME) or not header.string(Tag.VERSION):
            warn("rpm-header-malformed", f"package row {hnum}: no NAME or VERSION tag")
            continue
        decoded.append((f"{header.string(Tag.NAME)}.{header.string(Tag.ARCH)}", blob, header))
    keys = [key for key, _, _ in decoded]
    return [
        _Row(key if keys.count(key) == 1 else f"{key}-{_evr(header)}", blob, header)
        for key, blob, header in decoded
    ]


def _evr(header: Header) -> str:
    """syft's ``toELVersion``: ``epoch:version-release``, without ``epoch:`` when there is none."""
    epoch = header.integer(Tag.EPOCH)
    version = f"{header.string(Tag.VERSION)}-{header.string(Tag.RELEASE)}"
    return f"{epoch}:{version}" if epoch is not None else version


def _at(versions: _Versions, layer: int) -> bytes | None:
    """The bytes a path held after ``layer`` (``None`` when absent then)."""
    current = None
    for index, data in versions:
        if index > layer:
            break
        current = data
    return current


def _history(contents: ImageContents, path: str) -> list[tuple[int, tuple[bytes, bytes | None] | None]]:
    """Pair every layer's database with the WAL file as it stood after the same layer."""
    db, wal = contents.versions.get(path, ()), contents.versions.get(path + _WAL, ())
    layers = sorted({index for index, _ in db} | {index for index, _ in wal})
    history: list[tuple[int, tuple[bytes, bytes | None] | None]] = []
    for layer in layers:
        data = _at(db, layer)
        history.append((layer, (data, _at(wal, layer)) if data is not None else None))
    return history


def _files(header: Header, where: str, warnings: list[Warning_]) -> list[str]:
    basenames, dirnames = header.strings(Tag.BASENAMES), header.strings(Tag.DIRNAMES)
    indexes, modes = header.integers(Tag.DIRINDEXES), header.integers(Tag.FILEMODES)
    if len(indexes) != len(basenames):
        if basenames:
            message = f"{where}: {header.string(Tag.NAME)}: file index and name counts differ; files skipped"
            warnings.append(Warning_(code="rpm-header-malformed", message=message, path=where))
        return []
    paths = []
    for number, (base, index) in enumerate(zip(basenames, indexes, strict=True)):
        if index >= len(dirnames) or (number < len(modes) and stat.S_ISDIR(modes[number])):
            continue
        paths.append(dirnames[index] + base)
    return paths


def _source_name(sourcerpm: str) -> str:
    stem = sourcerpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = stem.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else stem


def package_url(header: Header, distro: Distro) -> str:
    """Return syft's PURL for one rpmdb header.

    Args:
        header: the decoded header.
        distro: the image's distribution.

    Returns:
        For example ``pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.4&``
        ``upstream=bash-5.1.8-6.el9.src.rpm`` (the namespace is renamed, the distro qualifier is not).
    """
    namespace = "redhat" if distro.id == "rhel" else distro.id
    epoch = header.integer(Tag.EPOCH)
    qualifiers = {
        "arch": header.string(Tag.ARCH),
        "epoch": str(epoch) if epoch is not None else "",
        "upstream": header.string(Tag.SOURCERPM),
    }
    version = f"{header.string(Tag.VERSION)}-{header.string(Tag.RELEASE)}"
    return purl("rpm", namespace, header.string(Tag.NAME), version, qualifiers, distro)


def _package(
    resolver: PathResolver, row: _Row, where: str, span: Span, distro: Distro, warnings: list[Warning_]
) -> Package:
    header = row.header
    files, _ = resolver.owned_files(_files(header, where, warnings))
    sourcerpm = header.string(Tag.SOURCERPM)
    license_ = header.string(Tag.LICENSE)
    metadata = {"size_from": "installed-size", "release": header.string(Tag.RELEASE)}
    if sourcerpm:
        metadata["sourcerpm"] = sourcerpm
    if header.string(Tag.VENDOR):
        metadata["vendor"] = header.string(Tag.VENDOR)
    return Package(
        name=header.string(Tag.NAME),
        version=_evr(header),
        type="rpm",
        purl=package_url(header, distro),
        architecture=header.string(Tag.ARCH),
        source=_source_name(sourcerpm) if sourcerpm else "",
        licenses=(license_,) if license_ else (),
        files=files,
        size=header.integer(Tag.LONGSIZE) or header.integer(Tag.SIZE) or 0,
        layer_added=span.added,
        layer_changed=span.changed,
        location=where,
        metadata=metadata,
    )


def _warn_unread(contents: ImageContents, warnings: list[Warning_]) -> None:
    for paths, kind, code in (
        (BDB_PATHS, "Berkeley DB", "rpm-bdb-unsupported"),
        (NDB_PATHS, "NDB", "rpm-ndb-unsupported"),
    ):
        for path in paths:
            if path in contents.files:
                message = f"found an RPM {kind} database at {path}; it is not read"
                warnings.append(Warning_(code=code, message=message, path=path))


def catalog(contents: ImageContents, warnings: list[Warning_]) -> list[Package]:
    """List the RPM packages of the image's sqlite rpmdb, and warn about databases not read.

    Args:
        contents: the image contents, read with :func:`wanted` among the wanted paths.
        warnings: receives warnings for unread BDB/NDB databases and malformed rows.

    Returns:
        The packages, in database row order.
    """
    _warn_unread(contents, warnings)
    distro = distro_of(contents)
    resolver = PathResolver(contents.files)  # one for the image: packages share directories
    packages: list[Package] = []
    for path in SQLITE_PATHS:
        db = content(contents, path, warnings, _NAME)
        if db is None:
            continue
        wal = contents.contents.get(path + _WAL)

        def records(version: tuple[bytes, bytes | None], where: str = path) -> dict[str, bytes]:
            return {row.key: row.blob for row in _rows(version[0], version[1], where, None)}

        history = _history(contents, path)
        found = spans(history, records) if history else {}
        fallback = default_span(contents, path)
        for row in _rows(db, wal, path, warnings):
            packages.append(_package(resolver, row, path, found.get(row.key, fallback), distro, warnings))
    return packages
