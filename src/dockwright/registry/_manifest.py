"""Checks on the JSON documents a registry serves: manifests, indexes, tag lists.

Reads bodies with a size cap (:data:`MANIFEST_LIMIT`), compares the sha256 of a manifest's exact
bytes with the digest asked for and the ``Docker-Content-Digest`` header, and works out a
manifest's media type when the registry's ``Content-Type`` is generic.

What this module does not do: send requests, or re-serialize anything it parses.
"""

from __future__ import annotations

import json

import httpx

from dockwright.errors import DigestMismatchError, InputError
from dockwright.oci.descriptor import OCI_INDEX, OCI_MANIFEST
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index
from dockwright.registry._errors import RegistryError
from dockwright.registry._session import read_capped

__all__ = [
    "MANIFEST_LIMIT",
    "check_announced",
    "media_type_of",
    "parse_announced",
    "parse_index",
    "read_document",
    "tag_page",
]

MANIFEST_LIMIT = 4 * 1024 * 1024
"""The largest manifest, index or tag list page read (bytes), as registries cap them too."""


def read_document(response: httpx.Response, what: str) -> bytes:
    """Read a JSON document's body, refusing more than :data:`MANIFEST_LIMIT` bytes."""
    length = response.headers.get("Content-Length", "")
    too_big = length.isdigit() and int(length) > MANIFEST_LIMIT
    data, truncated = (b"", True) if too_big else read_capped(response, MANIFEST_LIMIT)
    response.close()
    if truncated:
        request = response.request
        raise RegistryError(
            f"{request.method} {request.url}: the {what} is larger than {MANIFEST_LIMIT} bytes",
            method=request.method,
            url=str(request.url),
            status=response.status_code,
        )
    return data


def parse_announced(response: httpx.Response, announced: str) -> Digest:
    """Parse a ``Docker-Content-Digest`` header.

    Raises:
        RegistryError: not a sha256 digest.
    """
    try:
        return Digest.parse(announced)
    except InputError as exc:
        request = response.request
        raise RegistryError(
            f"{request.method} {request.url}: Docker-Content-Digest {announced!r}: {exc.message}",
            method=request.method,
            url=str(request.url),
            status=response.status_code,
        ) from None


def check_announced(response: httpx.Response, digest: Digest, expected: Digest | None) -> None:
    """Compare the bytes' digest with the one asked for and the ``Docker-Content-Digest`` header."""
    request = response.request
    if expected is not None and digest != expected:
        raise DigestMismatchError(f"{request.method} {request.url}: the bytes have digest {digest}")
    announced = response.headers.get("Docker-Content-Digest")
    if announced and parse_announced(response, announced) != digest:
        raise DigestMismatchError(
            f"{request.method} {request.url}: the registry announced {announced}, the bytes have {digest}"
        )


def media_type_of(response: httpx.Response, data: bytes) -> str:
    """The ``Content-Type`` (without parameters), else the document's own ``mediaType``."""
    header: str = response.headers.get("Content-Type", "").split(";")[0].strip()
    if header and header not in ("application/json", "application/octet-stream", "text/plain"):
        return header
    try:
        document = json.loads(data)
    except ValueError:
        return header or "application/octet-stream"
    declared: object = document.get("mediaType") if isinstance(document, dict) else None
    if isinstance(declared, str):
        return declared
    if isinstance(document, dict) and "manifests" in document:
        return OCI_INDEX
    if isinstance(document, dict) and "layers" in document:
        return OCI_MANIFEST
    return header or "application/octet-stream"


def tag_page(url: str, data: bytes) -> list[str]:
    """The ``tags`` of a tag list page (null counts as none).

    Raises:
        RegistryError: the page is not a tag list.
    """
    try:
        tags: object = json.loads(data).get("tags") or []
        if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
            return [str(t) for t in tags]
    except (ValueError, AttributeError):
        pass
    raise RegistryError(f"GET {url}: malformed tag list", method="GET", url=url)


def parse_index(url: str, data: bytes) -> Index:
    """Parse a referrers index.

    Raises:
        RegistryError: the bytes are not an image index.
    """
    try:
        return Index.from_json(data)
    except InputError as exc:
        raise RegistryError(
            f"GET {url}: malformed referrers index: {exc.message}", method="GET", url=url
        ) from None
