"""Reading and writing docker/podman auth files, and docker-credential helpers."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path

import pytest

from dockwright.errors import InputError
from dockwright.registry.credentials import (
    Credentials,
    auth_file_paths,
    docker_config_path,
    find_credentials,
    login,
    logout,
    normalize_registry,
)

REG = "127.0.0.1:5000"

HELPER = """#!{python}
import json, os, sys
store_path = os.environ["FAKE_HELPER_STORE"]
store = json.load(open(store_path)) if os.path.exists(store_path) else {{}}
action, data = sys.argv[1], sys.stdin.read()
with open(store_path + ".log", "a") as log:
    log.write(action + "\\n")
if action == "get":
    if data.strip() not in store:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps(store[data.strip()]))
elif action == "store":
    entry = json.loads(data)
    store[entry["ServerURL"]] = entry
    json.dump(store, open(store_path, "w"))
elif action == "erase":
    if store.pop(data.strip(), None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
    json.dump(store, open(store_path, "w"))
else:
    print("keychain is locked")
    sys.exit(3)
"""


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with HOME in tmp_path and a PATH holding the fake helper ``fake``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-fake"
    helper.write_text(HELPER.format(python=sys.executable))
    helper.chmod(0o755)
    return {
        "HOME": str(tmp_path / "home"),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_HELPER_STORE": str(tmp_path / "helper-store.json"),
    }


def _helper_log(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_HELPER_STORE"] + ".log")
    return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("https://127.0.0.1:5000/v1/", "127.0.0.1:5000"),
        ("http://Registry.Invalid", "registry.invalid"),
        ("registry.invalid/team/app", "registry.invalid"),
        ("  localhost:5000/ ", "localhost:5000"),
    ],
)
def test_normalize_registry(name: str, key: str) -> None:
    assert normalize_registry(name) == key


def test_normalize_registry_refuses_empty() -> None:
    with pytest.raises(InputError, match=r"^malformed registry name 'https://': expected HOST\[:PORT\]$"):
        normalize_registry("https://")


def test_paths_in_read_order(tmp_path: Path) -> None:
    env = {
        "HOME": "/home/u",
        "REGISTRY_AUTH_FILE": "/etc/auth.json",
        "DOCKER_CONFIG": "/cfg/docker",
        "XDG_RUNTIME_DIR": "/run/user/1000",
        "XDG_CONFIG_HOME": "/home/u/.cfg",
    }
    assert auth_file_paths(env) == (
        Path("/etc/auth.json"),
        Path("/cfg/docker/config.json"),
        Path("/run/user/1000/containers/auth.json"),
        Path("/home/u/.cfg/containers/auth.json"),
    )
    assert auth_file_paths({"HOME": "/home/u"}) == (
        Path("/home/u/.docker/config.json"),
        Path("/home/u/.config/containers/auth.json"),
    )
    assert docker_config_path({"HOME": "/home/u"}) == Path("/home/u/.docker/config.json")


def test_reads_the_docker_config(env: dict[str, str]) -> None:
    config = _write(
        Path(env["HOME"]) / ".docker/config.json", {"auths": {REG: {"auth": _auth("alice", "pa:ss")}}}
    )
    found = find_credentials(REG, env=env)
    assert found == Credentials(username="alice", password="pa:ss", source=str(config))
    assert find_credentials("127.0.0.1:5001", env=env) is None


def test_first_file_with_an_entry_wins(env: dict[str, str], tmp_path: Path) -> None:
    runtime = _write(tmp_path / "run/containers/auth.json", {"auths": {REG: {"auth": _auth("podman", "p")}}})
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    assert find_credentials(REG, env=env) == Credentials(username="podman", password="p", source=str(runtime))
    env["DOCKER_CONFIG"] = str(tmp_path / "dcfg")
    docker = _write(tmp_path / "dcfg/config.json", {"auths": {REG: {"auth": _auth("docker", "d")}}})
    assert find_credentials(REG, env=env) == Credentials(username="docker", password="d", source=str(docker))
    override = _write(tmp_path / "override.json", {"auths": {REG: {"auth": _auth("override", "o")}}})
    env["REGISTRY_AUTH_FILE"] = str(override)
    assert find_credentials(REG, env=env) == Credentials(
        username="override", password="o", source=str(override)
    )
    assert find_credentials(REG, env=env, config_path=runtime).username == "podman"  # type: ignore[union-attr]


def test_url_keys_namespaces_and_identity_tokens(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "auth.json",
        {
            "auths": {
                f"https://{REG}/v1/": {"auth": _auth("host", "h")},
                f"{REG}/team": {"auth": _auth("team", "t")},
                "127.0.0.1:6000": {"auth": _auth("tok", ""), "identitytoken": "refresh-1"},
                "127.0.0.1:7000": {"username": "plain", "password": "pw"},
                "127.0.0.1:8000": {},
            }
        },
    )
    assert find_credentials(REG, config_path=config).username == "host"  # type: ignore[union-attr]
    assert find_credentials(REG, repository="team/app", config_path=config).username == "team"  # type: ignore[union-attr]
    assert find_credentials(REG, repository="other/app", config_path=config).username == "host"  # type: ignore[union-attr]
    token = find_credentials("127.0.0.1:6000", config_path=config)
    assert token == Credentials(username="tok", identity_token="refresh-1", source=str(config))
    assert find_credentials("127.0.0.1:7000", config_path=config).password == "pw"  # type: ignore[union-attr]
    assert find_credentials("127.0.0.1:8000", config_path=config) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"auths": ', "{path}:1:11: invalid JSON: Expecting value"),
        ("[]", "{path}: expected a JSON object at the top level"),
        ('{"auths": []}', "{path}: `auths` must be a JSON object"),
        (
            '{"auths": {"127.0.0.1:5000": "x"}}',
            "{path}: the `auths` entry for 127.0.0.1:5000 must be a JSON object",
        ),
        (
            '{"auths": {"127.0.0.1:5000": {"auth": "%%%"}}}',
            "{path}: the `auth` value for 127.0.0.1:5000 is not valid base64",
        ),
        (
            '{"auths": {"127.0.0.1:5000": {"auth": "' + base64.b64encode(b"nocolon").decode() + '"}}}',
            "{path}: the `auth` value for 127.0.0.1:5000 does not decode to USER:PASSWORD",
        ),
    ],
)
def test_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        find_credentials(REG, config_path=path)
    assert caught.value.message == message.format(path=path)


def test_login_writes_0600_and_keeps_other_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "docker/config.json",
        {
            "auths": {"127.0.0.1:6000": {"auth": _auth("other", "o")}, f"https://{REG}/": {"auth": "old"}},
            "HttpHeaders": {"User-Agent": "x"},
            "experimental": "enabled",
        },
    )
    path.chmod(0o644)
    assert login(REG, "alice", "s3cret", config_path=path) == path
    document = json.loads(path.read_text())
    assert document == {
        "auths": {"127.0.0.1:6000": {"auth": _auth("other", "o")}, REG: {"auth": _auth("alice", "s3cret")}},
        "HttpHeaders": {"User-Agent": "x"},
        "experimental": "enabled",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]  # no temp file left
    assert find_credentials(REG, config_path=path) == Credentials(
        username="alice", password="s3cret", source=str(path)
    )


def test_login_creates_the_directory_private_and_honours_docker_config(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "dcfg")}
    written = login(REG, "alice", "pw", env=env)
    assert written == tmp_path / "dcfg/config.json"
    assert stat.S_IMODE((tmp_path / "dcfg").stat().st_mode) == 0o700
    assert json.loads(written.read_text()) == {"auths": {REG: {"auth": _auth("alice", "pw")}}}
    assert not (tmp_path / "home").exists()


def test_login_through_a_symlink_writes_its_target(tmp_path: Path) -> None:
    target = _write(tmp_path / "real/config.json", {"auths": {}})
    link = tmp_path / "link.json"
    link.symlink_to(target)
    login(REG, "alice", "pw", config_path=link)
    assert link.is_symlink()
    assert json.loads(target.read_text())["auths"][REG] == {"auth": _auth("alice", "pw")}


@pytest.mark.parametrize("user", ["", "a:b"])
def test_login_refuses_bad_user_names(tmp_path: Path, user: str) -> None:
    with pytest.raises(InputError, match=r"^invalid user name"):
        login(REG, user, "pw", config_path=tmp_path / "c.json")


def test_logout_removes_the_entry_and_refuses_when_absent(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", {"auths": {REG: {"auth": _auth("a", "b")}, "127.0.0.1:6000": {}}})
    logout(f"http://{REG}", config_path=path)
    assert json.loads(path.read_text()) == {"auths": {"127.0.0.1:6000": {}}}
    with pytest.raises(InputError) as caught:
        logout(REG, config_path=path)
    assert caught.value.message == f"not logged in to {REG}: {path} holds no credentials for it"
    assert caught.value.hint.startswith(f"run `dockwright login {REG}` first")


def test_secrets_stay_out_of_repr() -> None:
    creds = Credentials(username="alice", password="hunter2", identity_token="tok-XYZ", source="f")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "hunter2" not in text
        assert "tok-XYZ" not in text
    assert (
        repr(creds) == "Credentials(username='alice', password=<hidden>, identity_token=<hidden>, source='f')"
    )


# --- credential helpers ------------------------------------------------------------------------


def test_creds_store_helper_get(env: dict[str, str], tmp_path: Path) -> None:
    _write(
        Path(env["FAKE_HELPER_STORE"]),
        {REG: {"ServerURL": REG, "Username": "alice", "Secret": "from-helper"}},
    )
    config = _write(tmp_path / "c.json", {"credsStore": "fake", "auths": {REG: {}}})
    found = find_credentials(REG, config_path=config, env=env)
    assert found == Credentials(username="alice", password="from-helper", source="docker-credential-fake")
    assert _helper_log(env) == ["get"]


def test_helper_identity_token_and_not_found(env: dict[str, str], tmp_path: Path) -> None:
    _write(Path(env["FAKE_HELPER_STORE"]), {REG: {"ServerURL": REG, "Username": "<token>", "Secret": "rt"}})
    config = _write(
        tmp_path / "c.json",
        {
            "credHelpers": {REG: "fake", "127.0.0.1:6000": "fake"},
            "auths": {"127.0.0.1:6000": {"auth": _auth("f", "b")}},
        },
    )
    assert find_credentials(REG, config_path=config, env=env) == Credentials(
        identity_token="rt", source="docker-credential-fake"
    )
    # the helper knows nothing for :6000, so the file's entry is used
    assert find_credentials("127.0.0.1:6000", config_path=config, env=env).username == "f"  # type: ignore[union-attr]


def test_cred_helpers_win_over_creds_store(env: dict[str, str], tmp_path: Path) -> None:
    _write(Path(env["FAKE_HELPER_STORE"]), {REG: {"ServerURL": REG, "Username": "alice", "Secret": "s"}})
    config = _write(tmp_path / "c.json", {"credsStore": "missing", "credHelpers": {REG: "fake"}})
    assert find_credentials(REG, config_path=config, env=env).username == "alice"  # type: ignore[union-attr]
    with pytest.raises(InputError) as caught:
        find_credentials("127.0.0.1:6000", config_path=config, env=env)
    assert caught.value.message == (
        f"credential helper docker-credential-missing is not on PATH ({config} names it in credsStore or credHelpers)"
    )
    assert (
        caught.value.hint
        == f"install docker-credential-missing, or remove it from {config} and run `dockwright login` again"
    )


def test_helper_failure_is_reported_without_secrets(env: dict[str, str], tmp_path: Path) -> None:
    helper = Path(env["PATH"].split(":")[0]) / "docker-credential-broken"
    helper.write_text("#!/bin/sh\necho 'keychain is locked' >&2\nexit 2\n")
    helper.chmod(0o755)
    config = _write(tmp_path / "c.json", {"credsStore": "broken"})
    with pytest.raises(
        InputError, match=r"^credential helper docker-credential-broken get failed: keychain is locked$"
    ):
        find_credentials(REG, config_path=config, env=env)


def test_login_and_logout_through_a_helper(env: dict[str, str], tmp_path: Path) -> None:
    config = _write(tmp_path / "c.json", {"credsStore": "fake", "auths": {REG: {"auth": _auth("old", "o")}}})
    login(REG, "alice", "s3cret", config_path=config, env=env)
    assert json.loads(config.read_text()) == {"credsStore": "fake", "auths": {REG: {}}}
    stored = json.loads(Path(env["FAKE_HELPER_STORE"]).read_text())
    assert stored == {REG: {"ServerURL": REG, "Username": "alice", "Secret": "s3cret"}}
    assert find_credentials(REG, config_path=config, env=env).password == "s3cret"  # type: ignore[union-attr]
    logout(REG, config_path=config, env=env)
    assert json.loads(Path(env["FAKE_HELPER_STORE"]).read_text()) == {}
    assert json.loads(config.read_text()) == {"credsStore": "fake", "auths": {}}
    assert _helper_log(env) == ["store", "get", "erase"]
    with pytest.raises(InputError, match=r"^not logged in to 127\.0\.0\.1:5000: "):
        logout(REG, config_path=config, env=env)
