"""Write and read OCI image layouts (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``).

:class:`OciLayoutWriter` stages every blob of one image in a hidden directory next to the target
(same filesystem, so renames are atomic), hashing each blob as it is written (or trusting a caller
that verifies as it writes: :meth:`~OciLayoutWriter.verified_blob`), and publishes only on
:meth:`~OciLayoutWriter.commit`, which first fsyncs every staged blob (each blob's writeback
starts as soon as it is complete, so the commit mostly finds them written):

* no layout at the target (or an empty directory): the staging directory gets ``oci-layout`` and
  ``index.json`` and is renamed into place, so the layout appears whole or not at all;
* an existing layout: new blobs are renamed into its ``blobs/sha256`` (blobs are content-addressed,
  so an extra blob never changes what the layout means), then ``index.json`` is replaced by a
  fsynced temp file renamed over it. A failure before that rename leaves the old ``index.json`` in
  force and removes the blobs this writer added.

Tags follow skopeo's ``oci:DIR:TAG``: the manifest's index entry carries the annotation
``org.opencontainers.image.ref.name``; an older entry with the same name loses the annotation but
stays in the index (as skopeo does, so nothing that referred to it by digest breaks). Concurrent
dockwright writers to one layout are serialized with ``flock`` on the layout directory; other tools
are not locked out. Files are written with mode 0644 and directories 0755, whatever the umask.

:func:`read_oci_layout` resolves a tag and verifies the manifest, config and every layer blob
against their descriptors before returning.

What this module does not do: garbage-collect unreferenced blobs, resolve image indexes to a
platform (a tag must name an image manifest), or use a shared blob directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, NamedTuple

from dockwright.errors import DigestMismatchError, InputError
from dockwright.fsutil import WritebackWriter, atomic_writer, fsync_dir, fsync_path
from dockwright.oci.descriptor import ANNOTATION_REF_NAME, DOCKER_MANIFEST, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import SHA256, Digest, HashingWriter, sha256_file
from dockwright.oci.image import Index, Manifest, canonical_json

__all__ = [
    "LAYOUT_VERSION",
    "LayoutImage",
    "OciLayoutWriter",
    "blob_path",
    "read_oci_layout",
]

LAYOUT_VERSION = "1.0.0"
_OCI_LAYOUT = canonical_json({"imageLayoutVersion": LAYOUT_VERSION})
_MAX_JSON = 8 << 20  # manifests and configs larger than this are refused unread
_FILE_MODE = 0o644
_DIR_MODE = 0o755


def blob_path(layout: Path, digest: Digest) -> Path:
    """Return where ``digest``'s blob lives in the layout at ``layout``."""
    return layout / "blobs" / digest.algorithm / digest.hex


class LayoutImage(NamedTuple):
    """An image read from a layout: exact manifest and config bytes, and the layer descriptors."""

    manifest: bytes
    manifest_digest: Digest
    config: bytes
    layers: tuple[Descriptor, ...]


