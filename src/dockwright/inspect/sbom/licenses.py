"""Decide what a package's license string is: an SPDX license id, an SPDX expression, or free text.

Both SBOM writers ask this module, so an SPDX document and a CycloneDX document of the same image
always agree on which strings are SPDX. The decision is cyclonedx-python-lib's own (the one its
``LicenseFactory.make_from_string`` makes): a case-insensitive match against the SPDX license list
that the library ships is an **id**; otherwise a string that ``license-expression`` accepts as an
SPDX expression is an **expression** (written back in its normalized form, e.g. ``mit or
apache-2.0`` becomes ``MIT OR Apache-2.0``); anything else (``GPL-2+ with exceptions``,
``public-domain``) is **free text**.

The SPDX id list is read from the file cyclonedx-python-lib ships (without importing the library,
so that an SPDX document loads no CycloneDX code; if the file moves, the library's own functions
are used), and expressions are checked with the same ``license-expression`` symbol table the
library builds. Classifications are cached: an image repeats the same few license strings.

What this module does not do: map free text to SPDX ids (Debian's ``GPL-2+`` stays free text, as
no catalog of aliases is consulted beyond what ``license-expression`` itself knows), read license
files, or build document-specific references (``LicenseRef-...`` belongs to the SPDX writer).
"""

from __future__ import annotations

import enum
import functools
import importlib.util
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from license_expression import Licensing  # type: ignore[import-untyped]

__all__ = [
    "LicenseChoice",
    "LicenseKind",
    "classify_license",
    "classify_licenses",
    "fixup_id",
    "is_expression",
    "join_expressions",
    "load_tables",
]


class LicenseKind(enum.Enum):
    """What a license string turned out to be."""

    ID = "id"
    EXPRESSION = "expression"
    NAME = "name"


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseChoice:
    """One classified license string.

    ``value`` is what to write: the canonical SPDX id, the normalized expression, or (for
    ``NAME``) the stripped original. ``text`` is the original string as the cataloger found it.
    """

    kind: LicenseKind
    value: str
    text: str


@functools.cache
def _licensing() -> Licensing:
    # Built once on first use (about 40 ms); the same SPDX symbol table cyclonedx.spdx uses.
    from license_expression import get_spdx_licensing

    licensing: Licensing = get_spdx_licensing()
    return licensing


_SPDX_IDS_FILE = ("schema", "_res", "spdx.SNAPSHOT.schema.json")  # cyclonedx.schema._res.SPDX_JSON


@functools.cache
def _spdx_ids() -> dict[str, str] | None:
    """Lowercase SPDX license id -> id, from cyclonedx-python-lib's list; None if it is not found."""
    spec = importlib.util.find_spec("cyclonedx")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_SPDX_IDS_FILE)
    try:
        ids = json.loads(path.read_bytes())["enum"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return None
    return {i.lower(): i for i in ids}


def load_tables() -> None:
    """Build the SPDX id list, the expression symbol table and its tokenizer now rather than at
    first use (about 30 ms: worth doing while the image is being read)."""
    _spdx_ids()
    # The tokenizer (an automaton of every symbol, about 4 ms) is otherwise built by the first
    # expression checked, after the image is read.
    _licensing().get_advanced_tokenizer()


def fixup_id(value: str) -> str | None:
    """The SPDX license id ``value`` names, case-insensitively (``cyclonedx.spdx.fixup_id``)."""
    ids = _spdx_ids()
    if ids is None:  # pragma: no cover (the library moved its list)
        from cyclonedx.spdx import fixup_id as library_fixup_id

        return library_fixup_id(value)
    return ids.get(value.lower())


def is_expression(value: str) -> bool:
    """Whether ``value`` is a valid SPDX expression (``cyclonedx.spdx.is_expression``)."""
    try:
        result = _licensing().validate(value)
    except Exception:  # license-expression crashes on some inputs
        return False
    return not result.errors


def _normalized(expression: str) -> str:
    """The normalized form of an expression :func:`is_expression` accepted (itself on failure)."""
    try:
        info = _licensing().validate(expression)
    except Exception:  # license-expression crashes on some inputs; keep the text as it was
        return expression
    normalized = info.normalized_expression
    return normalized if isinstance(normalized, str) and normalized and not info.errors else expression


@functools.lru_cache(maxsize=4096)
def classify_license(text: str) -> LicenseChoice | None:
    """Classify one license string.

    Args:
        text: a license as a cataloger found it (``MIT``, ``MIT OR Apache-2.0``, ``GPL-2+``).

    Returns:
        The classification, or ``None`` for an empty or blank string.
    """
    stripped = text.strip()
    if not stripped:
        return None
    spdx_id = fixup_id(stripped)
    if spdx_id is not None:
        return LicenseChoice(kind=LicenseKind.ID, value=spdx_id, text=text)
    if is_expression(stripped):
        return LicenseChoice(kind=LicenseKind.EXPRESSION, value=_normalized(stripped), text=text)
    return LicenseChoice(kind=LicenseKind.NAME, value=stripped, text=text)


def classify_licenses(texts: Iterable[str]) -> list[LicenseChoice]:
    """Classify a package's license strings, dropping blanks and repeats (first one wins).

    Args:
        texts: the package's licenses in cataloger order.

    Returns:
        One choice per distinct non-blank license, in the order first seen.
    """
    seen: set[str] = set()
    choices: list[LicenseChoice] = []
    for text in texts:
        choice = classify_license(text)
        if choice is None or choice.value in seen:
            continue
        seen.add(choice.value)
        choices.append(choice)
    return choices


def join_expressions(parts: Sequence[str]) -> str:
    """Join SPDX ids and expressions with ``AND`` (every listed license applies).

    A compound part is parenthesized so the operators inside keep their meaning.

    Args:
        parts: ids or expressions, at least one.

    Returns:
        One SPDX expression.
    """
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(f"({part})" if " " in part else part for part in parts)
