"""Parse skopeo-style transport references: ``oci:DIR[:TAG]`` and ``docker-archive:FILE[:NAME[:TAG]]``.

Grammar (as containers/image, the library behind skopeo and podman, reads them)::

    reference    := "oci:" DIR [":" TAG]  |  "docker-archive:" FILE [":" (DOCKER-REF | "@" N)]
    TAG          := component ("/" component)*         (OCI org.opencontainers.image.ref.name)
    component    := alnum+ (separator alnum+)*
    separator    := one of - . _ : @ +  |  "--"
    DOCKER-REF   := [DOMAIN "/"] PATH [":" DOCKER-TAG]  (no @digest; DOCKER-TAG defaults to latest)
    DOMAIN       := host [":" port]                     (a first part with "." or ":", or localhost)
    PATH         := path-part ("/" path-part)*          (lowercase; docker.io/library/ is implied)
    DOCKER-TAG   := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}

The path and the rest are split at the **first** colon, exactly as skopeo does. So a DIR or FILE
containing ``:`` cannot be written: in ``oci:/tmp/a:b:c`` the directory is ``/tmp/a`` and the tag
``b:c`` (colons are legal in OCI tags). Use a relative path or a symlink without a colon instead.
An empty tag (``oci:DIR:``) means no tag, as in skopeo. ``docker-archive:FILE:@N`` selects the N-th
image when *reading* an archive; it is parsed here and refused by writers.

What this module does not do: look at the filesystem, resolve relative paths, or parse the
``docker://`` and ``containers-storage:`` transports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockwright.errors import ImageReferenceError

__all__ = [
    "ARCHIVE_SYNTAX",
    "OCI_SYNTAX",
    "DockerArchiveReference",
    "DockerName",
    "OciReference",
    "Reference",
    "parse_docker_name",
    "parse_reference",
]

OCI_SYNTAX = "oci:DIR[:TAG]"
ARCHIVE_SYNTAX = "docker-archive:FILE[:NAME[:TAG]]"
_ANY_SYNTAX = f"{OCI_SYNTAX} or {ARCHIVE_SYNTAX}"

_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_OCI_TAG = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_PATH_PART = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_PATH_PART}(?:/{_PATH_PART})*")
_DOCKER_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_MAX_NAME = 255
_DEFAULT_DOMAIN = "docker.io"


@dataclass(frozen=True, slots=True, kw_only=True)
class OciReference:
    """``oci:DIR[:TAG]``: an OCI image layout directory and an optional ref name."""

    path: str
    tag: str | None = None

    def __str__(self) -> str:
        return f"oci:{self.path}" + (f":{self.tag}" if self.tag else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerName:
    """A normalized docker image name with a tag, e.g. ``docker.io/library/app:1.0``."""

    domain: str
    path: str
    tag: str = "latest"

    @property
    def repository(self) -> str:
        """``domain/path``, e.g. ``docker.io/library/app``."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerArchiveReference:
    """``docker-archive:FILE[:NAME[:TAG]]`` (or ``FILE:@N`` to read the N-th image)."""

    path: str
    name: DockerName | None = None
    source_index: int | None = None

    def __str__(self) -> str:
        if self.name is not None:
            return f"docker-archive:{self.path}:{self.name}"
        if self.source_index is not None:
            return f"docker-archive:{self.path}:@{self.source_index}"
        return f"docker-archive:{self.path}"


Reference = OciReference | DockerArchiveReference


def _fail(text: str, column: int, reason: str, syntax: str) -> ImageReferenceError:
    """Build the error: reason, expected syntax, and the input with a caret under ``column``."""
    message = f"{reason} in image reference {text!r}: expected {syntax}\n  {text}\n  {' ' * column}^"
    return ImageReferenceError(message)


def _first_bad(text: str, pattern: re.Pattern[str]) -> int:
    """Index of the first character after which ``text`` can no longer match ``pattern``.

    Every grammar here can finish any valid prefix with one more ``a``, so the prefix test is
    "prefix + 'a' matches". Returns ``len(text)`` when only the ending is wrong.
    """
    for end in range(1, len(text) + 1):
        if not pattern.fullmatch(text[:end] + "a"):
            return end - 1
    return len(text)


