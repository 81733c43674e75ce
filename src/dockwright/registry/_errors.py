"""Errors of the registry client, all :class:`~dockwright.errors.NetworkError` (via ``FetchError``).

::

    FetchError (dockwright.net.http)   url, status, retryable
    └── RegistryError                  method, code: the registry answered an error, or no answer
        ├── NotFoundError              404: callers catch this to tell "absent" from "broken"
        │   ├── BlobNotFound
        │   ├── ManifestNotFound
        │   └── RepositoryNotFound
        └── AccessDenied               401/403 after authorizing: log in, or ask for access

Wrong bytes are never a ``RegistryError``: they raise
:class:`~dockwright.errors.DigestMismatchError` (stop, do not retry elsewhere).

What this module does not do: decide what is retryable (the client does, by status) or log.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from dockwright.net.http import FetchError

__all__ = [
    "AccessDenied",
    "BlobNotFound",
    "ManifestNotFound",
    "NotFoundError",
    "RegistryError",
    "RepositoryNotFound",
    "registry_error_text",
    "status_error",
    "transport_error",
]

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class RegistryError(FetchError):
    """A registry request failed: an error status (``status``, registry ``code``) or no answer.

    ``retryable`` is true for 5xx, 408, 429 and dropped connections.
    """

    default_hint = "check the registry address and your connection, then run the command again"

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status, retryable=retryable)
        self.method = method
        self.code = code
        if hint is not None:
            self.hint = hint


class NotFoundError(RegistryError):
    """The registry answered 404: the blob, manifest or repository does not exist there."""

    default_hint = "check the repository name, tag and digest"


class BlobNotFound(NotFoundError):
    """The blob is not in the repository."""


class ManifestNotFound(NotFoundError):
    """No manifest with that tag or digest in the repository."""


class RepositoryNotFound(NotFoundError):
    """The repository does not exist (or holds nothing yet)."""


class AccessDenied(RegistryError):
    """401 or 403 even after authorizing: no credentials, wrong ones, or not enough rights."""

    default_hint = "log in to the registry with an account that may pull (and push) this repository"


def registry_error_text(body: bytes) -> tuple[str | None, str]:
    """Read a distribution-spec error body ``{"errors": [{"code", "message"}]}``.

    Returns:
        The first error's code (or None) and a short text ("CODE: message; ..."), empty when the
        body is not such a document.
    """
    try:
        document: Any = json.loads(body)
        errors = [e for e in document["errors"] if isinstance(e, dict)]
    except (ValueError, TypeError, KeyError):
        return None, ""
    parts = [f"{e.get('code', '?')}: {e.get('message', '')}".rstrip(": ") for e in errors]
    code = errors[0].get("code") if errors else None
    return (code if isinstance(code, str) else None), "; ".join(parts)[:500]


def status_error(
    response: httpx.Response, body: bytes, missing: type[NotFoundError] | None = None
) -> RegistryError:
    """Build the error for an unexpected status: ``METHOD URL: HTTP S CODE: message``.

    Args:
        response: the answer (its request gives the method and URL).
        body: the (capped) body already read.
        missing: the class for a 404; ``NotFoundError`` when None.
    """
    method, url, status = response.request.method, str(response.request.url), response.status_code
    code, text = registry_error_text(body)
    message = f"{method} {url}: HTTP {status}" + (f" {text}" if text else "")
    kind: type[RegistryError] = RegistryError
    if status == 404:
        kind = missing or NotFoundError
    elif status in (401, 403):
        kind = AccessDenied
    return kind(
        message, method=method, url=url, status=status, code=code, retryable=status in RETRYABLE_STATUS
    )


def transport_error(method: str, url: str, exc: Exception) -> RegistryError:
    """Map an ``httpx`` transport failure (refused, reset, timeout, TLS) to a retryable error."""
    detail = str(exc) or type(exc).__name__
    # a certificate that fails verification, a bad URL scheme or our own protocol misuse will
    # not pass by trying again
    final = isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError) or (
        isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in detail
    )
    retryable = not final
    return RegistryError(
        f"{method} {url}: {type(exc).__name__}: {detail}", method=method, url=url, retryable=retryable
    )
