"""Unpack one .deb's data tarball into a :class:`~dockwright.fs.tree.FileTree`, refusing hostile members.

Every member is judged before anything is stored, and the first hostile one refuses the whole
package with one :class:`~dockwright.errors.UnsafeArchiveError` naming the package and the member:

* names that are absolute or hold a ``..`` component (checked on the raw name, before normalizing:
  dpkg data tarballs use ``./usr/...``);
* character and block devices, fifos, sparse files and unknown member types;
* a member whose parent passes through a symbolic link shipped earlier *by the same package* (the
  classic ``x -> /etc`` then ``x/passwd`` trick). Links that were already in the tree (merged-/usr's
  ``lib -> usr/lib``, or another package's) are followed chroot-style, as dpkg follows them on disk;
* a hard link whose target is not an earlier regular file of the same package;
* anything past :class:`ExtractLimits` (enforced while streaming by :mod:`dockwright.debian.deb`).

Symbolic links are stored exactly as written, absolute ones included: the tree interprets them
chroot-style and nothing here ever touches the host filesystem. Owners and modes come from the tar
headers. A path that another origin already holds is a :class:`~dockwright.errors.BuildConflictError`
unless the content is identical or this package ``Replaces`` that origin.

Unpacking streams, so a refusal can come after earlier members were added: the tree is then
half-built and must be discarded (``assemble`` lets the error end the build).

What this module does not do: decide the unpack order, write the dpkg database, or run (or even
read) maintainer scripts.
"""

from __future__ import annotations

import tarfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from dockwright.build.strip import PathFilter
from dockwright.debian.deb import ExtractLimits, iter_data
from dockwright.errors import BuildConflictError, UnsafeArchiveError
from dockwright.fs.tree import Entry, EntryType, FileTree, normalize

__all__ = ["ExtractLimits", "extract_deb"]

_Policy = tuple[Collection[str], Collection[str]]  # (replaces, replaced_by)
_REFUSED_TYPES = {
    tarfile.CHRTYPE: "character devices are not allowed",
    tarfile.BLKTYPE: "block devices are not allowed",
    tarfile.FIFOTYPE: "fifos are not allowed",
}


@dataclass(slots=True)
class _State:
    """What one package has written so far (archive key -> landed tree path)."""

    package: str
    files: dict[str, str] = field(default_factory=dict)
    excluded_data: dict[str, bytes] = field(default_factory=dict)
    symlinks: set[str] = field(default_factory=set)
    installed: list[str] = field(default_factory=list)


def extract_deb(
    path: Path,
    tree: FileTree,
    *,
    package: str,
    limits: ExtractLimits | None = None,
    exclude: PathFilter | None = None,
    replaces: Collection[str] = (),
    replaced_by: Collection[str] = (),
    members: Iterable[tuple[tarfile.TarInfo, bytes]] | None = None,
) -> list[str]:
    """Unpack the data tarball of the .deb at ``path`` into ``tree``.

    Args:
        path: the .deb file.
        tree: the root filesystem to add to; entries get ``origin=package``.
        package: the package name, for origins and messages.
        limits: bomb guards (defaults to :class:`ExtractLimits`).
        exclude: a ``path-exclude``/``path-include`` filter; excluded members are skipped.
        replaces: packages this one ``Replaces``: their paths may be overwritten.
        replaced_by: packages that ``Replace`` this one: their paths are kept, this one's skipped.
        members: the data members already read from ``path`` by :func:`iter_data` with the same
            limits (lets callers decompress several packages in parallel); read here when None.

    Returns:
        The installed archive paths, normalized (``usr/bin/foo``), in archive order, as dpkg would
        record them (excluded members left out; directories included).

    Raises:
        UnsafeArchiveError: a member is hostile or the archive is malformed.
        BuildConflictError: a path already holds different content from another origin.
    """
    state = _State(package)
    if members is None:
        members = iter_data(path, package=package, limits=limits)
    for info, data in members:
        key = _checked_key(info.name, package)
        if not key:
            continue  # the archive's root "./": the image root's metadata is not a package's
        _check_type(info, package)
        if exclude is not None and exclude.excludes(key, is_dir=info.isdir()):
            if info.isreg():
                state.excluded_data[key] = data
            continue
        try:
            _check_parents(tree, key, info.name, state)
            entry = _entry(info, key, data, tree, state)
            _store(tree, entry, state, (replaces, replaced_by))
        except UnsafeArchiveError as exc:
            if exc.message.startswith(f"{package}: "):
                raise
            # The tree's own refusals (a file used as a directory, a symlink loop) lack context.
            raise _refuse(package, info.name, exc.message) from None
    return state.installed


