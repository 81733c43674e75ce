"""dpkg's ``path-exclude`` / ``path-include`` filters, and the named presets of the ``strip`` option.

Semantics follow dpkg(1) ``--path-exclude``: patterns are shell globs matched against the absolute
path (``/usr/share/doc/bash/copyright``) where ``*`` also matches ``/`` (fnmatch without
FNM_PATHNAME); every rule is tried in order and the *last* one that matches decides; a path no rule
matches is kept. A directory that an exclude rule drops is still kept when some include rule could
match something below it (judged by the pattern's literal prefix), so ``/usr/share/doc/bash/``
survives for its ``copyright``.

Presets (``PathFilter.from_names``):

* ``docs``: drop ``/usr/share/doc/*`` but keep ``/usr/share/doc/*/copyright`` (scanners read the
  licenses there).
* ``man``: drop ``/usr/share/man/*`` and ``/usr/share/info/*``.
* ``locales``: drop ``/usr/share/locale/*`` (message catalogs) but keep
  ``/usr/share/locale/locale.alias``, which glibc reads to resolve names such as ``LANG=german``.
  Compiled locales under ``/usr/lib/locale`` (``C.utf8``) are not touched.

What this module does not do: read archives or touch the tree (the extractor asks
:meth:`PathFilter.excludes` per member), or rewrite the package's md5sums (dpkg keeps them too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from dockwright.errors import SpecError
from dockwright.fs.tree import normalize

__all__ = ["PRESETS", "PathFilter", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``path-include`` (``include=True``) or ``path-exclude`` rule."""

    include: bool
    pattern: str


PRESETS: dict[str, tuple[Rule, ...]] = {
    "docs": (Rule(False, "/usr/share/doc/*"), Rule(True, "/usr/share/doc/*/copyright")),
    "locales": (Rule(False, "/usr/share/locale/*"), Rule(True, "/usr/share/locale/locale.alias")),
    "man": (Rule(False, "/usr/share/man/*"), Rule(False, "/usr/share/info/*")),
}


@dataclass(frozen=True, slots=True)
class PathFilter:
    """An ordered list of include/exclude rules; the last matching rule wins."""

    rules: tuple[Rule, ...]

    @classmethod
    def from_names(cls, names: Iterable[str]) -> PathFilter:
        """Build a filter from preset names (``docs``, ``man``, ``locales``).

        Args:
            names: preset names, in any order; duplicates are ignored.

        Returns:
            A filter whose exclude rules come before all include rules, so that an include of one
            preset is never undone by an exclude of another.

        Raises:
            SpecError: a name is not a known preset.
        """
        chosen: list[Rule] = []
        for name in dict.fromkeys(names):
            if name not in PRESETS:
                known = ", ".join(sorted(PRESETS))
                raise SpecError(f"unknown strip option {name!r}; expected one of: {known}")
            chosen.extend(PRESETS[name])
        ordered = [r for r in chosen if not r.include] + [r for r in chosen if r.include]
        return cls(tuple(ordered))

    def excludes(self, path: str, *, is_dir: bool = False) -> bool:
        """Return True when ``path`` should not be installed.

        Args:
            path: the member path, absolute or relative to the image root (``./`` is allowed).
            is_dir: whether the member is a directory (kept if an include rule may need it).
        """
        absolute = "/" + normalize(path)
        excluded = False
        for rule in self.rules:
            if fnmatchcase(absolute, rule.pattern):
                excluded = not rule.include
        if excluded and is_dir:
            return not any(r.include and _may_contain(absolute, r.pattern) for r in self.rules)
        return excluded


def _may_contain(directory: str, pattern: str) -> bool:
    """Whether some path below ``directory`` could match ``pattern``.

    Since ``*`` also matches ``/``, this compares with the pattern's literal prefix (up to its
    first wildcard): either one starts with the other. Conservative: it may keep an empty
    directory, never drop a needed one.
    """
    literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    below = directory.rstrip("/") + "/"
    return below.startswith(literal) or literal.startswith(below)
