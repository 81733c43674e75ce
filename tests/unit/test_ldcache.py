"""ld.so.cache generation, checked byte for byte against the real ldconfig and by the real ld.so."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from dockwright.build.ldcache import (
    CacheEntry,
    build_ld_cache,
    libcmp,
    parse_ld_cache,
    scan_libraries,
    write_ld_cache,
)
from dockwright.errors import InputError
from dockwright.fs.tree import Entry, EntryType, FileTree

MULTIARCH = Path("/usr/lib/x86_64-linux-gnu")
needs_host = pytest.mark.skipif(
    not (MULTIARCH / "libc.so.6").exists() or shutil.which("ldconfig") is None or os.geteuid() != 0,
    reason="needs an amd64 glibc host, ldconfig and root (ldconfig -r)",
)


def load_tree(root: Path) -> FileTree:
    """Copy a directory on disk into a FileTree (symlinks as written)."""
    tree = FileTree()
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            tree.add(Entry(path=rel, type=EntryType.SYMLINK, target=os.readlink(path)))
        elif stat.S_ISDIR(mode):
            tree.add(Entry(path=rel, type=EntryType.DIR, mode=0o755))
        else:
            tree.add(Entry(path=rel, type=EntryType.FILE, mode=stat.S_IMODE(mode), data=path.read_bytes()))
    return tree


def materialize(tree: FileTree, root: Path) -> None:
    """Write a FileTree to disk (test helper for chroot checks)."""
    for entry in tree.entries():
        target = root / entry.path
        if entry.type is EntryType.DIR:
            target.mkdir(exist_ok=True)
            target.chmod(entry.mode)
        elif entry.type is EntryType.SYMLINK:
            target.symlink_to(entry.target)
        elif entry.type is EntryType.FILE:
            target.write_bytes(entry.data)
            target.chmod(entry.mode)


def _host_lib(name: str) -> bytes:
    return (MULTIARCH / name).resolve().read_bytes()


def make_root(root: Path) -> None:
    """A merged-/usr root with real host libraries and the awkward cases ldconfig handles."""
    lib = root / "usr/lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (root / "usr/lib64").mkdir()
    (root / "etc/ld.so.conf.d").mkdir(parents=True)
    (root / "opt/extra").mkdir(parents=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        (root / "usr" / link).mkdir(exist_ok=True)
        (root / link).symlink_to(f"usr/{link}")
    for name in ("libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"):
        (lib / name).write_bytes(_host_lib(name))
        (lib / name).chmod(0o755)
    (root / "usr/lib64/ld-linux-x86-64.so.2").symlink_to("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    (lib / "libz.so.1.2.13").write_bytes(_host_lib("libz.so.1"))  # no libz.so.1 link: ldconfig adds it
    (lib / "libz.so").symlink_to("libz.so.1.2.13")  # a dev link: cached under its own name
    (lib / "libgone.so.3").symlink_to("libgone.so.3.0")  # dangling
    (lib / "libc.so").write_text("/* GNU ld script */\nGROUP ( libc.so.6 )\n")
    (lib / "libnotelf.so.1").write_text("not an ELF file")
    (lib / "README.so.txt").write_text("not a library name")
    (root / "usr/lib/libzz.so.1").write_bytes(_host_lib("libz.so.1"))  # SONAME libz.so.1, other name
    (root / "opt/extra/libm.so.6").write_bytes(_host_lib("libm.so.6"))
    (root / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    (root / "etc/ld.so.conf.d/extra.conf").write_text("# extra\n/opt/extra/\n/does/not/exist\n")
    (root / "etc/ld.so.conf.d/multiarch.conf").write_text(
        "/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n"
    )


def _symlinks(tree: FileTree) -> dict[str, str]:
    return {e.path: e.target for e in tree.entries() if e.type is EntryType.SYMLINK}


@needs_host
def test_byte_identical_to_ldconfig(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_root(root)
    tree = load_tree(root)
    subprocess.run(["ldconfig", "-r", str(root)], check=True, capture_output=True)
    real = (root / "etc/ld.so.cache").read_bytes()
    real_entries, generator = parse_ld_cache(real)
    assert generator.startswith("ldconfig")
    entries = write_ld_cache(tree, generator=generator)
    cache = tree.get("etc/ld.so.cache")
    assert cache is not None and cache.data == real
    assert entries == real_entries
    # The same SONAME links were created; unlike ldconfig, the package's dangling link stays.
    gone = "usr/lib/x86_64-linux-gnu/libgone.so.3"
    assert _symlinks(tree) == {**_symlinks(load_tree(root)), gone: "libgone.so.3.0"}
    keys = [(e.key, e.value) for e in entries]
    assert ("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1") in keys
    assert ("libz.so", "/lib/x86_64-linux-gnu/libz.so") in keys
    assert ("libm.so.6", "/opt/extra/libm.so.6") in keys
    assert not any("libnotelf" in k or "libgone" in k or k == "libc.so" for k, _ in keys)


@needs_host
def test_without_ld_so_conf_the_debian_default_is_used(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_root(root)
    (root / "etc/ld.so.conf").unlink()
    tree = load_tree(root)
    values = {e.value for e in scan_libraries(tree)}
    assert "/opt/extra/libm.so.6" in values  # conf.d is read even though libc-bin is absent
    (root / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    subprocess.run(["ldconfig", "-r", str(root)], check=True, capture_output=True)
    real, _ = parse_ld_cache((root / "etc/ld.so.cache").read_bytes())
    assert scan_libraries(tree) == real


@needs_host
def test_glibc_reads_the_cache_and_ld_so_uses_it(tmp_path: Path) -> None:
    """The real loader, chrooted into a materialized tree, finds a library only the cache names."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build a test program")
    build = tmp_path / "build"
    build.mkdir()
    (build / "dw.c").write_text("int dw_answer(void) { return 42; }\n")
    (build / "main.c").write_text(
        "int dw_answer(void);\nint main(void) { return dw_answer() == 42 ? 7 : 1; }\n"
    )
    gcc = ["gcc", "-O0", "-o"]
    subprocess.run(
        [*gcc, str(build / "libdw.so.1"), "-shared", "-fPIC", "-Wl,-soname,libdw.so.1", str(build / "dw.c")],
        check=True,
    )
    subprocess.run([*gcc, str(build / "main"), str(build / "main.c"), str(build / "libdw.so.1")], check=True)
    root = tmp_path / "root"
    make_root(root)
    (root / "opt/extra/libdw.so.1").write_bytes((build / "libdw.so.1").read_bytes())
    (root / "usr/bin/main").write_bytes((build / "main").read_bytes())
    (root / "usr/bin/main").chmod(0o755)
    tree = load_tree(root)
    write_ld_cache(tree)
    listing = subprocess.run(
        ["ldconfig", "-p", "-C", str(root / "etc/ld.so.cache")], capture_output=True, text=True, check=False
    )
    assert listing.returncode != 0  # nothing written to disk yet: ldconfig cannot read it
    out = tmp_path / "out"
    out.mkdir()
    materialize(tree, out)
    listing = subprocess.run(
        ["ldconfig", "-p", "-C", str(out / "etc/ld.so.cache")], capture_output=True, text=True, check=True
    )
    assert "libdw.so.1 (libc6,x86-64) => /opt/extra/libdw.so.1" in listing.stdout
    assert "Cache generated by: dockwright" in listing.stdout
    run = subprocess.run(["chroot", str(out), "/usr/bin/main"], check=False)
    assert run.returncode == 7
    (out / "etc/ld.so.cache").unlink()
    assert (
        subprocess.run(["chroot", str(out), "/usr/bin/main"], check=False, capture_output=True).returncode
        == 127
    )


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("libc.so.6", "libc.so.6", 0),
        ("libz.so.10", "libz.so.9", 1),
        ("libz.so.1", "libz.so.1.2", -1),
        ("liba.so", "libb.so", -1),
        ("lib1.so", "liba.so", 1),  # digits sort after letters
        ("libx.so.02", "libx.so.2", 0),  # numerically equal
    ],
)
def test_libcmp(a: str, b: str, sign: int) -> None:
    result = libcmp(a, b)
    assert (result > 0) - (result < 0) == sign


def test_string_table_shares_tails_and_roundtrips() -> None:
    entries = [
        CacheEntry(0x303, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"),
        CacheEntry(0x303, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"),
    ]
    data = build_ld_cache(entries, generator="test")
    assert data.startswith(b"glibc-ld.so.cache1.1")
    assert data.count(b"libz.so.1\0") == 1  # the key is the value's tail
    assert parse_ld_cache(data) == (entries, "test")


def test_empty_tree_and_unknown_architecture() -> None:
    assert scan_libraries(FileTree()) == []
    with pytest.raises(InputError, match=r"^no ld\.so\.cache support for architecture 's390x'$"):
        scan_libraries(FileTree(), arch="s390x")
    with pytest.raises(ValueError, match=r"not a glibc-ld\.so\.cache1\.1 file"):
        parse_ld_cache(b"ld.so-1.7.0")


def test_truncated_elf_is_skipped() -> None:
    tree = FileTree()
    elf = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x03\x00\x3e\x00" + bytes(44)
    tree.add(Entry(path="usr/lib/libbroken.so.1", type=EntryType.FILE, data=elf + b"\xff" * 64))
    assert scan_libraries(tree) == []
