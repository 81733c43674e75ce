"""The two jobs users run: ``lock`` (resolve a spec) and ``build`` (make the image).

::

    spec ─▶ repositories ─▶ verified indexes ─▶ resolver ─▶ lock
    lock ─▶ downloads (cache by sha256) ─▶ assemble tree ─▶ layers ─▶ OCI layout / docker-archive

The builder wires the stages together and owns the build cache (layer blobs by input digest, so a
no-change rebuild only writes a manifest). Stages report through a :class:`BuildReporter` whose
hooks do nothing by default; the CLI plugs progress bars into it.

What this module does not do: parse, verify, resolve, extract or serialize anything itself.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockwright import __version__
from dockwright.build.layers import LayerPlan, build_layers
from dockwright.build.lock import Lock, LockedPackage, LockedRepository, read_lock, write_lock
from dockwright.build.repositories import repository_configs
from dockwright.build.spec import Spec, load_spec
from dockwright.debian.index import PackageIndex, PackageRecord, parse_packages
from dockwright.debian.repository import RepositoryConfig, VerifiedIndex, fetch_index
from dockwright.debian.resolver import resolve
from dockwright.debian.sources import host_sources
from dockwright.errors import LockError
from dockwright.net.cache import BlobCache, default_cache_root
from dockwright.net.download import Downloader, DownloadItem, DownloadReporter
from dockwright.net.http import Fetcher, HttpxFetcher
from dockwright.oci.image_writer import ImageConfigInput, PrebuiltLayer, write_image
from dockwright.oci.reference import parse_reference

__all__ = ["BuildOptions", "BuildReporter", "BuildResult", "build_image", "lock_spec", "resolve_spec"]


class BuildReporter(DownloadReporter):
    """Progress hooks for a whole build; every hook does nothing by default."""

    def stage(self, text: str) -> None:
        """A build stage begins (``text`` is a short human description)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    """What ``dockwright build`` was asked to do."""

    spec_path: Path
    lock_path: Path
    output: str | None = None
    locked: bool = False
    cache_dir: Path | None = None
    source_date_epoch: int | None = None
    use_build_cache: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    """What a build produced."""

    manifest_digest: str
    output: str
    packages: int
    layers: tuple[str, ...]
    image_size: int
    build_cache_hit: bool
    lock_written: bool
    created: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "manifestDigest": self.manifest_digest,
            "output": self.output,
            "packages": self.packages,
            "layers": list(self.layers),
            "imageSize": self.image_size,
            "buildCacheHit": self.build_cache_hit,
            "lockWritten": self.lock_written,
            "created": self.created,
        }


def _fetch_all_indexes(
    configs: list[RepositoryConfig], fetcher: Fetcher, cache: BlobCache
) -> list[VerifiedIndex]:
    with ThreadPoolExecutor(max_workers=max(1, len(configs))) as pool:
        per_repo = list(pool.map(lambda c: fetch_index(c, fetcher, cache=cache), configs))
    return [index for found in per_repo for index in found]


def resolve_spec(
    spec: Spec, *, fetcher: Fetcher, cache: BlobCache, reporter: BuildReporter | None = None
) -> Lock:
    """Resolve ``spec`` against freshly verified indexes and return the lock (not written).

    Raises:
        SpecError, NetworkError, SignatureError, DigestMismatchError, ResolutionError.
    """
    report = reporter or BuildReporter()
    configs = repository_configs(spec, host_sources())
    report.stage("verifying " + ", ".join(f"{c.suite}" for c in configs))
    indexes = _fetch_all_indexes(configs, fetcher, cache)
    records: list[PackageRecord] = []
    for vi in indexes:
        records += parse_packages(vi.packages, base_url=vi.uri, suite=vi.suite)
    arch = spec.architectures[0]
    report.stage(f"resolving {' '.join(spec.packages)}")
    resolved = resolve(PackageIndex(records, architectures={arch, "all"}), spec.packages, architecture=arch)
    repositories: dict[tuple[str, str], LockedRepository] = {}
    for vi in indexes:
        repositories[(vi.uri, vi.suite)] = LockedRepository(
            uri=vi.uri,
            suite=vi.suite,
            components=next(c.components for c in configs if c.suite == vi.suite),
            inrelease_sha256="sha256:" + vi.inrelease_sha256,
            date=vi.release.date.strftime("%a, %d %b %Y %H:%M:%S UTC"),
            origin=vi.release.origin,
            codename=vi.release.codename,
            version=vi.release.fields.get("Version", ""),
        )
    timestamp = max(int(vi.release.date.timestamp()) for vi in indexes)
    return Lock(
        name=spec.name,
        architecture=arch,
        spec_sha256=spec.sha256,
        inputs=spec.resolution_inputs(),
        timestamp=timestamp,
        repositories=tuple(repositories.values()),
        packages=tuple(
            LockedPackage(
                name=r.name,
                version=r.version,
                architecture=r.architecture,
                source=r.source,
                source_version=r.source_version,
                filename=r.filename,
                size=r.size,
                sha256=r.sha256,
                suite=r.suite,
            )
            for r in resolved
        ),
    )


