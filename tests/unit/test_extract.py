"""Unpacking .debs into a FileTree: placement, owners, filters, conflicts and hostile archives."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest

from dockwright.build.extract import ExtractLimits, extract_deb
from dockwright.build.strip import PathFilter
from dockwright.errors import BuildConflictError, SpecError, UnsafeArchiveError
from dockwright.fs.tree import Entry, EntryType, FileTree
from tests.unit.test_deb import build_deb, craft_deb, member


def merged_tree() -> FileTree:
    tree = FileTree()
    for d in ("usr/bin", "usr/lib", "usr/sbin"):
        tree.add(Entry(path=d, type=EntryType.DIR, mode=0o755, origin="dockwright"))
    for link in ("bin", "lib", "sbin"):
        tree.add(Entry(path=link, type=EntryType.SYMLINK, target=f"usr/{link}", origin="dockwright"))
    return tree


def test_real_deb_lands_in_tree_with_modes_and_owners(tmp_path: Path) -> None:
    deb = build_deb(
        tmp_path,
        "tool",
        {
            "bin/tool": b"\x7fELF tool",
            "lib/x86_64-linux-gnu/libtool.so.1.0": b"lib",
            "lib/x86_64-linux-gnu/libtool.so.1": ("symlink", "libtool.so.1.0"),
            "etc/alt": ("symlink", "/etc/tool.conf"),
        },
        modes={"bin/tool": 0o4755},
    )
    tree = merged_tree()
    installed = extract_deb(deb, tree, package="tool")
    assert sorted(installed) == [
        "bin",
        "bin/tool",
        "etc",
        "etc/alt",
        "lib",
        "lib/x86_64-linux-gnu",
        "lib/x86_64-linux-gnu/libtool.so.1",
        "lib/x86_64-linux-gnu/libtool.so.1.0",
    ]
    tool = tree.get("usr/bin/tool")
    assert tool is not None
    assert (tool.type, tool.mode, tool.uid, tool.uname, tool.origin) == (
        EntryType.FILE,
        0o4755,
        0,
        "root",
        "tool",
    )
    assert tree.get("bin") == Entry(path="bin", type=EntryType.SYMLINK, target="usr/bin", origin="dockwright")
    link = tree.get("usr/lib/x86_64-linux-gnu/libtool.so.1")
    assert link is not None and link.target == "libtool.so.1.0"
    alt = tree.get("etc/alt")
    assert alt is not None and alt.target == "/etc/tool.conf"  # absolute links are stored as written


def test_owners_and_hardlinks_come_from_tar_headers(tmp_path: Path) -> None:
    deb = craft_deb(
        tmp_path / "o.deb",
        [
            member("./", kind=tarfile.DIRTYPE, mode=0o755),
            member("./srv/", kind=tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1001, uname="app", gname="grp"),
            member("./srv/data", b"payload", mode=0o640, uid=1000, gid=1001, uname="app", gname="grp"),
            member("./srv/again", kind=tarfile.LNKTYPE, link="./srv/data"),
        ],
    )
    tree = FileTree()
    extract_deb(deb, tree, package="evil")
    srv = tree.get("srv")
    data = tree.get("srv/data")
    again = tree.get("srv/again")
    assert srv is not None and (srv.mode, srv.uid, srv.gid, srv.uname, srv.gname) == (
        0o750,
        1000,
        1001,
        "app",
        "grp",
    )
    assert data is not None and (data.data, data.mode, data.uid) == (b"payload", 0o640, 1000)
    assert again is not None and (again.type, again.target) == (EntryType.HARDLINK, "srv/data")
    assert tree.total_size() == len(b"payload")


# ------------------------------------------------------------------------------------- hostile archives

HOSTILE = [
    (
        "dotdot",
        [member("../etc/passwd", b"root::0:0::/:/bin/sh\n")],
        "refusing member ../etc/passwd: path contains '..'",
    ),
    ("inner-dotdot", [member("./usr/../../x", b"x")], "refusing member ./usr/../../x: path contains '..'"),
    ("absolute", [member("/abs", b"x")], "refusing member /abs: absolute path"),
    (
        "symlink-parent",
        [member("./x", kind=tarfile.SYMTYPE, link="/etc"), member("./x/passwd", b"pwned")],
        "refusing member ./x/passwd: its parent /x is a symbolic link from the same package",
    ),
    (
        "relative-symlink-parent",
        [member("./d", kind=tarfile.SYMTYPE, link="../../../../tmp"), member("./d/f", b"pwned")],
        "refusing member ./d/f: its parent /d is a symbolic link from the same package",
    ),
    (
        "hardlink-escape",
        [member("./h", kind=tarfile.LNKTYPE, link="../../outside")],
        "refusing member ./h: hard link to ../../outside escapes the package",
    ),
    (
        "hardlink-absolute",
        [member("./h", kind=tarfile.LNKTYPE, link="/etc/shadow")],
        "refusing member ./h: hard link to /etc/shadow escapes the package",
    ),
    (
        "hardlink-to-unknown",
        [member("./h", kind=tarfile.LNKTYPE, link="./etc/passwd")],
        "refusing member ./h: hard link to ./etc/passwd, which is not an earlier regular file of this package",
    ),
    (
        "hardlink-to-symlink",
        [
            member("./s", kind=tarfile.SYMTYPE, link="/etc/passwd"),
            member("./h", kind=tarfile.LNKTYPE, link="./s"),
        ],
        "refusing member ./h: hard link to ./s, which is not an earlier regular file of this package",
    ),
    (
        "chardev",
        [member("./dev/null", kind=tarfile.CHRTYPE)],
        "refusing member ./dev/null: character devices are not allowed",
    ),
    (
        "blockdev",
        [member("./dev/sda", kind=tarfile.BLKTYPE)],
        "refusing member ./dev/sda: block devices are not allowed",
    ),
    (
        "fifo",
        [member("./run/fifo", kind=tarfile.FIFOTYPE)],
        "refusing member ./run/fifo: fifos are not allowed",
    ),
    (
        "empty-symlink",
        [member("./s", kind=tarfile.SYMTYPE, link="")],
        "refusing member ./s: symbolic link with an empty target",
    ),
]


def _host_snapshot(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("case", "members", "message"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_members_are_refused(
    tmp_path: Path, case: str, members: list[tuple[tarfile.TarInfo, bytes]], message: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    deb = craft_deb(work / f"{case}.deb", [member("./etc/", kind=tarfile.DIRTYPE), *members])
    before = _host_snapshot(tmp_path)
    passwd = Path("/etc/passwd").read_bytes()
    tree = FileTree()
    with pytest.raises(UnsafeArchiveError) as err:
        extract_deb(deb, tree, package="evil")
    assert err.value.message == f"evil: {message}"
    assert err.value.exit_code == 6
    assert _host_snapshot(tmp_path) == before
    assert Path("/etc/passwd").read_bytes() == passwd
    assert not list(tmp_path.parent.glob("outside*"))
    for entry in tree.entries():
        assert not entry.path.startswith("/") and ".." not in entry.path.split("/")
        assert entry.path not in ("etc/passwd", "etc/shadow", "tmp/f")


def test_bomb_is_refused_before_it_inflates(tmp_path: Path) -> None:
    deb = craft_deb(tmp_path / "b.deb", [member("./zeros", bytes(4 << 20))])
    tree = FileTree()
    with pytest.raises(UnsafeArchiveError) as err:
        extract_deb(deb, tree, package="evil", limits=ExtractLimits(max_total_size=1 << 20))
    assert (
        err.value.message
        == "evil: refusing member ./zeros: data.tar.xz decompresses to more than 1048576 bytes"
    )
    assert tree.get("zeros") is None


def test_foreign_symlinks_are_followed_chroot_style(tmp_path: Path) -> None:
    """Another origin's link (merged-/usr) is followed; the package's own link is not."""
    tree = merged_tree()
    tree.add(Entry(path="opt/app", type=EntryType.SYMLINK, target="/srv/app", origin="other"))
    tree.add(Entry(path="srv/app", type=EntryType.DIR, origin="other"))
    deb = craft_deb(tmp_path / "f.deb", [member("./opt/app/x", b"x"), member("./sbin/tool", b"t")])
    extract_deb(deb, tree, package="evil")
    assert tree.get("srv/app/x") is not None
    assert tree.get("usr/sbin/tool") is not None


def test_hardlink_to_stripped_file_keeps_content(tmp_path: Path) -> None:
    deb = craft_deb(
        tmp_path / "s.deb",
        [
            member("./usr/share/doc/p/README", b"docs"),
            member("./usr/bin/readme", kind=tarfile.LNKTYPE, link="./usr/share/doc/p/README"),
        ],
    )
    tree = FileTree()
    installed = extract_deb(deb, tree, package="p", exclude=PathFilter.from_names(["docs"]))
    assert installed == ["usr/bin/readme"]
    readme = tree.get("usr/bin/readme")
    assert readme is not None and (readme.type, readme.data) == (EntryType.FILE, b"docs")


# ----------------------------------------------------------------------------------------------- strip


@pytest.mark.parametrize(
    ("names", "path", "is_dir", "excluded"),
    [
        (["docs"], "./usr/share/doc/bash/changelog.gz", False, True),
        (["docs"], "./usr/share/doc/bash/copyright", False, False),
        (["docs"], "./usr/share/doc/bash", True, False),
        (["docs"], "./usr/share/doc/bash/examples", True, False),  # a copyright could be below
        (["docs"], "./usr/share/doc", True, False),
        (["docs"], "./usr/share/doc-base/bash", False, False),
        (["man"], "./usr/share/man/man1/ls.1.gz", False, True),
        (["man"], "./usr/share/man/man1", True, True),
        (["man"], "./usr/share/info/dir", False, True),
        (["locales"], "./usr/share/locale/de/LC_MESSAGES/x.mo", False, True),
        (["locales"], "./usr/share/locale/locale.alias", False, False),
        (["locales"], "./usr/lib/locale/C.utf8/LC_CTYPE", False, False),
        (["docs", "man", "locales"], "./usr/bin/ls", False, False),
        ([], "./usr/share/doc/bash/changelog.gz", False, False),
    ],
)
def test_strip_presets(names: list[str], path: str, is_dir: bool, excluded: bool) -> None:
    assert PathFilter.from_names(names).excludes(path, is_dir=is_dir) is excluded


def test_strip_unknown_name() -> None:
    with pytest.raises(SpecError) as err:
        PathFilter.from_names(["docs", "tests"])
    assert err.value.message == "unknown strip option 'tests'; expected one of: docs, locales, man"


def test_strip_applies_during_extract(tmp_path: Path) -> None:
    deb = build_deb(
        tmp_path,
        "bash",
        {
            "usr/share/doc/bash/copyright": b"GPL",
            "usr/share/doc/bash/NEWS.gz": b"news",
            "usr/share/man/man1/bash.1.gz": b"man",
            "usr/bin/bash": b"elf",
        },
    )
    tree = FileTree()
    installed = extract_deb(deb, tree, package="bash", exclude=PathFilter.from_names(["docs", "man"]))
    assert "usr/share/doc/bash/copyright" in installed
    assert "usr/share/doc/bash/NEWS.gz" not in installed
    assert tree.get("usr/share/doc/bash/copyright") is not None
    assert tree.get("usr/share/doc/bash/NEWS.gz") is None
    assert tree.get("usr/share/man/man1") is None
    assert tree.get("usr/share/man") is not None  # /usr/share/man itself is not matched by /usr/share/man/*


# ------------------------------------------------------------------------------------------- conflicts


def test_conflicting_content_names_both_packages(tmp_path: Path) -> None:
    tree = FileTree()
    extract_deb(build_deb(tmp_path, "one", {"etc/x.conf": b"1"}), tree, package="one")
    with pytest.raises(BuildConflictError) as err:
        extract_deb(build_deb(tmp_path, "two", {"etc/x.conf": b"2"}), tree, package="two")
    assert err.value.message == "/etc/x.conf is shipped by both one and two with different content"
    assert (err.value.path, err.value.origins) == ("/etc/x.conf", ("one", "two"))


def test_identical_content_and_replaces(tmp_path: Path) -> None:
    tree = FileTree()
    extract_deb(build_deb(tmp_path, "one", {"etc/same": b"s", "etc/x": b"1"}), tree, package="one")
    extract_deb(build_deb(tmp_path, "two", {"etc/same": b"s"}), tree, package="two")
    same = tree.get("etc/same")
    assert same is not None and same.origin == "one"
    extract_deb(build_deb(tmp_path, "three", {"etc/x": b"3"}), tree, package="three", replaces={"one"})
    x = tree.get("etc/x")
    assert x is not None and (x.data, x.origin) == (b"3", "three")
    extract_deb(build_deb(tmp_path, "zero", {"etc/x": b"0"}), tree, package="zero", replaced_by={"three"})
    x = tree.get("etc/x")
    assert x is not None and (x.data, x.origin) == (b"3", "three")


def test_file_over_directory_is_a_conflict(tmp_path: Path) -> None:
    tree = FileTree()
    extract_deb(build_deb(tmp_path, "one", {"opt/d/f": b"1"}), tree, package="one")
    deb = craft_deb(tmp_path / "two.deb", [member("./opt/d", b"file")])
    with pytest.raises(
        BuildConflictError, match=r"^/opt/d is shipped by both one and evil with different content$"
    ):
        extract_deb(deb, tree, package="evil", replaces={"one"})
    assert tree.get("opt/d/f") is not None


def test_tree_refusals_name_the_package_and_member(tmp_path: Path) -> None:
    deb = craft_deb(tmp_path / "f.deb", [member("./a", b"file"), member("./a/b", b"below a file")])
    with pytest.raises(UnsafeArchiveError) as err:
        extract_deb(deb, FileTree(), package="evil")
    assert err.value.message == "evil: refusing member ./a/b: /a is a file, not a directory"
    tree = FileTree()
    tree.add(Entry(path="x", type=EntryType.SYMLINK, target="y", origin="other"))
    tree.add(Entry(path="y", type=EntryType.SYMLINK, target="x", origin="other"))
    loop = craft_deb(tmp_path / "l.deb", [member("./x/f", b"f")])
    with pytest.raises(UnsafeArchiveError) as err:
        extract_deb(loop, tree, package="evil")
    assert err.value.message == "evil: refusing member ./x/f: too many levels of symbolic links resolving /x"
