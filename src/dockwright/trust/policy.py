"""Trust policy files (YAML): what an image must prove before ``verify`` (or ``--verify``) accepts it.

::

    version: 1
    scopes:                          # the first scope whose match covers REGISTRY/REPOSITORY applies
      - match: "127.0.0.1:5000/team/*"   # glob(s); '*' also crosses '/'; oci: layouts match "oci:DIR"
        roles: {targets: 2, root: 2}     # TUF roles and the least threshold each must have
        attestations: [sbom, provenance] # signed attestations required
        keys:                            # keys trusted to sign attestations
          - keys/alice.pub               # a public key file (PEM or `trust key` JSON), relative to here
          - {file: keys/bob.pub, keyid: "<hex>"}  # keyid: the id signers write (default: computed)
          - {keyid: "<hex>"}             # a key the trust repository lists (looked up when verifying)
        threshold: 2                     # distinct trusted keys that must sign each attestation
        forbid:
          packages: ["gcc*", "deb:*-dev"]  # name globs, optionally TYPE:GLOB
          dev-packages: true               # compilers, headers, test tools (inspect's rules)
          wasted: 20MB                     # inspect --fail-on "wasted>20MB"
          fail-on: "docs>5MB,caches"       # any inspect --fail-on expression
        max-age: 30d                     # s, m, h, d or w

Every error names ``file:line:column`` (:class:`PolicyError`). A policy with ``attestations`` needs
``keys``; ``threshold`` cannot exceed the number of keys. Parsing reads the key files; nothing else
touches the disk. :meth:`Scope.evaluate` turns facts about an image (its real packages, waste
report, age) into :class:`Violation` records; it raises nothing.

What this module does not do: verify signatures or TUF metadata, read images, or decide what an
image's age is (the verifier picks the signed time): it is parsing and pure evaluation.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import yaml
from securesystemslib.signer import Key

from dockwright.errors import InputError
from dockwright.inspect.baggage import dev_reason
from dockwright.inspect.gate import FailRule, evaluate, parse_fail_on
from dockwright.inspect.model import Package
from dockwright.inspect.waste import WasteReport
from dockwright.trust.envelope import load_public_key
from dockwright.trust.keys import read_public_key
from dockwright.yamlnodes import NodeReader, compose

__all__ = [
    "ATTESTATION_KINDS",
    "MAX_POLICY",
    "Forbid",
    "Policy",
    "PolicyError",
    "Scope",
    "TrustedKey",
    "Violation",
    "load_policy",
    "parse_policy",
]

ATTESTATION_KINDS = ("sbom", "provenance")
MAX_POLICY = 1 << 20
_MAX_KEY_FILE = 64 << 10
_KEYID = re.compile(r"[0-9a-f]{8,128}")
_AGE = re.compile(r"([0-9]+)\s*([smhdw])")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SCOPE_KEYS = ("match", "roles", "attestations", "keys", "threshold", "forbid", "max-age")
_FORBID_KEYS = ("packages", "dev-packages", "wasted", "fail-on")


class PolicyError(InputError):
    """The policy file is malformed; ``location`` is ``file:line[:column]``."""

    default_hint = "fix the policy at the location shown; see the trust policy format in docs"

    def __init__(
        self,
        message: str,
        *,
        path: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path, self.line, self.column = path, line, column
        location = path
        if line is not None:
            location += f":{line}" + (f":{column}" if column is not None else "")
        self.location = location
        super().__init__(f"{location}: {message}", hint=hint)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedKey:
    """A key trusted to sign attestations; ``key`` is None when it must come from the trust repository."""

    keyid: str
    key: Key | None = None
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One broken rule: a reason code (``forbidden-package``, ``dev-packages``, ``wasted`` for any
    size rule, ``too-old``, ``no-age``) and a human message."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Forbid:
    """What the image must not contain."""

    packages: tuple[str, ...] = ()
    dev_packages: bool = False
    rules: tuple[FailRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.packages or self.dev_packages or self.rules)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """The requirements for the repositories ``match`` covers."""

    match: tuple[str, ...]
    roles: tuple[tuple[str, int], ...] = ()
    attestations: tuple[str, ...] = ()
    keys: tuple[TrustedKey, ...] = ()
    threshold: int = 1
    forbid: Forbid = field(default_factory=Forbid)
    max_age: dt.timedelta | None = None
    location: str = ""

    def covers(self, name: str) -> bool:
        """True when one of the globs matches ``name`` (``REGISTRY/REPOSITORY`` or ``oci:DIR``)."""
        return any(fnmatchcase(name, pattern) for pattern in self.match)

    def evaluate(
        self,
        *,
        packages: Sequence[Package],
        waste: WasteReport | None,
        created: dt.datetime | None,
        now: dt.datetime,
    ) -> list[Violation]:
        """Check an image's facts against ``forbid`` and ``max-age``.

        Args:
            packages: the packages found in the image's real layers.
            waste: its waste report; needed when ``forbid`` has size rules (ignored otherwise).
            created: when the image was made (None: unknown, which breaks ``max-age``).
            now: the current time.

        Returns:
            Every violation, in the order: packages, dev packages, size rules, age.
        """
        out = [
            Violation(
                reason="forbidden-package",
                message=f"{p.type} package {p.name} {p.version} is forbidden ({pattern})",
            )
            for p in packages
            if (pattern := self._forbidden(p)) is not None
        ]
        if self.forbid.dev_packages:
            out += [
                Violation(
                    reason="dev-packages", message=f"{p.name} {p.version} is a dev/test package ({why})"
                )
                for p in packages
                if (why := dev_reason(p)) is not None
            ]
        if self.forbid.rules and waste is not None:
            out += [Violation(reason="wasted", message=text) for text in evaluate(self.forbid.rules, waste)]
        out += self._age(created, now)
        return out

    def _forbidden(self, package: Package) -> str | None:
        for pattern in self.forbid.packages:
            kind, _, glob = pattern.rpartition(":")
            if (not kind or kind == package.type) and fnmatchcase(package.name, glob):
                return pattern
        return None

    def _age(self, created: dt.datetime | None, now: dt.datetime) -> list[Violation]:
        if self.max_age is None:
            return []
        if created is None:
            return [
                Violation(
                    reason="no-age", message="the image's creation time is unknown; max-age cannot be met"
                )
            ]
        age, made = now - created, created.astimezone(dt.UTC)
        if age <= self.max_age:
            return []
        return [
            Violation(
                reason="too-old",
                message=f"the image is {_days(age)} old (made {made:%Y-%m-%dT%H:%M:%SZ}); "
                f"max-age is {_days(self.max_age)}",
            )
        ]


def _days(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    return (
        f"{seconds // 86400}d {seconds % 86400 // 3600}h"
        if seconds >= 86400
        else f"{seconds // 3600}h {seconds % 3600 // 60}m"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A parsed policy file."""

    scopes: tuple[Scope, ...]
    path: str = "policy.yaml"

    def scope_for(self, name: str) -> Scope | None:
        """The first scope covering ``name``, or None."""
        return next((scope for scope in self.scopes if scope.covers(name)), None)


