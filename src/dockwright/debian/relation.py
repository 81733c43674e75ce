"""Parse Debian relation fields (Depends, Pre-Depends, Provides, Conflicts, Breaks, Replaces).

Grammar (deb-control(5)), one rule per line::

    field        := group ("," group)*          empty groups (a stray comma) are skipped
    group        := relation ("|" relation)*
    relation     := name [":" arch] [version] [arch-list] profiles*
    version      := "(" op debian-version ")"
    op           := "<<" | "<=" | "=" | ">=" | ">>" | "<" | ">"    ("<" and ">" mean "<=" and ">=")
    arch-list    := "[" ... "]"                 parsed and dropped
    profiles     := "<" ... ">"                 parsed and dropped

Parsed fields are cached by their text: a Packages index repeats the same few thousand strings
(``libc6 (>= 2.34)``) tens of thousands of times.

This module does not evaluate architecture restrictions or build profiles: they only occur in
source packages, and binary ``Packages`` indexes never carry them, so they are accepted and
ignored. It does not decide which package satisfies a relation by name or architecture (the
resolver does); ``Relation.satisfied_by`` only checks the version constraint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from dockwright.debian.version import compare_versions
from dockwright.errors import InputError

__all__ = ["Alternatives", "Operator", "Relation", "format_alternatives", "parse_relations"]

Operator = Literal["<<", "<=", "=", ">=", ">>"]

_RELATION = re.compile(
    r"[ \t\n]*(?P<name>[A-Za-z0-9][A-Za-z0-9+._-]*)"
    r"(?::(?P<arch>[A-Za-z0-9_-]+))?[ \t\n]*"
    r"(?:\([ \t\n]*(?P<op><<|<=|>=|>>|=|<|>)[ \t\n]*(?P<version>[^ \t\n()]+)[ \t\n]*\)[ \t\n]*)?"
    r"(?:\[[^\]]*\][ \t\n]*)?"
    r"(?:<[^>]*>[ \t\n]*)*"
)
_SEPARATOR = re.compile(r"[ \t\n]*([,|]|$)")
_OPERATORS: dict[str, Operator] = {
    "<<": "<<",
    "<=": "<=",
    "=": "=",
    ">=": ">=",
    ">>": ">>",
    "<": "<=",  # obsolete spelling, deb-control(5)
    ">": ">=",
}
_CHECKS: dict[Operator, Callable[[int], bool]] = {
    "<<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    "=": lambda c: c == 0,
    ">=": lambda c: c >= 0,
    ">>": lambda c: c > 0,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Relation:
    """One relation such as ``libc6:any (>= 2.34)``.

    Attributes:
        name: The package (or virtual package) name.
        arch_qualifier: ``"any"``, an architecture name such as ``"amd64"``, or None.
        op: The version operator, or None for an unversioned relation.
        version: The version the operator compares with, or None.
    """

    name: str
    arch_qualifier: str | None = None
    op: Operator | None = None
    version: str | None = None

    def satisfied_by(self, version: str) -> bool:
        """Tell whether a package (or provided) version meets this relation's version constraint.

        Args:
            version: The version of the candidate package.

        Returns:
            True for an unversioned relation, else the result of the comparison.
        """
        if self.op is None or self.version is None:
            return True
        return _CHECKS[self.op](compare_versions(version, self.version))

    def __str__(self) -> str:
        """Render the relation the way Debian control files write it."""
        text = self.name if self.arch_qualifier is None else f"{self.name}:{self.arch_qualifier}"
        return text if self.op is None else f"{text} ({self.op} {self.version})"


Alternatives = tuple[Relation, ...]
"""An or-group ``a | b``: satisfied when any member is."""


def format_alternatives(group: Alternatives) -> str:
    """Render an or-group as ``a (>= 1) | b``.

    Args:
        group: The alternatives.

    Returns:
        The group in control-file syntax.
    """
    return " | ".join(str(relation) for relation in group)


def _syntax_error(text: str, pos: int, expected: str) -> InputError:
    """Build an error that shows the field and a caret under the bad character."""
    found = repr(text[pos]) if pos < len(text) else "end of field"
    return InputError(
        f"invalid relation field at column {pos + 1}: expected {expected}, found {found}\n"
        f"  {text}\n  {' ' * pos}^",
        hint="relations look like `name[:arch] [(op version)]`, separated by `,` and `|`",
    )


def _relation_at(text: str, pos: int) -> tuple[Relation, int]:
    """Parse one relation starting at ``pos``; return it and the position after it."""
    match = _RELATION.match(text, pos)
    if match is None:
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1
        raise _syntax_error(text, pos, "a package name")
    op = _OPERATORS[match["op"]] if match["op"] else None
    relation = Relation(name=match["name"], arch_qualifier=match["arch"], op=op, version=match["version"])
    return relation, match.end()


@lru_cache(maxsize=1 << 16)
def parse_relations(text: str) -> tuple[Alternatives, ...]:
    """Parse a relation field into or-groups.

    Args:
        text: The field's value, e.g. ``"libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0"``.
            Continuation lines (newlines followed by blanks) are allowed.

    Returns:
        One ``Alternatives`` tuple per comma-separated group, in field order; ``()`` for an
        empty field.

    Raises:
        InputError: The field is malformed; the message shows where.
    """
    groups: list[Alternatives] = []
    current: list[Relation] = []
    pos = 0
    while True:
        blank = _SEPARATOR.match(text, pos)
        if blank is not None and blank[1] in (",", "") and not current:
            pos = blank.end()  # an empty group, e.g. a trailing comma
            if blank[1] == "":
                return tuple(groups)
            continue
        relation, pos = _relation_at(text, pos)
        current.append(relation)
        separator = _SEPARATOR.match(text, pos)
        if separator is None:
            raise _syntax_error(text, pos, "',', '|', '(' or end of field")
        pos = separator.end()
        if separator[1] != "|":
            groups.append(tuple(current))
            current = []
            if separator[1] == "":
                return tuple(groups)