def parse_reference(text: str) -> Reference:
    """Parse ``oci:DIR[:TAG]`` or ``docker-archive:FILE[:NAME[:TAG]]``.

    Args:
        text: the transport reference as typed by the user.

    Returns:
        An :class:`OciReference` or a :class:`DockerArchiveReference`.

    Raises:
        ImageReferenceError: the text does not follow the grammar; the message shows where.
    """
    transport, sep, rest = text.partition(":")
    if not sep:
        raise _fail(text, 0, "missing transport", _ANY_SYNTAX)
    if transport == "oci":
        return _parse_oci(text, rest, len(transport) + 1)
    if transport == "docker-archive":
        return _parse_archive(text, rest, len(transport) + 1)
    raise _fail(text, 0, f"unknown transport {transport!r}", _ANY_SYNTAX)


def _parse_oci(text: str, rest: str, offset: int) -> OciReference:
    path, _, tag = rest.partition(":")
    if not path:
        raise _fail(text, offset, "empty directory", OCI_SYNTAX)
    if tag and not _OCI_TAG.fullmatch(tag):
        column = offset + len(path) + 1 + _first_bad(tag, _OCI_TAG)
        raise _fail(
            text,
            column,
            "invalid tag (letters and digits, joined by one of - . _ : @ + or --, parts split by /)",
            OCI_SYNTAX,
        )
    return OciReference(path=path, tag=tag or None)


def _parse_archive(text: str, rest: str, offset: int) -> DockerArchiveReference:
    path, sep, ref = rest.partition(":")
    if not path:
        raise _fail(text, offset, "empty file name", ARCHIVE_SYNTAX)
    ref_offset = offset + len(path) + 1
    if not sep:
        return DockerArchiveReference(path=path)
    if ref.startswith("@"):
        if not ref[1:].isdigit() or not ref[1:].isascii():
            raise _fail(text, ref_offset + 1, "invalid source index (@N takes a number)", ARCHIVE_SYNTAX)
        return DockerArchiveReference(path=path, source_index=int(ref[1:]))
    try:
        name = _docker_name(ref)
    except _NameError as exc:
        raise _fail(text, ref_offset + exc.column, exc.reason, ARCHIVE_SYNTAX) from None
    return DockerArchiveReference(path=path, name=name)


class _NameError(Exception):
    def __init__(self, column: int, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def parse_docker_name(text: str) -> DockerName:
    """Parse and normalize a docker image name such as ``app``, ``app:1.0`` or ``host:5000/a/b:t``.

    A name without a registry gets ``docker.io`` and, if it has a single part, ``library/``; the
    tag defaults to ``latest``. Digests (``@sha256:...``) are refused: an archive name needs a tag.

    Raises:
        ImageReferenceError: the name is malformed.
    """
    try:
        return _docker_name(text)
    except _NameError as exc:
        raise _fail(text, exc.column, exc.reason, "NAME[:TAG]") from None


def _docker_name(text: str) -> DockerName:
    if "@" in text:
        raise _NameError(text.index("@"), "digest not allowed (archives name images by tag)")
    if not text:
        raise _NameError(0, "empty image name")
    name, tag, tag_at = _split_tag(text)
    domain, path, path_at = _split_domain(name)
    if domain and not _DOMAIN.fullmatch(domain):
        raise _NameError(_first_bad(domain, _DOMAIN), "invalid registry host")
    if not _PATH.fullmatch(path):
        upper = next((i for i, c in enumerate(path) if c.isupper()), None)
        if upper is not None:
            raise _NameError(path_at + upper, "repository name must be lowercase")
        raise _NameError(path_at + _first_bad(path, _PATH), "invalid repository name")
    if len(name) > _MAX_NAME:
        raise _NameError(_MAX_NAME, f"image name longer than {_MAX_NAME} characters")
    if tag is not None and not _DOCKER_TAG.fullmatch(tag):
        raise _NameError(tag_at + _first_bad(tag, _DOCKER_TAG), "invalid tag")
    if not domain:
        domain, path = _DEFAULT_DOMAIN, path if "/" in path else f"library/{path}"
    elif domain == "index.docker.io":
        domain = _DEFAULT_DOMAIN
    return DockerName(domain=domain, path=path, tag=tag or "latest")


def _split_tag(text: str) -> tuple[str, str | None, int]:
    """Split ``name[:tag]`` at a colon after the last slash (a colon before it is a port)."""
    colon = text.rfind(":")
    if colon > text.rfind("/"):
        return text[:colon], text[colon + 1 :], colon + 1
    return text, None, len(text)


def _split_domain(name: str) -> tuple[str, str, int]:
    """Split off a registry: a first part with ``.`` or ``:``, or ``localhost``, before a slash."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest, len(first) + 1
    return "", name, 0
