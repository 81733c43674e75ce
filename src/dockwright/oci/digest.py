"""Content digests (``sha256:<64 hex>``) and a writer that computes one while bytes stream through.

A :class:`Digest` is the OCI ``digest`` grammar restricted to what dockwright writes and verifies:
``sha256`` with 64 lowercase hex digits. :class:`HashingWriter` wraps a binary stream and hashes
and counts every byte written to it, so a blob's digest is always computed over exactly the bytes
that reached the file, in one pass.

What this module does not do: support other algorithms (``sha512`` digests are parsed as
malformed, with a message saying so), or read and verify files (see
:func:`dockwright.oci.layout.read_oci_layout`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from dockwright.errors import InputError

__all__ = ["SHA256", "BytesLike", "Digest", "HashingWriter", "Writable", "sha256_file"]

BytesLike = bytes | bytearray | memoryview
"""What :meth:`HashingWriter.write` and :meth:`Digest.of` accept."""


class Writable(Protocol):
    """Anything with a binary ``write``: a file opened ``wb``, a :class:`HashingWriter`."""

    def write(self, data: BytesLike, /) -> int | None:
        """Write all of ``data``."""


SHA256 = "sha256"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """A validated content digest: ``algorithm`` (always ``sha256``) and lowercase ``hex``."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        if self.algorithm != SHA256:
            raise InputError(f"unsupported digest algorithm {self.algorithm!r}: only sha256 is accepted")
        if not _HEX64.fullmatch(self.hex):
            raise InputError(f"malformed sha256 digest {self.hex!r}: expected 64 lowercase hex digits")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``sha256:<64 lowercase hex>``.

        Args:
            text: the digest as written in a descriptor or on the command line.

        Returns:
            The digest.

        Raises:
            InputError: the text is not a sha256 digest.
        """
        algorithm, sep, encoded = text.partition(":")
        if not sep:
            raise InputError(f"malformed digest {text!r}: expected sha256:<64 hex digits>")
        return cls(algorithm=algorithm, hex=encoded)

    @classmethod
    def of(cls, data: BytesLike) -> Digest:
        """Return the sha256 digest of ``data``."""
        return cls(algorithm=SHA256, hex=hashlib.sha256(data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class HashingWriter:
    """Write-through wrapper that hashes (sha256) and counts the bytes written to ``stream``.

    The wrapped stream is neither flushed nor closed by this class; its owner does that.
    """

    __slots__ = ("_hash", "_size", "_stream")

    def __init__(self, stream: Writable) -> None:
        """Wrap ``stream``, a binary file opened for writing (or another writer)."""
        self._stream = stream
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: BytesLike) -> int:
        """Write all of ``data`` to the stream, hash it and count it; return its length."""
        view = memoryview(data)
        self._hash.update(view)
        self._stream.write(view)
        self._size += view.nbytes
        return view.nbytes

    @property
    def size(self) -> int:
        """Number of bytes written so far."""
        return self._size

    @property
    def digest(self) -> Digest:
        """Digest of the bytes written so far."""
        return Digest(algorithm=SHA256, hex=self._hash.hexdigest())


def sha256_file(stream: BinaryIO) -> tuple[Digest, int]:
    """Hash ``stream`` from its current position to the end, in chunks.

    Returns:
        The digest and the number of bytes read.
    """
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(_READ_CHUNK):
        h.update(chunk)
        size += len(chunk)
    return Digest(algorithm=SHA256, hex=h.hexdigest()), size
