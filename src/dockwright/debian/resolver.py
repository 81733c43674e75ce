"""Resolve requested packages to the closure ``apt-get install --no-install-recommends`` installs.

Two passes, both over an empty dpkg status:

1. ``aptpolicy.AptWalk`` replays apt's ``MarkInstall`` walk. It only learns which package apt
   picks for each or-group; ``aptpolicy.Universe`` supplies the candidate versions and the order
   apt tries the packages that satisfy a group.
2. resolvelib computes the closure. Identifiers are real package names and, for an or-group
   ``a | b`` or a dependency on a provided (virtual) name, one synthetic identifier per group
   whose candidates each pin one real package (``_Choice``), apt's pick first. Conflicts and
   Breaks become requirements that the target be absent (``_Absent``) or outside the conflicting
   range, so resolvelib backtracks to other alternatives, or fails with an explanation that
   follows the chain of dependencies.

This module does not choose versions or order alternatives itself (see ``aptpolicy``), does not
install Recommends or Suggests, does not add Essential packages nobody depends on (apt does not
either), does not handle foreign architectures (only the native one and ``all``), does not do I/O
and does not parse indexes (see ``index``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolvelib import AbstractProvider, BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver
from resolvelib.structs import RequirementInformation

from dockwright.debian.aptpolicy import AptWalk, Universe, dependencies
from dockwright.debian.index import PackageIndex, PackageRecord
from dockwright.debian.relation import Alternatives, Relation, format_alternatives
from dockwright.debian.version import validate_version
from dockwright.errors import InputError, ResolutionError

__all__ = ["resolve"]

_REQUEST = re.compile(r"(?P<name>[a-z0-9][a-z0-9+.-]*)(?::(?P<arch>[a-z0-9-]+))?(?:=(?P<version>\S+))?")
_MAX_ROUNDS = 100_000


@dataclass(frozen=True, slots=True)
class _Need:
    """A positive requirement on a real name (met by the versions in ``accept``) or an or-group."""

    identifier: str
    group: Alternatives
    accept: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Forbid:
    """A Conflicts/Breaks requirement: ``identifier`` absent or at a version outside ``blocked``."""

    identifier: str
    blocked: frozenset[str]
    owner: PackageRecord
    verb: str
    relation: Relation


@dataclass(frozen=True, slots=True)
class _Choice:
    """A candidate of an or-group identifier: install ``record`` to satisfy the group."""

    identifier: str
    record: PackageRecord


@dataclass(frozen=True, slots=True)
class _Absent:
    """The candidate of a name that only Conflicts/Breaks mention: do not install it."""

    identifier: str


_Requirement = _Need | _Forbid
_Candidate = PackageRecord | _Choice | _Absent
_Causes = Collection[RequirementInformation[_Requirement, _Candidate]]


def _group_identifier(group: Alternatives) -> str:
    """Name a synthetic identifier; brackets cannot occur in package names."""
    return f"[{format_alternatives(group)}]"


class _Provider(AbstractProvider[_Requirement, _Candidate, str]):
    """resolvelib provider over a ``Universe``; remembers who first required what, for errors."""

    def __init__(self, universe: Universe, walk: AptWalk) -> None:
        self.universe = universe
        self.walk = walk
        self.required_by: dict[str, str] = {}
        self._seen: dict[str, int] = {}
        self._needed: set[str] = set()
        self._dependencies: dict[tuple[str, str], list[_Requirement]] = {}

    def identify(self, requirement_or_candidate: _Requirement | _Candidate) -> str:
        if isinstance(requirement_or_candidate, PackageRecord):
            return requirement_or_candidate.name
        return requirement_or_candidate.identifier

    def _preference(self, identifier: str) -> tuple[int, int]:
        """Rank forced real packages first, then or-groups, then names only conflicts mention."""
        rank = 1 if identifier.startswith("[") else 0 if identifier in self._needed else 2
        return rank, self._seen.setdefault(identifier, len(self._seen))

    def get_preference(self, identifier: str, *args: Any, **kwargs: Any) -> tuple[int, int]:
        return self._preference(identifier)

    def narrow_requirement_selection(
        self, identifiers: Iterable[str], *args: Any, **kwargs: Any
    ) -> list[str]:
        """Return only the preferred identifier: cheaper than resolvelib's keyed sort."""
        return [min(identifiers, key=self._preference)]

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[_Requirement]],
        incompatibilities: Mapping[str, Iterator[_Candidate]],
    ) -> list[_Candidate]:
        bad = {_candidate_key(candidate) for candidate in incompatibilities[identifier]}
        wanted = list(requirements[identifier])
        found: list[_Candidate]
        if identifier.startswith("["):
            group = wanted[0].group if isinstance(wanted[0], _Need) else ()
            found = self._choices(identifier, group)
        elif not any(isinstance(requirement, _Need) for requirement in wanted):
            found = [_Absent(identifier)]
        else:
            self._needed.add(identifier)
            record = self.universe.candidate(identifier)
            found = [record] if record is not None else []
        return [
            candidate
            for candidate in found
            if _candidate_key(candidate) not in bad
            and all(self.is_satisfied_by(requirement, candidate) for requirement in wanted)
        ]

    def _choices(self, identifier: str, group: Alternatives) -> list[_Candidate]:
        """Order a group's choices: apt's pick, then packages apt marks, then apt's order."""
        picked, marked = self.walk.picked.get(group), self.walk.marked
        records = sorted(
            self.universe.solutions(group), key=lambda r: (r.name != picked, r.name not in marked)
        )
        return [_Choice(identifier, record) for record in records]

    def is_satisfied_by(self, requirement: _Requirement, candidate: _Candidate) -> bool:
        # Hot path: resolvelib re-checks every pin against every requirement in every round.
        if isinstance(candidate, PackageRecord):
            if isinstance(requirement, _Need):
                return candidate.version in requirement.accept
            return candidate.version not in requirement.blocked
        if isinstance(candidate, _Choice):
            return candidate.identifier == requirement.identifier
        return isinstance(requirement, _Forbid)

    def get_dependencies(self, candidate: _Candidate) -> list[_Requirement]:
        if isinstance(candidate, _Absent):
            return []
        if isinstance(candidate, _Choice):
            record = candidate.record
            self.required_by.setdefault(record.name, self.required_by.get(candidate.identifier, ""))
            return [_exact(record)]
        key = (candidate.name, candidate.version)
        if key not in self._dependencies:
            self._dependencies[key] = self._record_dependencies(candidate)
        return self._dependencies[key]

    def _record_dependencies(self, record: PackageRecord) -> list[_Requirement]:
        """Build a record's requirements: Pre-Depends and Depends, then Conflicts and Breaks."""
        found: list[_Requirement] = []
        for group in dependencies(record):
            need = self.need(group)
            self.required_by.setdefault(need.identifier, record.name)
            found.append(need)
        for group in record.relations("conflicts"):
            found.extend(self._forbids(record, "conflicts with", group))
        for group in record.relations("breaks"):
            found.extend(self._forbids(record, "breaks", group))
        return found

    def need(self, group: Alternatives) -> _Need:
        """Turn a dependency group into a requirement on a real name or a synthetic identifier."""
        relation = group[0]
        if len(group) > 1 or self.universe.is_provided(relation.name):
            return _Need(_group_identifier(group), group)
        record = self.universe.candidate(relation.name)
        ok = record is not None and self.universe.satisfies(relation, record)
        return _Need(relation.name, group, frozenset((record.version,)) if record and ok else frozenset())

    def _forbids(self, owner: PackageRecord, verb: str, group: Alternatives) -> Iterator[_Forbid]:
        """Yield one requirement per other package a Conflicts/Breaks relation hits."""
        for relation in group:
            hits = {record.name: record for record in self.universe.providers(relation)}
            real = self.universe.candidate(relation.name)
            if real is not None and relation.satisfied_by(real.version):
                hits[real.name] = real
            for name, record in hits.items():
                if name != owner.name:
                    yield _Forbid(name, frozenset((record.version,)), owner, verb, relation)


