"""How the registry client asks for credentials: the :class:`Authenticator` protocol.

On a ``401`` the client calls ``authorize(challenge, scope)`` once, caches the returned headers
for that scope, and sends the request again with them. ``scope`` is what the request needs, in
the token-auth syntax: ``repository:<repo>:pull`` or ``repository:<repo>:pull,push``; a cross-
repository mount asks for both repositories, space-separated
(``repository:<dst>:pull,push repository:<src>:pull``); :meth:`RegistryClient.ping` asks with an
empty scope (to check credentials only).

What this module does not do: read credentials, speak the token or basic schemes (see
:mod:`dockwright.registry.auth`), or retry; :class:`Anonymous` only explains the refusal.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from dockwright.registry._errors import AccessDenied

__all__ = ["Anonymous", "Authenticator", "pull_scope", "push_scope"]


def pull_scope(repository: str) -> str:
    """The scope to read ``repository``: ``repository:<name>:pull``."""
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    """The scope to write ``repository``: ``repository:<name>:pull,push``."""
    return f"repository:{repository}:pull,push"


class Authenticator(Protocol):
    """Turns a ``401`` challenge into headers that authorize requests for ``scope``."""

    def authorize(self, challenge: httpx.Response, scope: str) -> dict[str, str]:
        """Return headers (usually ``Authorization``) to send with requests needing ``scope``.

        Args:
            challenge: the ``401`` answer; read ``WWW-Authenticate`` and ``request.url`` from it.
            scope: space-separated ``repository:<name>:<actions>`` items, or empty.

        Returns:
            Headers to add to every request for this scope until the registry refuses them.

        Raises:
            AccessDenied: no usable credentials (or the token service said no).
            NetworkError: the token service could not be reached.
        """
        ...


class Anonymous:
    """No credentials: every challenge is refused with a message naming the registry's scheme."""

    def authorize(self, challenge: httpx.Response, scope: str) -> dict[str, str]:
        """Raise :class:`AccessDenied`: there is nothing to answer the challenge with."""
        request = challenge.request
        scheme = challenge.headers.get("WWW-Authenticate", "").split(" ", 1)[0] or "an unknown scheme"
        raise AccessDenied(
            f"{request.method} {request.url}: HTTP {challenge.status_code}: the registry asks for "
            f"credentials ({scheme}) for {scope or 'access'}, and none were given",
            method=request.method,
            url=str(request.url),
            status=challenge.status_code,
        )
