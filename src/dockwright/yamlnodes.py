"""YAML node reading with file:line:column errors, shared by the build spec and the trust policy.

:func:`compose` parses text into a PyYAML node tree (``yaml.compose`` with the safe loader), turning
a syntax error or an empty document into the caller's error type with its location. A
:class:`NodeReader` turns those nodes into plain values (mappings with known keys, strings,
integers, booleans, lists, name/value pairs), raising the caller's error at the offending node.
The error factory is a parameter, so each file format keeps its own exception class and hints.

What this module does not do: know any file format's keys or meaning, build the result objects,
read files or resolve paths: callers (:mod:`dockwright.build.spec`, :mod:`dockwright.trust.policy`)
do that with the values read here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import yaml

from dockwright.errors import InputError

__all__ = ["NodeReader", "compose"]

E = TypeVar("E", bound=InputError)

_NOTHING = ("", "null", "~")


def compose(
    text: str,
    *,
    path: str,
    error: Callable[..., InputError],
    what: str,
    empty_hint: str,
    syntax_hint: str | None = None,
) -> yaml.Node:
    """Parse ``text`` into its root node.

    Args:
        text: the YAML document.
        path: shown in error messages.
        error: builds the error: ``error(message, path=, line=, column=, hint=)``.
        what: names the document in "the WHAT is empty".
        empty_hint: the hint when the document is empty.
        syntax_hint: the hint when the text is not valid YAML (None: the error's default).

    Raises:
        InputError: as built by ``error``, at the syntax error's line and column when known.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise error(
            f"not valid YAML: {exc.problem}",
            path=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint=syntax_hint,
        ) from None
    if root is None:
        raise error(f"the {what} is empty", path=path, hint=empty_hint)
    return root


class NodeReader(Generic[E]):
    """Turns YAML nodes into Python values, raising ``error(...)`` at the node's line and column.

    The keywords choose between the two formats' conventions, each kept as it was:

    * ``empty_values``: a scalar may be empty, and an empty or null list or mapping means none
      (the spec); otherwise every scalar must be non-empty (the policy).
    * ``single_as_list``: :meth:`strings` also takes one bare value as a one-item list.
    * ``integer_range``: the default ``low`` and ``high`` of :meth:`integer`.
    * ``range_in_message``: :meth:`integer` says the range in its one message, instead of separate
      "whole number" and "between" messages.
    * ``descriptions``: how :meth:`string` describes what a pattern expects (else the regex).
    """

    def __init__(
        self,
        path: str,
        error: Callable[..., E],
        *,
        empty_values: bool = True,
        single_as_list: bool = False,
        integer_range: tuple[int, int] = (0, 2**32 - 2),
        range_in_message: bool = False,
        descriptions: Mapping[re.Pattern[str], str] | None = None,
    ) -> None:
        self.path = path
        self.error = error
        self.empty_values = empty_values
        self.single_as_list = single_as_list
        self.integer_range = integer_range
        self.range_in_message = range_in_message
        self.descriptions: Mapping[re.Pattern[str], str] = descriptions or {}

    def fail(self, node: yaml.Node, message: str, hint: str | None = None) -> E:
        """The error (not raised) for ``message`` at ``node``."""
        mark = node.start_mark
        return self.error(message, path=self.path, line=mark.line + 1, column=mark.column + 1, hint=hint)

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None) -> dict[str, yaml.Node]:
        """The mapping's value nodes by key; ``allowed`` None takes any key."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value lines)")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, f"a key in {what}")
            if key in out:
                raise self.fail(key_node, f"duplicate key {key!r} in {what}")
            if allowed is not None and key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "allowed keys: " + ", ".join(allowed)
                raise self.fail(key_node, f"unknown key {key!r} in {what}", hint)
            out[key] = value_node
        return out

    def scalar(self, node: yaml.Node, what: str) -> str:
        """A single value as text (non-empty unless ``empty_values``)."""
        if self.empty_values:
            if not isinstance(node, yaml.ScalarNode):
                raise self.fail(node, f"{what} must be a single value, not a list or mapping")
        elif not isinstance(node, yaml.ScalarNode) or node.value == "":
            raise self.fail(node, f"{what} must be a single non-empty value")
        return str(node.value)

    def string(self, node: yaml.Node, what: str, pattern: re.Pattern[str] | None = None) -> str:
        """A non-empty value, matching ``pattern`` when given."""
        value = self.scalar(node, what)
        if value == "":
            raise self.fail(node, f"{what} must not be empty")
        if pattern is not None and not pattern.match(value):
            expected = self.descriptions.get(pattern, pattern.pattern)
            raise self.fail(node, f"{what} {value!r} is not valid: expected {expected}")
        return value

    def integer(self, node: yaml.Node, what: str, low: int | None = None, high: int | None = None) -> int:
        """A whole number from ``low`` to ``high`` (default: ``integer_range``)."""
        low = self.integer_range[0] if low is None else low
        high = self.integer_range[1] if high is None else high
        value = self.scalar(node, what)
        if self.range_in_message:
            # ASCII digits only: str.isdigit() accepts '²', which int() then refuses
            if not re.fullmatch(r"[0-9]+", value) or not low <= int(value) <= high:
                raise self.fail(node, f"{what} must be a whole number from {low} to {high}, not {value!r}")
            return int(value)
        if not re.fullmatch(r"[0-9]+", value):
            raise self.fail(node, f"{what} must be a whole number, not {value!r}")
        number = int(value)
        if not low <= number <= high:
            raise self.fail(node, f"{what} must be between {low} and {high}, not {number}")
        return number

    def boolean(self, node: yaml.Node, what: str) -> bool:
        """true/yes/on or false/no/off, in any case."""
        value = self.scalar(node, what).lower()
        if value in ("true", "yes", "on"):
            return True
        if value in ("false", "no", "off"):
            return False
        raise self.fail(node, f"{what} must be true or false, not {value!r}")

    def strings(self, node: yaml.Node, what: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
        """A list of values (see :meth:`string`); also one bare value when ``single_as_list``."""
        if self.single_as_list:
            if isinstance(node, yaml.ScalarNode):
                return (self.scalar(node, what),)
            if not isinstance(node, yaml.SequenceNode):
                raise self.fail(node, f"{what} must be a value or a list of values")
        else:
            if self._nothing(node):
                return ()
            if not isinstance(node, yaml.SequenceNode):
                raise self.fail(node, f"{what} must be a list, e.g. [a, b]")
        return tuple(self.string(item, f"an item of {what}", pattern) for item in node.value)

    def pairs(self, node: yaml.Node, what: str) -> tuple[tuple[str, str], ...]:
        """A mapping of names to values, in order."""
        if self._nothing(node):
            return ()
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping of names to strings")
        seen: set[str] = set()
        out = []
        for key_node, value_node in node.value:
            key = self.string(key_node, f"a key in {what}")
            if key in seen:
                raise self.fail(key_node, f"duplicate key {key!r} in {what}")
            seen.add(key)
            out.append((key, self.scalar(value_node, f"{what}.{key}")))
        return tuple(out)

    def _nothing(self, node: yaml.Node) -> bool:
        return self.empty_values and isinstance(node, yaml.ScalarNode) and node.value in _NOTHING
