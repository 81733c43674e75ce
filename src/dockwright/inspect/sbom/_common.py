"""What both SBOM writers share: the image as subject, element ids, timestamps and layer lookups.

Keeping these here makes an SPDX and a CycloneDX document of one image name the same things the
same way: the image's OCI PURL, each package's id (SPDX ``SPDXID`` and CycloneDX ``bom-ref`` share
the same key), the layer digests, and whether a package is an application or a library.

It also writes documents as indented JSON (:func:`indented_json`).

What this module does not do: build any document, classify licenses (see
:mod:`dockwright.inspect.sbom.licenses`), or read anything from disk or the network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii
from pathlib import PurePosixPath
from typing import Any

from packageurl import PackageURL

from dockwright import __version__
from dockwright.errors import ImageReferenceError, InputError
from dockwright.inspect.model import ImageContents, Package
from dockwright.oci.reference import DockerArchiveReference, DockerName, parse_docker_name, parse_reference

__all__ = [
    "DEFAULT_TOOL",
    "ImageSubject",
    "image_subject",
    "indented_json",
    "layer_digests",
    "package_keys",
    "package_purpose",
    "parse_purl",
    "sanitize",
    "sorted_packages",
    "timestamp",
]

DEFAULT_TOOL = f"dockwright-{__version__}"
"""The tool name and version written as an SBOM's creator."""

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_KEY_HASH_CHARS = 8
_BIN_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")


def timestamp(created: str | None) -> str:
    """Return ``created`` checked, or now in UTC, as ``YYYY-MM-DDThh:mm:ssZ``.

    Raises:
        InputError: ``created`` is not of that form or not a real date and time.
    """
    if created is None:
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not _TIMESTAMP.fullmatch(created):
        raise InputError(f"malformed SBOM creation time {created!r}: expected YYYY-MM-DDThh:mm:ssZ")
    try:
        dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise InputError(f"invalid SBOM creation time {created!r}: no such date and time") from None
    return created


def sanitize(text: str) -> str:
    """Replace each run of characters outside ``[A-Za-z0-9.-]`` by ``-`` (SPDX id characters)."""
    return _UNSAFE.sub("-", text).strip("-")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSubject:
    """The image an SBOM describes.

    ``reference`` is the image reference as given; ``name`` the PURL name (last part of the
    repository, lowercase); ``digest`` the manifest digest (``sha256:<hex>``); ``purl`` the OCI
    PURL with the version written ``sha256%3A<hex>`` as in the PURL spec's ``oci`` examples.
    """

    reference: str
    name: str
    digest: str
    algorithm: str
    hex: str
    repository_url: str
    tag: str
    architecture: str
    purl: str


def image_subject(contents: ImageContents) -> ImageSubject:
    """Describe the image of ``contents`` as an SBOM subject.

    Args:
        contents: what the image reader found; its ``reference`` may be a transport reference
            (``oci:DIR:TAG``, ``docker-archive:FILE:NAME:TAG``) or a docker name.

    Returns:
        The subject, with the repository URL and tag where the reference names them.
    """
    algorithm, _, hex_digest = contents.manifest_digest.partition(":")
    name, repository_url, tag = _coordinates(contents.reference)
    architecture = contents.config.get("architecture")
    arch = architecture if isinstance(architecture, str) else ""
    qualifiers = {
        key: value
        for key, value in (("arch", arch), ("repository_url", repository_url), ("tag", tag))
        if value
    }
    purl = PackageURL(type="oci", name=name, version=contents.manifest_digest, qualifiers=qualifiers)
    text = purl.to_string()
    # packageurl-python leaves ':' unescaped; the oci PURL type writes the digest as sha256%3A<hex>.
    text = text.replace(f"@{algorithm}:", f"@{algorithm}%3A", 1)
    return ImageSubject(
        reference=contents.reference,
        name=name,
        digest=contents.manifest_digest,
        algorithm=algorithm,
        hex=hex_digest,
        repository_url=repository_url,
        tag=tag,
        architecture=arch,
        purl=text,
    )


def _coordinates(reference: str) -> tuple[str, str, str]:
    """``(purl name, repository_url, tag)`` read from a reference, ``""`` where unknown."""
    try:
        parsed = parse_reference(reference)
    except ImageReferenceError:
        parsed = None
    if isinstance(parsed, DockerArchiveReference):
        if parsed.name is not None:
            return _docker_coordinates(parsed.name)
        return _purl_name(PurePosixPath(parsed.path).name.split(".")[0]), "", ""
    if parsed is not None:
        return _purl_name(PurePosixPath(parsed.path).name), "", parsed.tag or ""
    try:
        return _docker_coordinates(parse_docker_name(reference))
    except ImageReferenceError:
        return _purl_name(reference.rsplit("/", 1)[-1].split(":")[0].split("@")[0]), "", ""


