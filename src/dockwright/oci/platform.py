"""Platforms as OCI indexes name them: ``OS/ARCH[/VARIANT]``, normalized, and this machine's.

What this module does not do: pick a manifest from an index (the transfer and the inspect sources
do, each with their own rules for missing platforms).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from dockwright.errors import InputError

__all__ = ["PlatformSpec", "host_platform", "parse_platform"]

_PART = re.compile(r"[A-Za-z0-9_.-]+")
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
_MACHINE_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le"}


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """``OS/ARCH[/VARIANT]``, normalized (``aarch64`` is ``arm64``, whose default variant is ``v8``)."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def of(cls, os: str, architecture: str, variant: str | None) -> PlatformSpec:
        """Normalize a platform as written in an index or a config."""
        arch = _ARCH_ALIASES.get(architecture, architecture)
        return cls(os, arch, variant or _DEFAULT_VARIANT.get(arch))

    def matches(self, other: PlatformSpec) -> bool:
        """True when ``other`` (an image's platform) satisfies this request."""
        return (
            self.os == other.os
            and self.architecture == other.architecture
            and (self.variant is None or self.variant == other.variant)
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def parse_platform(text: str) -> PlatformSpec:
    """Parse ``OS/ARCH[/VARIANT]`` such as ``linux/amd64`` or ``linux/arm64/v8``.

    The variant is left unset when not written, so ``linux/arm`` matches any ARM variant.

    Raises:
        InputError: the text is not two or three non-empty parts.
    """
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(_PART.fullmatch(p) for p in parts):
        raise InputError(
            f"invalid platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8"
        )
    arch = _ARCH_ALIASES.get(parts[1], parts[1])
    return PlatformSpec(parts[0], arch, parts[2] if len(parts) == 3 else None)


def host_platform() -> str:
    """This machine's platform as ``linux/ARCH`` (images are Linux images; ``x86_64`` is amd64)."""
    machine = os.uname().machine.lower()
    return f"linux/{_MACHINE_ARCH.get(machine, machine or 'amd64')}"
