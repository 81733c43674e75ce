"""passwd, group, nsswitch.conf, home directories and /tmp."""

from __future__ import annotations

import pytest

from dockwright.build.accounts import NSSWITCH, Accounts, GroupSpec, UserSpec, write_accounts
from dockwright.errors import SpecError
from dockwright.fs.tree import Entry, EntryType, FileTree


def _text(tree: FileTree, path: str) -> str:
    entry = tree.get(path)
    assert entry is not None and entry.type is EntryType.FILE
    assert (entry.mode, entry.uid, entry.gid, entry.origin) == (0o644, 0, 0, "dockwright")
    return entry.data.decode()


def test_defaults_like_distroless() -> None:
    tree = FileTree()
    write_accounts(tree, Accounts())
    assert _text(tree, "etc/passwd") == (
        "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    assert _text(tree, "etc/group") == "root:x:0:\ntty:x:5:\nnobody:x:65534:\n"
    assert _text(tree, "etc/nsswitch.conf") == NSSWITCH
    assert tree.get("etc/shadow") is None
    tmp = tree.get("tmp")
    assert tmp is not None and (tmp.type, tmp.mode) == (EntryType.DIR, 0o1777)
    root_home = tree.get("root")
    assert root_home is not None and root_home.mode == 0o700
    assert tree.get("nonexistent") is None


def test_spec_users_groups_and_homes() -> None:
    accounts = Accounts(
        users=(
            UserSpec(name="app", uid=65532, gid=65532),
            UserSpec(name="web", uid=1000, gid=2000, home="/srv/web", shell="/bin/sh"),
        ),
        groups=(GroupSpec(name="www", gid=2000),),
        run_as="app",
    )
    tree = FileTree()
    write_accounts(tree, accounts)
    assert _text(tree, "etc/passwd").splitlines() == [
        "root:x:0:0:root:/root:/usr/sbin/nologin",
        "web:x:1000:2000:web:/srv/web:/bin/sh",
        "app:x:65532:65532:app:/home/app:/usr/sbin/nologin",
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    ]
    assert _text(tree, "etc/group").splitlines() == [
        "root:x:0:",
        "tty:x:5:",
        "www:x:2000:",
        "app:x:65532:",
        "nobody:x:65534:",
    ]
    home = tree.get("home/app")
    assert home is not None and (home.uid, home.gid, home.uname, home.gname, home.mode) == (
        65532,
        65532,
        "app",
        "app",
        0o700,
    )
    web = tree.get("srv/web")
    assert web is not None and (web.uid, web.gid, web.gname) == (1000, 2000, "www")
    assert accounts.user_spec() == "65532:65532"
    assert Accounts(run_as="root").user_spec() == "0:0"
    assert Accounts(run_as="1234").user_spec() == "1234"
    assert Accounts().user_spec() is None


def test_a_shipped_nsswitch_is_kept() -> None:
    tree = FileTree()
    tree.add(
        Entry(path="etc/nsswitch.conf", type=EntryType.FILE, data=b"hosts: files\n", origin="base-files")
    )
    write_accounts(tree, Accounts())
    entry = tree.get("etc/nsswitch.conf")
    assert entry is not None and entry.origin == "base-files"


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        (
            Accounts(users=(UserSpec(name="a", uid=1, gid=1), UserSpec(name="a", uid=2, gid=2))),
            "account 'a' is defined twice",
        ),
        (Accounts(users=(UserSpec(name="a", uid=0, gid=0),)), "uid 0 is used by two accounts"),
        (
            Accounts(users=(UserSpec(name="a", uid=1, gid=1, home="/x:y"),)),
            "account 'a': '/x:y' cannot hold ':' or a newline",
        ),
        (
            Accounts(users=(UserSpec(name="a", uid=-1, gid=1),)),
            "account 'a': id -1 is out of range 0..4294967294",
        ),
        (Accounts(groups=(GroupSpec(name="g", gid=5),)), "gid 5 is used by two accounts"),
        (Accounts(run_as="ghost"), "run-as names 'ghost', which is not in accounts.users"),
    ],
)
def test_inconsistent_accounts(accounts: Accounts, message: str) -> None:
    with pytest.raises(SpecError) as err:
        write_accounts(FileTree(), accounts)
        accounts.user_spec()
    assert err.value.message == message


def test_root_can_be_redefined() -> None:
    tree = FileTree()
    write_accounts(
        tree, Accounts(users=(UserSpec(name="root", uid=0, gid=0, home="/root", shell="/bin/sh"),))
    )
    assert _text(tree, "etc/passwd").splitlines()[0] == "root:x:0:0:root:/root:/bin/sh"
