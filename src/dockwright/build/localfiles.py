"""The spec's ``files``: local content copied into the image tree, deterministically.

Modes do not depend on the umask or the checkout: with ``mode`` set, regular files get it; without,
a file is 0755 when any execute bit is set on disk and 0644 otherwise. Directories are 0755.
Symbolic links are copied as links (never followed on the host); sockets, fifos and devices are
refused. Every entry gets origin ``files``, so ``layering: by-origin`` can put them in a layer of
their own.

This module does not read packages or write layers.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from dockwright.build.spec import FileSpec
from dockwright.errors import SpecError
from dockwright.fs.tree import Entry, EntryType, FileTree, normalize

__all__ = ["FILES_ORIGIN", "add_local_files", "local_files_digest"]

FILES_ORIGIN = "files"


def _walk(src: Path) -> Iterator[Path]:
    """Yield ``src`` and, for a directory, everything below it in sorted order (links not followed)."""
    yield src
    if src.is_dir() and not src.is_symlink():
        for child in sorted(src.iterdir(), key=lambda p: p.name):
            yield from _walk(child)


def _resolve_src(base: Path, spec: FileSpec) -> Path:
    src = base / spec.src
    if not src.exists() and not src.is_symlink():
        raise SpecError(
            f"files: {spec.src!r} does not exist in {base}",
            hint="paths in files.src are relative to the spec's directory",
        )
    real_base = base.resolve()
    if not src.resolve().is_relative_to(real_base) and not src.is_symlink():
        raise SpecError(f"files: {spec.src!r} resolves outside {base}")
    return src


def _entries_for(base: Path, spec: FileSpec) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Yield (image path, host path, lstat) for one ``files`` item."""
    src = _resolve_src(base, spec)
    top_is_dir = src.is_dir() and not src.is_symlink()
    if top_is_dir:
        dst_root = normalize(spec.dst)
    elif spec.dst.endswith("/"):
        dst_root = normalize(spec.dst + src.name)
    else:
        dst_root = normalize(spec.dst)
    for path in _walk(src):
        rel = path.relative_to(src).as_posix()
        image_path = dst_root if rel == "." else f"{dst_root}/{rel}"
        yield image_path, path, path.lstat()


def _entry(image_path: str, host: Path, st: os.stat_result, spec: FileSpec) -> Entry:
    owner = Entry(
        path=image_path,
        type=EntryType.DIR,
        mode=0o755,
        uid=spec.uid,
        gid=spec.gid,
        uname="root" if spec.uid == 0 else "",
        gname="root" if spec.gid == 0 else "",
        origin=FILES_ORIGIN,
    )
    if stat.S_ISDIR(st.st_mode):
        return owner
    if stat.S_ISLNK(st.st_mode):
        return replace(owner, type=EntryType.SYMLINK, mode=0o777, target=str(host.readlink()))
    if stat.S_ISREG(st.st_mode):
        mode = spec.mode if spec.mode is not None else (0o755 if st.st_mode & 0o111 else 0o644)
        return replace(owner, type=EntryType.FILE, mode=mode, data=host.read_bytes())
    raise SpecError(f"files: {host} is not a regular file, directory or symbolic link")


def add_local_files(tree: FileTree, files: tuple[FileSpec, ...], base: Path) -> int:
    """Copy every ``files`` item into ``tree``; later items win over earlier ones and packages.

    Returns:
        The number of entries added.

    Raises:
        SpecError: a source is missing, escapes ``base``, or is a special file.
    """
    count = 0
    for spec in files:
        for image_path, host, st in _entries_for(base, spec):
            if not image_path:
                raise SpecError(f"files: dst {spec.dst!r} names the image root; name a directory")
            tree.add(_entry(image_path, host, st, spec))
            count += 1
    return count


def local_files_digest(files: tuple[FileSpec, ...], base: Path) -> str:
    """A digest of every ``files`` item's paths, modes, link targets and contents (for caching)."""
    h = hashlib.sha256()
    for spec in files:
        h.update(repr(spec).encode())
        for image_path, host, st in _entries_for(base, spec):
            h.update(f"\0{image_path}\0{stat.S_IFMT(st.st_mode)}\0{st.st_mode & 0o111}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(str(host.readlink()).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(host, "rb") as f:
                    h.update(hashlib.file_digest(f, "sha256").digest())
    return "sha256:" + h.hexdigest()
