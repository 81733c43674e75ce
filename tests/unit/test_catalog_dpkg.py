"""The dpkg cataloger: status and status.d, owned files, licenses, sizes, PURLs and layers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pytest

from dockwright.inspect.catalog import dpkg
from dockwright.inspect.catalog.debcopyright import copyright_licenses
from dockwright.inspect.model import Package, Warning_
from tests.unit.catalog_support import DEBIAN_12, DIR, Link, make_contents

BASH = b"""Package: bash
Essential: yes
Status: install ok installed
Priority: required
Installed-Size: 7164
Architecture: amd64
Multi-Arch: foreign
Source: bash (5.2.15-2)
Version: 5.2.15-2+b13
Conffiles:
 /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 .
 More text.
"""
LIBC6 = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library
"""
REMOVED = b"""Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
"""
TZDATA = b"""Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
"""


def _status(*stanzas: bytes) -> bytes:
    return b"\n".join(stanzas)


def _catalog(
    layers: Sequence[Mapping[str, object]], os_release: dict[str, str] | None = DEBIAN_12
) -> list[Package]:
    warnings: list[Warning_] = []
    packages = dpkg.catalog(make_contents(layers, os_release=os_release), warnings)
    assert warnings == []
    return packages


def _by_name(packages: list[Package]) -> dict[str, Package]:
    return {p.name: p for p in packages}


