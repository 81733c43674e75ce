"""Assembling a root filesystem from .debs: layout, order, conflicts and the generated files."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockwright.build.accounts import Accounts, UserSpec
from dockwright.build.assemble import assemble, relation_names
from dockwright.build.ldcache import parse_ld_cache
from dockwright.errors import BuildConflictError, InputError, UnsafeArchiveError
from dockwright.fs.tree import EntryType, FileTree
from tests.unit.test_deb import build_deb, craft_deb, member
from tests.unit.test_ldcache import materialize


def test_relation_names() -> None:
    assert relation_names("foo (<< 1.2), bar:any | baz,  qux(>=1)") == ["foo", "bar", "baz", "qux"]
    assert relation_names("") == []


def test_layout_packages_and_generated_files(tmp_path: Path) -> None:
    libfoo = build_deb(
        tmp_path,
        "libfoo1",
        {
            "lib/x86_64-linux-gnu/libfoo.so.1": b"not really ELF",
            "usr/share/doc/libfoo1/copyright": b"MIT",
            "usr/share/doc/libfoo1/changelog.gz": b"log",
        },
    )
    app = build_deb(tmp_path, "app", {"bin/app": b"#!/bin/sh\n"}, extra="Depends: libfoo1\n")
    tree = assemble(
        [("libfoo1", libfoo), ("app", app)],
        accounts=Accounts(users=(UserSpec(name="app", uid=10001, gid=10001),), run_as="app"),
        strip=["docs"],
    )
    for link, target in {
        "bin": "usr/bin",
        "sbin": "usr/sbin",
        "lib": "usr/lib",
        "lib64": "usr/lib64",
    }.items():
        entry = tree.get(link)
        assert entry is not None and (entry.type, entry.target, entry.origin) == (
            EntryType.SYMLINK,
            target,
            "dockwright",
        )
    lib = tree.get("usr/lib/x86_64-linux-gnu/libfoo.so.1")
    assert lib is not None and lib.origin == "libfoo1"
    assert tree.get("usr/bin/app") is not None
    assert tree.get("usr/share/doc/libfoo1/copyright") is not None
    assert tree.get("usr/share/doc/libfoo1/changelog.gz") is None
    for name in ("app", "libfoo1"):
        status = tree.get(f"var/lib/dpkg/status.d/{name}")
        assert status is not None and status.data.startswith(
            f"Package: {name}\nStatus: install ok installed\n".encode()
        )
        assert tree.get(f"var/lib/dpkg/status.d/{name}.md5sums") is not None
    assert tree.get("etc/ld.so.cache") is None  # no ELF library, no cache
    assert tree.get("etc/ssl/certs/ca-certificates.crt") is None
    passwd = tree.get("etc/passwd")
    assert passwd is not None and b"app:x:10001:10001:app:/home/app:/usr/sbin/nologin\n" in passwd.data
    tmp = tree.get("tmp")
    assert tmp is not None and tmp.mode == 0o1777
    origins = {e.origin for e in tree.entries()}
    assert origins == {"dockwright", "app", "libfoo1"}


def test_conflict_names_path_and_both_packages(tmp_path: Path) -> None:
    one = build_deb(tmp_path, "one", {"etc/shared.conf": b"one"})
    two = build_deb(tmp_path, "two", {"etc/shared.conf": b"two"})
    with pytest.raises(BuildConflictError) as err:
        assemble([("two", two), ("one", one)])
    assert err.value.message == "/etc/shared.conf is shipped by both one and two with different content"
    assert err.value.origins == ("one", "two")


@pytest.mark.parametrize("replacer", ["aaa-new", "zzz-new"])
def test_replaces_wins_whatever_the_order(tmp_path: Path, replacer: str) -> None:
    old = build_deb(
        tmp_path, "mmm-old", {"usr/bin/tool": b"old", "usr/bin/other": b"o"}, extra="Provides: tool-virtual\n"
    )
    new = build_deb(tmp_path, replacer, {"usr/bin/tool": b"new"}, extra="Replaces: tool-virtual (<< 2)\n")
    tree = assemble([("mmm-old", old), (replacer, new)])
    tool = tree.get("usr/bin/tool")
    assert tool is not None and (tool.data, tool.origin) == (b"new", replacer)


def test_identical_shared_files_are_fine(tmp_path: Path) -> None:
    one = build_deb(tmp_path, "one", {"usr/share/common/x": b"same"})
    two = build_deb(tmp_path, "two", {"usr/share/common/x": b"same"})
    tree = assemble([("one", one), ("two", two)])
    entry = tree.get("usr/share/common/x")
    assert entry is not None and entry.origin == "one"


def test_mismatched_and_duplicate_names(tmp_path: Path) -> None:
    deb = build_deb(tmp_path, "real", {"x": b"x"})
    with pytest.raises(UnsafeArchiveError) as err:
        assemble([("claimed", deb)])
    assert (
        err.value.message
        == f"claimed: refusing member control: the file {deb.name} holds package real, not claimed"
    )
    with pytest.raises(InputError, match=r"^package real is listed twice$"):
        assemble([("real", deb), ("real", deb)])


def test_hostile_package_stops_the_build(tmp_path: Path) -> None:
    deb = craft_deb(
        tmp_path / "evil.deb", [member("./etc/", kind=tarfile.DIRTYPE), member("../../etc/cron.d/x", b"x")]
    )
    with pytest.raises(
        UnsafeArchiveError, match=r"^evil: refusing member \.\./\.\./etc/cron\.d/x: path contains '\.\.'$"
    ):
        assemble([("evil", deb)])


def test_without_merged_usr(tmp_path: Path) -> None:
    deb = build_deb(tmp_path, "pp", {"bin/x": b"x"})
    tree = assemble([("pp", deb)], merged_usr=False, arch="arm64")
    entry = tree.get("bin")
    assert entry is not None and entry.type is EntryType.DIR
    assert tree.get("lib64") is None


# ------------------------------------------------------------------------------------- real packages

REAL = ["base-files", "ca-certificates", "libc6", "zlib1g"]


@pytest.fixture(scope="module")
def real_debs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    where = tmp_path_factory.mktemp("debs")
    done = subprocess.run(
        ["apt-get", "download", *REAL], cwd=where, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"apt-get download failed: {done.stderr.strip()[-300:]}")
    return [(name, next(where.glob(f"{name}_*.deb"))) for name in REAL]


def _ldconfig_entries(root: Path) -> list[tuple[int, str, str]]:
    (root / "etc/ld.so.cache").unlink()
    (root / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    subprocess.run(["ldconfig", "-r", str(root)], check=True, capture_output=True)
    entries, _ = parse_ld_cache((root / "etc/ld.so.cache").read_bytes())
    return [(e.flags, e.key, e.value) for e in entries]


@pytest.mark.integration
def test_real_packages(tmp_path: Path, real_debs: list[tuple[str, Path]]) -> None:
    tree: FileTree = assemble(real_debs, strip=["docs", "man", "locales"])
    for name in REAL:
        assert tree.get(f"var/lib/dpkg/status.d/{name}") is not None
        assert tree.get(f"var/lib/dpkg/status.d/{name}.md5sums") is not None
    os_release = tree.get("etc/os-release")
    assert os_release is not None and os_release.type is EntryType.SYMLINK

    cache = tree.get("etc/ld.so.cache")
    assert cache is not None
    entries, generator = parse_ld_cache(cache.data)
    assert generator == "dockwright"
    keys = {e.key: e.value for e in entries}
    assert keys["libc.so.6"] == "/lib/x86_64-linux-gnu/libc.so.6"
    assert keys["libz.so.1"] == "/lib/x86_64-linux-gnu/libz.so.1"

    bundle = tree.get("etc/ssl/certs/ca-certificates.crt")
    assert bundle is not None
    crts = [
        e
        for e in tree.entries()
        if e.path.startswith("usr/share/ca-certificates/") and e.path.endswith(".crt")
    ]
    assert bundle.data.count(b"-----BEGIN CERTIFICATE-----") == len(crts) > 100

    if os.geteuid() != 0 or shutil.which("ldconfig") is None:
        return
    root = tmp_path / "root"
    root.mkdir()
    materialize(tree, root)
    assert _ldconfig_entries(root) == [(e.flags, e.key, e.value) for e in entries]
    if shutil.which("update-ca-certificates") is None:
        return
    certs = root / "etc/ssl/certs"
    shutil.rmtree(certs)
    certs.mkdir()
    args = [
        "--certsconf",
        root / "etc/ca-certificates.conf",
        "--certsdir",
        root / "usr/share/ca-certificates",
    ]
    args += [
        "--localcertsdir",
        root / "usr/local/share/ca-certificates",
        "--etccertsdir",
        certs,
        "--hooksdir",
        "",
    ]
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(["update-ca-certificates", *map(str, args)], check=True, capture_output=True, env=env)
    assert (certs / "ca-certificates.crt").read_bytes() == bundle.data
