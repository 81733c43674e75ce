"""Write an SPDX 2.3 JSON document whose subject is an image and whose packages are what was found.

The document describes one package for the image itself (name: the reference; version: the
manifest digest; a ``SHA256`` checksum of the manifest; an ``oci`` PURL; purpose ``CONTAINER``),
with ``DESCRIBES`` from the document and ``CONTAINS`` from the image to every cataloged package.
Each cataloged package carries its PURL as a ``PACKAGE-MANAGER purl`` external reference, its
declared license (an SPDX expression when :mod:`~dockwright.inspect.sbom.licenses` says the strings
are SPDX, ``LicenseRef-...`` with an extracted-licensing entry for free text, ``NOASSERTION`` when
there is none) and annotations naming the layer that added it (``dockwright:layer=<digest>``),
the layer that last changed it, where its record was found and whether it is a dev package.

Given ``created`` and ``namespace_seed`` the output is byte-for-byte reproducible: packages are
ordered by type, name, version, architecture and location, ids are derived from those fields, and
the namespace UUID is a UUIDv5 of manifest digest, seed and creation time.

What this module does not do: list files (``filesAnalyzed`` is ``false``), conclude licenses
(``licenseConcluded`` is ``NOASSERTION``), record dependencies between packages, or validate the
document against the SPDX schema (the tests do that with the official schema).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

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
    sanitize,
    sorted_packages,
    timestamp,
)
from dockwright.inspect.sbom.licenses import LicenseKind, classify_licenses, join_expressions

__all__ = ["NAMESPACE_BASE", "SPDX_VERSION", "spdx_document", "to_json"]

SPDX_VERSION = "SPDX-2.3"
NAMESPACE_BASE = "https://spdx.org/spdxdocs/dockwright"
"""Prefix of every ``documentNamespace``; the SPDX spec asks for a unique URI, not a reachable one."""

NOASSERTION = "NOASSERTION"
_DOCUMENT_ID = "SPDXRef-DOCUMENT"
_CHECKSUM_ALGORITHMS = {"sha256": "SHA256", "sha512": "SHA512"}
_LICENSE_REF_HASH_CHARS = 8


def spdx_document(
    contents: ImageContents,
    packages: Sequence[Package],
    *,
    tool: str = DEFAULT_TOOL,
    created: str | None = None,
    namespace_seed: str | None = None,
) -> dict[str, Any]:
    """Build the SPDX 2.3 document (as JSON-ready data) of an image and its packages.

    Args:
        contents: the image as read (reference, manifest digest, layers, config).
        packages: what the catalogers found, in any order.
        tool: the creator tool, written as ``Tool: <tool>``.
        created: creation time ``YYYY-MM-DDThh:mm:ssZ``; now (UTC) when ``None``.
        namespace_seed: makes ``documentNamespace`` reproducible: a UUIDv5 of the manifest digest,
            this seed and ``created``. When ``None`` the namespace gets a random UUID.

    Returns:
        The document; serialize it with :func:`to_json`.

    Raises:
        InputError: ``created`` is malformed.
    """
    when = timestamp(created)
    subject = image_subject(contents)
    ordered = sorted_packages(packages)
    image_id = "SPDXRef-Image-" + (sanitize(subject.name) or "image")
    license_refs = _license_refs(ordered)
    annotator = f"Tool: {tool}"
    digests = layer_digests(contents)
    entries = [_image_package(subject, image_id)]
    relationships = [_relationship(_DOCUMENT_ID, "DESCRIBES", image_id)]
    for package, key in zip(ordered, package_keys(ordered), strict=True):
        spdx_id = f"SPDXRef-Package-{key}"
        entries.append(
            _package(package, spdx_id, license_refs, _annotations(package, digests, annotator, when))
        )
        relationships.append(_relationship(image_id, "CONTAINS", spdx_id))
    document: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": _DOCUMENT_ID,
        "name": subject.reference,
        "documentNamespace": _namespace(subject, namespace_seed, when),
        "creationInfo": {"created": when, "creators": [annotator]},
        "documentDescribes": [image_id],
        "packages": entries,
        "relationships": relationships,
    }
    if license_refs:
        document["hasExtractedLicensingInfos"] = [
            {"licenseId": ref, "name": text, "extractedText": text}
            for text, ref in sorted(license_refs.items(), key=lambda item: item[1])
        ]
    return document


def to_json(document: dict[str, Any]) -> bytes:
    """Serialize a document: UTF-8, keys sorted, 2-space indent, final newline."""
    return (indented_json(document, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _namespace(subject: ImageSubject, seed: str | None, created: str) -> str:
    if seed is None:
        unique = uuid.uuid4()
    else:
        unique = uuid.uuid5(uuid.NAMESPACE_URL, "\n".join((NAMESPACE_BASE, subject.digest, seed, created)))
    return f"{NAMESPACE_BASE}/{sanitize(subject.name) or 'image'}-{unique}"


def _image_package(subject: ImageSubject, spdx_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": subject.reference,
        "versionInfo": subject.digest,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "supplier": NOASSERTION,
        "originator": NOASSERTION,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "externalRefs": [_purl_ref(subject.purl)],
    }
    algorithm = _CHECKSUM_ALGORITHMS.get(subject.algorithm)
    if algorithm and subject.hex:
        entry["checksums"] = [{"algorithm": algorithm, "checksumValue": subject.hex}]
    return entry


def _package(
    package: Package, spdx_id: str, license_refs: dict[str, str], annotations: list[dict[str, str]]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": package.name or NOASSERTION,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": package_purpose(package).upper(),
        "supplier": NOASSERTION,
        "originator": NOASSERTION,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": _license_declared(package, license_refs),
        "copyrightText": NOASSERTION,
        "annotations": annotations,
    }
    if package.version:
        entry["versionInfo"] = package.version
    if package.source and package.source != package.name:
        entry["sourceInfo"] = f"built from source package {package.source}"
    if parse_purl(package.purl) is not None:
        entry["externalRefs"] = [_purl_ref(package.purl)]
    return entry


def _purl_ref(purl: str) -> dict[str, str]:
    return {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}


def _relationship(element: str, kind: str, related: str) -> dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}


def _annotations(
    package: Package, digests: dict[int, str], annotator: str, created: str
) -> list[dict[str, str]]:
    """Machine-readable notes: the layers that added and last changed the package, and more."""
    notes = [f"dockwright:layer={_layer_name(package.layer_added, digests)}"]
    if package.layer_changed != package.layer_added:
        notes.append(f"dockwright:layer_changed={_layer_name(package.layer_changed, digests)}")
    if package.location:
        notes.append(f"dockwright:location={package.location}")
    if package.dev:
        notes.append("dockwright:dev=true")
    return [
        {"annotationDate": created, "annotationType": "OTHER", "annotator": annotator, "comment": note}
        for note in notes
    ]


def _layer_name(index: int, digests: dict[int, str]) -> str:
    return digests.get(index) or f"layer {index}"


def _license_declared(package: Package, license_refs: dict[str, str]) -> str:
    choices = classify_licenses(package.licenses)
    if not choices:
        return NOASSERTION
    parts = [license_refs[c.value] if c.kind is LicenseKind.NAME else c.value for c in choices]
    return join_expressions(parts)


def _license_refs(packages: Sequence[Package]) -> dict[str, str]:
    """Map each free-text license to a ``LicenseRef-<text>`` id, unique in the document.

    Texts are numbered in sorted order, so ids do not depend on package order. Two texts that
    sanitize alike (or to nothing) get a hash suffix to stay distinct.
    """
    texts = sorted(
        {c.value for p in packages for c in classify_licenses(p.licenses) if c.kind is LicenseKind.NAME}
    )
    refs: dict[str, str] = {}
    used: set[str] = set()
    for text in texts:
        ref = "LicenseRef-" + sanitize(text)
        if ref in used or ref == "LicenseRef-":
            ref += "-" + hashlib.sha256(text.encode()).hexdigest()[:_LICENSE_REF_HASH_CHARS]
            ref = ref.replace("LicenseRef--", "LicenseRef-")
        used.add(ref)
        refs[text] = ref
    return refs
