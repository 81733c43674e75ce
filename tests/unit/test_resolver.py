"""The resolver over small in-memory indexes: apt's choices, Provides, conflicts and errors."""

from __future__ import annotations

from typing import Any

import pytest
from resolvelib import BaseReporter

from dockwright.debian.index import PackageIndex, parse_packages
from dockwright.debian.resolver import resolve
from dockwright.errors import InputError, ResolutionError

SHA = "0" * 64


def pkg(name: str, version: str = "1.0", **fields: str) -> str:
    """One Packages stanza; keyword names become fields (``pre_depends`` -> ``Pre-Depends``)."""
    lines = [f"Package: {name}", f"Version: {version}"]
    fields.setdefault("architecture", "amd64")
    lines += [f"{key.replace('_', '-').title()}: {value}" for key, value in fields.items()]
    lines += [f"Filename: pool/{name}_{version}.deb", "Size: 1", f"SHA256: {SHA}"]
    return "\n".join(lines) + "\n"


def index(*stanzas: str, **suites: list[str]) -> PackageIndex:
    """Build an index of suite ``base`` (positional stanzas) plus any named suites."""
    records = []
    for suite, texts in {"base": list(stanzas), **suites}.items():
        data = "\n".join(texts).encode()
        records += parse_packages(data, base_url="http://mirror.invalid/debian", suite=suite)
    return PackageIndex(records)


def installed(idx: PackageIndex, *requests: str) -> dict[str, str]:
    return {record.name: record.version for record in resolve(idx, requests, architecture="amd64")}


def failure(idx: PackageIndex, *requests: str) -> str:
    with pytest.raises(ResolutionError) as caught:
        resolve(idx, requests, architecture="amd64")
    return caught.value.message


def test_closure_is_sorted_and_follows_pre_depends() -> None:
    idx = index(
        pkg("app", depends="libb, liba (>= 1)", recommends="extra", suggests="more"),
        pkg("liba", "2.0", pre_depends="libc"),
        pkg("libb", depends="libc"),
        pkg("libc"),
        pkg("extra"),
        pkg("more"),
        pkg("bash", essential="yes"),
    )
    result = resolve(idx, ["app"], architecture="amd64")
    assert [r.name for r in result] == ["app", "liba", "libb", "libc"]  # no Recommends, no Essential


def test_dependency_cycles() -> None:
    idx = index(pkg("a", depends="b"), pkg("b", depends="a"))
    assert installed(idx, "a") == {"a": "1.0", "b": "1.0"}


@pytest.mark.parametrize(
    ("stanzas", "expected"),
    [
        # apt installs the first alternative that is installable
        ([pkg("app", depends="a | b"), pkg("a"), pkg("b")], {"app", "a"}),
        # ... skipping one that does not exist or has the wrong version
        ([pkg("app", depends="a | b"), pkg("b")], {"app", "b"}),
        ([pkg("app", depends="a (>= 2) | b"), pkg("a"), pkg("b")], {"app", "b"}),
        # ... or whose own dependencies cannot be met
        ([pkg("app", depends="a | b"), pkg("a", depends="gone"), pkg("b")], {"app", "b"}),
        # a group already satisfied by an earlier dependency installs nothing more
        ([pkg("app", depends="c, a | b"), pkg("c", depends="b"), pkg("a"), pkg("b")], {"app", "b", "c"}),
        # ... but apt walks in field order, so an earlier group installs its first alternative
        ([pkg("app", depends="a | b, c"), pkg("c", depends="b"), pkg("a"), pkg("b")], {"app", "a", "b", "c"}),
    ],
)
def test_alternatives(stanzas: list[str], expected: set[str]) -> None:
    assert set(installed(index(*stanzas), "app")) == expected


