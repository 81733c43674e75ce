"""What is read after the streaming pass: os-release, and bytes asked for after their layer passed.

:func:`os_release_inode` resolves ``/etc/os-release`` through the merged tree's symlinks (falling
back to ``/usr/lib/os-release``); :func:`fetch_late` reads again the layers holding bytes of
wanted files (hard links to unkept files, members missing from a cached form, os-release) and
fills them in, checking each against its hash; :func:`parse_os_release` parses os-release(5).

What this module does not do: stream layers the first time, decide which files are wanted, or
assemble the image's contents (:mod:`dockwright.inspect.reader` does).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Protocol

from dockwright.errors import DigestMismatchError
from dockwright.inspect._image_source import ImageSource
from dockwright.inspect._merge import Inode, MergedTree, SymlinkLoopError, WarningLog
from dockwright.inspect._tarsafe import tar_errors
from dockwright.inspect._tarstream import TarHeader, TarReader, open_tar

__all__ = ["MAX_OS_RELEASE", "OS_RELEASE", "DataReader", "fetch_late", "os_release_inode", "parse_os_release"]

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
MAX_OS_RELEASE = 64 << 10


class DataReader(Protocol):
    """Hashes a member's data (with ``hash_data``) and returns it when ``keep``."""

    def __call__(
        self, tar: TarReader, info: TarHeader, path: str, keep: bool, *, hash_data: bool | None = None
    ) -> tuple[str, bytes | None]: ...


def os_release_inode(tree: MergedTree, log: WarningLog) -> Inode | None:
    """The inode ``/etc/os-release`` (else ``/usr/lib/os-release``) resolves to through the image's
    symlinks, marked to be read late if its bytes were not kept; None if neither exists."""
    for candidate in OS_RELEASE:
        try:
            real = tree.resolve(candidate, follow_last=True)
        except SymlinkLoopError:
            log.add("os-release-unresolved", f"{candidate} is a symlink loop", candidate)
            continue
        node = tree.nodes.get(real)
        if node is None or node.inode is None:
            continue
        if node.inode.content is None and node.inode.size <= MAX_OS_RELEASE:
            node.inode.fetch = True
        return node.inode
    return None


def fetch_late(
    source: ImageSource,
    tree: MergedTree,
    versions: Mapping[str, list[tuple[int, Inode | None]]],
    read_data: DataReader,
) -> None:
    """Read again the layers holding bytes that were asked for after they streamed past.

    When every wanted member has a hash, each is checked against it (the reading stops after the
    last one); otherwise the whole layer is read, so its blob digest and diff_id are checked.
    """
    needed: dict[int, dict[int, Inode]] = {}
    for node in tree.nodes.values():
        inode = node.inode
        if inode is not None and inode.fetch and inode.content is None:
            needed.setdefault(inode.layer, {})[inode.ordinal] = inode
    for entries in versions.values():
        for _, inode in entries:
            if inode is not None and inode.fetch and inode.content is None:
                needed.setdefault(inode.layer, {})[inode.ordinal] = inode
    for layer, by_ordinal in sorted(needed.items()):
        blob = source.layers[layer]
        hashed = all(inode.sha256 for inode in by_ordinal.values())
        with source.open_layer(layer) as stream, tar_errors(blob, stream):
            tar = open_tar(stream)
            ordinal = 0
            while tar is not None and ordinal <= max(by_ordinal) and (info := tar.next()) is not None:
                if (inode := by_ordinal.get(ordinal)) is not None:
                    sha, inode.content = read_data(tar, info, info.name, True, hash_data=hashed)
                    if hashed and sha != inode.sha256:
                        raise DigestMismatchError(f"{blob.what} changed while it was read")
                ordinal += 1
            if not hashed:
                stream.finish()


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5): ``KEY=value`` lines, values optionally quoted with shell rules.

    Lines that are blank, comments, or not ``KEY=...`` with a valid key are skipped.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier() or not key.isascii():
            continue
        try:
            out[key] = " ".join(shlex.split(value, comments=False, posix=True))
        except ValueError:
            out[key] = value.strip("\"'")
    return out