def _fetcher(fetcher: Fetcher | None) -> contextlib.AbstractContextManager[Fetcher]:
    """The given fetcher (left open), or a new pooled HTTP fetcher closed afterwards."""
    return contextlib.nullcontext(fetcher) if fetcher is not None else HttpxFetcher()


def _cache(cache_dir: Path | None) -> BlobCache:
    return BlobCache(cache_dir or default_cache_root())


def lock_spec(
    spec_path: Path,
    lock_path: Path,
    *,
    cache_dir: Path | None = None,
    reporter: BuildReporter | None = None,
    fetcher: Fetcher | None = None,
) -> Lock:
    """Resolve the spec at ``spec_path`` and write the lock to ``lock_path`` (atomically)."""
    spec = load_spec(spec_path)
    with _fetcher(fetcher) as f:
        lock = resolve_spec(spec, fetcher=f, cache=_cache(cache_dir), reporter=reporter)
    write_lock(lock, lock_path)
    return lock


def _download_items(lock: Lock) -> list[DownloadItem]:
    uris = {r.suite: r.uri for r in lock.repositories}
    items = []
    for p in lock.packages:
        if p.suite not in uris:
            raise LockError(f"package {p.name} comes from suite {p.suite!r}, which the lock does not list")
        items.append(
            DownloadItem(
                url=f"{uris[p.suite].rstrip('/')}/{p.filename}", sha256=p.sha256, size=p.size, name=p.name
            )
        )
    return items


def _current_lock(
    spec: Spec, options: BuildOptions, fetcher: Fetcher, cache: BlobCache, report: BuildReporter
) -> tuple[Lock, bool]:
    """Return the lock to build from and whether it was (re)written."""
    try:
        lock = read_lock(options.lock_path)
    except LockError:
        if options.locked:
            raise
        lock = None
    if lock is not None and lock.is_fresh_for(spec):
        return lock, False
    if options.locked:
        raise LockError(
            f"{options.lock_path} is stale: the spec's packages or sources changed since it was written",
            hint="run `dockwright lock` and commit the new lock, or build without --locked",
        )
    lock = resolve_spec(spec, fetcher=fetcher, cache=cache, reporter=report)
    write_lock(lock, options.lock_path)
    return lock, True


def build_image(
    options: BuildOptions, *, reporter: BuildReporter | None = None, fetcher: Fetcher | None = None
) -> BuildResult:
    """Build the image the spec describes, from its lock, into ``options.output``.

    Without ``options.locked`` a missing or stale lock is resolved again and written; with it, that
    is an error. The layers come from the build cache when nothing they depend on changed.

    Raises:
        DockwrightError: any subclass; nothing is written to the output unless the build succeeds.
    """
    report = reporter or BuildReporter()
    spec = load_spec(options.spec_path)
    target = parse_reference(options.output or f"oci:out/{spec.name}:latest")
    cache = _cache(options.cache_dir)
    with _fetcher(fetcher) as f:
        lock, lock_written = _current_lock(spec, options, f, cache, report)
        epoch = options.source_date_epoch if options.source_date_epoch is not None else lock.timestamp
        plan = LayerPlan(spec=spec, lock=lock, base_dir=options.spec_path.parent, mtime=epoch)
        downloader = Downloader(f, cache)
        layers, hit = build_layers(
            plan,
            cache=cache,
            use_cache=options.use_build_cache,
            stage=report.stage,
            fetch=lambda: downloader.fetch_all(_download_items(lock), report),
        )
    report.stage(f"writing {target}")
    config = _config(spec, plan, layers)
    result = write_image(layers, config, target, mtime=epoch)
    return BuildResult(
        manifest_digest=str(result.manifest_digest),
        output=str(target),
        packages=len(lock.packages),
        layers=tuple(str(layer.info.digest) for layer in layers),
        image_size=sum(layer.info.size for layer in layers) + len(result.config) + len(result.manifest),
        build_cache_hit=hit,
        lock_written=lock_written,
        created=epoch,
    )


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _config(spec: Spec, plan: LayerPlan, layers: list[PrebuiltLayer]) -> ImageConfigInput:
    env = dict(spec.env)
    if "PATH" not in env:  # what docker and distroless set; the spec may override it
        env = {"PATH": DEFAULT_PATH, **env}
    return ImageConfigInput(
        architecture=spec.architectures[0],
        entrypoint=spec.entrypoint or None,
        cmd=spec.cmd or None,
        env=env,
        workdir=spec.workdir,
        user=plan.accounts().user_spec(),
        ports=spec.ports,
        labels=dict(spec.labels),
        annotations=dict(spec.annotations),
        created=plan.mtime,
        history=tuple(f"dockwright {__version__}: {layer.comment}" for layer in layers),
    )
