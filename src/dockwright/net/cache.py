"""A content-addressed blob cache: ``ROOT/sha256/<hex>``, written only through verification.

A blob enters the cache only through :meth:`BlobCache.writer`, which streams into
``ROOT/tmp/<hex>.partial``, counts and hashes every byte, and, when size and sha256 match what the
caller expected (from a signed source), fsyncs and renames it into place. A mismatch removes the
partial file and raises :class:`~dockwright.errors.DigestMismatchError`. Any other failure (a
dropped connection) keeps the partial so the next writer for that digest resumes at its size.
A partial is locked (``flock``) while written, so concurrent processes never interleave bytes.

What this module does not do: fetch (see :mod:`dockwright.net.download`), evict or limit its size,
or know where a digest came from: callers must only pass digests taken from signed metadata.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dockwright.errors import DigestMismatchError, InputError
from dockwright.fsutil import fsync_dir

__all__ = ["BlobCache", "BlobWriter", "default_cache_root"]

_log = logging.getLogger(__name__)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_READ_CHUNK = 1 << 20


def default_cache_root() -> Path:
    """``$DOCKWRIGHT_CACHE``, else ``$XDG_CACHE_HOME/dockwright``, else ``~/.cache/dockwright``."""
    if explicit := os.environ.get("DOCKWRIGHT_CACHE"):
        return Path(explicit)
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "dockwright"
    return Path.home() / ".cache" / "dockwright"


def _check_hex(sha256: str) -> str:
    if not _HEX64.fullmatch(sha256):
        raise InputError(f"malformed sha256 digest {sha256!r}: expected 64 lowercase hex digits")
    return sha256


def _hash_stream(f: BinaryIO, hasher: hashlib._Hash) -> int:
    total = 0
    while chunk := f.read(_READ_CHUNK):
        hasher.update(chunk)
        total += len(chunk)
    return total


def _open_locked(path: Path) -> BinaryIO:
    """Open ``path`` for read+append, create it if missing, and hold an exclusive lock on it.

    Another process may rename or remove the file while we wait for the lock, so after locking
    check that the name still refers to the inode we locked; if not, start over.
    """
    while True:
        f = open(path, "a+b")  # noqa: SIM115 - returned to the caller, who closes it
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            same = path.stat().st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return f
        f.close()


class BlobWriter:
    """Receives a blob's bytes from :attr:`offset` on; created by :meth:`BlobCache.writer`.

    ``offset`` is how many bytes a kept partial already held (they are not written again), so a
    download resumes with ``Range: bytes=<offset>-``. ``remaining`` is 0 when there is nothing to
    fetch (the blob arrived meanwhile, or the partial is complete).
    """

    def __init__(self, f: BinaryIO, hasher: hashlib._Hash, *, offset: int, size: int, label: str) -> None:
        self._f = f
        self._hasher = hasher
        self._written = offset
        self.offset = offset
        self.size = size
        self.label = label

    @property
    def remaining(self) -> int:
        """Bytes still expected."""
        return self.size - self._written

    def write(self, data: bytes) -> None:
        """Append ``data``, hashing it on the way.

        Raises:
            DigestMismatchError: more bytes than the expected size.
        """
        if len(data) > self.remaining:
            raise DigestMismatchError(f"{self.label}: size mismatch: expected {self.size} bytes, got more")
        self._f.write(data)
        self._hasher.update(data)
        self._written += len(data)

    def _check(self, sha256: str) -> None:
        if self._written != self.size:
            raise DigestMismatchError(
                f"{self.label}: size mismatch: expected {self.size} bytes, got {self._written}"
            )
        actual = self._hasher.hexdigest()
        if actual != sha256:
            raise DigestMismatchError(f"{self.label}: sha256 mismatch: expected {sha256}, got {actual}")


class BlobCache:
    """Blobs by sha256 under ``root`` (see the module docstring for the layout and guarantees)."""

    def __init__(self, root: Path | None = None) -> None:
        """Create the cache.

        Args:
            root: the directory; :func:`default_cache_root` when omitted. Created on first write.
        """
        self.root = root if root is not None else default_cache_root()

    def _final(self, sha256: str) -> Path:
        return self.root / "sha256" / _check_hex(sha256)

    def _partial(self, sha256: str) -> Path:
        return self.root / "tmp" / f"{_check_hex(sha256)}.partial"

    def path(self, sha256: str, *, verify: bool = False) -> Path | None:
        """Where the blob is, or ``None`` when it is not cached.

        Args:
            sha256: the blob's hex digest.
            verify: hash the file again; a corrupt entry is removed (with a warning logged) and
                reported as absent, so it is downloaded and verified afresh.

        Returns:
            The blob's path, or ``None``.
        """
        final = self._final(sha256)
        if not final.is_file():
            return None
        if verify:
            with open(final, "rb") as f:
                hasher = hashlib.sha256()
                _hash_stream(f, hasher)
            if hasher.hexdigest() != sha256:
                _log.warning("removing corrupt cache entry %s (sha256 %s)", final, hasher.hexdigest())
                final.unlink(missing_ok=True)
                return None
        return final

    def partial_size(self, sha256: str) -> int:
        """Bytes held by a kept partial download of ``sha256`` (0 when there is none)."""
        try:
            return self._partial(sha256).stat().st_size
        except FileNotFoundError:
            return 0

    @contextlib.contextmanager
    def writer(self, sha256: str, size: int, *, label: str | None = None) -> Iterator[BlobWriter]:
        """Write a blob, verified, resuming a kept partial.

        On a clean exit the bytes must number ``size`` and hash to ``sha256``; then the file is
        fsynced and renamed to :meth:`path`. If the blob was already cached, ``remaining`` is 0
        and nothing is written.

        Args:
            sha256: the expected hex digest, from a signed source.
            size: the expected size in bytes, from the same source.
            label: names the blob in error messages (a file name or URL).

        Yields:
            The writer.

        Raises:
            DigestMismatchError: size or digest differ; the partial is removed.
        """
        final, partial = self._final(sha256), self._partial(sha256)
        label = label or f"blob sha256:{sha256}"
        partial.parent.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        with _open_locked(partial) as f:
            if final.is_file():
                partial.unlink(missing_ok=True)
                yield BlobWriter(f, hashlib.sha256(), offset=size, size=size, label=label)
                return
            writer = self._resume(f, size, label)
            try:
                yield writer
                writer._check(sha256)
            except DigestMismatchError:
                partial.unlink(missing_ok=True)
                raise
            finally:
                f.flush()
            os.fsync(f.fileno())
            partial.replace(final)
        fsync_dir(final.parent)

    @staticmethod
    def _resume(f: BinaryIO, size: int, label: str) -> BlobWriter:
        """Hash what a kept partial holds; a partial longer than the blob is started over."""
        f.seek(0)
        hasher = hashlib.sha256()
        held = _hash_stream(f, hasher)
        if held > size:
            f.truncate(0)
            hasher, held = hashlib.sha256(), 0
        return BlobWriter(f, hasher, offset=held, size=size, label=label)

    def add(self, data: bytes, sha256: str, *, label: str | None = None) -> Path:
        """Store in-memory ``data`` that must hash to ``sha256``; return its path.

        Raises:
            DigestMismatchError: ``data`` does not hash to ``sha256``.
        """
        label = label or f"blob sha256:{sha256}"
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise DigestMismatchError(f"{label}: sha256 mismatch: expected {sha256}, got {actual}")
        for _ in range(2):  # a corrupt kept partial fails the first round and is removed
            with contextlib.suppress(DigestMismatchError), self.writer(sha256, len(data), label=label) as w:
                w.write(data[w.offset :])
            if (path := self.path(sha256)) is not None:
                return path
        raise DigestMismatchError(f"{label}: could not be stored")  # pragma: no cover
