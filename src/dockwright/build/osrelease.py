"""``/etc/os-release`` for images that do not install base-files.

Scanners find the distribution through os-release: trivy will not look at Debian packages without
it, and syft leaves the ``distro`` qualifier out of every PURL. apt's closure for an application
rarely includes base-files (nothing depends on it), so, like distroless, dockwright writes
``usr/lib/os-release`` and the ``etc/os-release`` link itself, from the signed Release fields
recorded in the lock (Origin, Codename, Version). A package that ships os-release wins.

This module does not guess: without a Debian origin and a version it writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockwright.build.lock import LockedRepository
from dockwright.fs.tree import Entry, EntryType, FileTree

__all__ = ["os_release_text", "write_os_release"]

_DEBIAN = {"debian": ("Debian GNU/Linux", "https://www.debian.org/")}


def os_release_text(repositories: Sequence[LockedRepository]) -> str | None:
    """The os-release text for the lock's base repository, or None when it cannot be told."""
    for repo in repositories:
        known = _DEBIAN.get(repo.origin.lower())
        if known is None or not repo.version or not repo.codename:
            continue
        name, home = known
        major = repo.version.split(".")[0]
        return (
            f'PRETTY_NAME="{name} {major} ({repo.codename})"\n'
            f'NAME="{name}"\n'
            f'VERSION_ID="{major}"\n'
            f'VERSION="{major} ({repo.codename})"\n'
            f"VERSION_CODENAME={repo.codename}\n"
            f"ID={repo.origin.lower()}\n"
            f'HOME_URL="{home}"\n'
        )
    return None


def write_os_release(tree: FileTree, repositories: Sequence[LockedRepository]) -> bool:
    """Write os-release unless a package shipped one; return whether it was written."""
    if tree.get("etc/os-release") is not None or tree.get("usr/lib/os-release") is not None:
        return False
    text = os_release_text(repositories)
    if text is None:
        return False
    tree.add(Entry(path="usr/lib/os-release", type=EntryType.FILE, data=text.encode(), origin="dockwright"))
    tree.add(
        Entry(
            path="etc/os-release",
            type=EntryType.SYMLINK,
            mode=0o777,
            target="../usr/lib/os-release",
            origin="dockwright",
        )
    )
    return True
