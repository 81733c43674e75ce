"""Parse ``docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]`` references to images in a registry.

Grammar (the distribution spec's, with the registry made mandatory)::

    reference   := "docker://" REGISTRY "/" REPOSITORY [":" TAG | "@" DIGEST]
    REGISTRY    := host [":" port]     (the first part must hold "." or ":", or be "localhost")
    host        := domain-part ("." domain-part)* | "[" IPv6 "]"
    REPOSITORY  := component ("/" component)*              (at most 255 characters with REGISTRY)
    component   := [a-z0-9]+ ((\\. | _ | __ | -+) [a-z0-9]+)*
    TAG         := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}      (default "latest")
    DIGEST      := "sha256:" 64 lowercase hex digits

Unlike docker, no registry is implied: ``docker://app:1`` and ``docker://library/app`` are refused
with a message asking to name the registry (``docker://127.0.0.1:5000/app:1``). The repository and
the tag are split at a colon after the last slash; a colon before it is the registry's port.

What this module does not do: talk to a registry, resolve tags to digests, normalize names
(``library/`` is never added), or accept a tag and a digest together (as containers/image refuses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockwright.errors import ImageReferenceError
from dockwright.oci.digest import SHA256, Digest

__all__ = [
    "REGISTRY_SYNTAX",
    "TRANSPORT",
    "RegistryReference",
    "parse_registry_reference",
    "validate_registry",
    "validate_repository",
    "validate_tag",
]

TRANSPORT = "docker://"
REGISTRY_SYNTAX = "docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]"
DEFAULT_TAG = "latest"

_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?")
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_NAME = 255
_EXAMPLE_HOST = "127.0.0.1:5000"
_EXAMPLE = f"docker://{_EXAMPLE_HOST}/app:1"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryReference:
    """An image in a registry: ``registry`` (``host[:port]``), ``repository``, and a tag or digest.

    Exactly one of ``tag`` and ``digest`` is set (the parser puts ``latest`` when neither is given).
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def reference(self) -> str:
        """The manifest reference the distribution API takes: the digest if set, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        separator = "@" if self.digest is not None else ":"
        return f"{TRANSPORT}{self.registry}/{self.repository}{separator}{self.reference}"


class _Bad(Exception):
    """A grammar violation at ``column`` of the text after ``docker://``."""

    def __init__(self, column: int, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _fail(text: str, column: int, reason: str) -> ImageReferenceError:
    """Build the error: reason, expected syntax, and the input with a caret under ``column``."""
    message = f"{reason} in image reference {text!r}: expected {REGISTRY_SYNTAX}\n  {text}\n  {' ' * column}^"
    return ImageReferenceError(message, hint=f"write {REGISTRY_SYNTAX}, e.g. {_EXAMPLE}")


def _first_bad(text: str, pattern: re.Pattern[str]) -> int:
    """Index of the first character after which ``text`` can no longer match ``pattern``.

    A prefix is still good when it matches, or when one more ``a`` (a port: ``0``, an IPv6
    literal: ``]``) makes it match: every grammar here can be finished that way.
    """
    for end in range(1, len(text) + 1):
        prefix = text[:end]
        if not pattern.fullmatch(prefix) and not any(pattern.fullmatch(prefix + f) for f in ("a", "0", "]")):
            return end - 1
    return len(text)


def _first_bad_digest(text: str) -> int:
    """Index of the first character of ``text`` that cannot start or continue ``sha256:<hex>``."""
    prefix = f"{SHA256}:"
    for i, char in enumerate(text):
        if i < len(prefix):
            if char != prefix[i]:
                return i
        elif i >= len(prefix) + 64 or char not in "0123456789abcdef":
            return i
    return len(text)


def parse_registry_reference(text: str) -> RegistryReference:
    """Parse ``docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]``.

    Args:
        text: the reference as typed by the user, e.g. ``docker://127.0.0.1:5000/team/app:1.0``.

    Returns:
        The reference; ``tag`` is ``latest`` when neither a tag nor a digest is given.

    Raises:
        ImageReferenceError: the text does not follow the grammar; the message shows where.
    """
    if not text.startswith(TRANSPORT):
        raise _fail(text, 0, "missing docker:// transport")
    try:
        return _parse(text[len(TRANSPORT) :])
    except _Bad as exc:
        raise _fail(text, len(TRANSPORT) + exc.column, exc.reason) from None


def _parse(rest: str) -> RegistryReference:
    registry, slash, path = rest.partition("/")
    if not registry:
        raise _Bad(0, "missing registry host")
    # "app:1" without a slash reads as name:tag, not as host:port
    explicit = (
        "." in registry
        or registry == "localhost"
        or registry.startswith(("localhost:", "["))
        or (slash and ":" in registry)
    )
    if not explicit:
        example = f"{TRANSPORT}{_EXAMPLE_HOST}/{rest}"
        raise _Bad(0, f"missing registry host (none is implied: name it, e.g. {example})")
    if not _HOST.fullmatch(registry):
        raise _Bad(_first_bad(registry, _HOST), "invalid registry host")
    if not slash or not path:
        raise _Bad(len(rest), "missing repository")
    at = len(registry) + 1
    name, tag, digest, ref_at = _split_reference(path)
    _check_repository(name, at)
    if len(registry) + 1 + len(name) > _MAX_NAME:
        raise _Bad(_MAX_NAME, f"image name longer than {_MAX_NAME} characters")
    if tag is not None and digest is not None:
        raise _Bad(at + ref_at, "a tag and a digest together (write one of them)")
    if tag is not None and not _TAG.fullmatch(tag):
        raise _Bad(at + ref_at + _first_bad(tag, _TAG), "invalid tag")
    if digest is None:
        return RegistryReference(registry=registry, repository=name, tag=tag or DEFAULT_TAG)
    if not _DIGEST.fullmatch(digest):
        column = at + ref_at + 1 + _first_bad_digest(digest)
        raise _Bad(column, "invalid digest (sha256:<64 lowercase hex digits>)")
    return RegistryReference(
        registry=registry, repository=name, digest=Digest(algorithm=SHA256, hex=digest[7:])
    )


def _split_reference(path: str) -> tuple[str, str | None, str | None, int]:
    """Split ``repo[:tag][@digest]``; return name, tag, digest and the column of the tag or ``@``."""
    head, at_sign, digest = path.partition("@")
    colon = head.rfind(":")
    if colon > head.rfind("/"):
        name, tag = head[:colon], head[colon + 1 :]
        return name, tag, (digest if at_sign else None), colon + 1
    return head, None, (digest if at_sign else None), len(head)


def _check_repository(name: str, at: int) -> None:
    if not name:
        raise _Bad(at, "missing repository")
    if _REPOSITORY.fullmatch(name):
        return
    upper = next((i for i, c in enumerate(name) if c.isupper()), None)
    if upper is not None:
        raise _Bad(at + upper, "repository name must be lowercase")
    raise _Bad(at + _first_bad(name, _REPOSITORY), "invalid repository name")


def validate_registry(registry: str) -> None:
    """Check a registry address (``host[:port]``), as the client's constructor takes it.

    Raises:
        ImageReferenceError: not a host name, IPv4 address or bracketed IPv6 address with a port.
    """
    if not _HOST.fullmatch(registry):
        raise ImageReferenceError(f"invalid registry address {registry!r}: expected HOST[:PORT]")


def validate_repository(name: str) -> None:
    """Check a repository name (lowercase components joined by ``/``), as the client takes it.

    Raises:
        ImageReferenceError: the name breaks the distribution spec's grammar.
    """
    if not _REPOSITORY.fullmatch(name) or len(name) > _MAX_NAME:
        raise ImageReferenceError(
            f"invalid repository name {name!r}: expected lowercase components "
            "([a-z0-9] joined by '.', '_', '__' or '-') separated by '/'"
        )


def validate_tag(tag: str) -> None:
    """Check a tag (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``).

    Raises:
        ImageReferenceError: the tag breaks the grammar.
    """
    if not _TAG.fullmatch(tag):
        raise ImageReferenceError(
            f"invalid tag {tag!r}: expected up to 128 letters, digits, '_', '.' or '-', not starting "
            "with '.' or '-'"
        )