def _refuse(package: str, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{package}: refusing member {member}: {why}")


def _checked_key(name: str, package: str) -> str:
    """Return the normalized tree key of an archive name, refusing absolute and ``..`` names."""
    if name.startswith("/"):
        raise _refuse(package, name, "absolute path")
    if ".." in name.split("/"):
        raise _refuse(package, name, "path contains '..'")
    return normalize(name)


def _check_type(info: tarfile.TarInfo, package: str) -> None:
    if info.type in _REFUSED_TYPES:
        raise _refuse(package, info.name, _REFUSED_TYPES[info.type])
    if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
        raise _refuse(package, info.name, f"unsupported member type {info.type!r}")


def _check_parents(tree: FileTree, key: str, name: str, state: _State) -> None:
    """Refuse a member whose parent directory passes through this package's own symlink."""
    if not state.symlinks:
        return
    parts = key.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if tree.resolve(prefix, follow_last=False) in state.symlinks:
            why = f"its parent /{prefix} is a symbolic link from the same package"
            raise _refuse(state.package, name, why)


def _landing(tree: FileTree, key: str) -> str:
    """Where ``tree.add`` will store ``key`` (parents resolved through in-tree symlinks)."""
    parent, _, leaf = key.rpartition("/")
    if not parent:
        return leaf
    resolved = tree.resolve(parent)
    return f"{resolved}/{leaf}" if resolved else leaf


def _entry(info: tarfile.TarInfo, key: str, data: bytes, tree: FileTree, state: _State) -> Entry:
    base = Entry(
        path=key,
        type=EntryType.DIR,
        mode=info.mode & 0o7777,
        uid=info.uid,
        gid=info.gid,
        uname=info.uname or ("root" if info.uid == 0 else ""),
        gname=info.gname or ("root" if info.gid == 0 else ""),
        origin=state.package,
    )
    if info.isreg():
        return replace(base, type=EntryType.FILE, data=data)
    if info.isdir():
        return base
    if info.issym():
        if not info.linkname:
            raise _refuse(state.package, info.name, "symbolic link with an empty target")
        return replace(base, type=EntryType.SYMLINK, target=info.linkname)
    return _hardlink(info, base, tree, state)


def _hardlink(info: tarfile.TarInfo, base: Entry, tree: FileTree, state: _State) -> Entry:
    link = info.linkname
    if link.startswith("/") or ".." in link.split("/"):
        raise _refuse(state.package, info.name, f"hard link to {link} escapes the package")
    target = normalize(link)
    if target in state.excluded_data:
        # The target was stripped but this name was not: keep the content under this name.
        return replace(base, type=EntryType.FILE, data=state.excluded_data[target])
    landed = state.files.get(target)
    existing = tree.get(landed) if landed is not None else None
    if existing is None or existing.type is not EntryType.FILE:
        why = f"hard link to {link}, which is not an earlier regular file of this package"
        raise _refuse(state.package, info.name, why)
    return replace(base, type=EntryType.HARDLINK, target=existing.path)


def _store(tree: FileTree, entry: Entry, state: _State, policy: _Policy) -> None:
    landed = _landing(tree, entry.path)
    existing = tree.get(landed)
    state.installed.append(entry.path)
    if existing is None or _may_replace(tree, existing, entry, state.package, policy):
        tree.add(entry)
    if entry.type is EntryType.FILE:
        state.files[entry.path] = landed
    elif entry.type is EntryType.SYMLINK:
        state.symlinks.add(landed)


def _may_replace(tree: FileTree, existing: Entry, new: Entry, package: str, policy: _Policy) -> bool:
    """Decide what happens to a path that is already taken.

    Returns True to store the new entry, False to keep the existing one (identical, or from a
    package that replaces this one); raises BuildConflictError when two origins disagree.
    """
    replaces, replaced_by = policy
    if new.type is EntryType.DIR and _is_dir(tree, existing):
        return True  # shared directories are normal; the tree keeps merged-/usr links
    if existing.origin == package:
        return True
    same = (existing.type, existing.data, existing.target) == (new.type, new.data, new.target)
    if same and existing.type is not EntryType.DIR:
        return False
    if existing.type is not EntryType.DIR and new.type is not EntryType.DIR:
        if existing.origin in replaces:
            return True
        if existing.origin in replaced_by:
            return False
    raise BuildConflictError(
        f"/{existing.path} is shipped by both {existing.origin} and {package} with different content",
        path="/" + existing.path,
        origins=(existing.origin, package),
    )


def _is_dir(tree: FileTree, entry: Entry) -> bool:
    if entry.type is EntryType.DIR:
        return True
    if entry.type is EntryType.SYMLINK:
        target = tree.get(tree.resolve(entry.path))
        return target is not None and target.type is EntryType.DIR
    return False