@pytest.mark.parametrize(
    ("stanzas", "expected"),
    [
        # a real package wins over providers of its name (greedy resolvers get these wrong) ...
        (
            [
                pkg("app", depends="mta"),
                pkg("exim", provides="mta"),
                pkg("mta"),
                pkg("postfix", provides="mta"),
            ],
            {"app", "mta"},
        ),
        # ... unless only a provider satisfies the version
        (
            [pkg("app", depends="mta (>= 2)"), pkg("exim", provides="mta (= 2.1)"), pkg("mta", "1.5")],
            {"app", "exim"},
        ),
        # ... or the real package cannot be installed
        (
            [pkg("app", depends="mta"), pkg("exim", provides="mta"), pkg("mta", depends="gone")],
            {"app", "exim"},
        ),
        # among providers apt prefers Essential, then Important, then higher Priority ...
        (
            [
                pkg("app", depends="awk"),
                pkg("gawk", provides="awk"),
                pkg("mawk", provides="awk", essential="yes"),
            ],
            {"app", "mawk"},
        ),
        (
            [
                pkg("app", depends="awk"),
                pkg("gawk", provides="awk", priority="optional"),
                pkg("mawk", provides="awk", priority="required"),
            ],
            {"app", "mawk"},
        ),
        # ... then the package apt created last (the one listed last in the index)
        (
            [pkg("app", depends="awk"), pkg("gawk", provides="awk"), pkg("mawk", provides="awk")],
            {"app", "mawk"},
        ),
        # a provider that is already being installed satisfies the dependency
        (
            [pkg("app", depends="ruby, json"), pkg("ruby", provides="json (= 2)"), pkg("json", "2.6")],
            {"app", "ruby"},
        ),
    ],
)
def test_virtual_packages(stanzas: list[str], expected: set[str]) -> None:
    assert set(installed(index(*stanzas), "app")) == expected


@pytest.mark.parametrize(
    ("depends", "expected"),
    [
        ("api (>= 2)", "new"),
        ("api (<< 2)", "old"),
        ("api (= 1)", "old"),
        ("api", "new"),  # both provide it: the later one, as apt's package IDs decide
    ],
)
def test_versioned_provides(depends: str, expected: str) -> None:
    idx = index(
        pkg("app", depends=depends),
        pkg("old", provides="api (= 1)"),
        pkg("new", provides="api (= 2.5)"),
        pkg("unversioned", provides="other, api-x"),
    )
    assert set(installed(idx, "app")) == {"app", expected}


def test_unversioned_provides_do_not_satisfy_versioned_dependencies() -> None:
    idx = index(pkg("app", depends="api (>= 1)"), pkg("impl", provides="api"))
    assert failure(idx, "app") == (
        "cannot install app: app 1.0 depends on api (>= 1), but no package provides api (>= 1) "
        "(required by app)"
    )


@pytest.mark.parametrize("field", ["conflicts", "breaks"])
def test_conflict_forces_the_other_alternative(field: str) -> None:
    idx = index(pkg("app", depends="a | b, c"), pkg("a"), pkg("b"), pkg("c", **{field: "a"}))
    assert set(installed(idx, "app")) == {"app", "b", "c"}


@pytest.mark.parametrize(("version", "expected"), [("1.0", "b"), ("2.0", "a")])
def test_versioned_breaks(version: str, expected: str) -> None:
    idx = index(pkg("app", depends="a | b, c"), pkg("a", version), pkg("b"), pkg("c", breaks="a (<< 2)"))
    assert set(installed(idx, "app")) == {"app", expected, "c"}


def test_conflicts_through_provides_and_with_itself() -> None:
    idx = index(
        pkg("app", depends="mta-a | mta-b, tool"),
        pkg("mta-a", provides="mta", conflicts="mta"),  # the usual pattern: never conflicts with itself
        pkg("mta-b", provides="mta", conflicts="mta"),
        pkg("tool", conflicts="mta-a"),
    )
    assert set(installed(idx, "app")) == {"app", "mta-b", "tool"}


def test_conflict_error_names_both_packages() -> None:
    idx = index(pkg("app", depends="a, b"), pkg("a", conflicts="b"), pkg("b"))
    assert failure(idx, "app") == (
        "cannot install b: a 1.0 conflicts with b (a: required by app; b: required by app)"
    )


def test_conflicts_between_requests() -> None:
    idx = index(pkg("a", breaks="b (<< 3)"), pkg("b", "2"))
    assert failure(idx, "a", "b") == "cannot install b: a 1.0 breaks b (<< 3) (a: requested; b: requested)"


def test_highest_version_across_suites_wins() -> None:
    idx = index(
        pkg("app", depends="libssl3 (>= 3.0.15)"),
        pkg("libssl3", "3.0.15-1"),
        security=[pkg("libssl3", "3.0.16-1~deb12u1")],
        updates=[pkg("libssl3", "3.0.15-1+b1")],
    )
    result = {r.name: r for r in resolve(idx, ["app"], architecture="amd64")}
    assert (result["libssl3"].version, result["libssl3"].suite) == ("3.0.16-1~deb12u1", "security")


def test_pinned_version_is_used_for_dependencies_too() -> None:
    idx = index(pkg("app", depends="lib (>= 1)"), pkg("lib", "1.0"), security=[pkg("lib", "1.1")])
    assert installed(idx, "app", "lib=1.0") == {"app": "1.0", "lib": "1.0"}
    assert installed(idx, "app") == {"app": "1.0", "lib": "1.1"}
    assert failure(idx, "lib=0.9") == "cannot install lib=0.9: available versions of lib: 1.1, 1.0"


