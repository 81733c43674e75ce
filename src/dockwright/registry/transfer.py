"""The copy engine: move an image (and its referrers) from one store to another, verified.

:func:`copy_image` works on two small interfaces, :class:`SourceStore` and :class:`TargetStore`,
implemented by OCI layouts and docker-archives (:mod:`dockwright.registry.store`) and by registry
repositories (:mod:`dockwright.registry.remote`). It runs in four steps:

1. **plan**: read the source's manifest or index (exact bytes: they are never re-serialized, so
   digests survive). An index is narrowed to one platform (``--platform``, default the host's), or
   kept whole with ``all_platforms`` (the index, every child manifest, every blob). With
   ``with_referrers``, the referrers of every manifest copied are listed and loaded too, and theirs
   in turn, ``referrers_depth`` levels deep.
2. **blobs**: every distinct config and layer blob, largest first, on ``jobs`` threads (and
   blobs under 1 MiB on one more, from the start). A blob the target holds costs one ``HEAD``
   and no bytes; on a registry it is mounted from another
   repository when one is known; otherwise it is copied and verified: by the client as it
   arrives on a pull or a local copy, by the registry against the digest on a push.
3. **manifests**: an index's children, then the referrers (each registered with the target, which
   keeps the ``sha256-<hex>`` tag index on registries without the referrers API).
4. **commit**: the top manifest under the target's tag: the last write, so the tag never names an
   incomplete image. Local targets publish atomically here; a failure before leaves them as they
   were.

Progress goes to a :class:`TransferReporter` whose hooks do nothing by default; the CLI plugs rich
progress bars into it. The result is a :class:`TransferSummary`.

What this module does not do: parse references or open stores (see
:mod:`dockwright.registry.endpoints`), talk HTTP, convert between manifest formats, recompress
layers, or copy foreign (non-distributable) layers.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from dockwright.errors import InputError
from dockwright.oci.descriptor import DOCKER_MANIFEST, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index, Manifest
from dockwright.oci.platform import PlatformSpec, host_platform, parse_platform
from dockwright.registry.content import MANIFEST_TYPES, ManifestBytes
from dockwright.registry.store import SourceStore, TargetStore

__all__ = [
    "SourceStore",
    "TargetStore",
    "TransferOptions",
    "TransferReporter",
    "TransferSummary",
    "copy_image",
    "host_platform",
]

_MAX_INDEX_DEPTH = 4
_SMALL = 1 << 20  # bytes: a blob this small costs round trips, not throughput
_ATTESTATION = "vnd.docker.reference.type"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferOptions:
    """What to copy and how hard to push.

    Attributes:
        platform: ``OS/ARCH[/VARIANT]`` to take from an index; None means :func:`host_platform`.
        all_platforms: copy an index whole (index bytes unchanged) instead of one platform.
        with_referrers: copy the referrers of every manifest copied (signatures, SBOMs).
        referrers_depth: how many levels of referrers of referrers to follow.
        jobs: blobs copied at once.
    """

    platform: str | None = None
    all_platforms: bool = False
    with_referrers: bool = True
    referrers_depth: int = 4
    jobs: int = 4

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise InputError(f"--jobs must be at least 1, not {self.jobs}")
        if self.referrers_depth < 0:
            raise InputError("the referrers depth must not be negative")


class TransferReporter:
    """Progress hooks; each does nothing. Called from worker threads: overrides must be thread-safe."""

    def blob_start(self, descriptor: Descriptor) -> None:
        """A blob starts copying."""

    def blob_progress(self, descriptor: Descriptor, done: int) -> None:
        """``done`` bytes of the blob are copied (it may go back when a transfer restarts)."""

    def blob_done(self, descriptor: Descriptor) -> None:
        """A blob was copied and verified."""

    def blob_skipped(self, descriptor: Descriptor) -> None:
        """The target already held a blob."""

    def blob_mounted(self, descriptor: Descriptor, from_repository: str) -> None:
        """A blob was mounted from another repository of the target registry."""

    def manifest_done(self, manifest: ManifestBytes) -> None:
        """A manifest (child, referrer or the top one) was stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferSummary:
    """What a copy did. ``digest`` is the top manifest's (the one the target's tag names)."""

    blobs_sent: int
    bytes_sent: int
    blobs_skipped: int
    bytes_skipped: int
    blobs_mounted: int
    manifests: int
    digest: str
    referrers: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready camelCase keys."""
        return {
            "blobsSent": self.blobs_sent,
            "bytesSent": self.bytes_sent,
            "blobsSkipped": self.blobs_skipped,
            "bytesSkipped": self.bytes_skipped,
            "blobsMounted": self.blobs_mounted,
            "manifests": self.manifests,
            "referrers": self.referrers,
            "digest": self.digest,
        }


@dataclass(frozen=True, slots=True)
class _Node:
    """A manifest to copy, with its blobs (an image) or its children (an index)."""

    manifest: ManifestBytes
    blobs: tuple[Descriptor, ...] = ()
    children: tuple[_Node, ...] = ()
    subject: Digest | None = None

    def walk(self) -> list[_Node]:
        """This node and every descendant, children before their index."""
        out: list[_Node] = []
        for child in self.children:
            out += child.walk()
        return [*out, self]


@dataclass
class _Counts:
    sent: int = 0
    sent_bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    mounted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def copy_image(
    source: SourceStore,
    target: TargetStore,
    options: TransferOptions | None = None,
    reporter: TransferReporter | None = None,
) -> TransferSummary:
    """Copy the image ``source`` names to ``target`` (see the module docstring for the steps).

    Args:
        source: an opened source; it is not closed here.
        target: a target not yet entered; it is entered and left here.
        options: platform, referrers and parallelism.
        reporter: progress hooks.

    Returns:
        What was copied.

    Raises:
        InputError: no image for the platform, an index for a target that holds one image, or an
            unknown manifest type.
        VerificationError: a blob or manifest did not match its digest; nothing is committed.
        NetworkError: a registry failed after retries.
    """
    options = options or TransferOptions()
    reporter = reporter or TransferReporter()
    top = source.resolve()
    if top.is_index and not options.all_platforms:
        top = _select_platform(source, top, parse_platform(options.platform or host_platform()))
    elif top.is_index and not target.supports_index:
        raise InputError(
            f"{target.description} holds one image and {source.description} is an index",
            hint="pass --platform OS/ARCH instead of --all",
        )
    root = _load(source, top, 0)
    referrers: list[_Node] = []
    if options.with_referrers and target.supports_referrers:
        referrers = _referrers(source, root.walk(), options.referrers_depth)
    blobs = {d.digest: d for node in [root, *referrers] for n in node.walk() for d in n.blobs}
    with target:
        counts = _copy_blobs(list(blobs.values()), source, target, options.jobs, reporter)
        manifests = _store_manifests(root, referrers, target, reporter)
        target.commit(top)
        reporter.manifest_done(top)
    return TransferSummary(
        blobs_sent=counts.sent,
        bytes_sent=counts.sent_bytes,
        blobs_skipped=counts.skipped,
        bytes_skipped=counts.skipped_bytes,
        blobs_mounted=counts.mounted,
        manifests=manifests + 1,
        digest=str(top.digest),
        referrers=len(referrers),
    )


def _store_manifests(
    root: _Node, referrers: list[_Node], target: TargetStore, reporter: TransferReporter
) -> int:
    """Store an index's children, then each referrer (children first); return how many."""
    stored = 0
    for node in root.walk()[:-1]:
        target.put_manifest(node.manifest)
        reporter.manifest_done(node.manifest)
        stored += 1
    for referrer in referrers:
        for node in referrer.walk()[:-1]:
            target.put_manifest(node.manifest)
            stored += 1
        assert referrer.subject is not None  # set by _referrers
        target.add_referrer(referrer.subject, referrer.manifest)
        reporter.manifest_done(referrer.manifest)
        stored += 1
    return stored


