"""The SBOM writers' faster helpers give exactly what the standard library gives.

``indented_json`` is ``json.dumps(indent=2)``; the CycloneDX writer reads a checked creation time
as ``datetime.strptime`` would.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import random
from typing import Any

import pytest

from dockwright.errors import InputError
from dockwright.inspect.sbom._common import indented_json, timestamp
from dockwright.inspect.sbom.cyclonedx import _utc

_STRINGS = ["", "a", "é", "ü-1.0", 'quote " back \\ slash', "tab\tnew\nline", "\x00\x1f", "😀", "\u2028"]


class _Level(enum.IntEnum):
    LOW = 1


def _random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth == 0 or roll < 0.4:
        scalars = [rng.choice(_STRINGS), rng.randrange(-5, 10**12), True, False, None, 1.5, _Level.LOW]
        return rng.choice(scalars)
    if roll < 0.7:
        return {rng.choice(_STRINGS) + str(i): _random_value(rng, depth - 1) for i in range(rng.randrange(4))}
    items = [_random_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    return tuple(items) if rng.random() < 0.2 else items


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize(("sort_keys", "ensure_ascii"), [(True, False), (False, True)])
def test_indented_json_is_json_dumps_with_indent_2(seed: int, sort_keys: bool, ensure_ascii: bool) -> None:
    value = _random_value(random.Random(seed), 4)
    expected = json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    assert indented_json(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii) == expected


@pytest.mark.parametrize("value", [{"a": {1, 2}}, [object()], {1: "a"}, {"a": {None: 1}}])
def test_indented_json_refuses_what_it_cannot_write(value: Any) -> None:
    with pytest.raises(TypeError):
        indented_json(value, sort_keys=False, ensure_ascii=True)


@pytest.mark.parametrize(
    "created",
    [
        "2026-01-01T00:00:00Z",
        "2024-02-29T23:59:59Z",
        "0999-12-31T09:05:07Z",
        "1970-01-01T00:00:00Z",
        "\u0662\u0660\u0662\u0666-01-1\u0665T0\u0669:30:00Z",  # Arabic-Indic digits: strptime reads them
        "2023-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:60Z",
    ],
)
def test_utc_reads_a_checked_time_as_strptime_does(created: str) -> None:
    try:
        stamp = timestamp(created)
    except InputError:
        return  # timestamp refuses it: _utc never sees it
    expected = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert _utc(stamp) == expected
    assert _utc(stamp).isoformat() == expected.isoformat()
