"""Packages index parsing and the multi-suite package index."""

from __future__ import annotations

import pytest

from dockwright.debian.index import PackageIndex, PackageRecord, Provider, parse_packages
from dockwright.debian.relation import Relation
from dockwright.errors import VerificationError

SHA = "ab" * 32
BASE = "http://mirror.invalid/debian"

PACKAGES = f"""\
Package: libfoo1
Source: foo (1.2-3)
Version: 1.2-3+b1
Installed-Size: 120
Maintainer: Someone <someone@example.org>
Architecture: amd64
Multi-Arch: same
Pre-Depends: libc6 (>= 2.34)
Depends: libbar2 (>= 2) | libbar-compat,
 zlib1g
Provides: libfoo (= 1.2), foo-api
Conflicts: libfoo0
Breaks: old-foo (<< 1)
Replaces: old-foo
Description: the foo library
 A long description
 .
 with continuation lines. Package: not-a-field
Multi-Arch-Comment: ignored
Priority: optional
Section: libs
Filename: pool/main/f/foo/libfoo1_1.2-3+b1_amd64.deb
Size: 4096
SHA256: {SHA}

Package: foo-data
Version: 1:2.0~rc1
Architecture: all
Essential: yes
Protected: yes
Multi-Arch: foreign
Filename: pool/main/f/foo/foo-data_2.0~rc1_all.deb
Size: 10
SHA256: {SHA}
Description: data
 ä non-ASCII description is fine
"""


def _parse(text: str = PACKAGES, suite: str = "bookworm") -> list[PackageRecord]:
    return parse_packages(text.encode(), base_url=BASE, suite=suite)


def test_parse_fields() -> None:
    foo, data = _parse()
    assert foo == PackageRecord(
        name="libfoo1",
        version="1.2-3+b1",
        architecture="amd64",
        source="foo",
        source_version="1.2-3",
        filename="pool/main/f/foo/libfoo1_1.2-3+b1_amd64.deb",
        size=4096,
        sha256=SHA,
        installed_size=120,
        depends="libbar2 (>= 2) | libbar-compat,\n zlib1g",
        pre_depends="libc6 (>= 2.34)",
        provides="libfoo (= 1.2), foo-api",
        conflicts="libfoo0",
        breaks="old-foo (<< 1)",
        replaces="old-foo",
        multi_arch="same",
        essential=False,
        important=False,
        priority="optional",
        section="libs",
        suite="bookworm",
        base_url=BASE,
    )
    assert (data.source, data.source_version) == ("foo-data", "1:2.0~rc1")
    assert (data.essential, data.important, data.multi_arch) == (True, True, "foreign")
    assert (data.priority, data.section, data.installed_size) == ("", "", 0)


def test_relations_are_parsed_on_demand() -> None:
    foo = _parse()[0]
    assert foo.relations("depends") == (
        (Relation(name="libbar2", op=">=", version="2"), Relation(name="libbar-compat")),
        (Relation(name="zlib1g"),),
    )
    assert foo.relations("conflicts") == ((Relation(name="libfoo0"),),)
    assert foo.provided() == (Relation(name="libfoo", op="=", version="1.2"), Relation(name="foo-api"))
    assert foo.url == f"{BASE}/pool/main/f/foo/libfoo1_1.2-3+b1_amd64.deb"
    assert str(foo) == "libfoo1 1.2-3+b1 (amd64)"


def test_malformed_relation_names_the_package() -> None:
    record = _parse(PACKAGES.replace("Conflicts: libfoo0", "Conflicts: libfoo0 (>= "))[0]
    with pytest.raises(VerificationError, match=r"package libfoo1 1.2-3\+b1 has a malformed conflicts field"):
        record.relations("conflicts")


