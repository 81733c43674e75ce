"""The CI gate: parse ``--fail-on`` rules and check a waste report against them.

Grammar (whitespace is allowed around every token)::

    expression := rule ("," rule)*
    rule       := metric [op threshold]
    op         := ">" | ">=" | "<" | "<="
    threshold  := number [unit] | number "%"
    number     := digits ["." digits] | "." digits
    unit       := "B" | "kB" | "KB" | "MB" | "GB" | "KiB" | "MiB" | "GiB"

A rule is *violated* when its comparison holds for the image: ``wasted>20MB`` fails an image that
wastes more than 20 MB, ``efficiency<0.95`` one whose efficiency is below 0.95. A bare metric means
``metric>0`` (``dev-packages`` fails when any dev package is present); ``efficiency`` has no bare
form. Metrics (definitions in :mod:`dockwright.inspect.waste`):

* sizes (a plain number is bytes): ``wasted`` (reclaimable bytes plus every baggage category: all the
  image could save), ``reclaimable``, ``caches``, ``dev`` (bytes of dev-package files), ``tests``,
  ``docs``, ``man``, ``locales``, ``size`` (sum of uncompressed layer tars), ``compressed`` (sum of
  layer blobs);
* counts: ``dev-packages`` (number of dev/test packages; no unit);
* ratios: ``efficiency``, written ``0.95`` or ``95%``.

This module does not compute the report (see :mod:`dockwright.inspect.waste`) and prints nothing:
violations come back as human strings for the CLI.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from dockwright.errors import InputError
from dockwright.inspect.units import UNITS, format_size, is_binary_unit
from dockwright.inspect.waste import WasteReport

__all__ = ["METRICS", "FailRule", "check_fail_on", "evaluate", "parse_fail_on"]

_Kind = Literal["bytes", "count", "ratio"]


@dataclass(frozen=True, slots=True)
class _Metric:
    kind: _Kind
    value: Callable[[WasteReport], float]


METRICS: dict[str, _Metric] = {
    "caches": _Metric("bytes", lambda report: report.category("caches").bytes),
    "compressed": _Metric("bytes", lambda report: report.compressed_size),
    "dev": _Metric("bytes", lambda report: report.category("dev-packages").bytes),
    "dev-packages": _Metric("count", lambda report: len(report.dev_packages)),
    "docs": _Metric("bytes", lambda report: report.category("docs").bytes),
    "efficiency": _Metric("ratio", lambda report: report.efficiency),
    "locales": _Metric("bytes", lambda report: report.category("locales").bytes),
    "man": _Metric("bytes", lambda report: report.category("man").bytes),
    "reclaimable": _Metric("bytes", lambda report: report.reclaimable_bytes),
    "size": _Metric("bytes", lambda report: report.uncompressed_size),
    "tests": _Metric("bytes", lambda report: report.category("tests").bytes),
    "wasted": _Metric("bytes", lambda report: report.wasted_bytes),
}
"""Every metric a rule may name, by name."""

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda value, limit: value >= limit,
    "<=": lambda value, limit: value <= limit,
    ">": lambda value, limit: value > limit,
    "<": lambda value, limit: value < limit,
}
_METRIC = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_OP = re.compile(r">=|<=|>|<")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_UNIT = re.compile(r"[A-Za-z]+|%")
_UNIT_LIST = "B, kB, KB, MB, GB, KiB, MiB or GiB"
_SHOWN = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class FailRule:
    """One parsed rule: fail when ``metric op threshold`` holds.

    ``threshold`` is in bytes for sizes, a count, or a ratio in [0, 1]. ``number`` and ``unit`` keep
    how the user wrote the threshold, for messages.
    """

    metric: str
    op: str
    threshold: float
    number: str = "0"
    unit: str = ""

    @property
    def threshold_text(self) -> str:
        """The threshold as written, with a space before any unit (``20 MB``, ``95%``, ``0 B``)."""
        if self.unit == "%":
            return f"{self.number}%"
        if METRICS[self.metric].kind == "bytes":
            return f"{self.number} {self.unit or 'B'}"
        return self.number


def _skip_space(text: str, pos: int) -> int:
    """Return the first position at or after ``pos`` that is not whitespace."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


