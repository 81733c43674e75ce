"""The merged tree's records: built without the dataclass's ``__init__``, they are the same records."""

from __future__ import annotations

import dataclasses

import pytest

from dockwright.inspect._merge import Inode, MergedTree
from dockwright.inspect.model import FileKind, FileRecord


def test_the_records_of_the_tree_are_those_the_dataclass_builds() -> None:
    tree = MergedTree()
    tree.begin_layer(0)
    tree.put(tree.place("etc") or "", FileKind.DIR, mode=0o750, uid=1, gid=2)
    tree.put(tree.place("usr/bin/env") or "", FileKind.FILE, mode=0o755, uid=0, gid=0,
             inode=Inode(0, 3, 1234, "ab" * 32))  # fmt: skip
    tree.begin_layer(1)
    tree.put(tree.place("etc") or "", FileKind.DIR, mode=0o700, uid=0, gid=0)
    tree.put(tree.place("usr/bin/sh") or "", FileKind.SYMLINK, mode=0o777, uid=0, gid=0, link="dash")
    expected = {
        "etc": FileRecord(path="etc", kind=FileKind.DIR, mode=0o700, layer=1, added_in=0),
        "usr": FileRecord(path="usr", kind=FileKind.DIR, mode=0o755),
        "usr/bin": FileRecord(path="usr/bin", kind=FileKind.DIR, mode=0o755),
        "usr/bin/env": FileRecord(path="usr/bin/env", kind=FileKind.FILE, size=1234, mode=0o755, sha256="ab" * 32),
        "usr/bin/sh": FileRecord(path="usr/bin/sh", kind=FileKind.SYMLINK, mode=0o777, link="dash", layer=1,
                                 added_in=1),
    }  # fmt: skip
    records = tree.records()
    assert records == expected
    assert [repr(records[p]) for p in expected] == [repr(r) for r in expected.values()]
    assert {hash(r) for r in records.values()} == {hash(r) for r in expected.values()}
    with pytest.raises(dataclasses.FrozenInstanceError):
        records["etc"].mode = 0  # type: ignore[misc]