@pytest.mark.parametrize("field", ["Package", "Version", "Filename", "Size", "SHA256"])
def test_missing_required_field(field: str) -> None:
    lines = [line for line in PACKAGES.splitlines() if not line.startswith(f"{field}:")]
    with pytest.raises(VerificationError) as caught:
        _parse("\n".join(lines) + "\n")
    package = "?" if field == "Package" else "libfoo1"
    assert caught.value.message == (
        f"bookworm Packages index is malformed: stanza 1 (Package: {package}) lacks {field}"
    )


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("Size: 4096", "Size: 4k", "has a non-numeric Size b'4k'"),
        ("Installed-Size: 120", "Installed-Size: -1", "has a non-numeric Installed-Size b'-1'"),
        (f"SHA256: {SHA}", "SHA256: 1234", "has a SHA256 that is not 64 lowercase hex digits"),
        ("Multi-Arch: same", "Multi-Arch: sometimes", "has an unknown Multi-Arch 'sometimes'"),
        ("Version: 1.2-3+b1", "Version: one", "has an invalid Version 'one'"),
    ],
)
def test_malformed_values(old: str, new: str, problem: str) -> None:
    with pytest.raises(VerificationError) as caught:
        _parse(PACKAGES.replace(old, new, 1))
    assert (
        caught.value.message == f"bookworm Packages index is malformed: stanza 1 (Package: libfoo1) {problem}"
    )


def test_stanza_without_known_fields() -> None:
    with pytest.raises(VerificationError, match=r"stanza 2 \(Package: \?\) has none of the expected fields"):
        _parse("\n\n\n" + PACKAGES.replace("\n\n", "\n\nFoo: bar\n\n"))


def test_invalid_utf8() -> None:
    data = PACKAGES.encode().replace(b"Section: libs", b"Section: l\xffbs")
    with pytest.raises(VerificationError, match=r"stanza 1 .* is not valid UTF-8"):
        parse_packages(data, base_url=BASE, suite="bookworm")


def test_blank_lines_with_spaces_and_extra_blank_lines() -> None:
    text = PACKAGES.replace("SHA256: " + SHA + "\n\n", "SHA256: " + SHA + "\n \t\n\n\n", 1)
    assert [record.name for record in _parse(text)] == ["libfoo1", "foo-data"]
    assert _parse("") == []
    assert _parse("\n\n") == []


def _stanza(name: str, version: str, arch: str = "amd64", provides: str = "") -> str:
    extra = f"Provides: {provides}\n" if provides else ""
    return (
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n{extra}"
        f"Filename: pool/{name}_{version}.deb\nSize: 1\nSHA256: {SHA}\n"
    )


def _index(architectures: set[str] | None = None) -> PackageIndex:
    base = _parse(
        "\n".join(
            [
                _stanza("libssl3", "3.0.15-1"),
                _stanza("libssl3", "3.0.15-1", "i386"),
                _stanza("mawk", "1.3.4", provides="awk"),
                _stanza("gawk", "1:5.2", provides="awk, gawk-api (= 3)"),
                _stanza("tzdata", "2024a-0", "all"),
            ]
        ),
        "bookworm",
    )
    security = _parse(
        _stanza("libssl3", "3.0.16-1~deb12u1") + "\n" + _stanza("libssl3", "3.0.14-1"), "bookworm-security"
    )
    return PackageIndex([*base, *security], architectures=architectures)


def test_index_versions_newest_first_across_suites() -> None:
    index = _index({"amd64", "all"})
    assert [(r.version, r.suite) for r in index.versions("libssl3")] == [
        ("3.0.16-1~deb12u1", "bookworm-security"),
        ("3.0.15-1", "bookworm"),
        ("3.0.14-1", "bookworm-security"),
    ]
    newest = index.newest("libssl3")
    assert newest is not None
    assert newest.suite == "bookworm-security"
    assert index.versions("nope") == ()
    assert index.newest("nope") is None


def test_index_architecture_filter() -> None:
    everything = _index()
    assert len(everything) == 7
    assert everything.architectures is None
    native = everything.filtered({"amd64", "all"})
    assert len(native) == 6
    assert native.architectures == frozenset({"amd64", "all"})
    assert {r.architecture for r in native} == {"amd64", "all"}
    assert len(_index({"i386"})) == 1


def test_index_names_and_providers() -> None:
    index = _index({"amd64", "all"})
    assert index.names() == ("libssl3", "mawk", "gawk", "tzdata")
    assert "mawk" in index
    assert "awk" not in index
    mawk, gawk = index.newest("mawk"), index.newest("gawk")
    assert index.providers("awk") == (Provider(mawk, None), Provider(gawk, None))  # type: ignore[arg-type]
    assert index.providers("gawk-api") == (Provider(gawk, "3"),)  # type: ignore[arg-type]
    assert index.providers("nothing") == ()
