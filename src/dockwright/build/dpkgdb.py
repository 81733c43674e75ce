"""Write the installed-package database the way distroless images carry it.

For every package: ``/var/lib/dpkg/status.d/<package>`` holds the package's control stanza as
shipped with ``Status: install ok installed`` inserted after ``Package:``, and
``/var/lib/dpkg/status.d/<package>.md5sums`` holds the package's ``md5sums`` control member (or,
when the package ships none, one computed from the unpacked files, sorted bytewise like
``dh_md5sums``). Files are root-owned, mode 0644, origin ``dockwright``.

File names carry no ``:<arch>`` qualifier, also for ``Multi-Arch: same`` packages, as in
distroless: an image holds one architecture, and syft (1.x) looks for ``status.d/NAME:ARCH.md5sums``
first and then falls back to ``status.d/NAME.md5sums``; trivy keys ``status.d`` md5sums by the
file name. No ``/var/lib/dpkg/status`` is written: syft and trivy read ``status.d/*`` on their own.

What this module does not do: write ``info/*.list`` files, ``Conffiles:`` fields or triggers (no
scanner reads them and no dpkg runs in the image), or trim ``Description``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from dockwright.debian.deb import DebControl
from dockwright.errors import UnsafeArchiveError
from dockwright.fs.tree import Entry, EntryType, FileTree

__all__ = ["STATUS_DIR", "compute_md5sums", "status_stanza", "write_package_db"]

STATUS_DIR = "var/lib/dpkg/status.d"
_STATUS_LINE = "Status: install ok installed"
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def status_stanza(control: DebControl) -> str:
    """Return the control stanza with ``Status: install ok installed`` after its ``Package`` line.

    Args:
        control: the package's control information.

    Returns:
        The stanza text, ending with exactly one newline.

    Raises:
        UnsafeArchiveError: the stanza has no ``Package`` field.
    """
    lines = [x for x in control.raw.rstrip("\n").split("\n") if not x.startswith("Status:")]
    for at, line in enumerate(lines, start=1):
        if line.startswith("Package:"):
            return "".join(x + "\n" for x in [*lines[:at], _STATUS_LINE, *lines[at:]])
    raise UnsafeArchiveError("control file has no Package field")


def compute_md5sums(tree: FileTree, installed: Iterable[str]) -> bytes:
    """Compute an ``md5sums`` file for the regular files among ``installed`` paths.

    Args:
        tree: the tree the package was unpacked into.
        installed: archive paths as returned by :func:`~dockwright.build.extract.extract_deb`.

    Returns:
        ``<md5>  <path>`` lines sorted bytewise by path (hard links count as regular files).
    """
    lines: list[str] = []
    for path in sorted(set(installed), key=lambda p: p.encode()):
        data = _file_data(tree, path)
        if data is not None:
            lines.append(f"{hashlib.md5(data, usedforsecurity=False).hexdigest()}  {path}\n")
    return "".join(lines).encode()


def _file_data(tree: FileTree, path: str) -> bytes | None:
    entry = tree.get(tree.resolve(path, follow_last=False))
    if entry is not None and entry.type is EntryType.HARDLINK:
        entry = tree.get(entry.target)
    if entry is None or entry.type is not EntryType.FILE:
        return None
    return entry.data


def write_package_db(tree: FileTree, control: DebControl, installed: Iterable[str] = ()) -> list[str]:
    """Write ``status.d/<package>`` and ``status.d/<package>.md5sums`` into ``tree``.

    Args:
        tree: the root filesystem.
        control: the package's control information.
        installed: the package's installed paths, used only when it ships no md5sums.

    Returns:
        The tree paths written.

    Raises:
        UnsafeArchiveError: the package name is not a valid Debian package name (it becomes a
            file name, so it must not hold ``/`` or ``..``).
    """
    name = control.package
    if not _PACKAGE_NAME.fullmatch(name):
        raise UnsafeArchiveError(f"{name or '<empty>'}: refusing member control: invalid package name")
    md5sums = control.md5sums if control.md5sums is not None else compute_md5sums(tree, installed)
    written = []
    for leaf, data in ((name, status_stanza(control).encode()), (f"{name}.md5sums", md5sums)):
        path = f"{STATUS_DIR}/{leaf}"
        tree.add(Entry(path=path, type=EntryType.FILE, mode=0o644, data=data, origin="dockwright"))
        written.append(path)
    return written
