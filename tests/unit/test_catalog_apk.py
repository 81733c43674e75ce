"""The apk cataloger: a handwritten lib/apk/db/installed."""

from __future__ import annotations

from dockwright.inspect.catalog import apk
from dockwright.inspect.model import Warning_
from tests.unit.catalog_support import DIR, make_contents

ALPINE = {"ID": "alpine", "VERSION_ID": "3.19.1", "NAME": "Alpine Linux"}

MUSL = b"""C:Q1xbIVN4zHX9rHt2ofWSS2ELFaDZY=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407125
I:667648
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teras <timo.teras@iki.fi>
t:1700000000
c:3ae3a1f8bd0e10e3e7a56e2d7b5ed2f1f9a1f5e2
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1rcXuPn+cdvUiy7JmdB0Lq3Kr6uQ=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=
"""
LIBCRYPTO = b"""P:libcrypto3
V:3.1.4-r5
A:x86_64
I:4390912
L:Apache-2.0
o:openssl
F:usr/lib
R:libcrypto.so.3
"""
OLD_STYLE = b"""P:busybox
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only GPL-2.0-or-later
o:busybox
R:toplevel-file
"""


def test_packages_files_and_syft_purls() -> None:
    layer = {
        apk.INSTALLED: MUSL + b"\n" + LIBCRYPTO + b"\n" + OLD_STYLE,
        "lib": DIR,
        "lib/ld-musl-x86_64.so.1": b"x" * 100,
        "usr/lib/libcrypto.so.3": b"y" * 10,
    }
    warnings: list[Warning_] = []
    packages = {p.name: p for p in apk.catalog(make_contents([layer], os_release=ALPINE), warnings)}
    assert warnings == []
    musl, crypto, busybox = packages["musl"], packages["libcrypto3"], packages["busybox"]
    # syft v1.18.1 syft/pkg/cataloger/alpine/package.go packageURL: namespace lower(ID), arch, distro,
    # upstream=<origin> only when the origin differs from the name; qualifiers sorted.
    assert musl.purl == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
    assert (
        crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
    )
    assert musl.files == ("lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1")
    assert (musl.size, musl.metadata, musl.licenses, musl.source) == (
        667648,
        {"size_from": "installed-size"},
        ("MIT",),
        "musl",
    )
    assert crypto.source == "openssl"
    assert busybox.licenses == ("GPL-2.0-only", "GPL-2.0-or-later")  # old style: split on spaces
    assert busybox.files == ("toplevel-file",)
    assert (busybox.size, busybox.metadata["size_from"]) == (0, "files")
    assert musl.location == apk.INSTALLED and musl.type == "apk"


def test_spdx_expressions_stay_whole_and_wolfi_is_its_own_namespace() -> None:
    pkg = b"P:glibc\nV:2.39-r1\nA:x86_64\nL:LGPL-2.1-or-later AND GPL-2.0-or-later\no:glibc\n"
    contents = make_contents([{apk.INSTALLED: pkg}], os_release={"ID": "wolfi", "VERSION_ID": "20230201"})
    (glibc,) = apk.catalog(contents, [])
    assert glibc.licenses == ("LGPL-2.1-or-later AND GPL-2.0-or-later",)
    assert glibc.purl == "pkg:apk/wolfi/glibc@2.39-r1?arch=x86_64&distro=wolfi-20230201"
    (glibc,) = apk.catalog(make_contents([{apk.INSTALLED: pkg}]), [])
    assert glibc.purl == "pkg:apk/alpine/glibc@2.39-r1?arch=x86_64"


def test_layers() -> None:
    v1 = MUSL
    v2 = MUSL.replace(b"r4", b"r5")
    layers = [
        {apk.INSTALLED: v1},
        {apk.INSTALLED: v1 + b"\n" + LIBCRYPTO},
        {apk.INSTALLED: v2 + b"\n" + LIBCRYPTO},
    ]
    packages = {p.name: p for p in apk.catalog(make_contents(layers, os_release=ALPINE), [])}
    assert (packages["musl"].layer_added, packages["musl"].layer_changed) == (0, 2)
    assert (packages["libcrypto3"].layer_added, packages["libcrypto3"].layer_changed) == (1, 1)


def test_malformed_stanzas_are_reported() -> None:
    data = b"P:nover\nA:x86_64\n\ngarbage line\nP:ok\nV:1\n"
    warnings: list[Warning_] = []
    packages = apk.catalog(make_contents([{apk.INSTALLED: data}]), warnings)
    assert [p.name for p in packages] == ["ok"]
    assert [(w.code, w.message) for w in warnings] == [
        (
            "apk-stanza-malformed",
            "lib/apk/db/installed: stanza at line 1 has no P: (name) or V: (version); skipped",
        ),
        (
            "apk-line-malformed",
            "lib/apk/db/installed: stanza at line 4: not a 'K:value' line: 'garbage line'",
        ),
    ]


def test_wanted() -> None:
    assert apk.wanted("lib/apk/db/installed")
    assert not apk.wanted("lib/apk/db/scripts.tar")
