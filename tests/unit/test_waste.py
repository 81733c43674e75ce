"""The waste report: layering waste counted once, baggage categories, no double counting."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from dockwright.inspect import baggage
from dockwright.inspect.model import FileKind, FileRecord, Package
from dockwright.inspect.waste import CATEGORY_ORDER, waste_report
from tests.unit.inspect_images import MB, bloated, clean, deb, file, image, layer, pypi, symlink


def test_reclaimable_counts_each_hidden_copy_once_unlike_dive() -> None:
    contents, packages = bloated()
    report = waste_report(contents, packages)
    # What each layer wrote: layer 1 rewrites app/data.bin, layer 2 deletes tmp/build.tar.
    writes = {0: {"app/data.bin": 10 * MB, "tmp/build.tar": 5 * MB}, 1: {"app/data.bin": 10 * MB}, 2: {}}
    seen: dict[str, list[int]] = {}
    for written in writes.values():
        for path, size in written.items():
            seen.setdefault(path, []).append(size)
    dive_overwrite = sum(seen["app/data.bin"])  # dive counts the kept copy too
    assert dive_overwrite == 20 * MB
    assert report.reclaimable_bytes == 15 * MB  # 10 MB hidden copy of data.bin + 5 MB deleted tar
    assert [row.reclaimable_bytes for row in report.layers] == [15 * MB, 0, 0]
    assert report.shipped_bytes == 100 * MB
    assert report.efficiency == pytest.approx(0.85)


def test_layer_rows_copy_reader_numbers() -> None:
    report = waste_report(*bloated())
    second = report.layers[1]
    assert (second.index, second.size, second.uncompressed_size, second.files) == (1, 4 * MB, 11 * MB, 1)
    assert (second.files_bytes, second.created_by) == (10 * MB, "COPY data.bin")
    assert report.layers[2].deleted == 1
    assert report.compressed_size == 44 * MB + 1000
    assert report.uncompressed_size == 106 * MB + 2048


def test_categories_claim_each_path_once_in_order() -> None:
    report = waste_report(*bloated())
    assert [category.key for category in report.categories] == list(CATEGORY_ORDER)
    totals = {category.key: category.bytes for category in report.categories}
    assert totals == {
        "caches": 8 * MB + 2 * MB + 9 * MB + 2_000,
        "dev-packages": 12 * MB + 30 * MB + 100_000 + 250_000 + 400_000 + 10_000,
        "tests": 700_000 + 4_000,
        "docs": 300_000,  # gcc-12's changelog went to dev-packages, copyright files stay
        "man": 90_000,
        "locales": 200_000,
    }
    assert report.wasted_bytes == 15 * MB + sum(totals.values())
    claimed = [item.path for category in report.categories for item in category.paths]
    assert len(claimed) == len(set(claimed))


def test_category_kinds_and_largest_paths() -> None:
    report = waste_report(*bloated(), top=2)
    caches = report.category("caches")
    assert [(kind.label, kind.bytes) for kind in caches.kinds] == [
        ("apt lists", 9 * MB),
        ("apt archives", 8 * MB),
    ]
    assert [item.path for item in caches.paths] == [
        "var/lib/apt/lists/mirror.example_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
        "var/cache/apt/archives/x.deb",
    ]
    assert caches.files == 4
    assert [kind.label for kind in report.category("tests").kinds] == ["numpy", "@scope/pkg"]
    assert [kind.label for kind in report.category("locales").kinds] == ["de"]


def test_dev_packages_by_flag_and_name_with_owned_bytes() -> None:
    report = waste_report(*bloated())
    rows = [(dev.name, dev.reason, dev.bytes, dev.files) for dev in report.dev_packages]
    assert rows == [
        ("gcc-12", "compiler or build tool", 42_100_000, 3),
        ("pytest", "test tool", 410_000, 2),
        ("make", "compiler or build tool", 250_000, 1),  # /bin/make found through bin -> usr/bin
    ]


def test_clean_image_has_no_waste() -> None:
    report = waste_report(*clean())
    assert report.wasted_bytes == 0
    assert report.efficiency == 1.0
    assert report.dev_packages == ()
    assert report.image_bytes == 3 * MB + 4_000


def test_empty_image_efficiency_is_one() -> None:
    report = waste_report(image([]), [])
    assert report.efficiency == 1.0
    assert report.wasted_bytes == 0


def test_only_regular_files_carry_bytes() -> None:
    records = [
        file("var/cache/apt/archives/a.deb", 100),
        FileRecord(path="var/cache/apt/archives/b.deb", kind=FileKind.HARDLINK, size=100, link="x"),
        symlink("var/cache/apt/archives/c.deb", "a.deb"),
    ]
    report = waste_report(image(records, (layer(0, files_bytes=100),)), [])
    assert report.category("caches").bytes == 100
    assert report.category("caches").files == 1


def test_to_dict_is_json_ready() -> None:
    report = waste_report(*bloated())
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["reclaimable_bytes"] == 15 * MB
    categories = data["categories"]
    assert isinstance(categories, list)
    assert categories[0]["key"] == "caches"
    assert report.category("docs").to_dict()["bytes"] == 300_000


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("var/cache/apt/archives/x.deb", "apt archives"),
        ("var/cache/apt/archives/partial/y.deb", "apt archives"),
        ("var/cache/apt/archives/lock", None),
        ("var/cache/apt/srcpkgcache.bin", "apt cache"),
        ("var/lib/apt/lists/lock", None),
        ("var/lib/apt/lists/partial/x", None),
        ("var/lib/apt/lists/mirror.example_Release", "apt lists"),
        ("root/.cache/pip/http/a/b", "pip cache"),
        ("home/app/.cache/pip/wheels/x.whl", "pip cache"),
        ("root/.npm/_cacache/index-v5/aa", "npm cache"),
        ("usr/local/share/.cache/yarn/v6/x", "yarn cache"),
        ("app/__pycache__/main.cpython-311.pyc", "stray bytecode"),
        ("app/main.pyc", "stray bytecode"),
        ("usr/lib/python3.11/__pycache__/os.cpython-311.pyc", None),
        ("usr/lib/python3/dist-packages/yaml/__pycache__/x.pyc", None),
        ("usr/local/lib/python3.12/json/__pycache__/x.pyc", None),
        ("opt/venv/lib/python3.11/site-packages/a/__pycache__/b.pyc", None),
        ("usr/bin/python3", None),
    ],
)
def test_cache_rules(path: str, label: str | None) -> None:
    assert baggage.cache_label(path.split("/")) == label


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("usr/lib/python3/dist-packages/numpy/tests/test_a.py", "numpy"),
        ("usr/lib/python3/dist-packages/numpy/core/tests/data/x", "numpy"),
        ("app/node_modules/lodash/test/x.js", "lodash"),
        ("app/node_modules/a/node_modules/b/test/x.js", "b"),
        ("app/node_modules/@types/node/test/x.ts", "@types/node"),
        ("usr/lib/python3/dist-packages/tests/conftest.py", "tests"),
        ("app/tests/test_main.py", None),
        ("usr/lib/python3/dist-packages/numpy/tests", None),  # the directory itself, no file below
        ("usr/lib/python3/dist-packages/testing/x.py", None),
    ],
)
def test_test_tree_rules(path: str, label: str | None) -> None:
    assert baggage.test_label(path.split("/")) == label


@pytest.mark.parametrize(
    ("path", "rule", "label"),
    [
        ("usr/share/doc/bash/NEWS.gz", baggage.doc_label, "bash"),
        ("usr/share/doc/bash/copyright", baggage.doc_label, None),
        ("usr/share/doc/README", baggage.doc_label, "usr/share/doc"),
        ("usr/local/share/doc/x/README", baggage.doc_label, "x"),
        ("usr/share/docs/x", baggage.doc_label, None),
        ("usr/share/man/man1/ls.1.gz", baggage.man_label, "man pages"),
        ("usr/share/info/dir", baggage.man_label, "info pages"),
        ("usr/local/share/man/man1/x.1", baggage.man_label, "man pages"),
        ("usr/share/locale/locale.alias", baggage.locale_label, None),
        ("usr/share/locale/pt_BR/LC_MESSAGES/x.mo", baggage.locale_label, "pt_BR"),
        ("usr/share/locale-langpack/x", baggage.locale_label, None),
    ],
)
def test_doc_man_locale_rules(path: str, rule: Callable[[list[str]], str | None], label: str | None) -> None:
    assert rule(path.split("/")) == label


@pytest.mark.parametrize(
    ("package", "reason"),
    [
        (deb("gcc", "4:12.2.0-3"), "compiler or build tool"),
        (deb("g++-12", "12.2.0-14"), "compiler or build tool"),
        (deb("cpp-12", "12.2.0-14"), "compiler or build tool"),
        (deb("clang-16", "1:16.0.6-15"), "compiler or build tool"),
        (deb("binutils-x86-64-linux-gnu", "2.40-2"), "compiler or build tool"),
        (deb("libssl-dev", "3.0.11-1"), "compiler or build tool"),
        (deb("build-essential", "12.9"), "compiler or build tool"),
        (deb("python3-pytest", "7.2.1-2"), "test tool"),
        (deb("gcc-12-base", "12.2.0-14"), None),
        (deb("libgcc-s1", "12.2.0-14"), None),
        (deb("udev", "252.22-1"), None),
        (deb("makedev", "2.3.1"), None),
        (pypi("pytest", "8.0.0"), "test tool"),
        (pypi("pytest_cov", "4.1.0"), "test tool"),
        (pypi("Hypothesis", "6.0"), "test tool"),
        (pypi("coverage", "7.0"), "test tool"),
        (pypi("requests", "2.31.0"), None),
        (pypi("foo-dev", "1.0"), None),
        (deb("libfoo1", "1.0", dev=True), "marked dev by its cataloger"),
    ],
)
def test_dev_rules(package: Package, reason: str | None) -> None:
    assert baggage.dev_reason(package) == reason


def test_resolve_path_follows_symlinked_directories() -> None:
    files = {
        record.path: record
        for record in [
            symlink("bin", "usr/bin"),
            symlink("lib", "/usr/lib"),
            symlink("usr/lib/alt", "../share"),
            file("usr/bin/ls", 10),
            file("usr/lib/libc.so.6", 10),
            file("usr/share/x", 10),
        ]
    }
    assert baggage.resolve_path("/bin/ls", files) == "usr/bin/ls"
    assert baggage.resolve_path("/lib/libc.so.6", files) == "usr/lib/libc.so.6"
    assert baggage.resolve_path("lib/alt/x", files) == "usr/share/x"
    assert baggage.resolve_path("/bin/missing", files) is None
    loop = {record.path: record for record in [symlink("a", "b"), symlink("b", "a")]}
    assert baggage.resolve_path("a/x", loop) is None


def test_normalize_path() -> None:
    assert baggage.normalize_path("/usr/./bin/../bin/ls") == "usr/bin/ls"
    assert baggage.normalize_path("./etc/") == "etc"
    assert baggage.normalize_path("/") == ""
