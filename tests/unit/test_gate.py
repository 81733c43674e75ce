"""The --fail-on gate: the grammar, its exact error messages, and the reasons it gives."""

from __future__ import annotations

import pytest

from dockwright.errors import InputError
from dockwright.inspect.gate import FailRule, check_fail_on, evaluate, parse_fail_on
from dockwright.inspect.waste import waste_report
from tests.unit.inspect_images import bloated, clean

METRICS_LINE = (
    "valid metrics: caches, compressed, dev, dev-packages, docs, efficiency, locales, man, reclaimable, "
    "size, tests, wasted"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wasted>20MB", [("wasted", ">", 20_000_000)]),
        ("docs>5MiB", [("docs", ">", 5 * 1024**2)]),
        ("caches>0", [("caches", ">", 0)]),
        ("dev-packages", [("dev-packages", ">", 0)]),
        ("tests", [("tests", ">", 0)]),
        ("efficiency<0.95", [("efficiency", "<", 0.95)]),
        ("efficiency<95%", [("efficiency", "<", 0.95)]),
        ("efficiency<=.9", [("efficiency", "<=", 0.9)]),
        ("size>=1.5GB", [("size", ">=", 1_500_000_000)]),
        ("compressed>2GiB", [("compressed", ">", 2 * 1024**3)]),
        ("reclaimable>10kB", [("reclaimable", ">", 10_000)]),
        ("reclaimable>10KB", [("reclaimable", ">", 10_000)]),
        ("man>3KiB", [("man", ">", 3072)]),
        ("locales>100B", [("locales", ">", 100)]),
        ("dev>100", [("dev", ">", 100)]),
        ("dev-packages>=2", [("dev-packages", ">=", 2)]),
        (
            "wasted>20MB,dev-packages,efficiency<0.95",
            [("wasted", ">", 20_000_000), ("dev-packages", ">", 0), ("efficiency", "<", 0.95)],
        ),
        (" wasted > 20 MB , caches ", [("wasted", ">", 20_000_000), ("caches", ">", 0)]),
    ],
)
def test_parse(text: str, expected: list[tuple[str, str, float]]) -> None:
    rules = parse_fail_on(text)
    assert [(rule.metric, rule.op) for rule in rules] == [(metric, op) for metric, op, _ in expected]
    assert [rule.threshold for rule in rules] == pytest.approx([threshold for _, _, threshold in expected])


@pytest.mark.parametrize(
    ("text", "message", "caret"),
    [
        ("", "empty expression", "^"),
        ("wasted>20MB,", "expected a metric after ','", "            ^"),
        (",wasted", "expected a metric", "^"),
        ("wated>5MB", "unknown metric 'wated' (did you mean 'wasted'?)", "^^^^^"),
        ("wasted>5MB,bloat", "unknown metric 'bloat'", "           ^^^^^"),
        ("wasted>>20MB", "expected a number after '>'", "       ^"),
        ("wasted=20MB", "expected one of <, <=, >, >= or ',' after 'wasted'", "      ^"),
        (
            "wasted>20XB",
            "unknown unit 'XB' for wasted: use B, kB, KB, MB, GB, KiB, MiB or GiB",
            "         ^^",
        ),
        ("caches>5%", "unknown unit '%' for caches: use B, kB, KB, MB, GB, KiB, MiB or GiB", "        ^"),
        ("efficiency", "'efficiency' needs a threshold, such as efficiency<0.95", "^^^^^^^^^^"),
        ("efficiency<95MB", "efficiency is a ratio: write 0.95 or 95%", "             ^^"),
        ("efficiency<1.5", "efficiency must be between 0 and 1 (or 0% and 100%)", "           ^^^"),
        ("efficiency<120%", "efficiency must be between 0 and 1 (or 0% and 100%)", "           ^^^^"),
        (
            "dev-packages>2MB",
            "dev-packages counts packages: write a plain number (use 'dev' for their bytes)",
            "              ^^",
        ),
        ("wasted>20MB dev", "expected ',' between rules", "            ^"),
    ],
)
def test_parse_errors(text: str, message: str, caret: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_fail_on(text)
    assert caught.value.message == (
        f"invalid --fail-on expression: {message}\n  {text}\n  {caret}\n{METRICS_LINE}"
    )
    assert caught.value.exit_code == 2
    assert "wasted>20MB" in caught.value.hint


def test_bloated_image_fails_with_reasons_naming_the_culprits() -> None:
    report = waste_report(*bloated())
    reasons = check_fail_on("wasted>20MB,dev-packages,efficiency<0.95", report)
    assert reasons == [
        "wasted 78.1 MB > 20 MB: 42.8 MB dev/test packages (gcc-12, pytest, make), "
        "19.0 MB package caches (apt lists, apt archives, apt cache), "
        "15.0 MB reclaimable (hidden by later layers), and 4 more",
        "dev-packages 3 > 0: gcc-12 (42.1 MB), pytest (410.0 kB), make (250.0 kB)",
        "efficiency 0.850 < 0.95: 15.0 MB of 100.0 MB shipped is overwritten or deleted by later layers",
    ]


def test_clean_image_passes() -> None:
    report = waste_report(*clean())
    assert check_fail_on("wasted>20MB,dev-packages,efficiency<0.95,caches>0,docs>5MiB", report) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "caches>0",
            "caches 19.0 MB > 0 B: 9.0 MB apt lists, 8.0 MB apt archives, 2.0 MB apt cache, and 1 more",
        ),
        ("docs>5KiB", "docs 293.0 KiB > 5 KiB: 293.0 KiB bash"),
        ("reclaimable>1MB", "reclaimable 15.0 MB > 1 MB: 15.0 MB in layer 0"),
        ("dev>1MiB", "dev 40.8 MiB > 1 MiB: gcc-12 (40.1 MiB), pytest (400.4 KiB), make (244.1 KiB)"),
        ("size>100MB", "size 106.0 MB > 100 MB: 3 layers"),
        ("tests", "tests 704.0 kB > 0 B: 700.0 kB numpy, 4.0 kB @scope/pkg"),
        ("locales>=200kB", "locales 200.0 kB >= 200 kB: 200.0 kB de"),
        (
            "efficiency<90%",
            "efficiency 85.0% < 90%: 15.0 MB of 100.0 MB shipped is overwritten or deleted by later layers",
        ),
    ],
)
def test_single_rule_reasons(text: str, reason: str) -> None:
    assert check_fail_on(text, waste_report(*bloated())) == [reason]


@pytest.mark.parametrize(
    "text", ["wasted>100MB", "dev-packages>3", "efficiency<0.85", "man>90kB", "compressed>1GB"]
)
def test_rules_that_hold(text: str) -> None:
    assert check_fail_on(text, waste_report(*bloated())) == []


def test_evaluate_keeps_rule_order() -> None:
    rules = (FailRule(metric="efficiency", op="<", threshold=0.9, number="0.9"), *parse_fail_on("caches"))
    reasons = evaluate(rules, waste_report(*bloated()))
    assert [reason.split()[0] for reason in reasons] == ["efficiency", "caches"]
