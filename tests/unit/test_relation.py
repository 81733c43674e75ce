"""Relation fields: parsing, rendering, version satisfaction and error messages."""

from __future__ import annotations

import pytest

from dockwright.debian.relation import Relation, format_alternatives, parse_relations
from dockwright.errors import InputError

R = Relation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("  ", ()),
        ("libc6", ((R(name="libc6"),),)),
        ("libc6 (>= 2.34)", ((R(name="libc6", op=">=", version="2.34"),),)),
        ("libc6(>=2.34)", ((R(name="libc6", op=">=", version="2.34"),),)),
        (
            "debconf (>= 0.5) | debconf-2.0",
            ((R(name="debconf", op=">=", version="0.5"), R(name="debconf-2.0")),),
        ),
        ("perl:any", ((R(name="perl", arch_qualifier="any"),),)),
        ("gcc:amd64 (>= 4:10)", ((R(name="gcc", arch_qualifier="amd64", op=">=", version="4:10"),),)),
        (
            "a (<< 1:2~), b (= 3)",
            ((R(name="a", op="<<", version="1:2~"),), (R(name="b", op="=", version="3"),)),
        ),
        ("a (< 2)", ((R(name="a", op="<=", version="2"),),)),
        ("a (> 2)", ((R(name="a", op=">=", version="2"),),)),
        ("a (>> 2), b (<= 1)", ((R(name="a", op=">>", version="2"),), (R(name="b", op="<=", version="1"),))),
        ("foo [amd64 !i386] <!nocheck> <stage1 cross>", ((R(name="foo"),),)),
        ("foo (>= 1) [linux-any] | bar", ((R(name="foo", op=">=", version="1"), R(name="bar")),)),
        ("a,\n b |\n  c", ((R(name="a"),), (R(name="b"), R(name="c")))),
        ("a, , b,", ((R(name="a"),), (R(name="b"),))),
        ("libstdc++6 (>= 12)", ((R(name="libstdc++6", op=">=", version="12"),),)),
    ],
)
def test_parse(text: str, expected: tuple[tuple[Relation, ...], ...]) -> None:
    assert parse_relations(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a |",
            "invalid relation field at column 4: expected a package name, found end of field\n  a |\n     ^",
        ),
        (
            "a, | b",
            "invalid relation field at column 4: expected a package name, found '|'\n  a, | b\n     ^",
        ),
        (
            "a (>= 1",
            "invalid relation field at column 3: expected ',', '|', '(' or end of field, found '('\n"
            "  a (>= 1\n    ^",
        ),
        (
            "a b",
            "invalid relation field at column 3: expected ',', '|', '(' or end of field, found 'b'\n"
            "  a b\n    ^",
        ),
        ("(>= 1)", "invalid relation field at column 1: expected a package name, found '('\n  (>= 1)\n  ^"),
    ],
)
def test_parse_errors_point_at_the_problem(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_relations(text)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("relation", "version", "expected"),
    [
        (R(name="a"), "0.1", True),
        (R(name="a", op=">=", version="2.34"), "2.36-9", True),
        (R(name="a", op=">=", version="2.34"), "2.33", False),
        (R(name="a", op="<<", version="2"), "2~rc1", True),
        (R(name="a", op="<<", version="2"), "2", False),
        (R(name="a", op="<=", version="2"), "2", True),
        (R(name="a", op="=", version="1:1.0"), "1:1.0", True),
        (R(name="a", op="=", version="1:1.0"), "1.0", False),
        (R(name="a", op=">>", version="1.0"), "1.0+b1", True),
        (R(name="a", op=">>", version="1.0"), "1.0", False),
    ],
)
def test_satisfied_by(relation: Relation, version: str, expected: bool) -> None:
    assert relation.satisfied_by(version) is expected


def test_render() -> None:
    group = parse_relations("debconf:any (>= 0.5) | debconf-2.0")[0]
    assert str(group[0]) == "debconf:any (>= 0.5)"
    assert format_alternatives(group) == "debconf:any (>= 0.5) | debconf-2.0"


def test_parsed_fields_are_cached() -> None:
    assert parse_relations("zlib1g (>= 1:1.2.0)") is parse_relations("zlib1g (>= 1:1.2.0)")
