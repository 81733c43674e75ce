"""Trust for images: TUF-signed tags kept in the registry itself (or an OCI layout), and keys.

The TUF side (this package's TUF modules):

* :mod:`~dockwright.trust.keys`: generate ed25519/ecdsa keys, store them encrypted, load signers
  from files, ``env:`` variables or securesystemslib key URIs;
* :mod:`~dockwright.trust.metadata_store`: where metadata files live (:class:`RegistryMetadataStore`
  as OCI artifacts tagged ``tuf-<file>``, :class:`OciLayoutMetadataStore`, :class:`MemoryMetadataStore`);
* :mod:`~dockwright.trust.repository`: :class:`TrustRepository` signs tags, delegates tag patterns
  to roles, rotates and revokes keys, refreshes expiring metadata;
* :mod:`~dockwright.trust.client`: :class:`TrustClient` resolves a tag to its signed manifest digest
  with python-tuf's ``Updater`` over :class:`StoreFetcher`, from a pinned root (:class:`RootPins`).

Errors are :class:`TrustError` subclasses (``VerificationError``, exit 5), one per TUF attack class.

What this package's TUF surface does not do: push images or attestations, or apply a verification
policy (see :mod:`dockwright.trust.verify`).

The names above are imported from their modules on first use (PEP 562 ``__getattr__``), so
``pull`` and ``copy``, which only carry ``tuf-*`` tags along (:mod:`~dockwright.trust.location`),
do not load python-tuf and securesystemslib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockwright.trust._tuf_errors import (
        EndlessDataError,
        FreezeAttackError,
        MixAndMatchError,
        RollbackAttackError,
        TagNotSignedError,
        TrustDataMissingError,
        TrustError,
        TrustSignatureError,
    )
    from dockwright.trust._tuf_names import attestation_target, tag_target
    from dockwright.trust._tuf_status import RoleStatus, TrustStatus
    from dockwright.trust.client import (
        RootPins,
        TrustClient,
        TrustedTarget,
        default_cache_dir,
        default_trust_dir,
        initial_root,
        resolve_tag,
        root_summary,
    )
    from dockwright.trust.fetcher import METADATA_BASE_URL, FetchStats, StoreFetcher
    from dockwright.trust.keys import (
        PASSPHRASE_ENV,
        KeyFiles,
        create_key,
        generate_signer,
        load_signer,
        read_public_key,
        write_key_files,
        write_public_key,
    )
    from dockwright.trust.metadata_store import (
        MemoryMetadataStore,
        MetadataStore,
        OciLayoutMetadataStore,
        RegistryMetadataStore,
        copy_metadata,
        filename_for,
        tag_for,
    )
    from dockwright.trust.repository import Expiries, RoleKeys, TargetSpec, TrustRepository

__all__ = [
    "METADATA_BASE_URL",
    "PASSPHRASE_ENV",
    "EndlessDataError",
    "Expiries",
    "FetchStats",
    "FreezeAttackError",
    "KeyFiles",
    "MemoryMetadataStore",
    "MetadataStore",
    "MixAndMatchError",
    "OciLayoutMetadataStore",
    "RegistryMetadataStore",
    "RoleKeys",
    "RoleStatus",
    "RollbackAttackError",
    "RootPins",
    "StoreFetcher",
    "TagNotSignedError",
    "TargetSpec",
    "TrustClient",
    "TrustDataMissingError",
    "TrustError",
    "TrustRepository",
    "TrustSignatureError",
    "TrustStatus",
    "TrustedTarget",
    "attestation_target",
    "copy_metadata",
    "create_key",
    "default_cache_dir",
    "default_trust_dir",
    "filename_for",
    "generate_signer",
    "initial_root",
    "load_signer",
    "read_public_key",
    "resolve_tag",
    "root_summary",
    "tag_for",
    "tag_target",
    "write_key_files",
    "write_public_key",
]

_HOMES = {
    "EndlessDataError": "dockwright.trust._tuf_errors",
    "Expiries": "dockwright.trust.repository",
    "FetchStats": "dockwright.trust.fetcher",
    "FreezeAttackError": "dockwright.trust._tuf_errors",
    "KeyFiles": "dockwright.trust.keys",
    "METADATA_BASE_URL": "dockwright.trust.fetcher",
    "MemoryMetadataStore": "dockwright.trust.metadata_store",
    "MetadataStore": "dockwright.trust.metadata_store",
    "MixAndMatchError": "dockwright.trust._tuf_errors",
    "OciLayoutMetadataStore": "dockwright.trust.metadata_store",
    "PASSPHRASE_ENV": "dockwright.trust.keys",
    "RegistryMetadataStore": "dockwright.trust.metadata_store",
    "RoleKeys": "dockwright.trust.repository",
    "RoleStatus": "dockwright.trust._tuf_status",
    "RollbackAttackError": "dockwright.trust._tuf_errors",
    "RootPins": "dockwright.trust.client",
    "StoreFetcher": "dockwright.trust.fetcher",
    "TagNotSignedError": "dockwright.trust._tuf_errors",
    "TargetSpec": "dockwright.trust.repository",
    "TrustClient": "dockwright.trust.client",
    "TrustDataMissingError": "dockwright.trust._tuf_errors",
    "TrustError": "dockwright.trust._tuf_errors",
    "TrustRepository": "dockwright.trust.repository",
    "TrustSignatureError": "dockwright.trust._tuf_errors",
    "TrustStatus": "dockwright.trust._tuf_status",
    "TrustedTarget": "dockwright.trust.client",
    "attestation_target": "dockwright.trust._tuf_names",
    "copy_metadata": "dockwright.trust.metadata_store",
    "create_key": "dockwright.trust.keys",
    "default_cache_dir": "dockwright.trust.client",
    "default_trust_dir": "dockwright.trust.client",
    "filename_for": "dockwright.trust.metadata_store",
    "generate_signer": "dockwright.trust.keys",
    "initial_root": "dockwright.trust.client",
    "load_signer": "dockwright.trust.keys",
    "read_public_key": "dockwright.trust.keys",
    "resolve_tag": "dockwright.trust.client",
    "root_summary": "dockwright.trust.client",
    "tag_for": "dockwright.trust.metadata_store",
    "tag_target": "dockwright.trust._tuf_names",
    "write_key_files": "dockwright.trust.keys",
    "write_public_key": "dockwright.trust.keys",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
