"""The Python cataloger: dist-info with RECORD and INSTALLER, egg-info directories and files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from dockwright.inspect.catalog import python
from dockwright.inspect.catalog.devtools import is_dev_python
from dockwright.inspect.model import Package, Warning_
from tests.unit.catalog_support import DIR, make_contents

SITE = "usr/local/lib/python3.11/site-packages"
REQUESTS_METADATA = b"""Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
License: Apache 2.0
Classifier: License :: OSI Approved :: Apache Software License
Requires-Dist: idna (<4,>=2.5)

Long description follows the blank line.
License: this is not a header
"""
RECORD = b"""requests/__init__.py,sha256=abc,100
requests/api.py,sha256=def,50
requests-2.31.0.dist-info/METADATA,sha256=x,10
requests-2.31.0.dist-info/RECORD,,
../../../bin/requests-cli,sha256=y,5
../../../../../../etc/escape,sha256=z,1
"""


def _catalog(layers: Sequence[Mapping[str, object]]) -> dict[str, Package]:
    warnings: list[Warning_] = []
    packages = python.catalog(make_contents(layers), warnings)
    assert warnings == []
    return {p.name: p for p in packages}


def test_dist_info_with_record_and_installer() -> None:
    info = f"{SITE}/requests-2.31.0.dist-info"
    layer = {
        f"{info}/METADATA": REQUESTS_METADATA,
        f"{info}/RECORD": RECORD,
        f"{info}/INSTALLER": b"pip\n",
        f"{SITE}/requests": DIR,
        f"{SITE}/requests/__init__.py": b"x" * 100,
        f"{SITE}/requests/api.py": b"y" * 50,
        "usr/local/bin/requests-cli": b"#!" + b"z" * 3,
    }
    requests = _catalog([layer])["requests"]
    # syft v1.18.1 syft/pkg/cataloger/python/package.go: pkg:pypi/<normalized name>@<version>, no qualifiers
    assert requests.purl == "pkg:pypi/requests@2.31.0"
    assert requests.licenses == ("Apache 2.0",)
    assert requests.files == (  # the path escaping the root is dropped
        "usr/local/bin/requests-cli",
        f"{SITE}/requests-2.31.0.dist-info/METADATA",
        f"{SITE}/requests-2.31.0.dist-info/RECORD",
        f"{SITE}/requests/__init__.py",
        f"{SITE}/requests/api.py",
    )
    assert requests.size == len(REQUESTS_METADATA) + len(RECORD) + 100 + 50 + 5
    assert requests.metadata == {"name": "requests", "size_from": "files", "installer": "pip"}
    assert (requests.type, requests.location, requests.dev) == ("pypi", f"{info}/METADATA", False)


def test_egg_info_directory_file_and_name_normalization() -> None:
    deb_six = b"Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n"
    zope = b"Metadata-Version: 1.1\nName: Zope.Interface\nVersion: 6.0\nLicense: UNKNOWN\n"
    zope += (
        b"Classifier: License :: OSI Approved :: Zope Public License\nClassifier: License :: OSI Approved\n"
    )
    typing = b"Metadata-Version: 2.1\nName: Typing_Extensions\nVersion: 4.9.0\nLicense-Expression: PSF-2.0\n"
    dist = "usr/lib/python3/dist-packages"
    layer = {
        f"{dist}/six-1.16.0.egg-info": DIR,
        f"{dist}/six-1.16.0.egg-info/PKG-INFO": deb_six,
        f"{dist}/six-1.16.0.egg-info/top_level.txt": b"six\n",
        f"{dist}/zope.interface-6.0.egg-info": zope,
        f"{dist}/typing_extensions-4.9.0.egg-info": DIR,
        f"{dist}/typing_extensions-4.9.0.egg-info/PKG-INFO": typing,
        f"{dist}/typing_extensions-4.9.0.egg-info/installed-files.txt": b"../typing_extensions.py\nPKG-INFO\n",
        f"{dist}/typing_extensions.py": b"t" * 7,
    }
    packages = _catalog([layer])
    assert sorted(packages) == ["six", "typing-extensions", "zope-interface"]
    assert packages["six"].files == ()
    assert packages["six"].licenses == ("MIT",)
    assert packages["zope-interface"].purl == "pkg:pypi/zope-interface@6.0"
    assert packages["zope-interface"].metadata["name"] == "Zope.Interface"
    assert packages["zope-interface"].licenses == ("Zope Public License",)
    assert packages["zope-interface"].location == f"{dist}/zope.interface-6.0.egg-info"
    typing_ext = packages["typing-extensions"]
    assert typing_ext.licenses == ("PSF-2.0",)
    assert typing_ext.files == (
        f"{dist}/typing_extensions-4.9.0.egg-info/PKG-INFO",
        f"{dist}/typing_extensions.py",
    )
    assert typing_ext.size == 7 + len(typing)


@pytest.mark.parametrize(
    ("headers", "licenses"),
    [
        (b"License-Expression: MIT OR Apache-2.0\nLicense: BSD\n", ("MIT OR Apache-2.0",)),
        (b"License: BSD-3-Clause\nClassifier: License :: OSI Approved :: MIT License\n", ("BSD-3-Clause",)),
        (
            b"License: Copyright (c) 2020\n        Permission is hereby granted\n"
            b"Classifier: License :: OSI Approved :: MIT License\n",
            ("MIT",),
        ),
        (
            b"Classifier: License :: OSI Approved :: GNU General Public License v2 (GPLv2)\n"
            b"Classifier: License :: OSI Approved :: BSD License\nClassifier: Programming Language :: Python\n",
            ("BSD License", "GPL-2.0-only"),
        ),
        (b"License: UNKNOWN\n", ()),
    ],
)
def test_license_precedence(headers: bytes, licenses: tuple[str, ...]) -> None:
    metadata = b"Metadata-Version: 2.1\nName: x\nVersion: 1\n" + headers
    (pkg,) = _catalog([{"site/x-1.dist-info/METADATA": metadata}]).values()
    assert pkg.licenses == licenses


def test_layers_and_dev_tools() -> None:
    meta = b"Metadata-Version: 2.1\nName: pytest\nVersion: 7.0\n"
    path = f"{SITE}/pytest-7.0.dist-info/METADATA"
    newer = f"{SITE}/pytest-8.0.dist-info/METADATA"
    layers: list[dict[str, object]] = [
        {path: meta},
        {"other": b"x"},
        {path: None, newer: meta.replace(b"7.0", b"8.0")},
    ]
    (pytest_pkg,) = _catalog(layers).values()
    assert (pytest_pkg.version, pytest_pkg.layer_added, pytest_pkg.layer_changed, pytest_pkg.dev) == (
        "8.0",
        2,
        2,
        True,
    )
    layers = [{path: meta}, {path: meta + b"Summary: changed\n"}, {"x": b""}]
    (pytest_pkg,) = _catalog(layers).values()
    assert (pytest_pkg.layer_added, pytest_pkg.layer_changed) == (0, 1)


@pytest.mark.parametrize(
    ("name", "dev"),
    [
        ("pytest", True),
        ("pytest-cov", True),
        ("types-requests", True),
        ("django-stubs", True),
        ("ruff", True),
        ("mypy-extensions", False),
        ("pluggy", False),
        ("requests", False),
    ],
)
def test_dev_tool_names(name: str, dev: bool) -> None:
    assert is_dev_python(name) is dev


def test_metadata_without_name_is_reported() -> None:
    warnings: list[Warning_] = []
    contents = make_contents([{"a/x.dist-info/METADATA": b"Metadata-Version: 2.1\nVersion: 1\n"}])
    assert python.catalog(contents, warnings) == []
    assert [w.message for w in warnings] == [
        "a/x.dist-info/METADATA: Python metadata without Name or Version; skipped"
    ]


def test_wanted() -> None:
    yes = [
        "x/a-1.dist-info/METADATA",
        "x/a-1.dist-info/RECORD",
        "x/a-1.dist-info/INSTALLER",
        "x/a.egg-info/PKG-INFO",
        "x/a.egg-info",
        "x/a.egg-info/installed-files.txt",
    ]
    no = ["x/a-1.dist-info/LICENSE", "x/a.egg-info/top_level.txt", "x/METADATA"]
    assert [p for p in yes + no if python.wanted(p)] == yes