def _docker_coordinates(name: DockerName) -> tuple[str, str, str]:
    return _purl_name(name.path.rsplit("/", 1)[-1]), name.repository, name.tag


def _purl_name(text: str) -> str:
    return text.lower() or "image"


def layer_digests(contents: ImageContents) -> dict[int, str]:
    """Map each layer index to its blob digest."""
    return {layer.index: layer.digest for layer in contents.layers}


def sorted_packages(packages: Sequence[Package]) -> list[Package]:
    """Packages in a stable order (type, name, version, architecture, location, purl)."""
    return sorted(packages, key=lambda p: (p.type, p.name, p.version, p.architecture, p.location, p.purl))


def package_keys(packages: Sequence[Package]) -> list[str]:
    """A unique key per package, usable as an SPDX id suffix and as a CycloneDX ``bom-ref``.

    The key is ``<type>-<name>-<version>-<hash>`` sanitized to ``[A-Za-z0-9.-]``, where the hash is
    the first 8 hex digits of the sha256 of type, name, version, architecture and location: the
    same package found in two places gets two keys. An exact repeat gets ``-2``, ``-3``, ...

    Args:
        packages: the packages, in the order the keys are wanted.

    Returns:
        One key per package, in the same order.
    """
    keys: list[str] = []
    used: set[str] = set()
    for package in packages:
        fields = (package.type, package.name, package.version, package.architecture, package.location)
        digest = hashlib.sha256("\0".join(fields).encode()).hexdigest()[:_KEY_HASH_CHARS]
        base = sanitize(f"{package.type}-{package.name}-{package.version}") + f"-{digest}"
        key, count = base, 1
        while key in used:
            count += 1
            key = f"{base}-{count}"
        used.add(key)
        keys.append(key)
    return keys


def package_purpose(package: Package) -> str:
    """``"application"`` when the package owns a program in a ``bin``/``sbin`` directory, else
    ``"library"``."""
    for path in package.files:
        if "bin" not in path:
            continue  # every directory of _BIN_DIRS ends in "bin": this path's parent is none of them
        relative = path.lstrip("/")
        if "//" in relative or "/." in relative or relative.startswith(".") or relative.endswith("/"):
            parent = str(PurePosixPath(relative).parent)  # not a plain path: let pathlib clean it up
        else:
            parent = relative.rpartition("/")[0]
        if parent in _BIN_DIRS:
            return "application"
    return "library"


def parse_purl(text: str) -> PackageURL | None:
    """Parse a package's PURL, or ``None`` when it is empty or malformed."""
    if not text:
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def indented_json(value: Any, *, sort_keys: bool, ensure_ascii: bool) -> str:
    """Return ``json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=ensure_ascii)``.

    The standard library writes indented JSON in pure Python, through a generator per nested
    container; building the text directly takes about half the time for an SBOM's thousands of
    small objects. Strings go through the same encoders as ``json.dumps``, other scalars through
    ``json.dumps`` itself, so every byte is the same.

    Args:
        value: dicts (with string keys), lists, tuples and JSON scalars; no reference cycles.
        sort_keys: write each dict's keys sorted, as ``json.dumps`` does.
        ensure_ascii: escape non-ASCII characters, as ``json.dumps`` does.

    Returns:
        The JSON text, without a final newline.

    Raises:
        TypeError: a value JSON cannot represent, or a key that is not a string.
    """
    string: Callable[[str], str] = encode_basestring_ascii if ensure_ascii else encode_basestring
    out: list[str] = []
    write = out.append

    def element(item: Any, indent: str) -> None:
        if isinstance(item, str):
            write(string(item))
        elif isinstance(item, dict):
            members(item, indent)
        elif isinstance(item, list | tuple):
            elements(item, indent)
        else:  # None, booleans, numbers; anything else raises TypeError, as json.dumps does
            write(json.dumps(item))

    def members(obj: dict[Any, Any], indent: str) -> None:
        if not obj:
            write("{}")
            return
        inner = indent + "  "
        separator = "{\n" + inner
        for key, item in sorted(obj.items()) if sort_keys else obj.items():
            write(separator)
            write(string(key))  # TypeError unless a string
            write(": ")
            element(item, inner)
            separator = ",\n" + inner
        write("\n" + indent + "}")

    def elements(items: list[Any] | tuple[Any, ...], indent: str) -> None:
        if not items:
            write("[]")
            return
        inner = indent + "  "
        separator = "[\n" + inner
        for item in items:
            write(separator)
            element(item, inner)
            separator = ",\n" + inner
        write("\n" + indent + "]")

    element(value, "")
    return "".join(out)
