"""Compare the package set of a signed SBOM with the one recomputed from an image's real layers.

Both sides are read the same way from an SPDX or CycloneDX JSON document (the signed one is the
statement's predicate; the recomputed one is what :func:`dockwright.inspect.inspector.sbom` writes
for the analysis of the layers), so writer details cancel out. A package is ``(name, version,
purl)``; the sets are compared as multisets, so a package listed twice on one side only counts.

:func:`compare_packages` returns a :class:`PackageDiff`: packages only in the image (``added``),
only in the SBOM (``removed``), and ``(signed, actual)`` pairs of the same name and purl type whose
version changed. An empty diff means the layers still hold exactly what was signed.

What this module does not do: read images, verify signatures, or judge licenses, files or layer
attribution (the SBOM annotations that say which layer added a package are not compared: a rebuilt
image may move a package to another layer without changing what is installed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockwright.errors import InputError
from dockwright.trust.statement import CYCLONEDX_PREDICATE, SPDX_PREDICATE

__all__ = ["PackageDiff", "PackageKey", "compare_packages", "document_packages"]

PackageKey = tuple[str, str, str]
"""``(name, version, purl)`` of one package."""
_SHOWN = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageDiff:
    """How the image's real packages differ from the signed SBOM's."""

    added: tuple[PackageKey, ...] = ()
    removed: tuple[PackageKey, ...] = ()
    changed: tuple[tuple[PackageKey, PackageKey], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self, limit: int = _SHOWN) -> list[str]:
        """Human lines: ``~ name signed-version -> actual-version``, ``+ name version`` (only in the
        image), ``- name version`` (only in the SBOM); at most ``limit``, then a count of the rest."""
        out = [
            f"~ {old[0]} {old[1] or '(no version)'} -> {new[1] or '(no version)'}"
            for old, new in self.changed
        ]
        out += [
            f"+ {name} {version or '(no version)'} (in the layers, not in the signed SBOM)"
            for name, version, _ in self.added
        ]
        out += [
            f"- {name} {version or '(no version)'} (in the signed SBOM, not in the layers)"
            for name, version, _ in self.removed
        ]
        if len(out) > limit:
            return [*out[:limit], f"... and {len(out) - limit} more"]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json``)."""

        def package(key: PackageKey) -> dict[str, str]:
            return {"name": key[0], "version": key[1], "purl": key[2]}

        return {
            "added": [package(k) for k in self.added],
            "removed": [package(k) for k in self.removed],
            "changed": [{"signed": package(a), "actual": package(b)} for a, b in self.changed],
        }


def compare_packages(signed: list[PackageKey], actual: list[PackageKey]) -> PackageDiff:
    """Compare the signed SBOM's packages with the image's real ones (see the module docstring)."""
    only_signed = Counter(signed) - Counter(actual)
    only_actual = Counter(actual) - Counter(signed)
    removed = sorted(only_signed.elements())
    added = sorted(only_actual.elements())
    changed: list[tuple[PackageKey, PackageKey]] = []
    for old in list(removed):
        match = next((new for new in added if _same_package(old, new)), None)
        if match is not None:
            changed.append((old, match))
            removed.remove(old)
            added.remove(match)
    return PackageDiff(added=tuple(added), removed=tuple(removed), changed=tuple(changed))


def _same_package(a: PackageKey, b: PackageKey) -> bool:
    """Same name and PURL type (``pkg:deb/debian/bash@...`` vs ``pkg:deb/debian/bash@...``)."""
    return a[0] == b[0] and a[2].split("@")[0] == b[2].split("@")[0]


def document_packages(document: Mapping[str, Any], predicate_type: str) -> list[PackageKey]:
    """The packages of an SPDX or CycloneDX JSON document as ``(name, version, purl)``.

    SPDX: every package but the ones ``documentDescribes`` names (the image); the purl is the
    ``purl`` external reference. CycloneDX: every component (``metadata.component``, the image, is
    not among them).

    Raises:
        InputError: unknown predicate type, or a malformed package list.
    """
    if predicate_type == SPDX_PREDICATE:
        return _spdx_packages(document)
    if predicate_type == CYCLONEDX_PREDICATE:
        return _cyclonedx_packages(document)
    raise InputError(f"{predicate_type!r} is not an SBOM predicate type")


def _spdx_packages(document: Mapping[str, Any]) -> list[PackageKey]:
    packages = document.get("packages", [])
    described = document.get("documentDescribes", [])
    if not isinstance(packages, list) or not isinstance(described, list):
        raise InputError("the SPDX document's packages and documentDescribes must be lists")
    out = []
    for package in packages:
        if not isinstance(package, dict):
            raise InputError("an SPDX package must be an object")
        if package.get("SPDXID") in described:
            continue
        refs = package.get("externalRefs", [])
        purls = [
            ref.get("referenceLocator")
            for ref in (refs if isinstance(refs, list) else [])
            if isinstance(ref, dict) and ref.get("referenceType") == "purl"
        ]
        out.append(_key(package.get("name"), package.get("versionInfo"), purls[0] if purls else ""))
    return out


def _cyclonedx_packages(document: Mapping[str, Any]) -> list[PackageKey]:
    components = document.get("components", [])
    if not isinstance(components, list):
        raise InputError("the CycloneDX document's components must be a list")
    out = []
    for component in components:
        if not isinstance(component, dict):
            raise InputError("a CycloneDX component must be an object")
        out.append(_key(component.get("name"), component.get("version"), component.get("purl")))
    return out


def _key(name: object, version: object, purl: object) -> PackageKey:
    return _text(name), _text(version), _text(purl)


def _text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"an SBOM package field holds {type(value).__name__}, not a string")
    return value
