"""``WWW-Authenticate`` challenges (RFC 7235 section 4.1): a small recursive-descent parser.

Grammar (``OWS`` is optional spaces and tabs; names are case-insensitive)::

    header     = [ challenge ] *( OWS "," OWS [ challenge ] )
    challenge  = scheme [ 1*SP ( token68 / auth-param *( OWS "," OWS [ auth-param ] ) ) ]
    auth-param = token BWS "=" BWS ( token / quoted-string )

After a comma, ``name =`` continues the current challenge's parameters, and a bare token starts
the next challenge; commas inside quoted strings are part of the value.

What this module does not do: decide which challenge to answer, or answer it (see
:mod:`dockwright.registry.auth`); it accepts no parameter twice in one challenge.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from dockwright.errors import NetworkError

__all__ = ["Challenge", "parse_challenge", "parse_challenges"]

_TCHAR = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)
_TOKEN68 = frozenset("-._~+/" + string.ascii_letters + string.digits)
_WS = " \t"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header.

    Attributes:
        scheme: the auth scheme in lower case (``basic``, ``bearer``).
        params: the auth-params, names in lower case, quoted values unquoted.
        token68: the token68 form (``Negotiate abc==``) when the challenge has one.
    """

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None


class _ChallengeParser:
    """Recursive descent over one header value; errors point at the column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, expected: str) -> NetworkError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of header"
        return self.error_at(self.pos, f"expected {expected}, found {found}")

    def error_at(self, pos: int, problem: str) -> NetworkError:
        caret = " " * (pos + 2) + "^"
        return NetworkError(
            f"malformed WWW-Authenticate header at column {pos + 1}: {problem}\n  {self.text}\n{caret}",
            hint="the registry sent a challenge dockwright cannot read; report it to its operator",
        )

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> int:
        start = self.pos
        while self.peek() and self.peek() in chars:
            self.pos += 1
        return self.pos - start

    def token(self, what: str) -> str:
        start = self.pos
        while self.peek() and self.peek() in _TCHAR:
            self.pos += 1
        if self.pos == start:
            raise self.error(what)
        return self.text[start : self.pos]

    def quoted(self) -> str:
        self.pos += 1  # the opening quote
        out = []
        while (char := self.peek()) != '"':
            if not char:
                raise self.error("a closing '\"'")
            if char == "\\":
                self.pos += 1
                if not self.peek():
                    raise self.error("a character after '\\'")
            out.append(self.peek())
            self.pos += 1
        self.pos += 1
        return "".join(out)

    def at_param(self) -> bool:
        """Whether a ``name =`` starts here (else a new challenge or a token68 does)."""
        save = self.pos
        try:
            while self.peek() and self.peek() in _TCHAR:
                self.pos += 1
            if self.pos == save:
                return False
            self.skip(_WS)
            if self.peek() != "=":
                return False
            self.pos += 1
            self.skip(_WS)
            return self.peek() not in ("", ",", "=")
        finally:
            self.pos = save

    def challenges(self) -> list[Challenge]:
        out: list[Challenge] = []
        while True:
            self.skip(_WS + ",")
            if not self.peek():
                return out
            out.append(self.challenge())
            self.skip(_WS)
            if self.peek() and self.peek() != ",":
                raise self.error("',' between challenges")

    def challenge(self) -> Challenge:
        scheme = self.token("an auth scheme").lower()
        if not self.skip(" ") or self.peek() in ("", ","):
            return Challenge(scheme)
        if not self.at_param():
            return Challenge(scheme, token68=self.token68())
        params: dict[str, str] = {}
        while True:
            start = self.pos
            name = self.token("a parameter name").lower()
            self.skip(_WS)
            if self.peek() != "=":
                raise self.error("'=' after the parameter name")
            self.pos += 1
            self.skip(_WS)
            value = self.quoted() if self.peek() == '"' else self.token("a token or a quoted string")
            if name in params:
                raise self.error_at(start, f"parameter {name!r} given twice")
            params[name] = value
            save = self.pos
            self.skip(_WS)
            if self.peek() != ",":
                return Challenge(scheme, params)
            self.skip(_WS + ",")
            if not self.at_param():
                self.pos = save
                return Challenge(scheme, params)

    def token68(self) -> str:
        start = self.pos
        while self.peek() and self.peek() in _TOKEN68:
            self.pos += 1
        if self.pos == start:
            raise self.error("a token68 or a parameter")
        self.skip("=")
        return self.text[start : self.pos]


def parse_challenges(header: str) -> tuple[Challenge, ...]:
    """Every challenge in one ``WWW-Authenticate`` header value, in order.

    Raises:
        NetworkError: the value is malformed; the message shows the column and a caret.
    """
    return tuple(_ChallengeParser(header).challenges())


def parse_challenge(header: str) -> Challenge:
    """The first challenge of a ``WWW-Authenticate`` header value.

    Raises:
        NetworkError: the value is malformed or holds no challenge.
    """
    challenges = parse_challenges(header)
    if not challenges:
        raise NetworkError(f"empty WWW-Authenticate header {header!r}: expected a challenge")
    return challenges[0]
