"""Debian version ordering: a table of tricky cases, checked against python-debian too."""

from __future__ import annotations

import random

import pytest
from debian.debian_support import version_compare

from dockwright.debian.version import compare_versions, sort_key, validate_version
from dockwright.errors import InputError

# (a, b, expected sign of compare_versions(a, b))
CASES = [
    ("1.0", "1.0", 0),
    ("1.0", "1.00", 0),
    ("1.0", "1.0-0", 0),
    ("0", "00", 0),
    ("1:1.0", "1.0", 1),
    ("1:1.0", "2.0", 1),
    ("0:1.0", "1.0", 0),
    ("2:0.1", "10:0.0", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0~", "1.0", -1),
    ("1.0", "1.0+b1", -1),
    ("1.0", "1.0.0", -1),
    ("1.0-1", "1.0-1~bpo1", 1),
    ("1.0-1", "1.0-1+deb12u1", -1),
    ("2.36-9+deb12u9", "2.36-9+deb12u10", -1),
    ("1.0-1", "1.0-10", -1),
    ("1.0-2", "1.0-10", -1),
    ("1.0a", "1.0", 1),
    ("1.0a", "1.0+", -1),
    ("1.0a", "1.0.", -1),
    ("1.0a", "1.0A", 1),
    ("1.0", "1.0a", -1),
    ("1.2.3", "1.10", -1),
    ("1.001", "1.1", 0),
    ("1-2-3", "1-2", 1),
    ("1.0-2-3", "1.0-2-2", 1),
    ("9.8", "10.0", -1),
    ("1:2.0-1", "1:2.0-1", 0),
    ("0~", "0", -1),
    ("0~", "00", -1),
    ("7.4.052-1", "7.4.052-1+deb12u1", -1),
    ("2:8.2+93", "2:8.2+93", 0),
    ("1.3.4.20200120-3.1", "1.3.4.20200120-3", 1),
]


@pytest.mark.parametrize(("a", "b", "expected"), CASES)
def test_compare_table(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected
    assert (sort_key(a) > sort_key(b)) - (sort_key(a) < sort_key(b)) == expected


@pytest.mark.parametrize(("a", "b", "expected"), CASES)
def test_table_agrees_with_python_debian(a: str, b: str, expected: int) -> None:
    reference = version_compare(a, b)
    assert (reference > 0) - (reference < 0) == expected


def _random_version(rng: random.Random) -> str:
    upstream = rng.choice("0123456789") + "".join(
        rng.choice("0123456789~+.abzAZ") for _ in range(rng.randint(0, 6))
    )
    if rng.random() < 0.5:
        upstream += "-" + "".join(rng.choice("0123456789~+.ab") for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.3:
        upstream = f"{rng.randint(0, 3)}:{upstream}"
    return upstream


def test_random_pairs_agree_with_python_debian() -> None:
    rng = random.Random(20250520)
    for _ in range(3000):
        a = _random_version(rng)
        b = a + rng.choice("~0a.+") if rng.random() < 0.4 else _random_version(rng)
        reference = version_compare(a, b)
        assert compare_versions(a, b) == (reference > 0) - (reference < 0), (a, b)


def test_sort_key_sorts_like_dpkg() -> None:
    ordered = ["1.0~~", "1.0~", "1.0", "1.0-1~bpo1", "1.0-1", "1.0-1+b1", "1.0a", "1.0.1", "1:0.1"]
    shuffled = ordered[::-1]
    assert sorted(shuffled, key=sort_key) == ordered


@pytest.mark.parametrize("bad", ["", "a1.0", "1.0 beta", "x:1.0", "1.0-", ":1.0", "1.0_1", "1.0:2"])
def test_invalid_versions(bad: str) -> None:
    with pytest.raises(InputError, match="invalid Debian version"):
        validate_version(bad)


def test_validate_returns_version() -> None:
    assert validate_version("1:2.3-4") == "1:2.3-4"
