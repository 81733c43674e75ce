from __future__ import annotations

from pathlib import Path

import pytest

from dockwright.debian.sources import (
    DEFAULT_KEYRING,
    AptSource,
    host_sources,
    parse_deb822_sources,
    parse_one_line_sources,
)
from dockwright.errors import InputError
from tests.debrepo import export_armored

MIRROR = "http://mirror.test/debian"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            f"deb {MIRROR} bookworm main contrib",
            AptSource(uri=MIRROR, suites=("bookworm",), components=("main", "contrib")),
        ),
        (
            f"deb [signed-by=/k/a.gpg arch=amd64,arm64] {MIRROR} bookworm main",
            AptSource(
                uri=MIRROR,
                suites=("bookworm",),
                components=("main",),
                signed_by="/k/a.gpg",
                architectures=("amd64", "arm64"),
            ),
        ),
        (
            f"deb [ arch=amd64 Signed-By=/k/b.gpg ] {MIRROR} bookworm-updates main # trailing comment",
            AptSource(
                uri=MIRROR,
                suites=("bookworm-updates",),
                components=("main",),
                signed_by="/k/b.gpg",
                architectures=("amd64",),
            ),
        ),
        (f"deb {MIRROR} ./", AptSource(uri=MIRROR, suites=("./",), components=())),
    ],
)
def test_one_line(line: str, expected: AptSource) -> None:
    assert parse_one_line_sources(line) == [expected]


def test_one_line_skips_comments_blank_lines_and_deb_src() -> None:
    text = f"# deb {MIRROR} old main\n\n   \ndeb-src {MIRROR} bookworm main\ndeb {MIRROR} bookworm main\n"
    assert [s.suites for s in parse_one_line_sources(text)] == [("bookworm",)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"deb {MIRROR}", "x.list:1: expected a URI and a suite after 'deb'"),
        (f"rpm {MIRROR} a main", "x.list:1: unknown source type 'rpm'"),
        (f"deb [arch=amd64 {MIRROR} a main", "x.list:1: unclosed '[' in the options"),
        (f"deb [trusted] {MIRROR} a main", "x.list:1: option 'trusted' is not key=value"),
        (
            f"deb [signed-by=ABCDEF0123456789] {MIRROR} a main",
            "x.list:1: Signed-By 'ABCDEF0123456789' is not a keyring path or an inline key",
        ),
    ],
)
def test_one_line_errors(line: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_one_line_sources(line, origin="x.list")
    assert str(info.value) == message


DEB822 = f"""\
Types: deb deb-src
# a comment inside the paragraph
URIs: {MIRROR} http://other.test/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/x.gpg
Architectures: amd64 i386

# a disabled paragraph
Types: deb
URIs: http://disabled.test/
Suites: sid
Components: main
Enabled: no

Types: deb-src
URIs: http://sources-only.test/
Suites: sid
Components: main

Types: deb
URIs: http://nokey.test/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822() -> None:
    sources = parse_deb822_sources(DEB822)
    assert [(s.uri, s.suites) for s in sources] == [
        (MIRROR, ("bookworm", "bookworm-updates")),
        ("http://other.test/debian", ("bookworm", "bookworm-updates")),
        ("http://nokey.test/debian-security", ("bookworm-security",)),
    ]
    assert sources[0].components == ("main", "contrib")
    assert sources[0].architectures == ("amd64", "i386")
    assert sources[0].keyring == Path("/usr/share/keyrings/x.gpg")
    assert sources[2].signed_by is None
    assert sources[2].keyring == DEFAULT_KEYRING == Path("/usr/share/keyrings/debian-archive-keyring.gpg")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Types: deb\nSuites: a\n", "s.sources:1: a deb paragraph needs URIs and Suites"),
        (" continued\n", "s.sources:1: continuation line outside a field"),
        ("Types deb\n", "s.sources:1: expected 'Field: value', got 'Types deb'"),
    ],
)
def test_deb822_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_deb822_sources(text, origin="s.sources")
    assert str(info.value) == message


def test_inline_signed_by_key_is_dearmored(gpg_home: Path, signing_key: str, keyring: Path) -> None:
    armored = export_armored(gpg_home, signing_key)
    field = "\n".join(" " + (line or ".") for line in armored.strip().splitlines())
    text = f"Types: deb\nURIs: {MIRROR}\nSuites: stable\nComponents: main\nSigned-By:\n{field}\n"
    [source] = parse_deb822_sources(text)
    assert source.signed_by is not None
    assert source.keyring.read_bytes() == keyring.read_bytes()  # gpg --export == dearmored armor


def test_host_sources_reads_list_and_sources_files_in_order(tmp_path: Path) -> None:
    apt = tmp_path / "etc" / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text(f"deb {MIRROR} one main\n")
    (apt / "sources.list.d" / "b.sources").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: three\nComponents: main\n"
    )
    (apt / "sources.list.d" / "a.list").write_text(f"deb {MIRROR} two main\n")
    (apt / "sources.list.d" / "c.list.disabled-by-farm").write_text(f"deb {MIRROR} nope main\n")
    (apt / "sources.list.d" / "d.sources.disabled-by-farm").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: nope\n"
    )
    assert [s.suites for s in host_sources(tmp_path)] == [("one",), ("two",), ("three",)]


def test_host_sources_without_apt_config(tmp_path: Path) -> None:
    assert host_sources(tmp_path) == []


def test_inline_key_that_gpg_cannot_read_is_an_input_error() -> None:
    text = (
        f"Types: deb\nURIs: {MIRROR}\nSuites: s\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n"
        " bm90IGEga2V5\n -----END PGP PUBLIC KEY BLOCK-----\n"
    )
    with pytest.raises(InputError) as info:
        parse_deb822_sources(text, origin="bad.sources")
    assert str(info.value).startswith("bad.sources:1: the inline Signed-By key could not be read: ")