class OciLayoutWriter:
    """Stage the blobs of one image and publish them into an OCI layout at ``path`` atomically.

    Use as a context manager; anything not committed when the block ends is thrown away::

        with OciLayoutWriter(Path("out")) as layout:
            with layout.blob() as w:
                write_layer(entries, w, mtime=0)
            layout.add_blob(config_bytes)
            layout.commit(manifest_bytes, tag="latest")
    """

    def __init__(self, path: Path) -> None:
        """Prepare to write the layout at ``path`` (created if missing; symlinks are followed)."""
        self._path = Path(os.path.realpath(path))
        self._staging: Path | None = None
        self._blobs: set[str] = set()

    def __enter__(self) -> OciLayoutWriter:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{self._path.name}.", suffix=".dockwright", dir=self._path.parent)
        )
        self._staging = staging
        (staging / "blobs" / SHA256).mkdir(parents=True)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._discard_staging()

    def _staged_blobs(self) -> Path:
        if self._staging is None:
            raise RuntimeError("OciLayoutWriter used outside its `with` block or after commit")
        return self._staging / "blobs" / SHA256

    @contextlib.contextmanager
    def blob(self, expected: Digest | None = None) -> Iterator[HashingWriter]:
        """Yield a writer for one blob; when the block ends it is stored under its digest.

        Args:
            expected: if given, the digest the bytes must have.

        Raises:
            DigestMismatchError: the bytes written do not match ``expected``.
        """
        with self._staged_file() as (f, name):
            writer = HashingWriter(f)
            yield writer
            if expected is not None and writer.digest != expected:
                raise DigestMismatchError(f"blob written as {expected} has digest {writer.digest}")
            name.append(writer.digest.hex)

    @contextlib.contextmanager
    def verified_blob(self, digest: Digest) -> Iterator[BinaryIO]:
        """Yield a file for blob ``digest`` whose bytes the caller verifies as it writes them.

        For a verified download, which hashes every byte already: hashing them again here would
        only cost time. The caller must raise if the bytes do not match ``digest``; the blob is
        stored under ``digest`` only when the block ends without an exception.
        """
        with self._staged_file() as (f, name):
            yield f
            name.append(digest.hex)

    @contextlib.contextmanager
    def _staged_file(self) -> Iterator[tuple[BinaryIO, list[str]]]:
        """A temp file in the staging blobs; the block appends its hex name to the list to keep it.

        The file is renamed to that name after the block; on an exception, or without a name, it
        is removed. Its writeback starts at once, but the ``fsync`` waits for :meth:`commit`: a
        thread writing several blobs goes on to the next one while the disk catches up, and the
        commit finds most bytes already written.
        """
        fd, tmp_name = tempfile.mkstemp(prefix=".blob.", dir=self._staged_blobs())
        tmp = Path(tmp_name)
        name: list[str] = []
        try:
            with WritebackWriter(io.FileIO(fd, "wb")) as f:
                yield f, name
                os.fchmod(f.fileno(), _FILE_MODE)
                f.write_back()
            if name:
                tmp.replace(self._staged_blobs() / name[0])
                self._blobs.add(name[0])
        finally:
            tmp.unlink(missing_ok=True)

    def _sync_blobs(self) -> None:
        """fsync every staged blob: its bytes are on disk before a name in the layout points at it."""
        for hex_digest in self._blobs:
            fsync_path(self._staged_blobs() / hex_digest)

    def add_blob(self, data: bytes) -> Digest:
        """Store ``data`` as a blob and return its digest."""
        with self.blob() as w:
            w.write(data)
        return w.digest

    def commit(
        self,
        manifest: bytes,
        *,
        media_type: str = OCI_MANIFEST,
        tag: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Descriptor:
        """Store ``manifest``, add it to ``index.json`` (under ``tag``) and publish everything.

        Args:
            manifest: the exact manifest bytes; they are stored and hashed as given.
            media_type: the manifest's media type, for its index entry.
            tag: the ``org.opencontainers.image.ref.name`` to give it, or None for none.
            annotations: more annotations for the index entry.

        Returns:
            The manifest's descriptor as written into ``index.json``.

        Raises:
            InputError: the target exists and is not an OCI layout, or its index is malformed.
        """
        entry_annotations = dict(annotations or {})
        if tag is not None:
            entry_annotations[ANNOTATION_REF_NAME] = tag
        digest = self.add_blob(manifest)
        self._sync_blobs()
        descriptor = Descriptor(
            media_type=media_type, digest=digest, size=len(manifest), annotations=entry_annotations
        )
        if not (_is_new_layout(self._path) and self._publish_new(descriptor)):
            self._publish_into_existing(descriptor)
        self._discard_staging()
        return descriptor

    def _publish_new(self, descriptor: Descriptor) -> bool:
        """Rename the staging directory into place; False if a layout appeared there meanwhile."""
        staging = self._staging
        assert staging is not None  # checked by add_blob
        _write_synced(staging / "oci-layout", _OCI_LAYOUT)
        _write_synced(staging / "index.json", Index(manifests=(descriptor,)).to_json())
        for directory in (staging / "blobs" / SHA256, staging / "blobs", staging):
            directory.chmod(_DIR_MODE)
            fsync_dir(directory)
        try:
            staging.rename(self._path)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and not _is_new_layout(self._path):
                return False  # another writer created it first: add to it instead
            raise
        self._staging = None
        fsync_dir(self._path.parent)
        return True

    def _publish_into_existing(self, descriptor: Descriptor) -> None:
        with _locked(self._path):
            index = _read_index(self._path)
            added = self._move_blobs_into(self._path / "blobs" / SHA256)
            try:
                new_index = _with_manifest(index, descriptor)
                with atomic_writer(self._path / "index.json") as f:
                    f.write(new_index.to_json())
            except BaseException:
                for path in added:
                    path.unlink(missing_ok=True)
                raise

    def _move_blobs_into(self, blobs: Path) -> list[Path]:
        """Rename staged blobs the layout lacks into it; return the paths that were added."""
        blobs.mkdir(parents=True, exist_ok=True)
        added: list[Path] = []
        try:
            for hex_digest in sorted(self._blobs):
                destination = blobs / hex_digest
                if not destination.exists():
                    (self._staged_blobs() / hex_digest).rename(destination)
                    added.append(destination)
            fsync_dir(blobs)
        except BaseException:
            for path in added:
                path.unlink(missing_ok=True)
            raise
        return added

    def _discard_staging(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fchmod(f.fileno(), _FILE_MODE)
        os.fsync(f.fileno())


def _is_new_layout(path: Path) -> bool:
    """True when ``path`` is missing or an empty directory; raise if it is something else."""
    if not path.exists():
        return True
    if not path.is_dir():
        raise InputError(f"{path} exists and is not a directory", hint="choose another oci: path")
    if not any(path.iterdir()):
        return True
    if not (path / "oci-layout").is_file():
        raise InputError(
            f"{path} exists, is not empty and is not an OCI layout (no oci-layout file)",
            hint="choose an empty or new directory, or an existing OCI layout",
        )
    return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_small(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_JSON + 1)
    except FileNotFoundError:
        raise InputError(f"{what} is missing: {path}") from None
    if len(data) > _MAX_JSON:
        raise InputError(f"{what} is larger than {_MAX_JSON} bytes: {path}")
    return data


def _read_index(layout: Path) -> Index:
    marker = _read_small(layout / "oci-layout", "oci-layout file")
    try:
        decoded = json.loads(marker)
    except ValueError:
        raise InputError(f"{layout}/oci-layout is not valid JSON") from None
    version = decoded.get("imageLayoutVersion") if isinstance(decoded, dict) else None
    if not isinstance(version, str) or not version.startswith("1."):
        raise InputError(f"{layout}/oci-layout does not declare imageLayoutVersion 1.x")
    return Index.from_json(_read_small(layout / "index.json", "index.json"))


def _with_manifest(index: Index, descriptor: Descriptor) -> Index:
    """Return ``index`` with ``descriptor`` added the way skopeo adds a tagged manifest."""
    tag = descriptor.annotations.get(ANNOTATION_REF_NAME)
    manifests = list(index.manifests)
    for i, existing in enumerate(manifests):
        if tag is not None and existing.annotations.get(ANNOTATION_REF_NAME) == tag:
            kept = {k: v for k, v in existing.annotations.items() if k != ANNOTATION_REF_NAME}
            manifests[i] = replace(existing, annotations=kept)
    for i, existing in enumerate(manifests):
        if existing.digest == descriptor.digest and ANNOTATION_REF_NAME not in existing.annotations:
            manifests[i] = descriptor
            break
    else:
        manifests.append(descriptor)
    return replace(index, manifests=tuple(manifests))


def read_oci_layout(path: Path, tag: str | None = None) -> LayoutImage:
    """Read the image ``tag`` names (or the only image) from the OCI layout at ``path``.

    The manifest, the config and every layer blob are checked against their descriptors' digests
    and sizes; layers are hashed in chunks, never read whole.

    Args:
        path: the layout directory.
        tag: the ``org.opencontainers.image.ref.name`` to look up; None means the layout must
            hold exactly one manifest.

    Returns:
        The manifest bytes and digest, the config bytes and the layer descriptors.

    Raises:
        InputError: not a layout, no such tag, several images and no tag, or malformed JSON.
        DigestMismatchError: a blob is missing bytes or does not match its digest.
    """
    path = Path(path)
    index = _read_index(path)
    descriptor = _choose_manifest(index, tag, path)
    manifest_bytes = _read_blob(path, descriptor, "manifest")
    manifest = Manifest.from_json(manifest_bytes)
    config = _read_blob(path, manifest.config, "config")
    for i, layer in enumerate(manifest.layers):
        _verify_blob(path, layer, f"layer {i}")
    return LayoutImage(manifest_bytes, descriptor.digest, config, manifest.layers)


def _choose_manifest(index: Index, tag: str | None, path: Path) -> Descriptor:
    images = [d for d in index.manifests if d.media_type in (OCI_MANIFEST, DOCKER_MANIFEST)]
    if tag is None:
        if len(index.manifests) == 1 and images:
            return images[0]
        raise InputError(
            f"{path} holds {len(index.manifests)} manifests; name one with oci:{path}:TAG",
            hint=f"tags here: {_tags(index) or 'none'}",
        )
    for d in images:
        if d.annotations.get(ANNOTATION_REF_NAME) == tag:
            return d
    raise InputError(f"no image tagged {tag!r} in {path}", hint=f"tags here: {_tags(index) or 'none'}")


def _tags(index: Index) -> str:
    return ", ".join(
        sorted(
            {
                d.annotations[ANNOTATION_REF_NAME]
                for d in index.manifests
                if ANNOTATION_REF_NAME in d.annotations
            }
        )
    )


def _read_blob(layout: Path, descriptor: Descriptor, what: str) -> bytes:
    if descriptor.size > _MAX_JSON:
        raise InputError(f"{what} {descriptor.digest} is {descriptor.size} bytes; the limit is {_MAX_JSON}")
    try:
        data = blob_path(layout, descriptor.digest).read_bytes()
    except FileNotFoundError:
        raise DigestMismatchError(f"{what} blob {descriptor.digest} is missing from {layout}") from None
    _check(Digest.of(data), len(data), descriptor, what)
    return data


def _verify_blob(layout: Path, descriptor: Descriptor, what: str) -> None:
    try:
        with open(blob_path(layout, descriptor.digest), "rb") as f:
            digest, size = sha256_file(f)
    except FileNotFoundError:
        raise DigestMismatchError(f"{what} blob {descriptor.digest} is missing from {layout}") from None
    _check(digest, size, descriptor, what)


def _check(digest: Digest, size: int, descriptor: Descriptor, what: str) -> None:
    if digest != descriptor.digest or size != descriptor.size:
        raise DigestMismatchError(
            f"{what} blob {descriptor.digest} ({descriptor.size} bytes) holds {size} bytes "
            f"with digest {digest}: the layout was modified or is corrupt"
        )