def _select_platform(source: SourceStore, top: ManifestBytes, wanted: PlatformSpec) -> ManifestBytes:
    """Follow ``top`` (an index) down to the first image for ``wanted``."""
    current = top
    for _ in range(_MAX_INDEX_DEPTH):
        if not current.is_index:
            return current
        index = _index(current)
        offered = [d for d in index.manifests if d.annotations.get(_ATTESTATION) != "attestation-manifest"]
        for d in offered:
            p = d.platform
            if p is not None and wanted.matches(PlatformSpec.of(p.os, p.architecture, p.variant)):
                current = source.manifest(d)
                break
        else:
            listed = sorted({_platform_text(d) for d in offered})
            raise InputError(
                f"{source.description} has no image for {wanted}; it has: {', '.join(listed) or 'none'}",
                hint="pass --platform with one of those, or --all to copy every platform",
            )
    raise InputError(f"image indexes in {source.description} nest deeper than {_MAX_INDEX_DEPTH}")


def _platform_text(descriptor: Descriptor) -> str:
    p = descriptor.platform
    if p is None:
        return "(no platform)"
    return str(PlatformSpec.of(p.os, p.architecture, p.variant))


def _index(manifest: ManifestBytes) -> Index:
    try:
        return Index.from_json(manifest.data)
    except InputError as exc:
        raise InputError(f"malformed image index {manifest.digest}: {exc.message}") from None


