"""The catalog package: WANTED, catalog_image, and the shared helpers (paths, distro, history)."""

from __future__ import annotations

import random
import time

import pytest

from dockwright.inspect.catalog import WANTED, catalog_image
from dockwright.inspect.catalog.distro import Distro, parse_os_release, purl
from dockwright.inspect.catalog.filesystem import owned_files, resolve
from dockwright.inspect.catalog.history import Span, spans
from dockwright.inspect.model import Warning_
from tests.unit.catalog_support import DEBIAN_12, DIR, Link, make_contents


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("var/lib/dpkg/status", True),
        ("var/lib/dpkg/info/libc6:amd64.list", True),
        ("usr/share/doc/bash/copyright", True),
        ("var/lib/rpm/rpmdb.sqlite", True),
        ("lib/apk/db/installed", True),
        ("usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO", True),
        ("app/node_modules/a/package.json", True),
        ("etc/os-release", True),
        ("usr/lib/os-release", True),
        ("usr/bin/bash", False),
        ("var/lib/rpm/Packages", False),
        ("usr/share/doc/bash/README", False),
        ("app/package.json", False),
    ],
)
def test_wanted_is_the_union(path: str, wanted: bool) -> None:
    assert WANTED(path) is wanted


def test_wanted_is_cheap() -> None:
    paths = [f"usr/lib/python3.11/some/module{i}/file{i}.py" for i in range(100_000)]
    started = time.perf_counter()
    assert not any(WANTED(p) for p in paths)
    assert time.perf_counter() - started < 1.0  # about 0.05 s here; generous for slow CI machines


def test_catalog_image_sorts_and_collects_warnings() -> None:
    layer = {
        "var/lib/dpkg/status": b"Package: zlib1g\nArchitecture: amd64\nVersion: 1:1.2.13\n\n"
        b"Package: bash\nArchitecture: amd64\nVersion: 5.2\n",
        "usr/lib/python3/dist-packages/six-1.16.0.egg-info": b"Name: six\nVersion: 1.16.0\n",
        "node_modules/a/package.json": b'{"name": "a", "version": "1"}',
        "var/lib/rpm/Packages": b"\0" * 16,
    }
    warnings: list[Warning_] = []
    packages = catalog_image(make_contents([layer], os_release=DEBIAN_12), warnings=warnings)
    assert [(p.type, p.name) for p in packages] == [
        ("deb", "bash"),
        ("deb", "zlib1g"),
        ("npm", "a"),
        ("pypi", "six"),
    ]
    assert [w.code for w in warnings] == ["rpm-bdb-unsupported"]
    without_sink = catalog_image(make_contents([layer], os_release=DEBIAN_12))  # warnings are optional
    assert without_sink == packages
    assert packages[0].purl == "pkg:deb/debian/bash@5.2?arch=amd64&distro=debian-12"


def test_missing_bytes_of_a_database_are_reported() -> None:
    contents = make_contents([{"var/lib/dpkg/status": b"Package: a\nVersion: 1\n"}], wanted=lambda _: False)
    warnings: list[Warning_] = []
    assert catalog_image(contents, warnings=warnings) == []
    assert warnings == [
        Warning_(
            code="catalog-content-missing",
            message="dpkg: the reader kept no bytes for var/lib/dpkg/status; its packages are not listed",
            path="var/lib/dpkg/status",
        )
    ]


def test_resolve_follows_relative_absolute_and_looping_links() -> None:
    files = make_contents(
        [
            {
                "bin": Link("usr/bin"),
                "usr": DIR,
                "usr/bin": DIR,
                "usr/lib64": Link("/usr/lib"),
                "usr/lib": DIR,
                "loop": Link("loop2"),
                "loop2": Link("loop"),
                "usr/bin/sh": Link("dash"),
                "usr/bin/dash": b"d",
            }
        ]
    ).files
    assert resolve(files, "bin/bash") == "usr/bin/bash"
    assert resolve(files, "usr/lib64/x.so") == "usr/lib/x.so"
    assert resolve(files, "bin/sh") == "usr/bin/dash"
    assert resolve(files, "loop/x").endswith("/x")  # stops instead of spinning
    assert owned_files(files, ["/bin/sh", "/bin", "/usr", "/bin/dash", "/usr/bin/dash"]) == (
        ("usr/bin/dash", "usr/bin/sh"),
        1,
    )


def test_os_release_and_purl_qualifiers() -> None:
    text = b'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n# comment\nbroken line\nX=\'a b\'\n'
    assert parse_os_release(text) == {
        "NAME": "Debian GNU/Linux",
        "ID": "debian",
        "VERSION_ID": "12",
        "X": "a b",
    }
    assert Distro(id="arch", build_id="rolling").qualifier == "arch-rolling"
    assert Distro().qualifier == ""
    assert purl("deb", "debian", "a", "1", {"upstream": "", "arch": "all"}, Distro(id="debian")) == (
        "pkg:deb/debian/a@1?arch=all&distro=debian"
    )


def test_spans() -> None:
    history: list[tuple[int, dict[str, int] | None]] = [
        (0, {"a": 1, "b": 1}),
        (1, {"a": 1, "b": 2, "c": 1}),
        (2, None),
        (3, {"a": 1, "c": 1}),
        (4, {"a": 2, "c": 1}),
    ]
    assert spans(history, lambda records: records) == {"a": Span(3, 4), "c": Span(3, 3)}


def test_random_bytes_in_every_database_give_warnings_not_exceptions() -> None:
    rng = random.Random(7)
    paths = [
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/x",
        "var/lib/dpkg/info/x.list",
        "usr/share/doc/x/copyright",
        "lib/apk/db/installed",
        "var/lib/rpm/rpmdb.sqlite",
        "a/x-1.dist-info/METADATA",
        "a/x-1.dist-info/RECORD",
        "node_modules/x/package.json",
        "package-lock.json",
        "etc/os-release",
    ]
    for _ in range(50):
        layer = {p: bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))) for p in paths}
        layer["var/lib/dpkg/status"] += b"\nPackage: x\nVersion: 1\n"
        catalog_image(make_contents([layer, layer]), warnings=[])
