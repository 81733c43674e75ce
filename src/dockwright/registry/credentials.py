"""Registry credentials as docker, podman and skopeo store them.

Files are read in this order; the first one that yields credentials for the registry wins:

1. ``config_path`` when a caller passes one (then no other file is read);
2. ``$REGISTRY_AUTH_FILE``: an explicit override, as in podman and skopeo;
3. the docker config, ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``: the one file
   :func:`login` and :func:`logout` write;
4. ``${XDG_RUNTIME_DIR}/containers/auth.json``: podman and skopeo's primary file (read only);
5. ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`` (read only).

skopeo reads its own primary file before the docker config. dockwright's primary file is the docker
config, and it is read before the podman files so that a ``dockwright login`` always takes effect.

Within one file, ``credHelpers[host]`` comes first, then ``credsStore``, then the ``auths`` entry
(the exact registry, or podman's ``host/namespace`` keys, longest first). A helper is run as
``docker-credential-NAME get|store|erase`` with the docker-credential-helpers protocol on stdin.
``auths`` entries hold ``{"auth": base64("user:password")}`` and may hold ``identitytoken``.

What this module does not do: talk to a registry (see :mod:`dockwright.registry.auth`), alias
hub names to one another, read the legacy ``~/.dockercfg``, or ever print a secret: the
``repr`` of :class:`Credentials` hides the password and the identity token.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockwright.errors import InputError
from dockwright.fsutil import atomic_write_bytes

__all__ = [
    "Credentials",
    "auth_file_paths",
    "docker_config_path",
    "find_credentials",
    "login",
    "logout",
    "normalize_registry",
]

_HELPER_TIMEOUT = 30.0
_NOT_FOUND = "credentials not found"
# docker-credential-helpers marks an identity token by this user name.
_TOKEN_USER = "<token>"  # noqa: S105 (a marker, not a secret)


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """A user name with a password, or an OAuth2 identity (refresh) token.

    Attributes:
        username: the user name; may be empty with an identity token.
        password: the password (never shown by ``repr``).
        identity_token: a refresh token for the OAuth2 token endpoint (never shown by ``repr``).
        source: where the credentials came from (a file path or a helper name), for messages.
    """

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str | None = field(default=None, repr=False)
    source: str = ""

    def __repr__(self) -> str:
        password = "<hidden>" if self.password else "''"
        token = "<hidden>" if self.identity_token else "None"
        return (
            f"Credentials(username={self.username!r}, password={password}, "
            f"identity_token={token}, source={self.source!r})"
        )

    __str__ = __repr__


def normalize_registry(name: str) -> str:
    """The ``host[:port]`` key of a registry name, a URL or an auth-file key.

    ``https://HOST:5000/v1/`` and ``HOST:5000`` both give ``host:5000`` (host in lower case).

    Raises:
        InputError: when ``name`` is empty.
    """
    rest = name.strip()
    if "://" in rest:
        rest = rest.split("://", 1)[1]
    host, _, _path = rest.partition("/")
    if not host:
        raise InputError(f"malformed registry name {name!r}: expected HOST[:PORT]")
    return host.lower()


def docker_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    env = os.environ if env is None else env
    if directory := env.get("DOCKER_CONFIG"):
        return Path(directory) / "config.json"
    return _home(env) / ".docker" / "config.json"


def auth_file_paths(env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Every auth file in read order (see the module docstring); some may not exist."""
    env = os.environ if env is None else env
    paths: list[Path] = []
    if override := env.get("REGISTRY_AUTH_FILE"):
        paths.append(Path(override))
    paths.append(docker_config_path(env))
    if runtime := env.get("XDG_RUNTIME_DIR"):
        paths.append(Path(runtime) / "containers" / "auth.json")
    config_home = env.get("XDG_CONFIG_HOME") or str(_home(env) / ".config")
    paths.append(Path(config_home) / "containers" / "auth.json")
    return tuple(dict.fromkeys(paths))