def _load(source: SourceStore, manifest: ManifestBytes, depth: int, subject: Digest | None = None) -> _Node:
    """The copy plan below ``manifest``: its blobs, or its children's (recursively)."""
    if manifest.is_index:
        if depth >= _MAX_INDEX_DEPTH:
            raise InputError(f"image indexes in {source.description} nest deeper than {_MAX_INDEX_DEPTH}")
        children = tuple(_load(source, source.manifest(d), depth + 1) for d in _index(manifest).manifests)
        return _Node(manifest, children=children, subject=subject)
    if manifest.media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise InputError(
            f"{source.description}: manifest {manifest.digest} has media type {manifest.media_type!r}, "
            "which dockwright cannot copy"
        )
    try:
        parsed = Manifest.from_json(manifest.data)
    except InputError as exc:
        raise InputError(f"malformed manifest {manifest.digest}: {exc.message}") from None
    blobs = tuple(d for d in (parsed.config, *parsed.layers) if not _foreign(d))
    return _Node(manifest, blobs=blobs, subject=subject)


def _foreign(descriptor: Descriptor) -> bool:
    """Non-distributable layers (Windows base layers) stay where their ``urls`` point."""
    kind = descriptor.media_type
    return bool(descriptor.urls) and ("foreign" in kind or "nondistributable" in kind)


def _referrers(source: SourceStore, nodes: list[_Node], depth: int) -> list[_Node]:
    """Referrers of ``nodes``' manifests, breadth first, ``depth`` levels deep, each once."""
    seen = {n.manifest.digest for n in nodes}
    frontier = [n.manifest.digest for n in nodes]
    found: list[_Node] = []
    for _ in range(depth):
        following: list[Digest] = []
        for subject in frontier:
            for descriptor in source.referrers(subject):
                if descriptor.digest in seen or descriptor.media_type not in MANIFEST_TYPES:
                    continue  # an old artifact-manifest type cannot be stored anywhere we write
                seen.add(descriptor.digest)
                node = _load(source, source.manifest(descriptor), 0, subject)
                found.append(node)
                following += [n.manifest.digest for n in node.walk()]
        frontier = following
    return found


def _copy_blobs(
    blobs: list[Descriptor], source: SourceStore, target: TargetStore, jobs: int, reporter: TransferReporter
) -> _Counts:
    """Copy ``blobs`` on ``jobs`` threads; the first failure cancels what has not started.

    Blobs of :data:`_SMALL` bytes or more go largest first, so the copy never waits at the end for
    a large blob started last. Smaller ones (a config, mostly) go on one more thread from the
    start when there are large ones: they cost round trips, not throughput, and sent last they
    would make the copy end on round trips to a registry still busy with the large ones.
    """
    counts = _Counts()

    def one(descriptor: Descriptor) -> None:
        if target.has_blob(descriptor):
            reporter.blob_skipped(descriptor)
            with counts.lock:
                counts.skipped += 1
                counts.skipped_bytes += descriptor.size
            return
        mounted = target.mount_blob(descriptor)
        if mounted is not None:
            reporter.blob_mounted(descriptor, mounted)
            with counts.lock:
                counts.mounted += 1
            return
        reporter.blob_start(descriptor)
        target.put_blob(descriptor, source, lambda done: reporter.blob_progress(descriptor, done))
        reporter.blob_done(descriptor)
        with counts.lock:
            counts.sent += 1
            counts.sent_bytes += descriptor.size

    ordered = sorted(blobs, key=lambda d: (-d.size, str(d.digest)))
    with (
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="dockwright-blob") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="dockwright-small-blob") as side,
    ):
        small = [d for d in reversed(ordered) if d.size < _SMALL]
        large = ordered[: len(ordered) - len(small)]
        futures: list[Future[None]] = [(side if large else pool).submit(one, d) for d in small]
        futures += [pool.submit(one, d) for d in large]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
    for future in done:  # finished, never cancelled
        if (error := future.exception()) is not None:
            raise error
    return counts
