"""Apt's policy: which version of a package apt takes, and which package it picks for a dependency.

``Universe`` holds the packages one resolution may use (native and ``all`` records). Like apt,
each name has one candidate version, the highest across all suites, unless a request pins
``name=version``. The packages that satisfy an or-group or a virtual name are listed in the order
apt tries them: the group's members left to right, each member's providers ordered like apt's
``CompareProviders`` down to its last tie-breaker, the package ID, which apt assigns in the order
a name is first mentioned while reading the indexes (we replay that from the records, in the
order the index was given them, once per index and architecture set).

``AptWalk`` replays apt's ``MarkInstall`` depth-first walk over an empty dpkg status (requested
packages first, then Pre-Depends and Depends in field order, skipping a group that a package
already marked satisfies) to learn which package apt picks for each or-group.

This module does not compute the closure or check Conflicts and Breaks (see ``resolver``), does
not install Recommends or Suggests, does not handle foreign architectures (only the native one and
``all``), does not read apt preferences (pinning priorities), does not do I/O and does not parse
indexes (see ``index``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache, cached_property
from itertools import pairwise
from weakref import WeakKeyDictionary

from dockwright.debian.index import PackageIndex, PackageRecord
from dockwright.debian.relation import Alternatives, Relation
from dockwright.debian.version import compare_versions

__all__ = ["AptWalk", "Universe", "dependencies"]

_PRIORITY = {"required": 1, "important": 2, "standard": 3, "optional": 4, "extra": 5}
_MAX_DEPTH = 400  # apt's walk is recursive too; real chains are a few dozen deep
# apt creates a package when a stanza or a relation first names it (Recommends, Suggests and
# Enhances also do, but records do not keep them).
_MENTIONING_FIELDS = ("pre_depends", "depends", "conflicts", "breaks", "replaces", "provides")
_NOT_NAMES = re.compile(r"\([^)]*\)|\[[^\]]*\]|<[^>]*>|:[a-z0-9-]+")
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]*")
# Package IDs per index (indexes are immutable) and architecture set; about 0.2 s to compute for
# a full Debian release, and dropped with the index.
_PACKAGE_IDS: WeakKeyDictionary[PackageIndex, dict[frozenset[str], Mapping[str, int]]] = WeakKeyDictionary()


def dependencies(record: PackageRecord) -> tuple[Alternatives, ...]:
    """Return the groups apt installs for a package: Pre-Depends, then Depends."""
    return (*record.relations("pre_depends"), *record.relations("depends"))


def _package_ids(index: PackageIndex, architectures: frozenset[str]) -> Mapping[str, int]:
    """Number names in order of first mention, as apt numbers packages while reading indexes."""
    by_architectures = _PACKAGE_IDS.setdefault(index, {})
    found = by_architectures.get(architectures)
    if found is None:
        ids: dict[str, int] = {}
        for record in index:
            if record.architecture in architectures:
                ids.setdefault(record.name, len(ids))
                for field in _MENTIONING_FIELDS:
                    for name in _NAME.findall(_NOT_NAMES.sub(" ", getattr(record, field))):
                        ids.setdefault(name, len(ids))
        found = by_architectures.setdefault(architectures, ids)
    return found


class Universe:
    """The packages one resolution may use: native and ``all`` records, one candidate per name."""

    def __init__(self, index: PackageIndex, architecture: str, pins: Mapping[str, str]) -> None:
        """Restrict an index to one architecture (and ``all``), with ``name -> version`` pins."""
        self.index = index
        self.architecture = architecture
        self._architectures = frozenset((architecture, "all"))
        self._pins = dict(pins)
        self.candidate = cache(self._candidate)
        self.solutions = cache(self._solutions)

    def _candidate(self, name: str) -> PackageRecord | None:
        """Return apt's candidate: the pinned version, else the highest version of the name."""
        pinned = self._pins.get(name)
        for record in self.index.versions(name):
            if record.architecture not in self._architectures:
                continue
            if pinned is None or compare_versions(record.version, pinned) == 0:
                return record
        return None

    @cached_property
    def _package_ids(self) -> Mapping[str, int]:
        """Return apt's package IDs, computed only when a tie needs them."""
        return _package_ids(self.index, self._architectures)

    def arch_ok(self, relation: Relation, record: PackageRecord) -> bool:
        """Apply dpkg's architecture rules: ``:any`` needs Multi-Arch: allowed."""
        qualifier = relation.arch_qualifier
        if qualifier is None or qualifier == self.architecture:
            return True
        return qualifier == "any" and record.multi_arch == "allowed"

    def satisfies(self, relation: Relation, record: PackageRecord) -> bool:
        """Tell whether a real package record meets a relation on its own name."""
        return self.arch_ok(relation, record) and relation.satisfied_by(record.version)

    def providers(self, relation: Relation) -> list[PackageRecord]:
        """Return candidate records providing the relation's name at a satisfying version."""
        found = []
        for provider in self.index.providers(relation.name):
            record = provider.record
            if self.candidate(record.name) is not record or not self.arch_ok(relation, record):
                continue
            if relation.op is None or (provider.version and relation.satisfied_by(provider.version)):
                found.append(record)
        return found

    def is_pinned(self, name: str) -> bool:
        """Tell whether a request chose this package's version."""
        return name in self._pins

    def is_provided(self, name: str) -> bool:
        """Tell whether any usable record provides this name."""
        return any(p.record.architecture in self._architectures for p in self.index.providers(name))

    def _solutions(self, group: Alternatives) -> tuple[PackageRecord, ...]:
        """List the records that satisfy an or-group, in the order apt tries them."""
        ordered: list[PackageRecord] = []
        for relation in group:
            found = self.providers(relation)
            real = self.candidate(relation.name)
            if real is not None and self.satisfies(relation, real):
                found.append(real)
            ordered.extend(
                record for record in self._apt_order(found, relation.name) if record not in ordered
            )
        return tuple(ordered)

    def _apt_order(self, records: list[PackageRecord], name: str) -> list[PackageRecord]:
        """Sort like apt's CompareProviders: same name, Essential, Important, Priority, then ID."""

        def rank(record: PackageRecord) -> tuple[bool, bool, bool, int]:
            priority = _PRIORITY.get(record.priority, 0)
            return (record.name != name, not record.essential, not record.important, priority)

        records.sort(key=rank)
        if any(rank(a) == rank(b) for a, b in pairwise(records)):  # apt prefers the higher ID
            records.sort(key=lambda record: (rank(record), -self._package_ids.get(record.name, 0)))
        return records


