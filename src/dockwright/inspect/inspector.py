"""The inspect jobs users run, as library functions: analyze, SBOM, diff, gate.

Each reads the image once (streaming, see :mod:`dockwright.inspect.reader`), catalogs its packages
and hands the results to the pure reports. The CLI only calls these and prints.

The reports are imported when first used, so that a command loads only what it runs (``sbom
--format spdx-json`` loads no CycloneDX library, diff, gate or waste code).

A ``docker://`` image is pulled (every byte verified) into a temporary layout and read from there.

This module does not print, and does not know about flags beyond their values.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockwright.errors import GateError, InputError
from dockwright.inspect.catalog import WANTED, catalog_image
from dockwright.inspect.model import ImageContents, Package, Warning_
from dockwright.inspect.reader import LayerCache, read_image

if TYPE_CHECKING:
    from dockwright.inspect.diff import ImageDiff
    from dockwright.inspect.waste import WasteReport
    from dockwright.registry.endpoints import RegistryOptions

__all__ = [
    "SBOM_FORMATS",
    "Analysis",
    "analyze",
    "check_gate",
    "diff",
    "enforce_gate",
    "layer_cache_dir",
    "prepare_sbom",
    "sbom",
]

SBOM_FORMATS = ("spdx-json", "cyclonedx-json")
_SBOM_WRITERS = {
    "spdx-json": "dockwright.inspect.sbom.spdx",
    "cyclonedx-json": "dockwright.inspect.sbom.cyclonedx",
}


@dataclass(frozen=True, slots=True)
class Analysis:
    """One image, read and cataloged."""

    contents: ImageContents
    packages: list[Package]
    warnings: tuple[Warning_, ...] = ()

    def waste(self, *, top: int = 10) -> WasteReport:
        """The waste report of this image."""
        from dockwright.inspect.waste import waste_report

        return waste_report(self.contents, self.packages, top=top)


def layer_cache_dir(cache_root: Path | None = None) -> Path:
    """Where parsed layers are kept: ``layers-index`` in ``cache_root`` or the default cache root."""
    if cache_root is None:
        from dockwright.net.cache import default_cache_root

        cache_root = default_cache_root()
    return cache_root / "layers-index"


def analyze(
    ref: str,
    *,
    platform: str | None = None,
    hash_files: bool = True,
    cache_dir: Path | None = None,
    registry: RegistryOptions | None = None,
    prepare: Callable[[], object] | None = None,
) -> Analysis:
    """Read ``ref`` (``oci:``, ``docker-archive:``, ``dir:`` or ``docker://``) and catalog it.

    Args:
        ref: the image reference.
        platform: ``OS/ARCH[/VARIANT]`` for a multi-platform image.
        hash_files: compute each regular file's sha256 (``diff`` compares them; the SBOM and the
            waste report do not need them).
        cache_dir: keep and reuse layers' parsed forms here (see :func:`layer_cache_dir`); None
            reads every layer from its blob.
        registry: how to reach a ``docker://`` image's registry (TLS, credentials).
        prepare: what the caller does next, to get ready while the layers are read (such as
            :func:`prepare_sbom`; ``read_image``'s ``meanwhile``).
    """
    cache = LayerCache(cache_dir) if cache_dir is not None else None
    if ref.startswith("docker://"):
        contents = _read_remote(ref, platform, hash_files, cache, registry, prepare)
    else:
        contents = read_image(
            ref, platform=platform, wanted=WANTED, hash_files=hash_files, cache=cache, meanwhile=prepare
        )
    found: list[Warning_] = []
    packages = catalog_image(contents, warnings=found)
    return Analysis(contents=contents, packages=packages, warnings=(*contents.warnings, *found))


def _read_remote(
    ref: str,
    platform: str | None,
    hash_files: bool,
    cache: LayerCache | None,
    registry: RegistryOptions | None,
    prepare: Callable[[], object] | None,
) -> ImageContents:
    """Pull ``ref`` (every byte verified) into a temporary layout, read it, and forget the copy.

    The result names ``ref`` and keeps the registry's manifest digest (copying never changes it).
    """
    import tempfile

    from dockwright.registry.endpoints import Connections, copy
    from dockwright.registry.transfer import TransferOptions

    with tempfile.TemporaryDirectory(prefix="dockwright-inspect-") as tmp:
        local = f"oci:{tmp}/image:pulled"
        with Connections(registry) as connect:
            copy(
                ref, local, connect=connect, options=TransferOptions(platform=platform, with_referrers=False)
            )
        contents = read_image(
            local, platform=platform, wanted=WANTED, hash_files=hash_files, cache=cache, meanwhile=prepare
        )
    return dataclasses.replace(contents, reference=ref)


def prepare_sbom(fmt: str) -> None:
    """Load what writing an ``fmt`` SBOM takes (its writer, the SPDX license tables) ahead of
    :func:`sbom`; pass it to :func:`analyze` as ``prepare``. An unknown format loads nothing."""
    writer = _SBOM_WRITERS.get(fmt)
    if writer is None:
        return
    importlib.import_module(writer)
    from dockwright.inspect.sbom.licenses import load_tables

    load_tables()


def sbom(analysis: Analysis, fmt: str, *, created: str | None = None) -> bytes:
    """The SBOM of an analyzed image in ``fmt`` (one of :data:`SBOM_FORMATS`).

    Raises:
        InputError: an unknown format.
    """
    if fmt == "spdx-json":
        from dockwright.inspect.sbom.spdx import spdx_document, to_json

        return to_json(spdx_document(analysis.contents, analysis.packages, created=created))
    if fmt == "cyclonedx-json":
        from dockwright.inspect.sbom.cyclonedx import cyclonedx_document

        return cyclonedx_document(analysis.contents, analysis.packages, created=created).encode()
    raise InputError(f"unknown SBOM format {fmt!r}", hint="use spdx-json or cyclonedx-json")


def diff(a: Analysis, b: Analysis) -> ImageDiff:
    """The semantic difference from image ``a`` to image ``b`` (read them with ``hash_files``)."""
    from dockwright.inspect.diff import diff_images

    return diff_images((a.contents, a.packages), (b.contents, b.packages))


def check_gate(report: WasteReport, fail_on: str) -> list[str]:
    """Evaluate a ``--fail-on`` expression; return the violated reasons (empty when it passes).

    Raises:
        InputError: the expression is malformed.
    """
    from dockwright.inspect.gate import check_fail_on

    return check_fail_on(fail_on, report)


def enforce_gate(report: WasteReport, fail_on: str) -> None:
    """Raise :class:`GateError` listing every violated rule of ``fail_on``."""
    reasons = check_gate(report, fail_on)
    if reasons:
        raise GateError("the image fails --fail-on: " + "; ".join(reasons), reasons=tuple(reasons))
