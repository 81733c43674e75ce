"""Where a repository's trust data lives, and carrying it along when an image is copied.

A :class:`TrustLocation` is the image repository (``docker://HOST[:PORT]/REPO[:TAG]``) or OCI
layout (``oci:DIR[:TAG]``) whose ``tuf-*`` tags hold the TUF metadata. This module imports no TUF
or signing library, so ``pull`` and ``copy`` can carry metadata along (:func:`copy_trust_metadata`)
without paying for them.

What this module does not do: read, check or sign the metadata (see :mod:`dockwright.trust.client`
and :mod:`dockwright.trust.repository`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockwright.errors import InputError
from dockwright.oci.reference import OciReference
from dockwright.registry.endpoints import parse_endpoint
from dockwright.registry.reference import RegistryReference
from dockwright.trust.metadata_store import (
    MetadataStore,
    OciLayoutMetadataStore,
    RegistryMetadataStore,
    copy_metadata,
)

if TYPE_CHECKING:
    from dockwright.registry.client import RegistryClient

__all__ = ["ClientConnector", "TrustLocation", "copy_trust_metadata", "open_location"]

ClientConnector = Callable[[str], "RegistryClient"]
"""Gives the registry client of ``host[:port]`` (a :class:`~dockwright.registry.endpoints.Connections`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustLocation:
    """Where one repository's images and trust data are: ``name`` is the policy scope name."""

    reference: str
    name: str
    tag: str | None
    store: MetadataStore


def open_location(ref: str, connect: ClientConnector | None) -> TrustLocation:
    """Open the trust data of ``docker://HOST/REPO[:TAG]`` or ``oci:DIR[:TAG]``.

    Raises:
        ImageReferenceError: a malformed reference.
        InputError: another transport, or a registry without connections.
    """
    endpoint = parse_endpoint(ref)
    if isinstance(endpoint, RegistryReference):
        if connect is None:
            raise InputError(f"{ref}: a docker:// repository needs registry connections")
        store: MetadataStore = RegistryMetadataStore(connect(endpoint.registry), endpoint.repository)
        name = f"{endpoint.registry}/{endpoint.repository}"
        return TrustLocation(reference=ref, name=name, tag=endpoint.tag, store=store)
    if isinstance(endpoint, OciReference):
        store = OciLayoutMetadataStore(Path(endpoint.path))
        return TrustLocation(reference=ref, name=f"oci:{endpoint.path}", tag=endpoint.tag, store=store)
    raise InputError(
        f"{ref}: trust data lives in docker:// repositories or oci: layouts",
        hint="write docker://HOST[:PORT]/REPOSITORY[:TAG] or oci:DIR[:TAG]",
    )


def copy_trust_metadata(
    source: TrustLocation, target: TrustLocation, *, source_names: Sequence[str] | None = None
) -> list[str]:
    """Copy the ``tuf-*`` metadata of ``source`` that ``target`` lacks (and the timestamp, last).

    Versioned files never change, so only new ones and ``timestamp.json`` are copied.

    Args:
        source: where the metadata is.
        target: where it goes.
        source_names: ``source.store.names()``, when the caller listed them already.

    Returns:
        The file names copied; empty when ``source`` holds no trust data.
    """
    names = source.store.names() if source_names is None else source_names
    if "timestamp.json" not in names:
        return []
    have = set(target.store.names())
    wanted: Sequence[str] = [n for n in names if n not in have or n == "timestamp.json"]
    return copy_metadata(source.store, target.store, wanted)
