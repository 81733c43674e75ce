"""Push and pull images to any OCI registry: references, and the distribution-spec client.

``docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]`` references parse to :class:`RegistryReference`
(the registry is always named). :class:`RegistryClient` speaks the OCI distribution spec to one
registry: blobs (resumable, verified), manifests, tags and referrers. Authentication plugs in
through the :class:`Authenticator` protocol.

What this package's public surface does not include: which blobs to copy or in what order (the
transfer engine), or where credentials come from (the auth module).
"""

from dockwright.registry._auth_protocol import Anonymous, Authenticator, pull_scope, push_scope
from dockwright.registry._errors import (
    AccessDenied,
    BlobNotFound,
    ManifestNotFound,
    NotFoundError,
    RegistryError,
    RepositoryNotFound,
)
from dockwright.registry._session import tls_context
from dockwright.registry.client import ALL_MANIFEST_TYPES, MANIFEST_LIMIT, FetchedManifest, RegistryClient
from dockwright.registry.reference import RegistryReference, parse_registry_reference

__all__ = [
    "ALL_MANIFEST_TYPES",
    "MANIFEST_LIMIT",
    "AccessDenied",
    "Anonymous",
    "Authenticator",
    "BlobNotFound",
    "FetchedManifest",
    "ManifestNotFound",
    "NotFoundError",
    "RegistryClient",
    "RegistryError",
    "RegistryReference",
    "RepositoryNotFound",
    "parse_registry_reference",
    "pull_scope",
    "push_scope",
    "tls_context",
]