def test_status_lists_only_installed_packages_with_syft_purls() -> None:
    packages = _by_name(_catalog([{dpkg.STATUS: _status(BASH, REMOVED, LIBC6, TZDATA)}]))
    assert sorted(packages) == ["bash", "libc6", "tzdata"]
    # syft v1.18.1 syft/pkg/cataloger/debian/package.go packageURL: arch, distro=ID-VERSION_ID, and
    # upstream=<source>[@<source version>] whenever Source is set; packageurl-go sorts qualifiers and
    # escapes "+" and "@" (the same strings syft 1.18.1 printed for Debian 12 minbase).
    assert packages["bash"].purl == (
        "pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2"
    )
    assert (
        packages["libc6"].purl
        == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert packages["tzdata"].purl == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"
    bash = packages["bash"]
    assert (bash.version, bash.architecture, bash.source, bash.type) == (
        "5.2.15-2+b13",
        "amd64",
        "bash",
        "deb",
    )
    assert bash.metadata == {"size_from": "installed-size", "source_version": "5.2.15-2"}
    assert bash.size == 7164 * 1024
    assert bash.location == dpkg.STATUS
    assert packages["tzdata"].source == "tzdata"


@pytest.mark.parametrize(
    ("status", "listed"),
    [
        ("install ok installed", True),
        ("hold ok installed", True),
        ("deinstall ok installed", True),
        ("install ok triggers-pending", True),
        ("install ok unpacked", False),
        ("install reinstreq half-installed", False),
        ("deinstall ok config-files", False),
        ("purge ok not-installed", False),
    ],
)
def test_installed_states(status: str, listed: bool) -> None:
    stanza = f"Package: a\nStatus: {status}\nArchitecture: all\nVersion: 1\n".encode()
    assert [p.name for p in _catalog([{dpkg.STATUS: stanza}])] == (["a"] if listed else [])


def test_multi_arch_list_files_give_owned_files_resolved_through_merged_usr() -> None:
    listing = b"/.\n/etc\n/etc/ld.so.conf.d/x86_64-linux-gnu.conf\n/lib\n/lib/x86_64-linux-gnu\n"
    listing += b"/lib/x86_64-linux-gnu/libc.so.6\n/usr\n/usr/share/doc/libc6/copyright\n/usr/lib/gone.so\n"
    layer = {
        dpkg.STATUS: LIBC6,
        "var/lib/dpkg/info/libc6:amd64.list": listing,
        "var/lib/dpkg/info/libc6.list": b"/wrong\n",  # the :arch name wins, as in dpkg and syft
        "etc": DIR,
        "etc/ld.so.conf.d": DIR,
        "etc/ld.so.conf.d/x86_64-linux-gnu.conf": b"/usr/lib/x86_64-linux-gnu\n",
        "lib": Link("usr/lib"),
        "usr": DIR,
        "usr/lib": DIR,
        "usr/lib/x86_64-linux-gnu": DIR,
        "usr/lib/x86_64-linux-gnu/libc.so.6": b"\x7fELF" + b"\0" * 96,
        "usr/share/doc/libc6/copyright": b"free-form; see /usr/share/common-licenses/LGPL-2.1.\n",
    }
    (libc6,) = _catalog([layer])
    assert libc6.files == (
        "etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        "usr/lib/gone.so",  # the database says so, even though the image lost it
        "usr/lib/x86_64-linux-gnu/libc.so.6",
        "usr/share/doc/libc6/copyright",
    )
    assert libc6.licenses == ("LGPL-2.1",)
    # no Installed-Size: the owned regular files' sizes, and the metadata says so
    assert libc6.size == 26 + 100 + len(layer["usr/share/doc/libc6/copyright"])  # type: ignore[arg-type]
    assert libc6.metadata["size_from"] == "files"


def test_md5sums_and_conffiles_when_there_is_no_list() -> None:
    layer = {
        dpkg.STATUS: BASH,
        "var/lib/dpkg/info/bash.md5sums": b"0123  usr/bin/bash\n4567  usr/share/man/man1/bash.1.gz\n",
        "usr/bin/bash": b"#!",
    }
    (bash,) = _catalog([layer])
    assert bash.files == ("etc/bash.bashrc", "usr/bin/bash", "usr/share/man/man1/bash.1.gz")


def test_distroless_status_d_entries_without_status_and_their_md5sums() -> None:
    no_status = b"Package: libssl3\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n"
    layer = {
        dpkg.STATUS_DIR + "libssl3": no_status,
        dpkg.STATUS_DIR + "libssl3.md5sums": b"abcd  usr/lib/x86_64-linux-gnu/libssl.so.3\n",
        dpkg.STATUS_DIR + "base": b"Package: base-files\nStatus: purge ok not-installed\nVersion: 1\n",
        dpkg.STATUS_DIR + "tzdata": TZDATA,
        "usr/lib/x86_64-linux-gnu/libssl.so.3": b"x" * 10,
    }
    packages = _by_name(_catalog([layer]))
    assert sorted(packages) == ["libssl3", "tzdata"]  # the md5sums file is no database
    libssl = packages["libssl3"]
    assert libssl.files == ("usr/lib/x86_64-linux-gnu/libssl.so.3",)
    assert libssl.location == dpkg.STATUS_DIR + "libssl3"
    assert libssl.purl == (
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
    )


def test_status_d_md5sums_with_arch_or_file_name() -> None:
    stanza = b"Package: libc6\nArchitecture: amd64\nVersion: 2.36\n"
    layer = {
        dpkg.STATUS_DIR + "glibc-runtime": stanza,
        dpkg.STATUS_DIR + "glibc-runtime.md5sums": b"ab  usr/lib/libc.so.6\n",
    }
    assert _catalog([layer])[0].files == ("usr/lib/libc.so.6",)
    layer = {dpkg.STATUS_DIR + "libc6": stanza, dpkg.STATUS_DIR + "libc6:amd64.md5sums": b"ab  usr/lib/x\n"}
    assert _catalog([layer])[0].files == ("usr/lib/x",)


def test_layer_added_and_changed_across_three_layers() -> None:
    a1 = b"Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\n"
    a2 = a1.replace(b"1.0", b"2.0")
    b = b"Package: b\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n"
    c = b"Package: c\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n"
    layers: list[dict[str, object]] = [
        {dpkg.STATUS: _status(a1, b)},
        {dpkg.STATUS: _status(a1, b, c)},  # the file is rewritten, a and b are untouched
        {dpkg.STATUS: _status(b, c, a2)},  # a upgraded (and moved within the file)
    ]
    packages = _by_name(_catalog(layers))
    assert (packages["a"].layer_added, packages["a"].layer_changed) == (0, 2)
    assert (packages["b"].layer_added, packages["b"].layer_changed) == (0, 0)
    assert (packages["c"].layer_added, packages["c"].layer_changed) == (1, 1)
    assert packages["a"].version == "2.0"


def test_reinstalled_package_counts_from_the_reinstall_and_status_d_uses_its_file() -> None:
    a = b"Package: a\nArchitecture: all\nVersion: 1\n"
    layers: list[dict[str, object]] = [
        {dpkg.STATUS_DIR + "a": a},
        {dpkg.STATUS_DIR + "a": None},
        {dpkg.STATUS_DIR + "a": a, dpkg.STATUS_DIR + "b": a.replace(b"a\n", b"b\n", 1)},
        {"unrelated": b"x"},
    ]
    packages = _by_name(_catalog(layers))
    assert (packages["a"].layer_added, packages["a"].layer_changed) == (2, 2)
    assert (packages["b"].layer_added, packages["b"].layer_changed) == (2, 2)


def test_without_versions_the_database_files_layers_are_used() -> None:
    contents = make_contents(
        [{dpkg.STATUS: TZDATA}, {dpkg.STATUS: TZDATA + b"Foo: bar\n"}], os_release=DEBIAN_12
    )
    (tzdata,) = dpkg.catalog(dataclasses.replace(contents, versions={}), [])
    assert (tzdata.layer_added, tzdata.layer_changed) == (0, 1)


def test_malformed_stanza_is_reported_and_the_rest_is_listed() -> None:
    bad = b"Package: broken\nthis is not a field\n"
    warnings: list[Warning_] = []
    contents = make_contents(
        [{dpkg.STATUS: _status(bad, b"Version: 1\nStatus: install ok installed\n", TZDATA)}]
    )
    packages = dpkg.catalog(contents, warnings)
    assert [p.name for p in packages] == ["tzdata"]
    assert [w.code for w in warnings] == ["dpkg-stanza-malformed", "dpkg-stanza-malformed"]
    assert warnings[0].message == (
        "var/lib/dpkg/status stanza 1:2: expected 'Field: value', got 'this is not a field'"
    )
    assert (
        warnings[1].message == "var/lib/dpkg/status stanza 2: an installed package needs Package and Version"
    )


def test_namespace_and_distro_come_from_os_release() -> None:
    ubuntu = {"ID": "ubuntu", "ID_LIKE": "debian", "VERSION_ID": "22.04"}
    (pkg,) = _catalog([{dpkg.STATUS: TZDATA}], os_release=ubuntu)
    assert pkg.purl == "pkg:deb/ubuntu/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=ubuntu-22.04"
    (pkg,) = _catalog([{dpkg.STATUS: TZDATA}], os_release={})
    assert pkg.purl == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all"
    sid = b'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\nID=debian\n'
    (pkg,) = _catalog(
        [{dpkg.STATUS: TZDATA, "usr/lib/os-release": sid, "etc/os-release": Link("../usr/lib/os-release")}],
        os_release={},
    )
    assert pkg.purl == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian"


def test_dev_flags_and_copyright_through_a_symlinked_doc_dir() -> None:
    names = ["gcc-12", "gcc-12-base", "libc6-dev", "make", "libssl3", "python3-pytest-cov"]
    stanzas = [
        f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n".encode()
        for n in names
    ]
    dep5 = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+\n"
    layer = {
        dpkg.STATUS: _status(*stanzas),
        "usr/share/doc/gcc-12-base/copyright": dep5,
        "usr/share/doc/gcc-12": Link("gcc-12-base"),
    }
    packages = _by_name(_catalog([layer]))
    assert {n for n, p in packages.items() if p.dev} == {"gcc-12", "libc6-dev", "make", "python3-pytest-cov"}
    assert packages["gcc-12"].licenses == ("GPL-3+",)


DEP5 = b"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: example
Source: https://example.org

Files: *
Copyright: 2000 Someone
License: GPL-2+ with OpenSSL exception

Files: lib/*
License: (LGPL-2.1+ or MPL-1.1), and Expat
 The full text of the LGPL is in /usr/share/common-licenses/LGPL-2.1.

Files: extra/*
License:   BSD-3-clause

Files: none/*
License: none

License: Artistic | GPL-1+
 text
"""


@pytest.mark.parametrize(
    ("text", "licenses"),
    [
        (DEP5, ("Artistic", "BSD-3-clause", "Expat", "GPL-1+", "GPL-2+", "LGPL-2.1+", "MPL-1.1")),
        (b"Format-Specification: http://svn.debian.org/dep5\n\nLicense: MIT.\n", ("MIT",)),
        (
            b"Copyright 2001 X.\nSee /usr/share/common-licenses/GPL-2 and\n/usr/share/common-licenses/GPL.\n",
            ("GPL", "GPL-2"),
        ),
        (b"This package was debianized by X.\nLicense: This is free software.\n", ()),
        (b"", ()),
    ],
)
def test_copyright_licenses(text: bytes, licenses: tuple[str, ...]) -> None:
    assert copyright_licenses(text) == licenses


def test_wanted_paths() -> None:
    yes = [
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/libc6",
        "var/lib/dpkg/status.d/libc6.md5sums",
        "var/lib/dpkg/info/libc6:amd64.list",
        "var/lib/dpkg/info/bash.md5sums",
        "usr/share/doc/bash/copyright",
    ]
    no = [
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/info/bash.postinst",
        "usr/share/doc/bash/changelog.gz",
        "usr/share/doc/bash/examples/copyright",
        "usr/bin/bash",
    ]
    assert [p for p in yes + no if dpkg.wanted(p)] == yes