class _Parser:
    """Recursive descent over one expression, tracking the position for caret messages."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str, start: int, end: int | None = None) -> InputError:
        """Build the error for ``text[start:end]`` with a caret line and the valid metrics."""
        width = max(1, (end if end is not None else start + 1) - start)
        message = (
            f"invalid --fail-on expression: {what}\n"
            f"  {self.text}\n"
            f"  {' ' * start}{'^' * width}\n"
            f"valid metrics: {', '.join(sorted(METRICS))}"
        )
        return InputError(
            message,
            hint="write METRIC[OP THRESHOLD] rules separated by commas, e.g. wasted>20MB,dev-packages",
        )

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """Skip whitespace, then match ``pattern`` at the position and move past it."""
        self.pos = _skip_space(self.text, self.pos)
        match = pattern.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
        return match

    def expression(self) -> tuple[FailRule, ...]:
        """Parse ``rule ("," rule)*`` up to the end of the text."""
        if not self.text.strip():
            raise self.fail("empty expression", 0)
        rules = [self.rule()]
        while True:
            self.pos = _skip_space(self.text, self.pos)
            if self.pos == len(self.text):
                return tuple(rules)
            if self.text[self.pos] != ",":
                raise self.fail("expected ',' between rules", self.pos)
            self.pos += 1
            rules.append(self.rule())

    def rule(self) -> FailRule:
        """Parse ``metric [op threshold]``."""
        after = self.text[self.pos - 1] if self.pos else ""
        metric = self.take(_METRIC)
        if metric is None:
            where = f" after {after!r}" if after else ""
            raise self.fail(f"expected a metric{where}", self.pos)
        name = metric[0]
        if name not in METRICS:
            raise self.fail(f"unknown metric {name!r}{_suggest(name)}", metric.start(), metric.end())
        op = self.take(_OP)
        if op is None:
            return self.bare(name, metric)
        number = self.take(_NUMBER)
        if number is None:
            raise self.fail(f"expected a number after {op[0]!r}", self.pos)
        unit = self.take(_UNIT)
        threshold = self.threshold(name, number, unit)
        return FailRule(
            metric=name, op=op[0], threshold=threshold, number=number[0], unit=unit[0] if unit else ""
        )

    def bare(self, name: str, metric: re.Match[str]) -> FailRule:
        """Return ``metric>0`` for a rule without a comparison, or fail for ``efficiency``."""
        rest = _skip_space(self.text, self.pos)
        if rest < len(self.text) and self.text[rest] != ",":
            raise self.fail(f"expected one of <, <=, >, >= or ',' after {name!r}", rest)
        if METRICS[name].kind == "ratio":
            raise self.fail(f"{name!r} needs a threshold, such as {name}<0.95", metric.start(), metric.end())
        return FailRule(metric=name, op=">", threshold=0)

    def threshold(self, name: str, number: re.Match[str], unit: re.Match[str] | None) -> float:
        """Check the threshold against the metric's kind and return it in the metric's units."""
        kind = METRICS[name].kind
        value = float(number[0])
        if kind == "bytes":
            if unit is not None and unit[0] not in UNITS:
                raise self.fail(
                    f"unknown unit {unit[0]!r} for {name}: use {_UNIT_LIST}", unit.start(), unit.end()
                )
            return value * (UNITS[unit[0]] if unit is not None else 1)
        if kind == "count":
            if unit is not None:
                raise self.fail(
                    f"{name} counts packages: write a plain number (use 'dev' for their bytes)",
                    unit.start(),
                    unit.end(),
                )
            return value
        if unit is not None and unit[0] != "%":
            raise self.fail(f"{name} is a ratio: write 0.95 or 95%", unit.start(), unit.end())
        ratio = value / 100 if unit is not None else value
        if not 0 <= ratio <= 1:
            raise self.fail(f"{name} must be between 0 and 1 (or 0% and 100%)", number.start(), self.pos)
        return ratio


def _suggest(name: str) -> str:
    """Return `` (did you mean 'x'?)`` for a near miss, else ``""``."""
    close = difflib.get_close_matches(name.lower(), METRICS, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_fail_on(text: str) -> tuple[FailRule, ...]:
    """Parse a ``--fail-on`` expression such as ``wasted>20MB,dev-packages,efficiency<0.95``.

    Args:
        text: The expression (grammar in the module docstring).

    Returns:
        The rules, in the order written.

    Raises:
        InputError: The expression is malformed; the message shows the expression with a caret
            under the bad part and lists the valid metrics.
    """
    return _Parser(text).expression()


def _sized(parts: Sequence[tuple[str, int]], binary: bool) -> str:
    """Join the largest ``(label, bytes)`` parts as ``"31.0 MB apt archives, ..."``."""
    nonzero = [(label, size) for label, size in parts if size]
    shown = [f"{format_size(size, binary=binary)} {label}" for label, size in nonzero[:_SHOWN]]
    if len(nonzero) > _SHOWN:
        shown.append(f"and {len(nonzero) - _SHOWN} more")
    return ", ".join(shown)


def _wasted_parts(report: WasteReport) -> list[tuple[str, int]]:
    """Return what ``wasted`` is made of, largest first, naming each category's largest kinds."""
    parts = [("reclaimable (hidden by later layers)", report.reclaimable_bytes)]
    for category in report.categories:
        labels = ", ".join(kind.label for kind in category.kinds[:_SHOWN])
        parts.append((f"{category.title} ({labels})" if labels else category.title, category.bytes))
    return sorted((part for part in parts if part[1]), key=lambda part: -part[1])


