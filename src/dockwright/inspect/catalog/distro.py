"""The distribution an image claims to be (os-release), and PURLs qualified with it as syft does.

syft builds the ``distro`` qualifier from os-release as ``ID-VERSION_ID`` (or ``ID-BUILD_ID`` when
there is no ``VERSION_ID``), drops qualifiers with empty values, and (through packageurl-go) writes
qualifiers sorted by key; packageurl-python does the same, so ``bash`` in Debian 12 becomes
``pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2``
(anchore/syft v1.18.1 ``syft/pkg/url.go`` ``PURLQualifiers``).

This module does not guess a distribution from package names or databases: no os-release, no
``distro`` qualifier.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from packageurl import PackageURL

from dockwright.inspect.model import ImageContents

__all__ = ["OS_RELEASE_PATHS", "Distro", "distro_of", "parse_os_release", "purl"]

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")


@dataclass(frozen=True, slots=True)
class Distro:
    """The few os-release fields PURLs use.

    Attributes:
        id: ``ID`` (``debian``, ``alpine``, ``rhel``), lower case.
        version_id: ``VERSION_ID`` (``12``, ``3.19.1``).
        build_id: ``BUILD_ID`` (rolling distributions).
        id_like: ``ID_LIKE`` split on spaces.
    """

    id: str = ""
    version_id: str = ""
    build_id: str = ""
    id_like: tuple[str, ...] = ()

    @property
    def qualifier(self) -> str:
        """The ``distro`` qualifier value, ``""`` when os-release names no distribution."""
        if not self.id:
            return ""
        release = self.version_id or self.build_id
        return f"{self.id}-{release}" if release else self.id

    def is_like(self, family: str) -> bool:
        """Tell whether this distribution is ``family`` or derived from it (``ID_LIKE``)."""
        return self.id == family or family in self.id_like


def parse_os_release(data: bytes) -> dict[str, str]:
    """Parse os-release text (shell-style ``KEY=value`` lines).

    Args:
        data: the file's bytes.

    Returns:
        The assignments, unquoted; malformed lines are skipped.
    """
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, eq, value = line.strip().partition("=")
        if not eq or not key.isidentifier():
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        fields[key] = " ".join(words)
    return fields


def distro_of(contents: ImageContents) -> Distro:
    """Return the image's distribution from ``contents.os_release``, else from its os-release file.

    Args:
        contents: what the reader found (the os-release files are among the wanted paths).

    Returns:
        The distribution; empty fields when the image has no os-release.
    """
    fields = {k.upper(): v for k, v in contents.os_release.items()}
    if not fields:
        for path in OS_RELEASE_PATHS:
            if path in contents.contents:
                fields = parse_os_release(contents.contents[path])
                break
    return Distro(
        id=fields.get("ID", "").lower(),
        version_id=fields.get("VERSION_ID", ""),
        build_id=fields.get("BUILD_ID", ""),
        id_like=tuple(fields.get("ID_LIKE", "").lower().split()),
    )


def purl(
    type_: str,
    namespace: str,
    name: str,
    version: str,
    qualifiers: dict[str, str],
    distro: Distro | None = None,
) -> str:
    """Build a PURL string as syft does: empty qualifiers dropped, ``distro`` added, keys sorted.

    Args:
        type_: the PURL type (``deb``, ``rpm``, ...).
        namespace: the namespace, ``""`` for none.
        name: the package name.
        version: the version.
        qualifiers: qualifiers; empty values are dropped.
        distro: adds ``distro=<ID>-<VERSION_ID>`` when given and known.

    Returns:
        The canonical PURL string.
    """
    kept = {k: v for k, v in qualifiers.items() if v}
    if distro is not None and distro.qualifier:
        kept["distro"] = distro.qualifier
    url = PackageURL(type=type_, namespace=namespace or None, name=name, version=version, qualifiers=kept)
    return str(url.to_string())
