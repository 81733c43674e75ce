"""The CycloneDX 1.6 document of an image built with cyclonedx-python-lib: the tests' reference.

:mod:`dockwright.inspect.sbom.cyclonedx` writes the JSON by hand; the tests check that it gives
exactly what this builder (the library's own model and ``JsonV1Dot6`` serializer) gives.

The image is ``metadata.component``: type ``container``, ``bom-ref`` the manifest digest, the
manifest's hash and its ``oci`` PURL. Every cataloged package is a component (``application`` when
it owns a program in a ``bin``/``sbin`` directory, else ``library``) with its PURL exactly as the
cataloger wrote it, its licenses, and properties: ``dockwright:layer`` (digest of the layer that
added it), ``dockwright:layer_changed`` (when a later layer changed its record),
``dockwright:location`` and ``dockwright:dev``. The image depends on every package.

Licenses follow :mod:`~dockwright.inspect.sbom.licenses`, so they agree with the SPDX writer: one
SPDX expression (several licenses joined with ``AND``) when every string is SPDX and at least one
is a compound expression; otherwise one license entry per string, by SPDX ``id`` or by ``name``
(CycloneDX cannot mix an expression with named licenses in one list).

Given ``created`` and ``serial`` the output is byte-for-byte reproducible.

What this module does not do: validate the output (the tests use the library's strict JSON
validator), write XML or other spec versions, or record dependencies between packages.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from dockwright.errors import InputError
from dockwright.inspect.model import ImageContents, Package
from dockwright.inspect.sbom._common import (
    DEFAULT_TOOL,
    ImageSubject,
    image_subject,
    layer_digests,
    package_keys,
    package_purpose,
    parse_purl,
    sorted_packages,
    timestamp,
)
from dockwright.inspect.sbom.licenses import LicenseKind, classify_licenses, join_expressions

__all__ = ["library_cyclonedx_document"]

_HASH_ALGORITHMS = {"sha256": HashAlgorithm.SHA_256, "sha512": HashAlgorithm.SHA_512}
_COMPONENT_TYPES = {"application": ComponentType.APPLICATION, "library": ComponentType.LIBRARY}


class _VerbatimPurl(PackageURL):
    """A parsed PURL that serializes as the exact text it came from.

    packageurl-python re-normalizes on output (``:`` left unescaped, PyPI names lowercased,
    qualifiers re-ordered); an SBOM must repeat the cataloger's PURL, and the image PURL's
    ``sha256%3A`` spelling, unchanged.
    """

    _text: str

    @classmethod
    def of(cls, text: str) -> _VerbatimPurl | None:
        """Wrap ``text``, or return ``None`` when it is not a PURL."""
        parsed = parse_purl(text)
        if parsed is None:
            return None
        fields = parsed._asdict()
        purl = cls(**fields, normalize_purl=False)
        purl._text = text
        return purl

    def to_string(self, encode: bool | None = True) -> str:
        """The original text."""
        return self._text


def library_cyclonedx_document(
    contents: ImageContents,
    packages: Sequence[Package],
    *,
    tool: str = DEFAULT_TOOL,
    created: str | None = None,
    serial: str | None = None,
) -> str:
    """Build the CycloneDX 1.6 JSON document of an image and its packages.

    Args:
        contents: the image as read (reference, manifest digest, layers, config).
        packages: what the catalogers found, in any order.
        tool: the creator tool as ``name-version`` (``dockwright-0.1.0``).
        created: creation time ``YYYY-MM-DDThh:mm:ssZ``; now (UTC) when ``None``.
        serial: the BOM serial number, a UUID with or without ``urn:uuid:``; random when ``None``.

    Returns:
        The document as JSON text (2-space indent).

    Raises:
        InputError: ``created`` or ``serial`` is malformed.
    """
    when = dt.datetime.strptime(timestamp(created), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    image = _image_component(image_subject(contents))
    metadata = BomMetaData(
        timestamp=when, component=image, tools=ToolRepository(components=[_tool_component(tool)])
    )
    digests = layer_digests(contents)
    ordered = sorted_packages(packages)
    components = [
        _package_component(package, key, digests)
        for package, key in zip(ordered, package_keys(ordered), strict=True)
    ]
    # Built here rather than with Bom.register_dependency, which scans the graph once per call.
    dependencies = [
        Dependency(ref=image.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in components])
    ]
    dependencies += [Dependency(ref=c.bom_ref) for c in components]
    bom = Bom(
        serial_number=_serial(serial), metadata=metadata, components=components, dependencies=dependencies
    )
    return str(JsonV1Dot6(bom).output_as_string(indent=2)) + "\n"


def _serial(serial: str | None) -> uuid.UUID:
    if serial is None:
        return uuid.uuid4()
    try:
        return uuid.UUID(serial.removeprefix("urn:uuid:"))
    except ValueError:
        raise InputError(f"malformed BOM serial number {serial!r}: expected a UUID") from None


def _tool_component(tool: str) -> Component:
    name, sep, version = tool.rpartition("-")
    if sep and name and version[:1].isdigit():
        return Component(type=ComponentType.APPLICATION, name=name, version=version)
    return Component(type=ComponentType.APPLICATION, name=tool)


def _image_component(subject: ImageSubject) -> Component:
    algorithm = _HASH_ALGORITHMS.get(subject.algorithm)
    hashes = [HashType(alg=algorithm, content=subject.hex)] if algorithm and subject.hex else []
    return Component(
        type=ComponentType.CONTAINER,
        name=subject.reference,
        version=subject.digest,
        bom_ref=subject.digest,
        hashes=hashes,
        purl=_VerbatimPurl.of(subject.purl),
    )


def _package_component(package: Package, key: str, digests: dict[int, str]) -> Component:
    return Component(
        type=_COMPONENT_TYPES[package_purpose(package)],
        name=package.name,
        version=package.version or None,
        bom_ref=key,
        purl=_VerbatimPurl.of(package.purl),
        licenses=_licenses(package.licenses),
        properties=_properties(package, digests),
    )


def _properties(package: Package, digests: dict[int, str]) -> list[Property]:
    def layer(index: int) -> str:
        return digests.get(index) or f"layer {index}"

    properties = [Property(name="dockwright:layer", value=layer(package.layer_added))]
    if package.layer_changed != package.layer_added:
        properties.append(Property(name="dockwright:layer_changed", value=layer(package.layer_changed)))
    if package.location:
        properties.append(Property(name="dockwright:location", value=package.location))
    if package.dev:
        properties.append(Property(name="dockwright:dev", value="true"))
    return properties


def _licenses(texts: Iterable[str]) -> list[License]:
    choices = classify_licenses(texts)
    kinds = {choice.kind for choice in choices}
    if LicenseKind.EXPRESSION in kinds and LicenseKind.NAME not in kinds:
        return [LicenseExpression(join_expressions([choice.value for choice in choices]))]
    return [
        DisjunctiveLicense(id=choice.value)
        if choice.kind is LicenseKind.ID
        else DisjunctiveLicense(name=choice.value)
        for choice in choices
    ]