def _details(rule: FailRule, report: WasteReport) -> str:
    """Say what makes up the measured value of a violated rule."""
    binary = is_binary_unit(rule.unit)
    if rule.metric == "wasted":
        return _sized(_wasted_parts(report), binary)
    if rule.metric == "reclaimable":
        layers = sorted(report.layers, key=lambda layer: -layer.reclaimable_bytes)
        return _sized([(f"in layer {layer.index}", layer.reclaimable_bytes) for layer in layers], binary)
    if rule.metric in ("dev-packages", "dev"):
        names = [f"{dev.name} ({format_size(dev.bytes, binary=binary)})" for dev in report.dev_packages]
        more = [f"and {len(names) - 5} more"] if len(names) > 5 else []
        return ", ".join(names[:5] + more)
    if rule.metric == "efficiency":
        return (
            f"{format_size(report.reclaimable_bytes)} of {format_size(report.shipped_bytes)} shipped "
            "is overwritten or deleted by later layers"
        )
    if rule.metric in ("size", "compressed"):
        return f"{len(report.layers)} layers"
    category = report.category("dev-packages" if rule.metric == "dev" else rule.metric)
    return _sized([(kind.label, kind.bytes) for kind in category.kinds], binary)


def _measured(rule: FailRule, value: float) -> str:
    """Format a measured value the way the rule's threshold is written."""
    kind = METRICS[rule.metric].kind
    if kind == "bytes":
        return format_size(value, binary=is_binary_unit(rule.unit))
    if kind == "count":
        return str(int(value))
    return f"{value * 100:.1f}%" if rule.unit == "%" else f"{value:.3f}"


def evaluate(rules: Sequence[FailRule], report: WasteReport) -> list[str]:
    """Check a report against rules and explain every violation.

    Args:
        rules: Rules from :func:`parse_fail_on`.
        report: The image's waste report.

    Returns:
        One human sentence per violated rule, in rule order (empty when the image passes), e.g.
        ``"wasted 48.2 MB > 20 MB: 31.0 MB package caches (apt archives), ..."``.
    """
    reasons = []
    for rule in rules:
        value = METRICS[rule.metric].value(report)
        if not _OPS[rule.op](value, rule.threshold):
            continue
        reason = f"{rule.metric} {_measured(rule, value)} {rule.op} {rule.threshold_text}"
        details = _details(rule, report)
        reasons.append(f"{reason}: {details}" if details else reason)
    return reasons


def check_fail_on(text: str, report: WasteReport) -> list[str]:
    """Parse ``text`` and evaluate it against ``report`` (see :func:`evaluate`).

    Raises:
        InputError: The expression is malformed.
    """
    return evaluate(parse_fail_on(text), report)