def test_apt_uses_only_the_candidate_version() -> None:
    idx = index(pkg("app", depends="lib (<< 1.1)"), pkg("lib", "1.0"), security=[pkg("lib", "1.1")])
    assert failure(idx, "app") == (
        "cannot install app: app 1.0 depends on lib (<< 1.1), but only lib 1.1 is available (required by app)"
    )


@pytest.mark.parametrize(
    ("multi_arch", "expected"),
    [
        ("allowed", None),
        (
            "foreign",
            "cannot install app: app 1.0 depends on perl:any, but perl 1.0 is not Multi-Arch: allowed",
        ),
        ("same", "cannot install app: app 1.0 depends on perl:any, but perl 1.0 is not Multi-Arch: allowed"),
    ],
)
def test_any_qualifier_needs_multi_arch_allowed(multi_arch: str, expected: str | None) -> None:
    idx = index(
        pkg("app", depends="perl:any, perl-base:amd64"), pkg("perl", multi_arch=multi_arch), pkg("perl-base")
    )
    if expected is None:
        assert set(installed(idx, "app")) == {"app", "perl", "perl-base"}
    else:
        assert failure(idx, "app") == f"{expected} (required by app)"


def test_unsatisfiable_chain_message() -> None:
    idx = index(pkg("app", depends="foo"), pkg("foo", depends="bar (>= 2)"), pkg("bar", "1.5"))
    assert failure(idx, "app") == (
        "cannot install foo: foo 1.0 depends on bar (>= 2), but only bar 1.5 is available (required by foo <- app)"
    )


def test_unsatisfiable_alternatives_message() -> None:
    idx = index(pkg("app", depends="lib"), pkg("lib", depends="x | y (>= 2)"), pkg("y", "1"))
    assert failure(idx, "app") == (
        "cannot install lib: lib 1.0 depends on x | y (>= 2), but x is not available for amd64 "
        "and only y 1 is available (required by lib <- app)"
    )


def test_unknown_package_suggests_close_names() -> None:
    idx = index(pkg("python3"), pkg("python3-minimal"), pkg("perl"))
    assert failure(idx, "pyhton3") == "unknown package 'pyhton3' (did you mean python3?)"
    assert (
        failure(idx, "python3-minimum")
        == "unknown package 'python3-minimum' (did you mean python3-minimal, python3?)"
    )
    assert failure(idx, "zzz") == "unknown package 'zzz'"


def test_virtual_requests() -> None:
    idx = index(pkg("exim", provides="mta"), pkg("postfix", provides="mta, smtpd"))
    assert installed(idx, "smtpd") == {"postfix": "1.0"}
    assert failure(idx, "mta") == "cannot install mta: it is a virtual package provided by exim, postfix"


def test_architectures() -> None:
    idx = index(
        pkg("tool", depends="data, lib32"), pkg("data", architecture="all"), pkg("lib32", architecture="i386")
    )
    assert failure(idx, "tool") == (
        "cannot install tool: tool 1.0 depends on lib32, but lib32 is not available for amd64 (required by tool)"
    )
    assert installed(idx, "data:amd64") == {"data": "1.0"}
    assert failure(idx, "data:i386") == "cannot install data:i386: only the amd64 architecture is supported"


@pytest.mark.parametrize("bad", ["Foo", "foo==1", "foo=", "foo=bar baz", "foo=x1"])
def test_malformed_requests(bad: str) -> None:
    with pytest.raises(InputError):
        resolve(index(pkg("foo")), [bad], architecture="amd64")


def test_pin_that_breaks_a_dependency() -> None:
    idx = index(pkg("app", depends="lib (>= 1.1)"), pkg("lib", "1.0"), security=[pkg("lib", "1.1")])
    assert failure(idx, "app", "lib=1.0") == (
        "cannot install app: app 1.0 depends on lib (>= 1.1), but lib 1.0 was requested (required by app)"
    )


def test_reporter_sees_pins_and_empty_request() -> None:
    class Pins(BaseReporter[Any, Any, Any]):
        def __init__(self) -> None:
            self.pinned: list[object] = []

        def pinning(self, candidate: object) -> None:
            self.pinned.append(candidate)

    reporter = Pins()
    idx = index(pkg("app", depends="a | b"), pkg("a"), pkg("b"))
    assert [r.name for r in resolve(idx, ["app"], architecture="amd64", reporter=reporter)] == ["a", "app"]
    assert len(reporter.pinned) == 3  # app, the group "a | b", a
    assert resolve(idx, [], architecture="amd64") == []
