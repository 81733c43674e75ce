"""The inspect jobs users run, as library functions: analyze, SBOM, diff, gate.

Each reads the image once (streaming, see :mod:`dockwright.inspect.reader`), catalogs its packages
and hands the results to the pure reports. The CLI only calls these and prints.

This module does not print, and does not know about flags beyond their values.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockwright.errors import GateError, InputError
from dockwright.inspect.catalog import WANTED, catalog_image
from dockwright.inspect.diff import ImageDiff, diff_images
from dockwright.inspect.gate import check_fail_on
from dockwright.inspect.model import ImageContents, Package, Warning_
from dockwright.inspect.reader import read_image
from dockwright.inspect.sbom import cyclonedx_document, spdx_document, to_json
from dockwright.inspect.waste import WasteReport, waste_report

__all__ = ["SBOM_FORMATS", "Analysis", "analyze", "check_gate", "diff", "enforce_gate", "sbom"]

SBOM_FORMATS = ("spdx-json", "cyclonedx-json")


@dataclass(frozen=True, slots=True)
class Analysis:
    """One image, read and cataloged."""

    contents: ImageContents
    packages: list[Package]
    warnings: tuple[Warning_, ...] = ()

    def waste(self, *, top: int = 10) -> WasteReport:
        """The waste report of this image."""
        return waste_report(self.contents, self.packages, top=top)


def analyze(ref: str, *, platform: str | None = None) -> Analysis:
    """Read ``ref`` (``oci:``, ``docker-archive:`` or ``dir:``) and catalog its packages."""
    contents = read_image(ref, platform=platform, wanted=WANTED)
    found: list[Warning_] = []
    packages = catalog_image(contents, warnings=found)
    return Analysis(contents=contents, packages=packages, warnings=(*contents.warnings, *found))


def sbom(analysis: Analysis, fmt: str, *, created: str | None = None) -> bytes:
    """The SBOM of an analyzed image in ``fmt`` (one of :data:`SBOM_FORMATS`).

    Raises:
        InputError: an unknown format.
    """
    if fmt == "spdx-json":
        return to_json(spdx_document(analysis.contents, analysis.packages, created=created))
    if fmt == "cyclonedx-json":
        return cyclonedx_document(analysis.contents, analysis.packages, created=created).encode()
    raise InputError(f"unknown SBOM format {fmt!r}", hint="use spdx-json or cyclonedx-json")


def diff(a: Analysis, b: Analysis) -> ImageDiff:
    """The semantic difference from image ``a`` to image ``b``."""
    return diff_images((a.contents, a.packages), (b.contents, b.packages))


def check_gate(report: WasteReport, fail_on: str) -> list[str]:
    """Evaluate a ``--fail-on`` expression; return the violated reasons (empty when it passes).

    Raises:
        InputError: the expression is malformed.
    """
    return check_fail_on(fail_on, report)


def enforce_gate(report: WasteReport, fail_on: str) -> None:
    """Raise :class:`GateError` listing every violated rule of ``fail_on``."""
    reasons = check_gate(report, fail_on)
    if reasons:
        raise GateError("the image fails --fail-on: " + "; ".join(reasons), reasons=tuple(reasons))
