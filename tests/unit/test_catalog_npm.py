"""The npm cataloger: node_modules manifests, scoped names, lock-file dev flags, owned files."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from dockwright.inspect.catalog import npm
from dockwright.inspect.model import Package, Warning_
from tests.unit.catalog_support import DIR, Link, make_contents


def _manifest(name: str, version: str, **extra: object) -> bytes:
    return json.dumps({"name": name, "version": version, **extra}).encode()


LOCK_V3 = {
    "name": "app",
    "lockfileVersion": 3,
    "packages": {
        "": {"name": "app", "version": "1.0.0"},
        "node_modules/express": {"version": "4.19.2", "license": "MIT"},
        "node_modules/@types/node": {"version": "20.11.0", "dev": True},
        "node_modules/jest": {"version": "29.7.0", "dev": True},
        "node_modules/fsevents": {"version": "2.3.3", "devOptional": True},
        "node_modules/express/node_modules/debug": {"version": "2.6.9"},
    },
}


def _catalog(layers: Sequence[Mapping[str, object]]) -> dict[str, Package]:
    warnings: list[Warning_] = []
    packages = npm.catalog(make_contents(layers), warnings)
    assert warnings == []
    return {p.location: p for p in packages}


def _app_layer(lock_path: str = "app/package-lock.json", lock: object = LOCK_V3) -> dict[str, object]:
    return {
        "app/package.json": _manifest("app", "1.0.0"),
        lock_path: json.dumps(lock).encode(),
        "app/node_modules": DIR,
        "app/node_modules/.bin/jest": Link("../jest/bin/jest.js"),
        "app/node_modules/express/package.json": _manifest("express", "4.19.2", license="MIT"),
        "app/node_modules/express/index.js": b"e" * 10,
        "app/node_modules/express/lib": DIR,
        "app/node_modules/express/lib/router.js": b"r" * 20,
        "app/node_modules/express/node_modules/debug/package.json": _manifest(
            "debug", "2.6.9", license={"type": "MIT"}
        ),
        "app/node_modules/express/node_modules/debug/src/index.js": b"d" * 5,
        "app/node_modules/@types/node/package.json": _manifest(
            "@types/node", "20.11.0", licenses=[{"type": "MIT"}]
        ),
        "app/node_modules/jest/package.json": _manifest("jest", "29.7.0"),
        "app/node_modules/jest/bin/jest.js": b"j",
        "app/node_modules/fsevents/package.json": _manifest("fsevents", "2.3.3"),
        "app/node_modules/express/lib/package.json": b'{"type": "module"}',  # no package root
    }


def test_packages_purls_files_and_lock_dev_flags() -> None:
    packages = _catalog([_app_layer()])
    assert sorted(packages) == [
        "app/node_modules/@types/node/package.json",
        "app/node_modules/express/node_modules/debug/package.json",
        "app/node_modules/express/package.json",
        "app/node_modules/fsevents/package.json",
        "app/node_modules/jest/package.json",
    ]
    express = packages["app/node_modules/express/package.json"]
    types = packages["app/node_modules/@types/node/package.json"]
    debug = packages["app/node_modules/express/node_modules/debug/package.json"]
    # syft v1.18.1 syft/pkg/cataloger/javascript/package.go packageURL: the scope is the namespace
    # (packageurl-go percent-encodes "@"), no qualifiers.
    assert types.purl == "pkg:npm/%40types/node@20.11.0"
    assert (types.name, types.licenses, types.dev) == ("@types/node", ("MIT",), True)
    assert express.purl == "pkg:npm/express@4.19.2"
    assert (express.dev, express.licenses) == (False, ("MIT",))
    assert express.files == (
        "app/node_modules/express/index.js",
        "app/node_modules/express/lib/package.json",
        "app/node_modules/express/lib/router.js",
        "app/node_modules/express/package.json",
    )
    assert express.size == 10 + 20 + len(b'{"type": "module"}') + len(
        _manifest("express", "4.19.2", license="MIT")
    )
    assert express.metadata == {"size_from": "files", "lock": "app/package-lock.json"}
    assert (debug.licenses, debug.dev) == (("MIT",), False)
    assert packages["app/node_modules/jest/package.json"].dev is True
    assert packages["app/node_modules/fsevents/package.json"].dev is False  # devOptional is not dev


def test_hidden_lockfile_and_lockfile_v1() -> None:
    packages = _catalog([_app_layer("app/node_modules/.package-lock.json")])
    assert packages["app/node_modules/jest/package.json"].dev is True
    v1 = {
        "lockfileVersion": 1,
        "dependencies": {
            "jest": {"version": "29.7.0", "dev": True},
            "express": {"version": "4.19.2", "dependencies": {"debug": {"version": "2.6.9", "dev": True}}},
        },
    }
    packages = _catalog([_app_layer(lock=v1)])
    assert packages["app/node_modules/jest/package.json"].dev is True
    assert packages["app/node_modules/express/package.json"].dev is False
    assert packages["app/node_modules/express/node_modules/debug/package.json"].dev is True


def test_root_project_and_global_modules_without_lock() -> None:
    layer = {
        "node_modules/left-pad/package.json": _manifest("left-pad", "1.3.0", license="WTFPL"),
        "package-lock.json": json.dumps(
            {"lockfileVersion": 2, "packages": {"node_modules/left-pad": {"dev": True}}}
        ).encode(),
        "usr/lib/node_modules/npm/package.json": _manifest("npm", "10.2.4"),
    }
    packages = _catalog([layer])
    assert packages["node_modules/left-pad/package.json"].dev is True
    assert packages["usr/lib/node_modules/npm/package.json"].dev is False
    assert packages["usr/lib/node_modules/npm/package.json"].metadata == {"size_from": "files"}


def test_layers() -> None:
    path = "node_modules/a/package.json"
    layers: list[dict[str, object]] = [{path: _manifest("a", "1")}, {"x": b""}, {path: _manifest("a", "2")}]
    (pkg,) = _catalog(layers).values()
    assert (pkg.version, pkg.layer_added, pkg.layer_changed) == ("2", 0, 2)


def test_malformed_json_is_reported() -> None:
    layer = {"node_modules/a/package.json": b"{nope", "node_modules/b/package.json": b"[1]"}
    warnings: list[Warning_] = []
    assert npm.catalog(make_contents([layer]), warnings) == []
    assert [w.code for w in warnings] == ["npm-json-malformed", "npm-json-malformed"]
    assert warnings[1].message == "node_modules/b/package.json: not a JSON object"


@pytest.mark.parametrize(
    ("path", "root"),
    [
        ("app/node_modules/@a/b/lib/x.js", "app/node_modules/@a/b"),
        ("node_modules/a/node_modules/b/c.js", "node_modules/a/node_modules/b"),
        ("node_modules/.bin/x", ""),
        ("node_modules/@a", ""),
        ("src/index.js", ""),
    ],
)
def test_package_root(path: str, root: str) -> None:
    assert npm.package_root(path) == root


def test_wanted() -> None:
    yes = [
        "app/node_modules/a/package.json",
        "app/node_modules/a/lib/package.json",
        "app/package-lock.json",
        "package-lock.json",
        "app/node_modules/.package-lock.json",
    ]
    no = ["app/package.json", "app/my-package-lock.json", "node_modules/a/index.js"]
    assert [p for p in yes + no if npm.wanted(p)] == yes