def find_credentials(
    registry: str,
    *,
    repository: str | None = None,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials | None:
    """The stored credentials for ``registry``, or ``None`` for anonymous access.

    Args:
        registry: ``host[:port]`` (a URL is accepted too).
        repository: the repository name, to match podman's ``host/namespace`` keys first.
        config_path: read only this file instead of the default list.
        env: the environment to read paths and ``PATH`` from (default: ``os.environ``).

    Raises:
        InputError: a file is not valid JSON or holds a malformed entry, or a configured
            credential helper is missing or fails.
    """
    env = os.environ if env is None else env
    host = normalize_registry(registry)
    paths = (config_path,) if config_path is not None else auth_file_paths(env)
    for path in paths:
        config = _read_config(path)
        if config is not None and (found := _lookup(config, path, host, repository, env)) is not None:
            return found
    return None


def login(
    registry: str,
    username: str,
    password: str,
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Store ``username:password`` for ``registry`` in the docker config; return the file written.

    The file is written atomically with mode 0600 and keeps every other key. When the file names a
    credential helper for the registry (``credHelpers`` or ``credsStore``), the secret goes to the
    helper and the ``auths`` entry is left empty, as docker does.

    Raises:
        InputError: the user name is empty or holds ``:``, the file is malformed, or the helper
            fails.
    """
    if not username or ":" in username:
        raise InputError(f"invalid user name {username!r}: it must be non-empty and hold no ':'")
    env = os.environ if env is None else env
    host = normalize_registry(registry)
    path = config_path if config_path is not None else docker_config_path(env)
    config = _read_config(path) or {}
    auths = _auths(config, path)
    for key in _keys_for(auths, host):
        del auths[key]
    helper = _helper_name(config, host)
    if helper is not None:
        secret = {"ServerURL": host, "Username": username, "Secret": password}
        _run_helper(helper, "store", json.dumps(secret), env, path)
        auths[host] = {}
    else:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        auths[host] = {"auth": token}
    config["auths"] = auths
    _write_config(path, config)
    return path


def logout(registry: str, *, config_path: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Remove the stored credentials for ``registry``; return the file written.

    Raises:
        InputError: there were no credentials for ``registry`` in the file (nor in its helper),
            or the file is malformed.
    """
    env = os.environ if env is None else env
    host = normalize_registry(registry)
    path = config_path if config_path is not None else docker_config_path(env)
    config = _read_config(path) or {}
    auths = _auths(config, path)
    keys = _keys_for(auths, host)
    found = any(_has_secret(auths[key]) for key in keys)
    helper = _helper_name(config, host)
    if helper is not None:
        found = _run_helper(helper, "erase", host, env, path) is not None or found
    if not found and not keys:
        raise InputError(
            f"not logged in to {host}: {path} holds no credentials for it",
            hint=f"run `dockwright login {host}` first, or pass the config file that holds them",
        )
    for key in keys:
        del auths[key]
    config["auths"] = auths
    _write_config(path, config)
    return path


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _read_config(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
            hint="fix or remove the file; docker, podman and dockwright all write it",
        ) from exc
    if not isinstance(config, dict):
        raise InputError(f"{path}: expected a JSON object at the top level")
    return config


def _write_config(path: Path, config: Mapping[str, Any]) -> None:
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if not target.parent.exists():
        target.parent.mkdir(parents=True, mode=0o700)
    data = json.dumps(config, indent="\t").encode() + b"\n"
    atomic_write_bytes(target, data, mode=0o600)


def _auths(config: dict[str, Any], path: Path) -> dict[str, Any]:
    auths = config.get("auths", {})
    if not isinstance(auths, dict):
        raise InputError(f"{path}: `auths` must be a JSON object")
    return auths


def _keys_for(auths: Mapping[str, Any], host: str) -> list[str]:
    """Keys of ``auths`` naming exactly ``host`` (URL forms included, namespaces excluded)."""
    out = []
    for key in auths:
        rest = key.split("://", 1)[-1]
        if "/" in rest.strip("/") and "://" not in key:
            continue  # podman's host/namespace key: a different entry
        if _safe_normalize(key) == host:
            out.append(key)
    return out


def _safe_normalize(key: str) -> str | None:
    try:
        return normalize_registry(key)
    except InputError:
        return None


def _has_secret(entry: object) -> bool:
    return isinstance(entry, dict) and any(entry.get(k) for k in ("auth", "identitytoken", "password"))


def _helper_name(config: Mapping[str, Any], host: str) -> str | None:
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if _safe_normalize(key) == host and isinstance(name, str) and name:
                return name
    store = config.get("credsStore")
    return store if isinstance(store, str) and store else None


def _lookup(
    config: Mapping[str, Any], path: Path, host: str, repository: str | None, env: Mapping[str, str]
) -> Credentials | None:
    helper = _helper_name(config, host)
    if helper is not None:
        output = _run_helper(helper, "get", host, env, path)
        if output is not None:
            return _from_helper(output, helper, path)
    auths = _auths(dict(config), path)
    for key in _candidate_keys(auths, host, repository):
        if (creds := _from_entry(auths[key], path, key)) is not None:
            return creds
    return None


def _candidate_keys(auths: Mapping[str, Any], host: str, repository: str | None) -> list[str]:
    keys = []
    if repository:
        parts = repository.strip("/").split("/")
        for n in range(len(parts), 0, -1):
            namespace = f"{host}/{'/'.join(parts[:n])}"
            keys += [k for k in auths if k.lower() == namespace]
    return keys + _keys_for(auths, host)


def _from_entry(entry: object, path: Path, key: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise InputError(f"{path}: the `auths` entry for {key} must be a JSON object")
    username, password = "", ""
    if encoded := entry.get("auth"):
        try:
            decoded = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: the `auth` value for {key} is not valid base64") from exc
        username, sep, password = decoded.partition(":")
        if not sep:
            raise InputError(f"{path}: the `auth` value for {key} does not decode to USER:PASSWORD")
    elif entry.get("username") or entry.get("password"):
        username, password = str(entry.get("username", "")), str(entry.get("password", ""))
    token = entry.get("identitytoken") or None
    if not username and not password and token is None:
        return None
    if token is not None:
        password = ""
    token_str = str(token) if token is not None else None
    return Credentials(username=username, password=password, identity_token=token_str, source=str(path))


def _from_helper(output: str, helper: str, path: Path) -> Credentials | None:
    try:
        reply = json.loads(output)
        username, secret = str(reply.get("Username", "")), str(reply.get("Secret", ""))
    except (json.JSONDecodeError, AttributeError) as exc:
        raise InputError(
            f"credential helper docker-credential-{helper} (named in {path}) answered with "
            "something that is not the JSON object of the credential-helper protocol"
        ) from exc
    if not secret:
        return None
    source = f"docker-credential-{helper}"
    if username == _TOKEN_USER:
        return Credentials(identity_token=secret, source=source)
    return Credentials(username=username, password=secret, source=source)


def _run_helper(helper: str, action: str, stdin: str, env: Mapping[str, str], path: Path) -> str | None:
    """Run ``docker-credential-HELPER ACTION``; ``None`` when it reports no credentials."""
    import subprocess  # here: most commands run no helper, and the import costs a millisecond

    program = f"docker-credential-{helper}"
    executable = shutil.which(program, path=env.get("PATH", os.defpath))
    if executable is None:
        raise InputError(
            f"credential helper {program} is not on PATH ({path} names it in credsStore or credHelpers)",
            hint=f"install {program}, or remove it from {path} and run `dockwright login` again",
        )
    try:
        done = subprocess.run(
            [executable, action],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_HELPER_TIMEOUT,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"credential helper {program} {action} failed: {exc}") from exc
    if done.returncode == 0:
        return done.stdout
    message = (done.stdout.strip() or done.stderr.strip()).splitlines()
    first = message[0][:200] if message else f"exit status {done.returncode}"
    if _NOT_FOUND in first.lower():
        return None
    raise InputError(f"credential helper {program} {action} failed: {first}")
