"""Write a CycloneDX 1.6 JSON document whose subject is an image.

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

The JSON is written directly (as the SPDX writer writes its own), in the layout
cyclonedx-python-lib's ``JsonV1Dot6`` gives the same BOM: keys in its order, components sorted
by type, name, version (a missing version last) and ``bom-ref``, licenses (ids, then names),
properties and dependencies sorted, empty lists left out, 2-space indent, ASCII escapes. Loading
that library costs more than writing the document; the tests keep it as the strict validator and
check that both give the same bytes. Given ``created`` and ``serial`` the output is byte-for-byte
reproducible.

What this module does not do: validate the output (the tests use the library's strict JSON
validator), write XML or other spec versions, or record dependencies between packages.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from dockwright.errors import InputError
from dockwright.inspect.model import ImageContents, Package
from dockwright.inspect.sbom._common import (
    DEFAULT_TOOL,
    ImageSubject,
    image_subject,
    indented_json,
    layer_digests,
    package_keys,
    package_purpose,
    parse_purl,
    sorted_packages,
    timestamp,
)
from dockwright.inspect.sbom.licenses import LicenseKind, classify_licenses, join_expressions

__all__ = ["cyclonedx_document"]

SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
_HASH_ALGORITHMS = {"sha256": "SHA-256", "sha512": "SHA-512"}

Json = dict[str, Any]


def cyclonedx_document(
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
    when = _utc(timestamp(created))
    image = _image_component(image_subject(contents))
    digests = layer_digests(contents)
    ordered = sorted_packages(packages)
    components = sorted(
        (
            _package_component(package, key, digests)
            for package, key in zip(ordered, package_keys(ordered), strict=True)
        ),
        key=_component_order,
    )
    refs = sorted(c["bom-ref"] for c in components)
    dependencies: list[Json] = [{"ref": ref} for ref in refs]
    dependencies.append({"dependsOn": refs, "ref": image["bom-ref"]} if refs else {"ref": image["bom-ref"]})
    dependencies.sort(key=lambda d: str(d["ref"]))
    document: Json = {}
    if components:
        document["components"] = components
    document["dependencies"] = dependencies
    document["metadata"] = {
        "component": image,
        "timestamp": when.isoformat(),
        "tools": {"components": [_tool_component(tool)]},
    }
    document["serialNumber"] = _serial(serial).urn
    document["version"] = 1
    document["$schema"] = SCHEMA
    document["bomFormat"] = "CycloneDX"
    document["specVersion"] = "1.6"
    return indented_json(document, sort_keys=False, ensure_ascii=True) + "\n"


def _component_order(component: Json) -> tuple[str, str, bool, str, str]:
    """cyclonedx-python-lib's component order: type, name, version (missing last), bom-ref."""
    version = component.get("version")
    return (component["type"], component["name"], version is None, version or "", component["bom-ref"])


def _utc(stamp: str) -> dt.datetime:
    """A time :func:`timestamp` checked (``YYYY-MM-DDThh:mm:ssZ``), as an aware datetime.

    Its fields sit at fixed places, so ``int`` reads them as ``strptime`` would, without the
    milliseconds ``strptime`` spends on its first use in a process.
    """
    fields = (stamp[0:4], stamp[5:7], stamp[8:10], stamp[11:13], stamp[14:16], stamp[17:19])
    year, month, day, hour, minute, second = (int(field) for field in fields)
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def _serial(serial: str | None) -> uuid.UUID:
    if serial is None:
        return uuid.uuid4()
    try:
        return uuid.UUID(serial.removeprefix("urn:uuid:"))
    except ValueError:
        raise InputError(f"malformed BOM serial number {serial!r}: expected a UUID") from None


def _tool_component(tool: str) -> Json:
    name, sep, version = tool.rpartition("-")
    if sep and name and version[:1].isdigit():
        return {"name": name, "type": "application", "version": version}
    return {"name": tool, "type": "application"}


def _purl(text: str) -> str | None:
    """The PURL exactly as written, or None when it is not a PURL (then it is left out)."""
    return text if parse_purl(text) is not None else None


def _image_component(subject: ImageSubject) -> Json:
    component: Json = {"bom-ref": subject.digest}
    algorithm = _HASH_ALGORITHMS.get(subject.algorithm)
    if algorithm and subject.hex:
        component["hashes"] = [{"alg": algorithm, "content": subject.hex}]
    component["name"] = subject.reference
    purl = _purl(subject.purl)
    if purl is not None:
        component["purl"] = purl
    component["type"] = "container"
    component["version"] = subject.digest
    return component


def _package_component(package: Package, key: str, digests: dict[int, str]) -> Json:
    component: Json = {"bom-ref": key}
    licenses = _licenses(package.licenses)
    if licenses:
        component["licenses"] = licenses
    component["name"] = package.name
    component["properties"] = _properties(package, digests)
    purl = _purl(package.purl)
    if purl is not None:
        component["purl"] = purl
    component["type"] = package_purpose(package)
    if package.version:
        component["version"] = package.version
    return component


def _properties(package: Package, digests: dict[int, str]) -> list[Json]:
    def layer(index: int) -> str:
        return digests.get(index) or f"layer {index}"

    properties = {("dockwright:layer", layer(package.layer_added))}
    if package.layer_changed != package.layer_added:
        properties.add(("dockwright:layer_changed", layer(package.layer_changed)))
    if package.location:
        properties.add(("dockwright:location", package.location))
    if package.dev:
        properties.add(("dockwright:dev", "true"))
    return [{"name": name, "value": value} for name, value in sorted(properties)]


def _licenses(texts: Iterable[str]) -> list[Json]:
    choices = classify_licenses(texts)
    kinds = {choice.kind for choice in choices}
    if LicenseKind.EXPRESSION in kinds and LicenseKind.NAME not in kinds:
        return [{"expression": join_expressions([choice.value for choice in choices])}]
    ids = sorted({c.value for c in choices if c.kind is LicenseKind.ID})
    names = sorted({c.value for c in choices if c.kind is not LicenseKind.ID})
    return [{"license": {"id": i}} for i in ids] + [{"license": {"name": n}} for n in names]