def _exact(record: PackageRecord) -> _Need:
    """Require exactly this record (its name at its version)."""
    relation = Relation(name=record.name, op="=", version=record.version)
    return _Need(record.name, (relation,), frozenset((record.version,)))


def _candidate_key(candidate: _Candidate) -> tuple[str, str]:
    """Identify a candidate cheaply (records hash every field)."""
    if isinstance(candidate, PackageRecord):
        return candidate.name, candidate.version
    if isinstance(candidate, _Choice):
        return candidate.identifier, candidate.record.name
    return candidate.identifier, ""


def _chain(provider: _Provider, name: str) -> list[str]:
    """Return ``[name, its parent, ...]`` up to a requested package, following first discovery."""
    chain = [name]
    while (parent := provider.required_by.get(chain[-1])) and parent not in chain:
        chain.append(parent)
    return [link.strip("[]") for link in chain]


def _wanted_by(provider: _Provider, name: str) -> str:
    """Describe why a package is wanted: ``required by foo <- app`` or ``requested``."""
    chain = _chain(provider, name)
    return "requested" if len(chain) == 1 else "required by " + " <- ".join(chain[1:])


def _why_unmet(universe: Universe, relation: Relation) -> str:
    """Explain why no package satisfies one relation."""
    record = universe.candidate(relation.name)
    if record is not None and not universe.arch_ok(relation, record):
        return f"{record.name} {record.version} is not Multi-Arch: allowed"
    if record is not None and not relation.satisfied_by(record.version):
        if universe.is_pinned(record.name):
            return f"{record.name} {record.version} was requested"
        return f"only {record.name} {record.version} is available"
    if record is not None:
        return f"{record.name} {record.version} cannot be installed with the other packages"
    if universe.is_provided(relation.name):
        return f"no package provides {relation}"
    return f"{relation.name} is not available for {universe.architecture}"


