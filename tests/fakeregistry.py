"""An in-memory registry with the registry client's methods, for unit tests of the copy engine.

:class:`FakeRegistry` holds repositories of blobs, manifests and tags and answers like the real
:class:`~dockwright.registry.RegistryClient` does (same method names, arguments and errors), with
the checks the reference registry makes: a manifest is refused while a blob or child manifest it
names is missing from the repository, and a digest reference must match the bytes. It behaves like
Debian's ``docker-registry`` 2.8 (no referrers API: the client falls back to the ``sha256-<hex>``
tag index) unless ``referrers_api=True``.

It records what happened for assertions: ``calls`` (method, repository, argument) in order,
``uploads`` (digest, chunk size), ``mounts``, and ``max_active_uploads`` (uploads overlapping in
time; ``upload_delay`` seconds per upload makes the overlap observable).

Faults, each applied to the first ``times`` matching calls (:meth:`fail`):

- ``drop_upload``: a chunked upload loses its connection after ``at`` bytes; like the real client,
  the fake asks where it stands and re-opens the source there (``open_at(at)``) and goes on;
- ``fail_upload``: the upload fails with a non-retryable error (after reading ``at`` bytes);
- ``corrupt_blob``: ``fetch_blob`` serves the blob with one byte flipped (the client's check
  then raises :class:`DigestMismatchError`, after writing the bytes, as the real one does);
- ``drop_fetch``: ``fetch_blob`` is interrupted after ``at`` bytes and resumed (the bytes still
  arrive whole).

:func:`make_image` and :func:`make_index` write small images (one file per layer) into OCI layouts
for the tests to copy.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockwright.errors import DigestMismatchError, InputError
from dockwright.fs.tree import Entry, EntryType, FileTree
from dockwright.oci.descriptor import OCI_INDEX, OCI_MANIFEST, Descriptor, Platform
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index
from dockwright.oci.image_writer import ImageConfigInput, ImageResult, write_image
from dockwright.oci.layout import OciLayoutWriter
from dockwright.registry import BlobNotFound, ManifestNotFound, RegistryError
from dockwright.registry.client import ALL_MANIFEST_TYPES, FetchedManifest

__all__ = [
    "MTIME",
    "FakeRegistry",
    "Fault",
    "Repository",
    "layer_tree",
    "make_image",
    "make_index",
    "random_bytes",
]


@dataclass
class Repository:
    """One repository: which blobs it links, its manifests by digest, and its tags."""

    blobs: set[Digest] = field(default_factory=set)
    manifests: dict[Digest, tuple[bytes, str]] = field(default_factory=dict)
    tags: dict[str, Digest] = field(default_factory=dict)


@dataclass
class Fault:
    """An injected failure (see the module docstring)."""

    kind: str
    digest: Digest | None = None
    at: int = 0
    times: int = 1


class FakeRegistry:
    """In-memory registry client (see the module docstring). Thread-safe."""

    def __init__(self, registry: str = "127.0.0.1:5000", *, referrers_api: bool = False) -> None:
        self.registry = registry
        self.referrers_api = referrers_api
        self.blobs: dict[Digest, bytes] = {}
        self.repos: dict[str, Repository] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.uploads: list[tuple[Digest, int | None]] = []
        self.mounts: list[tuple[str, Digest, str]] = []
        self.faults: list[Fault] = []
        self.upload_delay = 0.0
        self.max_active_uploads = 0
        self._active = 0
        self._lock = threading.RLock()

    # --- test helpers ---------------------------------------------------------------------------

    def fail(self, kind: str, digest: Digest | None = None, *, at: int = 0, times: int = 1) -> None:
        """Inject a fault for the next ``times`` matching calls."""
        self.faults.append(Fault(kind, digest, at, times))

    def repo(self, name: str) -> Repository:
        """The repository ``name`` (created empty when new)."""
        with self._lock:
            return self.repos.setdefault(name, Repository())

    def add_blob(self, repository: str, data: bytes) -> Digest:
        """Store ``data`` in ``repository`` directly; return its digest."""
        digest = Digest.of(data)
        with self._lock:
            self.blobs[digest] = data
            self.repo(repository).blobs.add(digest)
        return digest

    def tagged(self, repository: str, tag: str) -> bytes:
        """The manifest bytes ``tag`` names."""
        repo = self.repo(repository)
        return repo.manifests[repo.tags[tag]][0]

    def _fault(self, kind: str, digest: Digest) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.kind == kind and fault.times > 0 and fault.digest in (None, digest):
                    fault.times -= 1
                    return fault
        return None

    def _record(self, method: str, repository: str, argument: object) -> None:
        with self._lock:
            self.calls.append((method, repository, str(argument)))

    # --- the client's methods -------------------------------------------------------------------

    def ping(self) -> None:
        """Always answers."""
        self._record("ping", "", "")

    def blob_size(self, repository: str, digest: Digest) -> int | None:
        """HEAD a blob."""
        self._record("blob_size", repository, digest)
        with self._lock:
            if digest in self.repo(repository).blobs:
                return len(self.blobs[digest])
        return None

    def fetch_blob(
        self,
        repository: str,
        digest: Digest,
        out: BinaryIO,
        *,
        size: int | None = None,
        offset: int = 0,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Write the blob to ``out``, checking size and digest like the client."""
        self._record("fetch_blob", repository, digest)
        with self._lock:
            if digest not in self.repo(repository).blobs:
                raise BlobNotFound(f"GET blob {digest}: 404", method="GET", url=str(digest), status=404)
            data = self.blobs[digest]
        if (fault := self._fault("corrupt_blob", digest)) is not None:
            data = data[: fault.at] + bytes([data[fault.at] ^ 1]) + data[fault.at + 1 :]
        if (fault := self._fault("drop_fetch", digest)) is not None:
            out.write(data[: fault.at])  # the connection dropped here; the client resumes at once
            out.write(data[fault.at :])
        else:
            out.write(data)
        if on_progress is not None:
            on_progress(len(data))
        if (size is not None and len(data) != size) or hashlib.sha256(data).hexdigest() != digest.hex:
            raise DigestMismatchError(f"GET blob {digest}: the bytes received have another digest")

    def mount_blob(self, repository: str, digest: Digest, from_repository: str) -> bool:
        """Link a blob from another repository when that one holds it."""
        self._record("mount_blob", repository, digest)
        with self._lock:
            if digest in self.repo(from_repository).blobs:
                self.repo(repository).blobs.add(digest)
                self.mounts.append((repository, digest, from_repository))
                return True
        return False

    def upload_blob(
        self,
        repository: str,
        digest: Digest,
        size: int,
        open_at: Callable[[int], BinaryIO],
        *,
        chunk_size: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Read the blob from ``open_at`` (in chunks when asked), then check it like a registry."""
        self._record("upload_blob", repository, digest)
        with self._lock:
            self._active += 1
            self.max_active_uploads = max(self.max_active_uploads, self._active)
            self.uploads.append((digest, chunk_size))
        try:
            time.sleep(self.upload_delay)
            data = self._receive(digest, size, open_at, chunk_size)
        finally:
            with self._lock:
                self._active -= 1
        if len(data) != size or Digest.of(data) != digest:
            raise DigestMismatchError(
                f"PUT blob {digest}: DIGEST_INVALID: the bytes uploaded are not blob {digest}"
            )
        if on_progress is not None:
            on_progress(size)
        with self._lock:
            self.blobs[digest] = data
            self.repo(repository).blobs.add(digest)

    def _receive(
        self, digest: Digest, size: int, open_at: Callable[[int], BinaryIO], chunk: int | None
    ) -> bytes:
        failing = self._fault("fail_upload", digest)
        dropping = self._fault("drop_upload", digest) if chunk is not None else None
        received = b""
        while len(received) < size:
            step = chunk or size
            with open_at(len(received)) as stream:
                part = stream.read(min(step, size - len(received)))
            if failing is not None and len(received) + len(part) > failing.at:
                raise RegistryError(
                    "PATCH upload: HTTP 400 BLOB_UPLOAD_INVALID", method="PATCH", url="", status=400
                )
            if dropping is not None and len(received) + len(part) > dropping.at:
                received += part[: dropping.at - len(received)]  # the registry kept these; resume
                dropping = None
                continue
            if not part:
                raise DigestMismatchError(f"the upload source of {digest} ended at byte {len(received)}")
            received += part
        return received

    def get_manifest(
        self, repository: str, reference: str, *, accept: Sequence[str] = ALL_MANIFEST_TYPES
    ) -> FetchedManifest:
        """A manifest by tag or digest, exact bytes."""
        self._record("get_manifest", repository, reference)
        with self._lock:
            repo = self.repo(repository)
            digest = Digest.parse(reference) if ":" in reference else repo.tags.get(reference)
            if digest is None or digest not in repo.manifests:
                raise ManifestNotFound(
                    f"GET manifest {reference}: 404", method="GET", url=reference, status=404
                )
            data, media_type = repo.manifests[digest]
        return FetchedManifest(data=data, media_type=media_type, digest=digest)

    def manifest_exists(self, repository: str, reference: str) -> Descriptor | None:
        """HEAD a manifest."""
        try:
            return self.get_manifest(repository, reference).descriptor
        except ManifestNotFound:
            return None

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> Digest:
        """Store a manifest after checking that everything it names is in the repository."""
        self._record("put_manifest", repository, reference)
        digest = Digest.of(data)
        if ":" in reference and Digest.parse(reference) != digest:
            raise InputError(f"cannot put a manifest with digest {digest} under {reference}")
        document = json.loads(data)
        with self._lock:
            repo = self.repo(repository)
            for child in document.get("manifests", []):
                if Digest.parse(child["digest"]) not in repo.manifests:
                    raise RegistryError(
                        "PUT manifest: MANIFEST_BLOB_UNKNOWN", method="PUT", url="", status=400
                    )
            for blob in [document.get("config"), *document.get("layers", [])]:
                if blob is not None and Digest.parse(blob["digest"]) not in repo.blobs:
                    raise RegistryError(
                        "PUT manifest: MANIFEST_BLOB_UNKNOWN", method="PUT", url="", status=400
                    )
            repo.manifests[digest] = (data, media_type)
            if ":" not in reference:
                repo.tags[reference] = digest
        return digest

    def list_tags(self, repository: str) -> list[str]:
        """The repository's tags, sorted."""
        return sorted(self.repo(repository).tags)

    def referrers(
        self, repository: str, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """The referrers API when enabled, else the tag index (as the real client falls back)."""
        self._record("referrers", repository, digest)
        if not self.referrers_api:
            try:
                index = Index.from_json(
                    self.get_manifest(repository, f"sha256-{digest.hex}", accept=(OCI_INDEX,)).data
                )
            except ManifestNotFound:
                return []
            return [d for d in index.manifests if artifact_type is None or d.artifact_type == artifact_type]
        found = []
        with self._lock:
            for d, (data, media_type) in self.repo(repository).manifests.items():
                document = json.loads(data)
                if (document.get("subject") or {}).get("digest") == str(digest):
                    kind = document.get("artifactType") or (document.get("config") or {}).get("mediaType")
                    found.append(
                        Descriptor(
                            media_type=media_type,
                            digest=d,
                            size=len(data),
                            artifact_type=kind,
                            annotations=document.get("annotations") or {},
                        )
                    )
        return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]

    def close(self) -> None:
        """Nothing to close."""


# --- images to copy ------------------------------------------------------------------------------

MTIME = 1_700_000_000


def layer_tree(name: str, data: bytes) -> FileTree:
    """A layer holding one file ``/data/<name>`` with ``data``."""
    tree = FileTree()
    tree.add(Entry(path=f"data/{name}", type=EntryType.FILE, data=data))
    return tree


def make_image(
    layout: Path, tag: str | None, layers: Sequence[bytes], *, arch: str = "amd64", target: str | None = None
) -> ImageResult:
    """Write an image with one file per layer into ``oci:layout:tag`` (or ``target``); fast gzip."""
    trees = [layer_tree(f"f{i}", data) for i, data in enumerate(layers)]
    settings = ImageConfigInput(architecture=arch, cmd=["/bin/true"])
    where = target or (f"oci:{layout}:{tag}" if tag else f"oci:{layout}")
    return write_image(trees, settings, where, mtime=MTIME, compresslevel=1)


def make_index(layout: Path, tag: str, images: Sequence[tuple[ImageResult, str, str | None]]) -> bytes:
    """Tag an OCI index over ``images`` ((result, arch, variant), already in the layout)."""
    children = tuple(
        Descriptor(
            media_type=OCI_MANIFEST,
            digest=result.manifest_digest,
            size=len(result.manifest),
            platform=Platform(os="linux", architecture=arch, variant=variant),
        )
        for result, arch, variant in images
    )
    data = Index(manifests=children).to_json()
    with OciLayoutWriter(layout) as writer:
        writer.commit(data, media_type=OCI_INDEX, tag=tag)
    return data


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(size)
