"""The one exception tree of dockwright, split by what the user does next.

::

    DockwrightError                 exit 1  (base; never raised directly)
    ├── InputError                  exit 2  invalid input: fix it
    │   ├── SpecError                       dockwright.yaml is malformed (file:line)
    │   ├── LockError                       dockwright.lock is missing, stale or malformed
    │   └── ImageReferenceError             a transport string such as ``oci:DIR:TAG`` is malformed
    ├── ResolutionError             exit 3  unknown package or unsatisfiable relations
    ├── NetworkError                exit 4  the mirror could not be reached: retry
    ├── VerificationError           exit 5  a signature or digest did not match: stop, never fall back
    │   ├── SignatureError                  InRelease signature missing, bad or expired
    │   └── DigestMismatchError             bytes do not match the digest from a signed source
    ├── UnsafeArchiveError          exit 6  a package archive holds hostile entries
    ├── BuildConflictError          exit 7  two origins write the same path differently
    ├── GateError                   exit 8  an inspected image fails a --fail-on rule
    └── PolicyViolation             exit 9  an authentic image breaks the trust policy (packages, age)

Every error carries a ``hint``: one sentence saying what to do, printed by the CLI under the message.
Lower-library exceptions (httpx, tarfile, yaml) are mapped to these at the module that calls them.
"""

from __future__ import annotations

__all__ = [
    "BuildConflictError",
    "DigestMismatchError",
    "DockwrightError",
    "GateError",
    "ImageReferenceError",
    "InputError",
    "LockError",
    "NetworkError",
    "PolicyViolation",
    "ResolutionError",
    "SignatureError",
    "SpecError",
    "UnsafeArchiveError",
    "VerificationError",
]


class DockwrightError(Exception):
    """Base of every error dockwright raises on purpose."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint


class InputError(DockwrightError):
    """Invalid input from the user (spec, lock, flags): fix it and run again."""

    exit_code = 2


class SpecError(InputError):
    """The build spec is malformed; ``location`` is ``file:line[:column]`` when known."""

    default_hint = "fix the spec at the location shown; see docs/spec.md for every field"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        location = ""
        if path is not None:
            location = path
            if line is not None:
                location += f":{line}"
                if column is not None:
                    location += f":{column}"
            location += ": "
        self.location = location.rstrip(": ")
        super().__init__(location + message, hint=hint)


class LockError(InputError):
    """The lock file is missing, stale or malformed."""

    default_hint = "run `dockwright lock` to write a fresh dockwright.lock"


class ImageReferenceError(InputError):
    """A transport reference (``oci:DIR[:TAG]``, ``docker-archive:FILE[:REF]``) is malformed."""

    default_hint = "write oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG]"


class ResolutionError(DockwrightError):
    """A package is unknown or the requested relations cannot be satisfied together."""

    exit_code = 3
    default_hint = "check the package names and suites, or add the missing suite to `source.suites`"


class NetworkError(DockwrightError):
    """The mirror could not be reached or answered with an error; retrying may help."""

    exit_code = 4
    default_hint = "check the mirror URL and your connection, then run the command again"


class VerificationError(DockwrightError):
    """Bytes or signatures failed verification. Never retried against another source silently."""

    exit_code = 5
    default_hint = "do not use this mirror until the mismatch is explained"


class SignatureError(VerificationError):
    """An InRelease file is unsigned, signed by an unknown key, badly signed, or expired."""

    default_hint = (
        "check `source.keyring` holds the archive's key; for snapshot mirrors past Valid-Until "
        "set `source.check-valid-until: false`"
    )


class DigestMismatchError(VerificationError):
    """Downloaded or cached bytes do not match the digest from a signed source."""


class UnsafeArchiveError(DockwrightError):
    """A package archive holds hostile entries (path traversal, escaping links, devices, bombs)."""

    exit_code = 6
    default_hint = "the package is malformed or hostile; do not install it"


class BuildConflictError(DockwrightError):
    """Two origins (packages or local files) write the same path with different content."""

    exit_code = 7
    default_hint = "remove one of the conflicting packages or change the `files` destination"

    def __init__(self, message: str, *, path: str, origins: tuple[str, ...], hint: str | None = None):
        self.path = path
        self.origins = origins
        super().__init__(message, hint=hint)


class GateError(DockwrightError):
    """An inspected image breaks a ``--fail-on`` rule (a CI gate); ``reasons`` lists each one."""

    exit_code = 8
    default_hint = "remove the listed caches, docs or dev/test packages, or relax --fail-on"

    def __init__(self, message: str, *, reasons: tuple[str, ...], hint: str | None = None) -> None:
        self.reasons = reasons
        super().__init__(message, hint=hint)


class PolicyViolation(DockwrightError):
    """An image verified as authentic, but the trust policy forbids what it holds (or its age)."""

    exit_code = 9
    default_hint = "rebuild the image without what is listed, or change the policy"