def _explain_one(provider: _Provider, identifier: str, causes: _Causes) -> str:
    """Explain the failure of one identifier from the requirements that met on it."""
    forbid = next((i.requirement for i in causes if isinstance(i.requirement, _Forbid)), None)
    if forbid is not None:
        owner = forbid.owner
        return (
            f"cannot install {identifier}: {owner.name} {owner.version} {forbid.verb} {forbid.relation} "
            f"({owner.name}: {_wanted_by(provider, owner.name)}; "
            f"{identifier}: {_wanted_by(provider, identifier)})"
        )
    groups = [(i.requirement.group, i.parent) for i in causes if isinstance(i.requirement, _Need)]
    # Prefer a requirement nothing can satisfy over one that merely lost against it.
    group, parent = next((g for g in groups if not provider.universe.solutions(g[0])), groups[0])
    reasons = " and ".join(_why_unmet(provider.universe, relation) for relation in group)
    parent = parent.record if isinstance(parent, _Choice) else parent
    if not isinstance(parent, PackageRecord):
        return f"cannot install {format_alternatives(group)}: {reasons}"
    return (
        f"cannot install {parent.name}: {parent.name} {parent.version} depends on "
        f"{format_alternatives(group)}, but {reasons} "
        f"(required by {' <- '.join(_chain(provider, parent.name))})"
    )


def _explain(causes: _Causes, provider: _Provider) -> str:
    """Turn resolvelib's causes into one message, one clause per failing identifier."""
    by_identifier: dict[str, list[RequirementInformation[_Requirement, _Candidate]]] = {}
    for info in causes:
        by_identifier.setdefault(provider.identify(info.requirement), []).append(info)
    messages = [_explain_one(provider, key, infos) for key, infos in by_identifier.items()]
    return "; ".join(dict.fromkeys(messages))


@dataclass(frozen=True, slots=True)
class _Request:
    """One parsed request: ``name``, ``name=version``, ``name:arch`` or ``name:arch=version``."""

    text: str
    name: str
    version: str | None


def _parse_request(text: str, architecture: str) -> _Request:
    """Parse and check one request string."""
    match = _REQUEST.fullmatch(text.strip())
    if match is None:
        raise InputError(f"invalid package request {text!r}", hint="write name, name=version or name:arch")
    if match["arch"] not in (None, architecture, "all", "any", "native"):
        raise ResolutionError(f"cannot install {text}: only the {architecture} architecture is supported")
    version = match["version"]
    return _Request(text, match["name"], None if version is None else validate_version(version))


def _root(request: _Request, universe: Universe) -> PackageRecord:
    """Find the package a request names (a virtual name must have exactly one provider)."""
    name = request.name
    record = universe.candidate(name)
    if record is not None:
        return record
    if request.version is not None and universe.index.versions(name):
        available = ", ".join(dict.fromkeys(r.version for r in universe.index.versions(name)))
        raise ResolutionError(f"cannot install {request.text}: available versions of {name}: {available}")
    providers = {r.name: r for r in universe.providers(Relation(name=name))}
    if len(providers) == 1:
        return next(iter(providers.values()))
    if providers:
        raise ResolutionError(
            f"cannot install {name}: it is a virtual package provided by {', '.join(sorted(providers))}",
            hint="request one of the providers explicitly",
        )
    close = difflib.get_close_matches(name, universe.index.names(), n=3)
    suggestion = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ResolutionError(f"unknown package {name!r}{suggestion}")


def resolve(
    index: PackageIndex,
    requests: Sequence[str],
    *,
    architecture: str,
    reporter: BaseReporter[Any, Any, Any] | None = None,
) -> list[PackageRecord]:
    """Compute what ``apt-get install --no-install-recommends REQUESTS`` installs on an empty system.

    Args:
        index: Packages of every suite to use (several versions of a name: the highest wins).
        requests: ``name``, ``name=version`` (pins that version, also for dependencies) or
            ``name:arch`` with the native architecture.
        architecture: The native architecture, e.g. ``amd64``; ``all`` packages are included.
        reporter: Optional resolvelib reporter for progress (its hooks do nothing by default).

    Returns:
        The records to install, sorted by name.

    Raises:
        InputError: A request or its version is malformed.
        ResolutionError: A package is unknown, or the relations cannot be satisfied; the message
            explains the chain of dependencies that fails.
    """
    parsed = [_parse_request(text, architecture) for text in requests]
    pins = {request.name: request.version for request in parsed if request.version is not None}
    universe = Universe(index, architecture, pins)
    roots = [_root(request, universe) for request in parsed]
    walk = AptWalk(universe)
    walk.run(roots)
    provider = _Provider(universe, walk)
    needs = [_exact(record) for record in roots]
    provider.required_by.update((need.identifier, "") for need in needs)
    resolver: Resolver[_Requirement, _Candidate, str] = Resolver(provider, reporter or BaseReporter())
    try:
        result = resolver.resolve(needs, max_rounds=_MAX_ROUNDS)
    except ResolutionImpossible as error:
        raise ResolutionError(_explain(error.causes, provider)) from None
    except ResolutionTooDeep as error:
        raise ResolutionError(f"gave up after {error.round_count} resolution rounds") from None
    records = [c for c in result.mapping.values() if isinstance(c, PackageRecord)]
    return sorted(records, key=lambda record: record.name)
