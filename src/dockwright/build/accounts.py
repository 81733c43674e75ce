"""Write the account files of an image: ``/etc/passwd``, ``/etc/group`` and ``/etc/nsswitch.conf``.

Like distroless, every image gets ``root`` (0) and ``nobody`` (65534) plus the ``tty`` group (5,
which runc's default ``/dev/pts`` mount uses), then the spec's users and groups. A user whose
primary gid has no group gets a group of its own name (useradd's USERGROUPS). Lines are sorted by
id. Home directories are created owned by their user (mode 0700), except ``/nonexistent`` and
``/``; ``/tmp`` is created with mode 1777. ``nsswitch.conf`` says ``files`` (and ``dns`` for
hosts) and is written only when no package shipped one.

No ``/etc/shadow`` or ``/etc/gshadow``: distroless ships none, every account here is locked
(``x``), and nothing in an app image logs in.

What this module does not do: validate the spec's YAML (see :mod:`dockwright.build.spec`), merge
with ``base-passwd``'s master files, or set the image config's ``User`` (the builder does, from
:meth:`Accounts.user_spec`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from dockwright.build.spec import GroupSpec, UserSpec
from dockwright.errors import SpecError
from dockwright.fs.tree import Entry, EntryType, FileTree

__all__ = [
    "DEFAULT_GROUPS",
    "DEFAULT_USERS",
    "NSSWITCH",
    "Accounts",
    "GroupSpec",
    "UserSpec",
    "write_accounts",
]

_NOLOGIN = "/usr/sbin/nologin"
DEFAULT_USERS = (
    UserSpec(name="root", uid=0, gid=0, home="/root", shell=_NOLOGIN),
    UserSpec(name="nobody", uid=65534, gid=65534, home="/nonexistent", shell=_NOLOGIN),
)
DEFAULT_GROUPS = (
    GroupSpec(name="root", gid=0),
    GroupSpec(name="tty", gid=5),
    GroupSpec(name="nobody", gid=65534),
)
NSSWITCH = """\
# /etc/nsswitch.conf: written by dockwright (no NSS modules beyond libc's own are installed)

passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      files
services:       files
ethers:         files
rpc:            files
"""
_NO_HOME = ("/nonexistent", "/")
_Account = TypeVar("_Account", UserSpec, GroupSpec)
_MAX_ID = 2**32 - 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Accounts:
    """The spec's accounts; the defaults are merged in by :meth:`all_users` / :meth:`all_groups`."""

    users: tuple[UserSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()
    run_as: str | None = None

    def all_users(self) -> list[UserSpec]:
        """Defaults plus the spec's users (a spec user named like a default replaces it), by uid.

        Raises:
            SpecError: two users share a name or a uid, or a field cannot go into /etc/passwd.
        """
        users = _merge(DEFAULT_USERS, self.users)
        users = [u if u.home is not None else replace(u, home=f"/home/{u.name}") for u in users]
        for u in users:
            _check_fields(u.name, u.uid, [u.home or "", u.shell])
        _unique((u.uid for u in users), "uid")
        return sorted(users, key=lambda u: (u.uid, u.name))

    def all_groups(self) -> list[GroupSpec]:
        """Defaults, the spec's groups, and a personal group for any user whose gid has none."""
        groups = _merge(DEFAULT_GROUPS, self.groups)
        known = {g.gid for g in groups}
        for u in self.all_users():
            if u.gid not in known:
                groups.append(GroupSpec(name=u.name, gid=u.gid))
                known.add(u.gid)
        for g in groups:
            _check_fields(g.name, g.gid, [])
        _unique((g.gid for g in groups), "gid")
        return sorted(groups, key=lambda g: (g.gid, g.name))

    def user_spec(self) -> str | None:
        """The image config's ``User`` (``uid:gid``) for ``run_as``, or None when unset.

        Raises:
            SpecError: ``run_as`` names no known user.
        """
        if self.run_as is None:
            return None
        if self.run_as.isdigit():
            return self.run_as
        for u in self.all_users():
            if u.name == self.run_as:
                return f"{u.uid}:{u.gid}"
        raise SpecError(f"run-as names {self.run_as!r}, which is not in accounts.users")


def _merge(defaults: Iterable[_Account], extra: Iterable[_Account]) -> list[_Account]:
    merged: dict[str, _Account] = {d.name: d for d in defaults}
    seen: set[str] = set()
    for item in extra:
        if item.name in seen:
            raise SpecError(f"account {item.name!r} is defined twice")
        seen.add(item.name)
        merged[item.name] = item
    return list(merged.values())


def _unique(ids: Iterable[int], what: str) -> None:
    seen: set[int] = set()
    for value in ids:
        if value in seen:
            raise SpecError(f"{what} {value} is used by two accounts")
        seen.add(value)


def _check_fields(name: str, number: int, paths: list[str]) -> None:
    if not 0 <= number <= _MAX_ID:
        raise SpecError(f"account {name!r}: id {number} is out of range 0..{_MAX_ID}")
    for text in [name, *paths]:
        if ":" in text or "\n" in text:
            raise SpecError(f"account {name!r}: {text!r} cannot hold ':' or a newline")


def passwd_text(accounts: Accounts) -> str:
    """Return ``/etc/passwd`` for ``accounts`` (GECOS is the user name, passwords locked)."""
    return "".join(f"{u.name}:x:{u.uid}:{u.gid}:{u.name}:{u.home}:{u.shell}\n" for u in accounts.all_users())


def group_text(accounts: Accounts) -> str:
    """Return ``/etc/group`` for ``accounts`` (no supplementary members)."""
    return "".join(f"{g.name}:x:{g.gid}:\n" for g in accounts.all_groups())


def write_accounts(tree: FileTree, accounts: Accounts) -> list[str]:
    """Write passwd, group, nsswitch.conf (if absent), home directories and ``/tmp``.

    Args:
        tree: the root filesystem; changed in place.
        accounts: the spec's accounts.

    Returns:
        The tree paths written.

    Raises:
        SpecError: the accounts are inconsistent.
    """
    files = {"etc/passwd": passwd_text(accounts), "etc/group": group_text(accounts)}
    if tree.get(tree.resolve("etc/nsswitch.conf")) is None:
        files["etc/nsswitch.conf"] = NSSWITCH
    for path, text in files.items():
        tree.add(Entry(path=path, type=EntryType.FILE, mode=0o644, data=text.encode(), origin="dockwright"))
    written = list(files)
    groups = {g.gid: g.name for g in accounts.all_groups()}
    for u in accounts.all_users():
        if u.home and u.home not in _NO_HOME:
            home = Entry(
                path=u.home,
                type=EntryType.DIR,
                mode=0o700,
                uid=u.uid,
                gid=u.gid,
                uname=u.name,
                gname=groups.get(u.gid, ""),
                origin="dockwright",
            )
            tree.add(home)
            written.append(home.path.strip("/"))
    tree.add(Entry(path="tmp", type=EntryType.DIR, mode=0o1777, origin="dockwright"))
    return [*written, "tmp"]
