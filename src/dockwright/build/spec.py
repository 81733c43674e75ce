"""The build spec, ``dockwright.yaml``: parsing and validation with file:line errors.

Parsing keeps the YAML node marks so every error points at the line to fix and says what to write
instead. The result is a frozen :class:`Spec`; nothing here touches the network or reads the files
the spec names (see :mod:`dockwright.build.builder`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dockwright.errors import SpecError
from dockwright.yamlnodes import NodeReader, compose

__all__ = [
    "FileSpec",
    "GroupSpec",
    "Source",
    "Spec",
    "UserSpec",
    "load_spec",
    "parse_spec",
]

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_PKG_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$")
_PORT_RE = re.compile(r"^\d{1,5}(/(tcp|udp|sctp))?$")
_ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]*\$?$")
_STRIP_NAMES = ("docs", "man", "locales")
_EXPECTED = {
    _NAME_RE: "lower-case letters, digits, '.', '_' or '-'",
    _PKG_RE: "a Debian package name, optionally with :arch or =version",
    _PORT_RE: "a port like 8080 or 8080/tcp",
}
_LAYERINGS = ("single", "by-origin")


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where packages come from; every ``None`` means "take it from the host's apt sources"."""

    mirror: str | None = None
    suites: tuple[str, ...] | None = None
    components: tuple[str, ...] | None = None
    keyring: str | None = None
    check_valid_until: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSpec:
    """An account written to /etc/passwd."""

    name: str
    uid: int
    gid: int
    home: str | None = None
    shell: str = "/usr/sbin/nologin"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupSpec:
    """A group written to /etc/group."""

    name: str
    gid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSpec:
    """Local content copied into the image: ``src`` is relative to the spec's directory."""

    src: str
    dst: str
    mode: int | None = None
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """A validated ``dockwright.yaml``."""

    name: str
    packages: tuple[str, ...]
    source: Source = field(default_factory=Source)
    architectures: tuple[str, ...] = ("amd64",)
    users: tuple[UserSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()
    run_as: str | None = None
    files: tuple[FileSpec, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    strip: tuple[str, ...] = _STRIP_NAMES
    layering: str = "single"
    path: str = "dockwright.yaml"
    sha256: str = ""

    def resolution_inputs(self) -> str:
        """Digest of what decides the package set: a lock is stale when this changes."""
        doc = {
            "packages": sorted(self.packages),
            "architectures": list(self.architectures),
            "source": {
                "mirror": self.source.mirror,
                "suites": self.source.suites,
                "components": self.source.components,
                "keyring": self.source.keyring,
            },
        }
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()


_TOP_KEYS = (
    "name",
    "source",
    "architectures",
    "packages",
    "accounts",
    "files",
    "entrypoint",
    "cmd",
    "env",
    "workdir",
    "ports",
    "labels",
    "annotations",
    "strip",
    "layering",
)


def parse_spec(text: str, *, path: str = "dockwright.yaml") -> Spec:
    """Parse and validate spec text.

    Args:
        text: the YAML document.
        path: shown in error messages.

    Returns:
        The validated :class:`Spec`.

    Raises:
        SpecError: with file:line:column and a hint for the first problem found.
    """
    root = compose(
        text,
        path=path,
        error=SpecError,
        what="spec",
        empty_hint="start with `name:` and `packages:`",
        syntax_hint="check indentation and quoting on that line",
    )
    r = NodeReader(path, SpecError, descriptions=_EXPECTED)
    top = r.mapping(root, "the spec", _TOP_KEYS)
    for required in ("name", "packages"):
        if required not in top:
            raise r.fail(root, f"missing required key {required!r}", f"add `{required}:` at the top level")
    packages = r.strings(top["packages"], "packages", _PKG_RE)
    if not packages:
        raise r.fail(top["packages"], "packages must list at least one package")
    kwargs: dict[str, Any] = {
        "name": r.string(top["name"], "name", _NAME_RE),
        "packages": packages,
        "path": path,
        "sha256": "sha256:" + hashlib.sha256(text.encode()).hexdigest(),
    }
    if "source" in top:
        kwargs["source"] = _source(r, top["source"])
    if "architectures" in top:
        kwargs["architectures"] = _architectures(r, top["architectures"])
    if "accounts" in top:
        kwargs.update(_accounts(r, top["accounts"]))
    if "files" in top:
        kwargs["files"] = _files(r, top["files"])
    kwargs.update(_runtime(r, top))
    return Spec(**kwargs)


def _source(r: NodeReader[SpecError], node: yaml.Node) -> Source:
    keys = ("mirror", "suites", "components", "keyring", "check-valid-until")
    m = r.mapping(node, "source", keys)
    mirror = r.string(m["mirror"], "source.mirror") if "mirror" in m else None
    if mirror is not None and not re.match(r"^(https?|file)://", mirror):
        raise r.fail(m["mirror"], "source.mirror must be an http://, https:// or file:// URL")
    return Source(
        mirror=mirror.rstrip("/") if mirror else None,
        suites=r.strings(m["suites"], "source.suites") or None if "suites" in m else None,
        components=r.strings(m["components"], "source.components") or None if "components" in m else None,
        keyring=r.string(m["keyring"], "source.keyring") if "keyring" in m else None,
        check_valid_until=(
            r.boolean(m["check-valid-until"], "source.check-valid-until")
            if "check-valid-until" in m
            else True
        ),
    )


def _architectures(r: NodeReader[SpecError], node: yaml.Node) -> tuple[str, ...]:
    archs = r.strings(node, "architectures", re.compile(r"^[a-z0-9]+$"))
    if len(archs) != 1:
        raise r.fail(
            node,
            "exactly one architecture per spec is supported for now",
            "build one spec per architecture, e.g. architectures: [amd64]",
        )
    return archs


def _accounts(r: NodeReader[SpecError], node: yaml.Node) -> dict[str, Any]:
    m = r.mapping(node, "accounts", ("users", "groups", "run-as"))
    users: list[UserSpec] = []
    groups: list[GroupSpec] = []
    if "groups" in m:
        if not isinstance(m["groups"], yaml.SequenceNode):
            raise r.fail(m["groups"], "accounts.groups must be a list of {name, gid}")
        for item in m["groups"].value:
            g = r.mapping(item, "a group", ("name", "gid"))
            if "name" not in g or "gid" not in g:
                raise r.fail(item, "a group needs name and gid")
            groups.append(
                GroupSpec(name=r.string(g["name"], "group name", _ACCOUNT_RE), gid=r.integer(g["gid"], "gid"))
            )
    if "users" in m:
        if not isinstance(m["users"], yaml.SequenceNode):
            raise r.fail(m["users"], "accounts.users must be a list of {name, uid, gid}")
        for item in m["users"].value:
            users.append(_user(r, item))
    run_as = None
    if "run-as" in m:
        run_as = r.string(m["run-as"], "accounts.run-as")
        known = {u.name for u in users} | {"root"}
        if not run_as.isdigit() and run_as not in known:
            raise r.fail(m["run-as"], f"run-as names {run_as!r}, which is not in accounts.users")
    return {"users": tuple(users), "groups": tuple(groups), "run_as": run_as}


def _user(r: NodeReader[SpecError], node: yaml.Node) -> UserSpec:
    u = r.mapping(node, "a user", ("name", "uid", "gid", "home", "shell"))
    for key in ("name", "uid"):
        if key not in u:
            raise r.fail(node, f"a user needs {key!r}", "write {name: app, uid: 65532, gid: 65532}")
    uid = r.integer(u["uid"], "uid")
    return UserSpec(
        name=r.string(u["name"], "user name", _ACCOUNT_RE),
        uid=uid,
        gid=r.integer(u["gid"], "gid") if "gid" in u else uid,
        home=r.string(u["home"], "home") if "home" in u else None,
        shell=r.string(u["shell"], "shell") if "shell" in u else "/usr/sbin/nologin",
    )


def _files(r: NodeReader[SpecError], node: yaml.Node) -> tuple[FileSpec, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise r.fail(node, "files must be a list of {src, dst, mode}")
    out = []
    for item in node.value:
        f = r.mapping(item, "a files entry", ("src", "dst", "mode", "uid", "gid"))
        if "src" not in f or "dst" not in f:
            raise r.fail(item, "a files entry needs src and dst", "write {src: app/, dst: /app/}")
        src = r.string(f["src"], "files.src")
        if Path(src).is_absolute() or ".." in Path(src).parts:
            raise r.fail(f["src"], "files.src must be a path inside the spec's directory")
        dst = r.string(f["dst"], "files.dst")
        if not dst.startswith("/"):
            raise r.fail(f["dst"], "files.dst must be an absolute path in the image, e.g. /app/")
        mode = None
        if "mode" in f:
            text = r.scalar(f["mode"], "files.mode")
            if not re.fullmatch(r"0?[0-7]{3,4}", text):
                raise r.fail(f["mode"], f'files.mode must be octal like "0644", not {text!r}')
            mode = int(text, 8)
        uid = r.integer(f["uid"], "files.uid") if "uid" in f else 0
        gid = r.integer(f["gid"], "files.gid") if "gid" in f else 0
        out.append(FileSpec(src=src, dst=dst, mode=mode, uid=uid, gid=gid))
    return tuple(out)


def _runtime(r: NodeReader[SpecError], top: dict[str, yaml.Node]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("entrypoint", "cmd"):
        if key in top:
            out[key] = r.strings(top[key], key)
    for key in ("env", "labels", "annotations"):
        if key in top:
            out[key] = r.pairs(top[key], key)
    if "workdir" in top:
        workdir = r.string(top["workdir"], "workdir")
        if not workdir.startswith("/"):
            raise r.fail(top["workdir"], "workdir must be an absolute path, e.g. /app")
        out["workdir"] = workdir
    if "ports" in top:
        out["ports"] = tuple(
            p if "/" in p else p + "/tcp" for p in r.strings(top["ports"], "ports", _PORT_RE)
        )
    if "strip" in top:
        strip = r.strings(top["strip"], "strip")
        for name in strip:
            if name not in _STRIP_NAMES:
                raise r.fail(top["strip"], f"unknown strip name {name!r}", "use any of: docs, man, locales")
        out["strip"] = strip
    if "layering" in top:
        layering = r.string(top["layering"], "layering")
        if layering not in _LAYERINGS:
            raise r.fail(top["layering"], f"layering must be one of {', '.join(_LAYERINGS)}")
        out["layering"] = layering
    return out


def load_spec(path: Path) -> Spec:
    """Read and validate the spec file at ``path`` (see :func:`parse_spec`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            f"{path}: no such spec file", hint="create dockwright.yaml or pass its path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc}") from None
    return parse_spec(text, path=str(path))
