"""The semantic image diff: packages by identity and version order, files, sizes, configuration."""

from __future__ import annotations

import json

import pytest

from dockwright.inspect.diff import ConfigChange, ImageDiff, diff_images
from dockwright.inspect.model import FileKind, FileRecord, Package
from dockwright.inspect.package_changes import compare_generic
from tests.unit.inspect_images import SITE, deb, directory, file, image, layer, pypi, symlink

OLD_CONFIG: dict[str, object] = {
    "os": "linux",
    "architecture": "amd64",
    "config": {
        "Entrypoint": ["/usr/bin/app"],
        "Cmd": ["--serve"],
        "Env": ["PATH=/usr/bin", "FOO=1", "OLD=x"],
        "WorkingDir": "/app",
        "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"org.opencontainers.image.version": "1.0"},
    },
}
NEW_CONFIG: dict[str, object] = {
    "os": "linux",
    "architecture": "amd64",
    "config": {
        "Entrypoint": ["/usr/bin/app"],
        "Cmd": ["--serve", "--port=9090"],
        "Env": ["BAR=new", "FOO=2", "PATH=/usr/bin"],
        "User": "app",
        "WorkingDir": "/app",
        "ExposedPorts": {"9090/tcp": {}},
        "Labels": {"org.opencontainers.image.version": "1.1"},
    },
}


def _old_packages() -> list[Package]:
    return [
        deb("bash", "5.2.15-2+b2"),
        deb("libssl3", "3.0.11-1~deb12u1"),
        deb("curl", "7.88.1-10+deb12u5"),
        deb("tzdata", "2024a-0+deb12u1"),
        pypi("requests", "2.31.0", location=f"{SITE}/requests-2.31.0.dist-info/METADATA"),
        pypi("Flask", "3.0.0", location=f"{SITE}/flask-3.0.0.dist-info/METADATA"),
    ]


def _new_packages() -> list[Package]:
    return [
        pypi("requests", "2.32.3", location=f"{SITE}/requests-2.32.3.dist-info/METADATA"),
        pypi("flask", "3.0.0", location=f"{SITE}/Flask-3.0.0.dist-info/METADATA"),
        deb("jq", "1.6-2.1"),
        deb("libssl3", "3.0.11-1~deb12u2"),
        deb("bash", "5.2.15-2+b7"),
        deb("tzdata", "2023c-5+deb12u1"),
    ]


def _old_files() -> list[FileRecord]:
    return [
        directory("app"),
        directory("etc", uid=0),
        file("app/main.py", 1_000, sha256="aa" * 32),
        file("app/config.yaml", 200, sha256="bb" * 32),
        file("app/run.sh", 50, sha256="cc" * 32, mode=0o644),
        file("app/old.py", 300, sha256="dd" * 32),
        file("usr/bin/curl", 250_000, sha256="ee" * 32),
        symlink("app/current", "v1"),
    ]


def _new_files() -> list[FileRecord]:
    # Another tar order, other layers and the same content: only real changes show.
    return [
        symlink("app/current", "v2"),
        file("usr/bin/jq", 400_000, sha256="ff" * 32, layer=2, added_in=2),
        file("app/run.sh", 50, sha256="cc" * 32, mode=0o755),
        file("app/config.yaml", 200, sha256="bb" * 32, layer=3, added_in=1),
        file("app/main.py", 1_500, sha256="a1" * 32),
        directory("etc", uid=0),
        FileRecord(path="app", kind=FileKind.DIR, mode=0o750),
    ]


def example_diff() -> ImageDiff:
    """The diff of two versions of an app image, used by the render tests too."""
    old = image(
        _old_files(), (layer(0, size=10, uncompressed_size=100),), config=OLD_CONFIG, reference="app:1"
    )
    new = image(
        _new_files(),
        (layer(0, size=12, uncompressed_size=90), layer(1, size=3, uncompressed_size=20)),
        config=NEW_CONFIG,
        reference="app:2",
    )
    return diff_images((old, _old_packages()), (new, _new_packages()))


