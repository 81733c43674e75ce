"""The per-layer analysis cache: a layer's parsed tar, kept by the digest of its verified blob.

After the reader has streamed a layer and the blob matched its digest (and the tar its diff_id), it
may store the layer's compact parsed form here: every member's header (name as written, type,
size, mode, owner, link), each regular file's sha256 when files were hashed, the bytes the reader
kept (wanted files, os-release) and how the tar ended. The next read of any image holding a blob
with that digest replays this form instead of decompressing and parsing the tar, **after**
checking that the blob it has still hashes to that digest (a cached result is never used for bytes
that changed); see :mod:`dockwright.inspect.reader`.

Layout: ``ROOT/<hex of the blob's sha256>.v<FORMAT>``, one file per layer, written to a temporary
file (named after the process writing it) and renamed into place (readers see the old file or the
new one, never half of one). A file is a magic line, the lengths of its two parts, the sha256 of
both, then a JSON document (the members) and the kept bytes. A file that is truncated, corrupt,
of another format or for another digest is ignored (and overwritten by the next read).
:func:`encode` builds a file's bytes (an :class:`EncodedLayer`), which :meth:`LayerCache.store`
writes; whoever read the layer may encode it (and write it: the layer workers' child process
does), so that storing costs the reader little or nothing. The directory is bounded: after a write,
the least recently used files are removed until the rest fit in ``max_bytes`` (1 GiB by default);
each file is bounded by what the reader keeps (``max_wanted_bytes``) plus a few hundred bytes per
path.

What this module does not do: verify blobs (the reader does, before it uses an entry), decide
what to keep, or protect against someone who can write to the cache directory: such a person can
also change what dockwright runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FORMAT", "CachedLayer", "EncodedLayer", "LayerCache", "Member", "encode"]

FORMAT = 1
"""The reader format version: bump it when what the reader records, or how it reads tars, changes."""

_MAGIC = b"dockwright-layer-index\n"
_LENGTHS = 16  # two 8-byte big-endian lengths
_SHA = 32
_TMP = ".tmp"
_HEX64 = re.compile(r"sha256:([0-9a-f]{64})")

Member = tuple[str, str, int, int, int, int, str, str, int]
"""One tar member: name as written, type flag (latin-1), size, mode, uid, gid, link name, sha256
(``""`` when not hashed or not a regular file), length of its kept bytes (-1 when none were kept)."""


@dataclass(slots=True, kw_only=True)
class CachedLayer:
    """One layer's parsed form (see the module docstring).

    ``contents`` holds the kept bytes of the members, in member order (their lengths are in the
    members); ``end`` is how the tar ended: ``zero``, ``empty`` (no end marker) or ``none`` (a blob
    of no bytes at all).
    """

    digest: str
    diff_id: str
    size: int
    uncompressed_size: int
    hashed: bool
    end: str
    members: list[Member]
    contents: bytes | memoryview


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedLayer:
    """A layer's entry file, ready to write: ``head`` (magic line, lengths, checksum, members' JSON)
    then ``contents`` (the kept bytes). The layer workers' child process encodes the layers it reads
    (:func:`encode`), so that storing them costs the reader only the write."""

    digest: str
    head: bytes
    contents: bytes | memoryview


class LayerCache:
    """Parsed layers under ``root`` (``default_cache_root() / "layers-index"`` for the CLI)."""

    def __init__(self, root: Path, *, max_bytes: int = 1 << 30) -> None:
        """Use ``root`` (created on the first write), keeping at most ``max_bytes`` of entries."""
        self.root = root
        self.max_bytes = max_bytes

    def _path(self, digest: str) -> Path | None:
        match = _HEX64.fullmatch(digest)
        return self.root / f"{match.group(1)}.v{FORMAT}" if match else None

    def has(self, digest: str) -> bool:
        """Whether an entry for ``digest`` exists (it may still turn out unusable)."""
        path = self._path(digest)
        return path is not None and path.is_file()

    def load(self, digest: str, *, need_hashes: bool) -> CachedLayer | None:
        """The entry for the blob ``digest``, or None when there is none usable.

        An entry without file hashes does not serve a read that needs them (``need_hashes``).
        """
        path = self._path(digest)
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        layer = _decode(data, digest)
        if layer is None or (need_hashes and not layer.hashed):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return layer

    def store(self, layer: CachedLayer | EncodedLayer) -> bool:
        """Write the entry for ``layer.digest`` atomically, then prune; failures are ignored.

        Returns:
            Whether the entry was written.
        """
        path = self._path(layer.digest)
        if path is None:
            return False
        encoded = layer if isinstance(layer, EncodedLayer) else encode(layer)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            prefix = f".{path.name}.{os.getpid()}."  # see discard_temporaries
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=_TMP, dir=self.root)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(encoded.head)
                    f.write(encoded.contents)
                Path(tmp).replace(path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._prune(keep=path)
        except OSError:
            return False  # a cache that cannot be written only costs time
        return True

    def discard_temporaries(self, pid: int) -> None:
        """Remove the temporary files a process ``pid`` killed while storing left behind."""
        with contextlib.suppress(OSError), os.scandir(self.root) as it:
            for entry in it:
                parts = entry.name.split(".")  # .HEX.vN.PID.RANDOM.tmp
                if entry.name.endswith(_TMP) and len(parts) == 6 and parts[3] == str(pid):
                    Path(entry.path).unlink(missing_ok=True)

    def _prune(self, keep: Path) -> None:
        entries: list[tuple[float, int, Path]] = []
        total = 0
        with os.scandir(self.root) as it:
            for entry in it:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                entries.append((st.st_mtime, st.st_size, Path(entry.path)))
                total += st.st_size
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size


def encode(layer: CachedLayer) -> EncodedLayer:
    """The entry file of ``layer`` (see the module docstring)."""
    meta = json.dumps(
        {
            "format": FORMAT,
            "digest": layer.digest,
            "diffId": layer.diff_id,
            "size": layer.size,
            "uncompressedSize": layer.uncompressed_size,
            "hashed": layer.hashed,
            "end": layer.end,
            "members": layer.members,
        },
        separators=(",", ":"),
    ).encode()
    check = hashlib.sha256(meta)
    check.update(layer.contents)
    lengths = len(meta).to_bytes(8, "big") + len(layer.contents).to_bytes(8, "big")
    return EncodedLayer(
        digest=layer.digest, head=_MAGIC + lengths + check.digest() + meta, contents=layer.contents
    )


def _decode(data: bytes, digest: str) -> CachedLayer | None:
    """Parse an entry file; None when it is not a complete, intact entry of this format for ``digest``."""
    start = len(_MAGIC) + _LENGTHS + _SHA
    if len(data) < start or not data.startswith(_MAGIC):
        return None
    meta_len = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 8], "big")
    contents_len = int.from_bytes(data[len(_MAGIC) + 8 : len(_MAGIC) + 16], "big")
    if len(data) != start + meta_len + contents_len:
        return None
    view = memoryview(data)
    if hashlib.sha256(view[start:]).digest() != data[start - _SHA : start]:
        return None
    try:
        meta: Any = json.loads(view[start : start + meta_len].tobytes())
        if meta["format"] != FORMAT or meta["digest"] != digest:
            return None
        members = [tuple(m) for m in meta["members"]]
        layer = CachedLayer(
            digest=digest,
            diff_id=str(meta["diffId"]),
            size=int(meta["size"]),
            uncompressed_size=int(meta["uncompressedSize"]),
            hashed=bool(meta["hashed"]),
            end=str(meta["end"]),
            members=members,
            contents=view[start + meta_len :],
        )
    except (ValueError, KeyError, TypeError):
        return None
    kept = sum(m[8] for m in members if isinstance(m[8], int) and m[8] > 0)
    if kept != contents_len or any(len(m) != 9 for m in members):
        return None
    return layer
