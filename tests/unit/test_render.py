"""Rendering: the rich tables and trees hold the expected rows; the path tree is computed purely."""

from __future__ import annotations

import re

from rich.console import Console

from dockwright.inspect import render
from dockwright.inspect.diff import ImageDiff, diff_images
from dockwright.inspect.gate import check_fail_on
from dockwright.inspect.model import FileKind, FileRecord
from dockwright.inspect.usage import largest_paths
from dockwright.inspect.waste import waste_report
from tests.unit.inspect_images import MB, bloated, directory, file, image, symlink
from tests.unit.test_diff import example_diff


def _console() -> Console:
    return Console(record=True, width=120)


def _rows(text: str) -> list[list[str]]:
    """Split table rows into their stripped cells."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def test_layers_table() -> None:
    console = _console()
    render.render_layers(console, waste_report(*bloated()))
    text = console.export_text()
    assert "Layers" in text
    rows = _rows(text)
    assert rows[0] == ["0", "00ffffffffff", "40.0 MB", "95.0 MB", "40", "90.0 MB", "15.0 MB", ""]
    assert rows[1] == ["1", "01ffffffffff", "4.0 MB", "11.0 MB", "1", "10.0 MB", "0 B", "COPY data.bin"]
    assert rows[2][-1] == "RUN rm build.tar"


def test_waste_tables() -> None:
    console = _console()
    render.render_waste(console, waste_report(*bloated()))
    text = console.export_text()
    assert "efficiency 85.0%  (15.0 MB of 100.0 MB shipped is hidden by later layers)" in text
    assert "could save 78.1 MB  of 106.0 MB uncompressed" in text
    rows = _rows(text)
    assert ["reclaimable", "", "15.0 MB", "overwritten or deleted later"] in rows
    assert rows[1][:3] == ["package caches", "4", "19.0 MB"]
    assert ["", "", "", "8.0 MB  var/cache/apt/archives/x.deb"] in rows
    assert ["dev/test packages", "6", "42.8 MB", "30.0 MB  usr/lib/gcc/x86_64-linux-gnu/12/cc1"] in rows
    assert ["docs", "1", "300.0 kB", "300.0 kB  usr/share/doc/bash/NEWS.gz"] in rows
    assert ["total", "", "78.1 MB", ""] in rows
    assert ["gcc-12", "12.2.0-14", "deb", "compiler or build tool", "3", "42.1 MB"] in rows
    assert ["pytest", "8.0.0", "pypi", "test tool", "2", "410.0 kB"] in rows


def test_clean_waste_has_no_dev_table() -> None:
    console = _console()
    render.render_waste(console, waste_report(image([file("a", 1)]), []))
    assert "Dev/test packages" not in console.export_text()


def test_largest_paths_tree_data() -> None:
    files = {
        record.path: record
        for record in [
            directory("usr"),
            symlink("bin", "usr/bin"),
            file("usr/lib/big.so", 50 * MB),
            file("usr/lib/small.so", 1 * MB),
            file("usr/bin/tool", 5 * MB),
            file("var/cache/x", 8 * MB),
            file("etc/passwd", 1_000),
            FileRecord(path="usr/lib/hard.so", kind=FileKind.HARDLINK, link="usr/lib/big.so", size=50 * MB),
        ]
    }
    root = largest_paths(files, 4)
    assert (root.name, root.size, root.files) == ("/", 64 * MB + 1_000, 5)
    assert [(node.path, node.size, node.is_dir) for node in root.children] == [
        ("usr", 56 * MB, True),
        ("var", 8 * MB, True),
    ]
    usr = root.children[0]
    assert [(node.path, node.size) for node in usr.children] == [("usr/lib", 51 * MB)]
    assert [(node.name, node.is_dir) for node in usr.children[0].children] == [("big.so", False)]
    assert root.to_dict()["children"][0]["name"] == "usr"  # type: ignore[index]


def test_largest_paths_is_ancestor_closed_and_depth_limited() -> None:
    files = {f"a/b/c/d/e/f{i}": file(f"a/b/c/d/e/f{i}", 10 + i) for i in range(5)}
    root = largest_paths(files, 100, depth=3)
    node = root
    names = []
    while node.children:
        assert len(node.children) == 1
        node = node.children[0]
        names.append(node.name)
    assert names == ["a", "b", "c"]
    assert node.size == sum(10 + i for i in range(5))
    assert largest_paths(files, 0).children == ()


def test_largest_paths_render() -> None:
    contents, _ = bloated()
    console = _console()
    render.render_largest_paths(console, largest_paths(contents.files, 5))
    text = console.export_text()
    assert text.splitlines()[0] == "Largest paths"
    assert re.search(r"^\s+80\.3 MB  /$", text, re.MULTILINE)
    assert "├──   50.3 MB  usr/" in text
    assert "│   └──   30.1 MB  lib/" in text
    assert "│           └──   30.0 MB  x86_64-linux-gnu/" in text
    assert "└──   20.0 MB  var/" in text
    assert "app/" not in text  # five paths kept: usr, lib, gcc, x86_64-linux-gnu, var


def test_packages_table() -> None:
    _, packages = bloated()
    console = _console()
    render.render_packages(console, packages, title="Packages of app")
    text = console.export_text()
    assert "Packages of app (7)" in text
    rows = _rows(text)
    assert rows[0] == ["bash", "5.2.15-2+b2", "deb", "amd64", "0", "", ""]
    assert ["pytest", "8.0.0", "pypi", "", "0", "", ""] in rows


def test_diff_tables() -> None:
    console = _console()
    render.render_diff(console, example_diff())
    text = console.export_text()
    assert "app:1 → app:2" in text
    rows = _rows(text)
    assert ["files", "251.6 kB", "401.8 kB", "+150.2 kB"] in rows
    assert ["upgraded", "bash", "deb", "5.2.15-2+b2", "5.2.15-2+b7"] in rows
    assert ["downgraded", "tzdata", "deb", "2024a-0+deb12u1", "2023c-5+deb12u1"] in rows
    assert ["added", "jq", "deb", "", "1.6-2.1"] in rows
    assert ["removed", "curl", "deb", "7.88.1-10+deb12u5", ""] in rows
    assert ["content", "app/main.py", "file", "+500 B"] in rows
    assert ["removed", "usr/bin/curl", "file", "-250.0 kB"] in rows
    assert ["Env", "FOO", "1", "2"] in rows
    assert ["User", "", "-", "app"] in rows


def test_diff_limit_and_empty() -> None:
    console = _console()
    render.render_diff(console, example_diff(), limit=2)
    rows = _rows(console.export_text())
    assert ["", "… 4 more", "", "", ""] in rows
    assert ["", "… 5 more", "", ""] in rows
    console = _console()
    same = image([file("a", 1)])
    render.render_diff(console, diff_images((same, []), (same, [])))
    assert "no package, file or configuration changes" in console.export_text()


def test_markup_in_image_text_is_not_interpreted() -> None:
    console = _console()
    render.render_diff(console, _diff_with_path("app/[bold]x[/bold]"))
    assert "app/[bold]x[/bold]" in console.export_text()


def _diff_with_path(path: str) -> ImageDiff:
    return diff_images((image([]), []), (image([file(path, 1)]), []))


def test_gate_output() -> None:
    console = _console()
    report = waste_report(*bloated())
    render.render_gate(console, check_fail_on("dev-packages,caches>100MB", report))
    render.render_gate(console, check_fail_on("caches>100MB", report))
    text = console.export_text()
    assert "✗ dev-packages 3 > 0: gcc-12 (42.1 MB), pytest (410.0 kB), make (250.0 kB)" in text
    assert "✓ --fail-on: passed" in text
