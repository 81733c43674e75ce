"""Errors of TUF verification, each named after the TUF attack it stops, and python-tuf's mapped.

::

    VerificationError (dockwright.errors)   exit 5: stop, never fall back
    └── TrustError                          TUF metadata failed verification; ``attack``, ``role``
        ├── TrustSignatureError             too few valid signatures (arbitrary software / compromised key)
        ├── FreezeAttackError               expired metadata (freeze attack)
        ├── RollbackAttackError             older metadata than already trusted (rollback attack)
        ├── MixAndMatchError                a file is not the version or bytes snapshot/timestamp pinned
        ├── EndlessDataError                more bytes than the metadata allows (endless data attack)
        ├── TrustDataMissingError           the repository has no (or incomplete) TUF metadata
        └── TagNotSignedError               the signed metadata holds no target for the tag

:func:`map_tuf_error` turns python-tuf's exceptions into these at the boundary (the client and the
repository both call it); a :class:`~dockwright.errors.DockwrightError` raised by a metadata store
(a registry that failed, for instance) comes back unchanged, whatever python-tuf wrapped it in.

What this module does not do: decide whether to retry (a ``NetworkError`` from the store may be
retried by the caller; a ``TrustError`` never is) or print anything.
"""

from __future__ import annotations

import re

from dockwright.errors import DockwrightError, NetworkError, VerificationError

__all__ = [
    "EndlessDataError",
    "FreezeAttackError",
    "MixAndMatchError",
    "RollbackAttackError",
    "TagNotSignedError",
    "TrustDataMissingError",
    "TrustError",
    "TrustSignatureError",
    "map_tuf_error",
]


class TrustError(VerificationError):
    """TUF metadata failed verification. ``attack`` names the TUF attack class it stopped."""

    attack = "untrusted metadata"
    default_hint = "do not use this image; ask the repository's owners whether its trust data was changed"

    def __init__(self, message: str, *, role: str | None = None, hint: str | None = None) -> None:
        self.role = role
        super().__init__(message, hint=hint)


class TrustSignatureError(TrustError):
    """Metadata is not signed by a threshold of the keys its delegator names."""

    attack = "arbitrary software installation (bad or missing signatures)"
    default_hint = (
        "someone without the role's keys changed the trust data, or the keys were rotated and your "
        "pinned root is not the repository's: check the root key ids with the repository's owners"
    )


class FreezeAttackError(TrustError):
    """Metadata has expired: the repository serves stale data, or nobody refreshed it."""

    attack = "freeze attack (expired metadata)"
    default_hint = (
        "the repository must refresh its online metadata (`dockwright trust refresh`); check the "
        "clock of this machine too"
    )


class RollbackAttackError(TrustError):
    """Metadata is older than metadata this client already trusted."""

    attack = "rollback attack (older metadata than already trusted)"
    default_hint = "someone serves old trust data: do not use this registry until it is explained"


class MixAndMatchError(TrustError):
    """A metadata file is not the version (or bytes) the snapshot or timestamp pinned."""

    attack = "mix-and-match attack (metadata from different repository states)"
    default_hint = "the repository's metadata files do not belong together: do not use it until fixed"


class EndlessDataError(TrustError):
    """A metadata file is longer than the signed length (or the configured maximum)."""

    attack = "endless data attack (oversized metadata)"
    default_hint = "the registry serves more data than was signed: do not use it until explained"


class TrustDataMissingError(TrustError):
    """The repository has no TUF metadata, or a file the signed metadata names is missing."""

    attack = "missing trust data"
    default_hint = "sign the repository with `dockwright trust init` and `dockwright trust sign`"


class TagNotSignedError(TrustError):
    """The verified metadata holds no target for the tag (it was never signed, or was removed)."""

    attack = "unsigned tag"
    default_hint = "sign the tag with `dockwright trust sign`, or pull it by a digest you trust"


# python-tuf says which check failed only in BadVersionNumberError's message: a file that is not
# the version its parent pinned is mix-and-match; any other version complaint is a rollback.
_MIX_AND_MATCH = re.compile(
    r"Expected \S+ v\d+, got v\d+|Expected snapshot version \d+, got \d+|Expected root version"
)


def _found_in_chain(exc: BaseException) -> DockwrightError | None:
    """A dockwright error that caused ``exc`` (python-tuf wraps fetcher errors), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, DockwrightError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def map_tuf_error(exc: Exception, where: str) -> DockwrightError:
    """Map a python-tuf (or securesystemslib) exception to a dockwright error.

    Args:
        exc: what python-tuf raised.
        where: the metadata location, for the message (e.g. ``127.0.0.1:5000/team/app``).

    Returns:
        The error to raise: a :class:`TrustError` subclass for verification failures, the store's
        own error for storage failures, a :class:`NetworkError` for other download failures.
    """
    from tuf.api import exceptions as tuf_exceptions  # not at the top: stores import this module

    inner = _found_in_chain(exc)
    if inner is not None:
        return inner
    detail = str(exc) or type(exc).__name__
    kind: type[TrustError]
    if isinstance(exc, tuf_exceptions.DownloadLengthMismatchError):
        kind = EndlessDataError
    elif isinstance(exc, tuf_exceptions.DownloadHTTPError):
        kind = TrustDataMissingError
    elif isinstance(exc, tuf_exceptions.DownloadError):
        return NetworkError(f"{where}: could not read TUF metadata: {detail}")
    elif isinstance(exc, tuf_exceptions.ExpiredMetadataError):
        kind = FreezeAttackError
    elif isinstance(exc, tuf_exceptions.UnsignedMetadataError):
        kind = TrustSignatureError
    elif isinstance(exc, tuf_exceptions.LengthOrHashMismatchError):
        kind = MixAndMatchError
    elif isinstance(exc, tuf_exceptions.BadVersionNumberError):
        kind = MixAndMatchError if _MIX_AND_MATCH.search(detail) else RollbackAttackError
    else:
        kind = TrustError
    return kind(f"{where}: {kind.attack}: {detail}")