def test_packages_added_removed_upgraded_downgraded() -> None:
    diff = example_diff()
    assert [(p.name, p.version) for p in diff.packages_added] == [("jq", "1.6-2.1")]
    assert [(p.name, p.version) for p in diff.packages_removed] == [("curl", "7.88.1-10+deb12u5")]
    assert [(c.type, c.name, c.old_version, c.new_version) for c in diff.packages_upgraded] == [
        ("deb", "bash", "5.2.15-2+b2", "5.2.15-2+b7"),
        ("deb", "libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
        ("pypi", "requests", "2.31.0", "2.32.3"),  # matched across dist-info names
    ]
    assert [(c.name, c.old_version, c.new_version) for c in diff.packages_downgraded] == [
        ("tzdata", "2024a-0+deb12u1", "2023c-5+deb12u1")
    ]
    assert diff.packages_upgraded[2].location == SITE


def test_deb_versions_use_dpkg_order() -> None:
    old = image([])
    diff = diff_images((old, [deb("x", "1.0~rc1")]), (old, [deb("x", "1.0")]))
    assert [c.direction for c in diff.packages_upgraded] == ["upgraded"]
    diff = diff_images((old, [deb("x", "1:0.9")]), (old, [deb("x", "2.0")]))
    assert [c.direction for c in diff.packages_downgraded] == ["downgraded"]
    same = diff_images((old, [deb("x", "0:1.0")]), (old, [deb("x", "1.0")]))
    assert same.empty


def test_architecture_is_part_of_identity() -> None:
    old = image([])
    amd64 = deb("libc6", "2.36-9")
    arm64 = Package(name="libc6", version="2.36-9", type="deb", purl="", architecture="arm64")
    diff = diff_images((old, [amd64]), (old, [arm64]))
    assert [p.architecture for p in diff.packages_added] == ["arm64"]
    assert [p.architecture for p in diff.packages_removed] == ["amd64"]


def test_npm_packages_matched_by_directory() -> None:
    old = image([])
    a = Package(
        name="lodash", version="4.17.20", type="npm", purl="", location="app/node_modules/lodash/package.json"
    )
    b = Package(
        name="lodash", version="4.17.21", type="npm", purl="", location="app/node_modules/lodash/package.json"
    )
    c = Package(
        name="lodash", version="3.0.0", type="npm", purl="", location="app/node_modules/x/node_modules/lodash"
    )
    diff = diff_images((old, [a]), (old, [b, c]))
    assert [(p.name, p.new_version) for p in diff.packages_upgraded] == [("lodash", "4.17.21")]
    assert [(p.location, p.version) for p in diff.packages_added] == [
        ("app/node_modules/x/node_modules/lodash", "3.0.0")
    ]


def test_files_added_removed_changed_ignoring_order_and_layers() -> None:
    diff = example_diff()
    assert [(e.path, e.kind, e.size) for e in diff.files_added] == [("usr/bin/jq", "file", 400_000)]
    assert [(e.path, e.size) for e in diff.files_removed] == [("app/old.py", 300), ("usr/bin/curl", 250_000)]
    assert [(c.path, c.changes, c.size_delta) for c in diff.files_changed] == [
        ("app", ("mode",), 0),
        ("app/current", ("link",), 0),
        ("app/main.py", ("content",), 500),
        ("app/run.sh", ("mode",), 0),
    ]


def test_files_without_digest_compare_sizes_and_kind_changes_show() -> None:
    old = image([file("a", 1), file("b", 1), file("c", 1)])
    new = image([file("a", 1), file("b", 2), symlink("c", "a")])
    diff = diff_images((old, []), (new, []))
    assert [(c.path, c.changes) for c in diff.files_changed] == [
        ("b", ("content",)),
        ("c", ("kind", "mode", "link")),
    ]
    assert diff.files_changed[1].size_delta == -1


def test_symlink_modes_are_ignored() -> None:
    old = image([FileRecord(path="l", kind=FileKind.SYMLINK, link="a", mode=0o777)])
    new = image([FileRecord(path="l", kind=FileKind.SYMLINK, link="a", mode=0o755)])
    assert diff_images((old, []), (new, [])).empty


def test_owner_change_of_directory_shows() -> None:
    old = image([directory("srv", uid=0, gid=0)])
    new = image([directory("srv", uid=1000, gid=1000)])
    assert [c.changes for c in diff_images((old, []), (new, [])).files_changed] == [("owner",)]


def test_config_changes() -> None:
    assert list(example_diff().config_changes) == [
        ConfigChange(field="Cmd", key="", old='["--serve"]', new='["--serve", "--port=9090"]'),
        ConfigChange(field="User", key="", old=None, new="app"),
        ConfigChange(field="Env", key="BAR", old=None, new="new"),
        ConfigChange(field="Env", key="FOO", old="1", new="2"),
        ConfigChange(field="Env", key="OLD", old="x", new=None),
        ConfigChange(field="ExposedPorts", key="8080/tcp", old="{}", new=None),
        ConfigChange(field="ExposedPorts", key="9090/tcp", old=None, new="{}"),
        ConfigChange(field="Labels", key="org.opencontainers.image.version", old="1.0", new="1.1"),
    ]


def test_platform_change() -> None:
    old = image([], config={"os": "linux", "architecture": "amd64"})
    new = image([], config={"os": "linux", "architecture": "arm64", "variant": "v8"})
    changes = diff_images((old, []), (new, [])).config_changes
    assert changes == (ConfigChange(field="platform", key="", old="linux/amd64/", new="linux/arm64/v8"),)


def test_sizes_and_identical_images() -> None:
    diff = example_diff()
    assert [(s.name, s.old, s.new, s.delta) for s in diff.sizes] == [
        ("compressed", 10, 15, 5),
        ("uncompressed", 100, 110, 10),
        ("files", 251_550, 401_750, 150_200),
    ]
    old = image(_old_files(), config=OLD_CONFIG)
    reordered = image(list(reversed(_old_files())), config=OLD_CONFIG)
    assert diff_images((old, _old_packages()), (reordered, list(reversed(_old_packages())))).empty


def test_to_dict_is_json_ready() -> None:
    data = example_diff().to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["sizes"] == {
        "compressed": {"old": 10, "new": 15, "delta": 5},
        "uncompressed": {"old": 100, "new": 110, "delta": 10},
        "files": {"old": 251_550, "new": 401_750, "delta": 150_200},
    }
    files = data["files"]
    assert isinstance(files, dict)
    assert files["changed"][2] == {
        "path": "app/main.py",
        "old_kind": "file",
        "new_kind": "file",
        "old_size": 1_000,
        "new_size": 1_500,
        "changes": ["content"],
        "size_delta": 500,
    }


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("1.0", "1.0", 0),
        ("1.0", "1.0.1", -1),
        ("1.10", "1.9", 1),
        ("1.0rc1", "1.0", -1),
        ("1.0.0-beta.1", "1.0.0", -1),
        ("1.0a1", "1.0b1", -1),
        ("1.0", "1.0.post1", -1),
        ("2.0~rc1", "2.0", -1),
        ("1.0.1", "1.0a", 1),
        ("v2", "v10", -1),
        ("1_0", "1.0", 0),
    ],
)
def test_compare_generic(a: str, b: str, sign: int) -> None:
    assert compare_generic(a, b) == sign
    assert compare_generic(b, a) == -sign