class AptWalk:
    """Replay apt's depth-first ``MarkInstall`` walk to learn which package it picks per group.

    Attributes:
        universe: The packages the walk may mark.
        marked: The packages apt marks for installation, by name.
        picked: For each or-group (or virtual name) apt had to satisfy, the name of its pick.
    """

    def __init__(self, universe: Universe) -> None:
        """Start a walk over an empty system."""
        self.universe = universe
        self.marked: dict[str, PackageRecord] = {}
        self.picked: dict[Alternatives, str] = {}

    def run(self, roots: Sequence[PackageRecord]) -> None:
        """Mark the requested packages, then install their dependencies one after the other."""
        for record in roots:
            self.marked.setdefault(record.name, record)
        for record in roots:
            self._install(record, 0)

    def _satisfier(self, group: Alternatives) -> str | None:
        """Return the marked package satisfying a group, if any."""
        return next((r.name for r in self.universe.solutions(group) if r.name in self.marked), None)

    def _install(self, record: PackageRecord, depth: int) -> bool:
        """Mark a package and its unmet dependencies; False when a dependency cannot be met."""
        if depth > _MAX_DEPTH:
            return False
        groups = [group for group in dependencies(record) if self._satisfier(group) is None]
        newly = depth > 0 and record.name not in self.marked
        self.marked.setdefault(record.name, record)
        for group in groups:
            found = self._satisfier(group)
            for solution in self.universe.solutions(group) if found is None else ():
                if self._install(solution, depth + 1):
                    found = solution.name
                    break
            if found is None and newly:
                del self.marked[record.name]  # apt discards a failed automatic install
                return False
            if found is not None:
                self.picked.setdefault(group, found)
        return True
