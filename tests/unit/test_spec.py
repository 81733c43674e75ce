"""The spec parser: valid specs become Spec values, bad ones point at file:line with a hint."""

from __future__ import annotations

import textwrap

import pytest

from dockwright.build.spec import parse_spec
from dockwright.errors import SpecError

FULL = textwrap.dedent(
    """\
    name: hello
    source:
      mirror: http://127.0.0.1:8000/debian/
      suites: [bookworm, bookworm-updates]
      components: [main]
      keyring: /usr/share/keyrings/debian-archive-keyring.gpg
      check-valid-until: false
    architectures: [amd64]
    packages: [python3, ca-certificates]
    accounts:
      users: [{name: app, uid: 65532, gid: 65532}]
      run-as: app
    files: [{src: app/, dst: /app/, mode: "0644"}]
    entrypoint: [/usr/bin/python3, /app/server.py]
    cmd: []
    env: {PYTHONUNBUFFERED: "1"}
    workdir: /app
    ports: [8080/tcp, "53/udp", 9000]
    labels: {org.example.team: web}
    annotations: {}
    strip: [docs, man]
    layering: by-origin
    """
)


def test_full_spec_parses() -> None:
    spec = parse_spec(FULL)
    assert spec.name == "hello"
    assert spec.packages == ("python3", "ca-certificates")
    assert spec.source.mirror == "http://127.0.0.1:8000/debian"
    assert spec.source.suites == ("bookworm", "bookworm-updates")
    assert spec.source.check_valid_until is False
    assert spec.users[0].name == "app" and spec.users[0].uid == 65532
    assert spec.run_as == "app"
    assert spec.files[0].mode == 0o644
    assert spec.env == (("PYTHONUNBUFFERED", "1"),)
    assert spec.ports == ("8080/tcp", "53/udp", "9000/tcp")
    assert spec.strip == ("docs", "man")
    assert spec.layering == "by-origin"
    assert spec.sha256.startswith("sha256:")


def test_minimal_spec_takes_defaults() -> None:
    spec = parse_spec("name: x\npackages: [bash]\n")
    assert spec.source.mirror is None
    assert spec.architectures == ("amd64",)
    assert spec.strip == ("docs", "man", "locales")
    assert spec.layering == "single"


def test_resolution_inputs_ignore_runtime_fields() -> None:
    a = parse_spec("name: x\npackages: [bash, curl]\n")
    b = parse_spec("name: x\npackages: [curl, bash]\nentrypoint: [/bin/bash]\n")
    c = parse_spec("name: x\npackages: [bash]\n")
    assert a.resolution_inputs() == b.resolution_inputs()
    assert a.resolution_inputs() != c.resolution_inputs()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "dockwright.yaml: the spec is empty"),
        ("name: x\n", "dockwright.yaml:1:1: missing required key 'packages'"),
        (
            "name: x\npackages: [bash]\npackage: [x]\n",
            "dockwright.yaml:3:1: unknown key 'package' in the spec",
        ),
        ("name: x\npackages: []\n", "dockwright.yaml:2:11: packages must list at least one package"),
        (
            "name: X_bad\npackages: [bash]\n",
            "dockwright.yaml:1:7: name 'X_bad' is not valid: expected lower-case letters, digits, '.', '_' or '-'",
        ),
        ("name: x\npackages: bash\n", "dockwright.yaml:2:11: packages must be a list, e.g. [a, b]"),
        (
            "name: x\npackages: [bash]\nworkdir: app\n",
            "dockwright.yaml:3:10: workdir must be an absolute path, e.g. /app",
        ),
        (
            "name: x\npackages: [bash]\nports: [http]\n",
            "dockwright.yaml:3:9: an item of ports 'http' is not valid: expected a port like 8080 or 8080/tcp",
        ),
        ("name: x\npackages: [bash]\nstrip: [tests]\n", "dockwright.yaml:3:8: unknown strip name 'tests'"),
        (
            "name: x\npackages: [bash]\naccounts: {run-as: app}\n",
            "dockwright.yaml:3:20: run-as names 'app', which is not in accounts.users",
        ),
        (
            "name: x\npackages: [bash]\nfiles: [{src: ../etc, dst: /x}]\n",
            "dockwright.yaml:3:15: files.src must be a path inside the spec's directory",
        ),
        (
            "name: x\npackages: [bash]\nfiles: [{src: a, dst: /x, mode: rw}]\n",
            "dockwright.yaml:3:33: files.mode must be octal like \"0644\", not 'rw'",
        ),
        (
            "name: x\npackages: [bash]\nsource: {mirror: ftp://x}\n",
            "dockwright.yaml:3:18: source.mirror must be an http://, https:// or file:// URL",
        ),
        (
            "name: x\npackages: [bash\n",
            "dockwright.yaml:3:1: not valid YAML: expected ',' or ']', but got '<stream end>'",
        ),
        ("name: x\nname: y\npackages: [a1]\n", "dockwright.yaml:2:1: duplicate key 'name' in the spec"),
    ],
)
def test_bad_specs_point_at_the_line(text: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert info.value.message == message
    assert info.value.exit_code == 2


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("name: x\npackages: [bash]\nentrypiont: [/bin/sh]\n")
    assert info.value.hint == "did you mean 'entrypoint'?"