class _Reader(NodeReader[PolicyError]):
    """The policy's node reader; key files are read relative to ``base``."""

    def __init__(self, path: str, base: Path) -> None:
        super().__init__(
            path,
            PolicyError,
            empty_values=False,
            single_as_list=True,
            integer_range=(1, 1000),
            range_in_message=True,
        )
        self.base = base


def parse_policy(text: str, *, path: str = "policy.yaml", base_dir: Path | None = None) -> Policy:
    """Parse and validate policy text (format in the module docstring).

    Args:
        text: the YAML document.
        path: shown in error messages.
        base_dir: where relative key file names are looked up (the policy's directory).

    Raises:
        PolicyError: with file:line:column for the first problem found (a key file that cannot be
            read or is not a public key included).
    """
    root = compose(
        text,
        path=path,
        error=PolicyError,
        what="policy",
        empty_hint="start with `version: 1` and `scopes:`",
    )
    r = _Reader(path, base_dir or Path())
    top = r.mapping(root, "the policy", ("version", "scopes"))
    if "version" not in top or r.scalar(top["version"], "version") != "1":
        raise r.fail(top.get("version", root), "the policy must say `version: 1`")
    if "scopes" not in top or not isinstance(top["scopes"], yaml.SequenceNode) or not top["scopes"].value:
        raise r.fail(top.get("scopes", root), "scopes must be a non-empty list of scopes")
    return Policy(scopes=tuple(_scope(r, node) for node in top["scopes"].value), path=path)


