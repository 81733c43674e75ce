"""Assemble a root filesystem from downloaded .debs, doing the jobs maintainer scripts would do.

Order of work: the merged-/usr layout first (``bin``, ``sbin``, ``lib`` and, on amd64, ``lib64``
as symlinks into ``usr/``), then every package unpacked in name order with its dpkg database entry
written right after it, then the generated files: ``/etc/ld.so.cache`` (when the image holds any
shared library), the CA bundle (when ``ca-certificates`` is there), the accounts and ``/tmp``.
Generated entries have origin ``dockwright``; unpacked ones the package name.

Conflicts: dpkg unpacks in dependency order and lets a later package overwrite a file only if it
``Replaces`` the owner. Unpacking here is in name order, so a ``Replaces`` is honoured in both
directions: the replacing package's copy wins whichever comes first. ``Replaces`` names are matched
without their version constraints, and virtual names through ``Provides``. Any other path shipped
twice with different content is a :class:`~dockwright.errors.BuildConflictError` naming both.

What this module does not do: download or verify packages (the fetcher checked their digests
against the lock), resolve dependencies, run maintainer scripts, or write layers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dockwright.build.accounts import Accounts, write_accounts
from dockwright.build.cacerts import update_ca_certificates
from dockwright.build.dpkgdb import write_package_db
from dockwright.build.extract import ExtractLimits, extract_deb
from dockwright.build.ldcache import CACHE_PATH, build_ld_cache, scan_libraries
from dockwright.build.strip import PathFilter
from dockwright.debian.deb import DebControl, iter_data, read_control
from dockwright.errors import InputError, UnsafeArchiveError
from dockwright.fs.tree import Entry, EntryType, FileTree

__all__ = ["MERGED_USR", "assemble", "relation_names"]

MERGED_USR = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib"}
_ARCH_LINKS = {"amd64": {"lib64": "usr/lib64"}}
_DECOMPRESS_WORKERS = min(4, os.cpu_count() or 1)


def relation_names(field: str) -> list[str]:
    """Package names in a relation field, without versions or architecture qualifiers.

    ``foo (<< 1.2), bar:any | baz`` gives ``["foo", "bar", "baz"]``.
    """
    names = []
    for group in field.replace("|", ",").split(","):
        token = group.strip().split(" ", 1)[0].split("(", 1)[0]
        if token:
            names.append(token.partition(":")[0])
    return names


def _merged_usr(tree: FileTree, arch: str) -> None:
    links = {**MERGED_USR, **_ARCH_LINKS.get(arch, {})}
    for link, target in links.items():
        tree.add(Entry(path=target, type=EntryType.DIR, mode=0o755, origin="dockwright"))
        tree.add(Entry(path=link, type=EntryType.SYMLINK, mode=0o777, target=target, origin="dockwright"))


def _controls(debs: Sequence[tuple[str, Path]]) -> list[tuple[DebControl, Path]]:
    """Read every control stanza, checking names, in unpack (name) order."""
    seen: set[str] = set()
    out = []
    for name, path in sorted(debs, key=lambda item: item[0]):
        if name in seen:
            raise InputError(f"package {name} is listed twice")
        seen.add(name)
        control = read_control(path, package=name)
        if control.package != name:
            why = f"the file {path.name} holds package {control.package or '<none>'}, not {name}"
            raise UnsafeArchiveError(f"{name}: refusing member control: {why}")
        out.append((control, path))
    return out


def _replaces(controls: Iterable[DebControl]) -> dict[str, set[str]]:
    """Map each package to the installed packages it replaces (virtual names expanded)."""
    controls = list(controls)
    providers: dict[str, set[str]] = defaultdict(set)
    for c in controls:
        providers[c.package].add(c.package)
        for virtual in relation_names(c.fields.get("Provides", "")):
            providers[virtual].add(c.package)
    result: dict[str, set[str]] = {}
    for c in controls:
        named = relation_names(c.fields.get("Replaces", ""))
        result[c.package] = {p for n in named for p in providers.get(n, ())} - {c.package}
    return result


def _ld_cache(tree: FileTree, arch: str) -> None:
    entries = scan_libraries(tree, arch=arch)
    if entries:
        data = build_ld_cache(entries)
        tree.add(Entry(path=CACHE_PATH, type=EntryType.FILE, mode=0o644, data=data, origin="dockwright"))


def assemble(
    debs: Sequence[tuple[str, Path]],
    *,
    accounts: Accounts | None = None,
    strip: Sequence[str] | PathFilter = (),
    limits: ExtractLimits | None = None,
    merged_usr: bool = True,
    arch: str = "amd64",
    overlay: Callable[[FileTree], object] | None = None,
) -> FileTree:
    """Build the root filesystem of an image from already downloaded and verified .debs.

    Args:
        debs: ``(package name, .deb path)`` pairs; the name must match the package's control.
        accounts: users, groups and run-as (root and nobody are always there).
        strip: preset names for :meth:`PathFilter.from_names` (``docs``, ``man``, ``locales``)
            or a ready filter.
        limits: bomb guards per package.
        merged_usr: create ``bin``/``sbin``/``lib`` (and ``lib64`` on amd64) as links into usr.
        arch: the Debian architecture (drives ``lib64`` and the ld.so.cache flags).
        overlay: called after the packages are unpacked and before the generated files, so local
            content (the spec's ``files``) lands in ld.so.cache and the CA bundle too.

    Returns:
        The assembled tree.

    Raises:
        UnsafeArchiveError: a package is malformed or hostile, or its name does not match.
        BuildConflictError: two packages ship one path with different content.
        SpecError: an unknown strip name or inconsistent accounts.
        InputError: a package is listed twice or the architecture is unsupported.
    """
    exclude = strip if isinstance(strip, PathFilter) else (PathFilter.from_names(strip) if strip else None)
    tree = FileTree()
    if merged_usr:
        _merged_usr(tree, arch)
    controls = _controls(debs)
    replaces = _replaces(c for c, _ in controls)
    # Decompression (xz, mostly) runs in threads, since lzma and zlib release the GIL; the tree
    # is still filled one package at a time, in name order, so the result does not depend on it.
    with ThreadPoolExecutor(max_workers=_DECOMPRESS_WORKERS) as pool:
        reads = [
            pool.submit(lambda c, p: list(iter_data(p, package=c.package, limits=limits)), control, path)
            for control, path in controls
        ]
        for (control, path), read in zip(controls, reads, strict=True):
            name = control.package
            replaced_by = {other for other, victims in replaces.items() if name in victims}
            installed = extract_deb(
                path,
                tree,
                package=name,
                limits=limits,
                exclude=exclude,
                replaces=replaces[name],
                replaced_by=replaced_by,
                members=read.result(),
            )
            write_package_db(tree, control, installed)
    if overlay is not None:
        overlay(tree)
    _ld_cache(tree, arch)
    update_ca_certificates(tree)
    write_accounts(tree, accounts or Accounts())
    return tree
