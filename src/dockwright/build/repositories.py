"""Which repositories a spec resolves against: the spec's ``source`` over the host's apt sources.

Rules (documented in docs/spec.md):

* no ``source`` at all: every ``deb`` source of the host, as apt would use them;
* ``source.mirror``: that mirror for every suite; suites and components default to those of the
  host's first source, the keyring to the first source's ``Signed-By`` (or Debian's keyring);
* ``source.suites`` / ``components`` / ``keyring`` without a mirror: the host's sources, limited
  to those suites, with those components or that keyring.

This module only decides; fetching and verifying are :mod:`dockwright.debian.repository`'s.
"""

from __future__ import annotations

from pathlib import Path

from dockwright.build.spec import Spec
from dockwright.debian.repository import RepositoryConfig, configs_for_source
from dockwright.debian.sources import DEFAULT_KEYRING, AptSource
from dockwright.errors import SpecError

__all__ = ["repository_configs"]


def repository_configs(spec: Spec, host: list[AptSource]) -> list[RepositoryConfig]:
    """The repositories ``spec`` resolves against, in priority order (base suite first).

    Args:
        spec: the validated spec.
        host: the host's apt sources (from :func:`dockwright.debian.sources.host_sources`).

    Raises:
        SpecError: nothing to resolve against (no host sources and no ``source.mirror``), or the
            requested suites are not among the host's.
    """
    src = spec.source
    archs = spec.architectures
    if src.mirror is not None:
        first = host[0] if host else None
        suites = src.suites or (first.suites if first else None)
        if not suites:
            raise SpecError(
                "source.mirror is set but no suites are given and the host has no apt sources",
                path=spec.path,
                hint="add source.suites, e.g. [bookworm]",
            )
        keyring = Path(src.keyring) if src.keyring else (first.keyring if first else DEFAULT_KEYRING)
        source = AptSource(
            uri=src.mirror,
            suites=suites,
            components=src.components or (first.components if first else ("main",)),
            signed_by=str(keyring),
        )
        return configs_for_source(source, architectures=archs, check_valid_until=src.check_valid_until)
    if not host:
        raise SpecError(
            "the host has no apt sources and the spec names no source.mirror",
            path=spec.path,
            hint="add `source: {mirror: URL, suites: [...]}` to the spec",
        )
    configs: list[RepositoryConfig] = []
    for source in host:
        suites = tuple(s for s in source.suites if src.suites is None or s in src.suites)
        if not suites:
            continue
        adjusted = AptSource(
            uri=source.uri,
            suites=suites,
            components=src.components or source.components,
            signed_by=src.keyring or source.signed_by,
            architectures=(),
        )
        configs += configs_for_source(adjusted, architectures=archs, check_valid_until=src.check_valid_until)
    if not configs:
        raise SpecError(
            f"none of source.suites {list(src.suites or ())} is in the host's apt sources",
            path=spec.path,
            hint="set source.mirror too, or use suites the host has",
        )
    if src.suites:
        order = {s: i for i, s in enumerate(src.suites)}
        configs.sort(key=lambda c: order.get(c.suite, len(order)))
    return configs