def load_policy(path: Path) -> Policy:
    """Read and parse the policy file at ``path`` (key files relative to its directory).

    Raises:
        PolicyError: missing, unreadable, larger than :data:`MAX_POLICY`, or malformed.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_POLICY + 1)
    except OSError as exc:
        raise PolicyError(f"cannot read the policy: {exc.strerror or exc}", path=str(path)) from None
    if len(data) > MAX_POLICY:
        raise PolicyError(f"the policy is larger than {MAX_POLICY} bytes", path=str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("the policy is not UTF-8 text", path=str(path)) from None
    return parse_policy(text, path=str(path), base_dir=Path(path).parent)


def _scope(r: _Reader, node: yaml.Node) -> Scope:
    fields = r.mapping(node, "a scope", _SCOPE_KEYS)
    if "match" not in fields:
        raise r.fail(node, "a scope needs `match:` (a REGISTRY/REPOSITORY glob)")
    attestations = r.strings(fields["attestations"], "attestations") if "attestations" in fields else ()
    for kind in attestations:
        if kind not in ATTESTATION_KINDS:
            raise r.fail(
                fields["attestations"], f"unknown attestation {kind!r}: use {' or '.join(ATTESTATION_KINDS)}"
            )
    keys = _keys(r, fields["keys"]) if "keys" in fields else ()
    threshold = r.integer(fields["threshold"], "threshold") if "threshold" in fields else 1
    if attestations and not keys:
        raise r.fail(fields["attestations"], "required attestations need `keys:` trusted to sign them")
    if keys and threshold > len({k.keyid for k in keys}):
        raise r.fail(
            fields.get("threshold", node), f"threshold {threshold} is more than the {len(keys)} keys listed"
        )
    mark = node.start_mark
    return Scope(
        match=r.strings(fields["match"], "match"),
        roles=_roles(r, fields["roles"]) if "roles" in fields else (),
        attestations=tuple(dict.fromkeys(attestations)),
        keys=keys,
        threshold=threshold,
        forbid=_forbid(r, fields["forbid"]) if "forbid" in fields else Forbid(),
        max_age=_max_age(r, fields["max-age"]) if "max-age" in fields else None,
        location=f"{r.path}:{mark.line + 1}",
    )


def _roles(r: _Reader, node: yaml.Node) -> tuple[tuple[str, int], ...]:
    return tuple(
        (name, r.integer(value, f"roles.{name}")) for name, value in r.mapping(node, "roles", None).items()
    )


def _keys(r: _Reader, node: yaml.Node) -> tuple[TrustedKey, ...]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise r.fail(node, "keys must be a non-empty list of key files or {file, keyid} entries")
    out = [_key(r, item) for item in node.value]
    seen: set[str] = set()
    for item, key in zip(node.value, out, strict=True):
        if key.keyid in seen:
            raise r.fail(item, f"key {key.keyid} is listed twice")
        seen.add(key.keyid)
    return tuple(out)


def _key(r: _Reader, node: yaml.Node) -> TrustedKey:
    fields = (
        {"file": node} if isinstance(node, yaml.ScalarNode) else r.mapping(node, "a key", ("file", "keyid"))
    )
    keyid = r.scalar(fields["keyid"], "keyid") if "keyid" in fields else None
    if keyid is not None and not _KEYID.fullmatch(keyid):
        raise r.fail(fields["keyid"], f"keyid {keyid!r} must be lowercase hex")
    origin = f"{r.path}:{node.start_mark.line + 1}"
    if "file" not in fields:
        if keyid is None:
            raise r.fail(node, "a key needs `file:` or `keyid:`")
        return TrustedKey(keyid=keyid, origin=origin)
    name = r.scalar(fields["file"], "file")
    path = r.base / name
    try:
        data = path.read_bytes()[:_MAX_KEY_FILE]
    except OSError as exc:
        raise r.fail(fields["file"], f"cannot read the key file {name}: {exc.strerror or exc}") from None
    try:
        if data.lstrip().startswith(b"{"):  # a .pub file of `dockwright trust key` (securesystemslib JSON)
            key = read_public_key(path)
            if keyid is not None and keyid != key.keyid:
                raise InputError(f"{name} holds key {key.keyid}, not {keyid}")
        else:
            key = load_public_key(data, keyid=keyid, what=name)
    except InputError as exc:
        raise r.fail(fields["file"], exc.message) from None
    return TrustedKey(keyid=key.keyid, key=key, origin=origin)


def _forbid(r: _Reader, node: yaml.Node) -> Forbid:
    fields = r.mapping(node, "forbid", _FORBID_KEYS)
    rules: list[FailRule] = []
    if "wasted" in fields:
        rules += _rules(r, fields["wasted"], "wasted>" + r.scalar(fields["wasted"], "forbid.wasted"))
    if "fail-on" in fields:
        rules += _rules(r, fields["fail-on"], r.scalar(fields["fail-on"], "forbid.fail-on"))
    dev = False
    if "dev-packages" in fields:
        text = r.scalar(fields["dev-packages"], "forbid.dev-packages").lower()
        if text not in ("true", "false", "yes", "no"):
            raise r.fail(fields["dev-packages"], "forbid.dev-packages must be true or false")
        dev = text in ("true", "yes")
    packages = r.strings(fields["packages"], "forbid.packages") if "packages" in fields else ()
    return Forbid(packages=packages, dev_packages=dev, rules=tuple(rules))


def _rules(r: _Reader, node: yaml.Node, expression: str) -> list[FailRule]:
    try:
        return list(parse_fail_on(expression))
    except InputError as exc:
        first = exc.message.splitlines()[0].removeprefix("invalid --fail-on expression: ")
        raise r.fail(node, f"{first} in {expression!r}", "sizes are written like 20MB or 512MiB") from None


def _max_age(r: _Reader, node: yaml.Node) -> dt.timedelta:
    text = r.scalar(node, "max-age")
    match = _AGE.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise r.fail(node, f"max-age {text!r} must be a positive number with s, m, h, d or w, such as 30d")
    return dt.timedelta(seconds=int(match[1]) * _AGE_UNITS[match[2]])
