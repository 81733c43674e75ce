"""PathResolver, which walks each directory once, agrees with walking every path from the root.

The reference below is the straightforward implementation (normalize each path, walk it from the
root component by component); random trees with relative, absolute, looping and long symlink chains
check that remembering directories changes no result.
"""

from __future__ import annotations

import posixpath
import random
from collections.abc import Iterable, Mapping

import pytest

from dockwright.inspect.catalog.filesystem import PathResolver, normalize, owned_files, resolve
from dockwright.inspect.model import FileKind, FileRecord

_MAX_LINKS = 40


def _reference_resolve(files: Mapping[str, FileRecord], path: str) -> str:
    parts = [p for p in path.split("/") if p][::-1]
    done, hops = "", 0
    while parts:
        part = parts.pop()
        candidate = f"{done}/{part}" if done else part
        record = files.get(candidate)
        if record is None or record.kind is not FileKind.SYMLINK or hops >= _MAX_LINKS:
            done = candidate
            continue
        hops += 1
        base = "" if record.link.startswith("/") else done
        target = posixpath.normpath("/" + posixpath.join("/", base, record.link).strip()).lstrip("/")
        parts.extend(reversed([p for p in target.split("/") if p]))
        done = ""
    return done


def _reference_owned(files: Mapping[str, FileRecord], paths: Iterable[str]) -> tuple[tuple[str, ...], int]:
    found: set[str] = set()
    size = 0
    for raw in paths:
        path = posixpath.normpath("/" + raw.strip()).lstrip("/")
        if not path:
            continue
        head, _, name = path.rpartition("/")
        real_head = _reference_resolve(files, head) if head else ""
        real = f"{real_head}/{name}" if real_head else name
        record = files.get(real)
        if record is None:
            found.add(path)
            continue
        kind = record.kind
        if (
            kind is FileKind.SYMLINK
            and files.get(_reference_resolve(files, real), record).kind is FileKind.DIR
        ):
            continue
        if kind is FileKind.DIR or real in found:
            continue
        found.add(real)
        if kind is FileKind.FILE:
            size += record.size
    return tuple(sorted(found)), size


_NAMES = ["a", "b", "c", "lib", "usr", ".x"]
_ODD = ["", ".", "..", " ", "a ", "//"]


def _random_files(rng: random.Random) -> dict[str, FileRecord]:
    files: dict[str, FileRecord] = {}
    for _ in range(rng.randrange(5, 40)):
        path = "/".join(rng.choice(_NAMES) for _ in range(rng.randrange(1, 5)))
        roll = rng.random()
        if roll < 0.4:
            files[path] = FileRecord(path=path, kind=FileKind.DIR)
        elif roll < 0.7:
            files[path] = FileRecord(path=path, kind=FileKind.FILE, size=rng.randrange(100))
        else:
            target = "/".join(rng.choice([*_NAMES, ".", ".."]) for _ in range(rng.randrange(1, 4)))
            link = rng.choice(["", "/", "../"]) + target
            files[path] = FileRecord(path=path, kind=FileKind.SYMLINK, link=link)
    return files


def _random_path(rng: random.Random) -> str:
    parts = [rng.choice(_NAMES + _ODD) for _ in range(rng.randrange(0, 6))]
    return rng.choice(["", "/", " /"]) + "/".join(parts) + rng.choice(["", "", "/", " "])


@pytest.mark.parametrize("seed", range(40))
def test_path_resolver_agrees_with_walking_from_the_root(seed: int) -> None:
    rng = random.Random(seed)
    files = _random_files(rng)
    resolver = PathResolver(files)  # shared by every package, as catalogers use it
    for _ in range(20):
        paths = [_random_path(rng) for _ in range(rng.randrange(0, 15))]
        assert resolver.owned_files(paths) == _reference_owned(files, paths)
        assert owned_files(files, paths) == _reference_owned(files, paths)
        for path in paths:
            clean = normalize(path)
            assert resolve(files, clean) == _reference_resolve(files, clean)
            assert resolver.resolve(clean) == _reference_resolve(files, clean)
            assert resolver.resolve(path) == _reference_resolve(files, path)


def test_long_symlink_chains_stop_where_walking_from_the_root_stops() -> None:
    files = {"d": FileRecord(path="d", kind=FileKind.DIR), "d/f": FileRecord(path="d/f", kind=FileKind.FILE)}
    for i in range(45):  # l0 -> l1 -> ... -> l44 -> d: past the limit from l0, within it from l10
        files[f"l{i}"] = FileRecord(path=f"l{i}", kind=FileKind.SYMLINK, link=f"l{i + 1}" if i < 44 else "d")
    files["m"] = FileRecord(path="m", kind=FileKind.SYMLINK, link="l5/f")
    files["d/e"] = FileRecord(path="d/e", kind=FileKind.SYMLINK, link="../l30")  # 15 more links
    resolver = PathResolver(files)
    paths = [f"/l{i}/f" for i in range(45)] + [f"/l{i}/e/f" for i in range(45)]  # directories first
    paths += [f"/l{i}" for i in range(45)] + ["/m", "/m/x", "/d/e/f"]
    for path in paths:
        clean = normalize(path)
        assert resolver.resolve(clean) == _reference_resolve(files, clean)
    assert resolver.owned_files(paths) == _reference_owned(files, paths)
    assert resolver.resolve("l0/f") != "d/f"  # the limit did stop that walk


@pytest.mark.parametrize("before", [0, 1, 2, 5])
def test_links_into_remembered_directories_count_every_link_followed(before: int) -> None:
    """A link whose target's directory was walked before: the links followed to reach that link
    and those the directory's walk followed add up, and may hit the limit on the way."""
    files = {"d": FileRecord(path="d", kind=FileKind.DIR), "d/f": FileRecord(path="d/f", kind=FileKind.FILE)}
    for i in range(42):  # c0 -> c1 -> ... -> c41 -> d
        files[f"c{i}"] = FileRecord(path=f"c{i}", kind=FileKind.SYMLINK, link=f"c{i + 1}" if i < 41 else "d")
    for i in range(42):  # p{i}_0 -> ... -> p{i}_<before> -> c{i}/f: 42 - i + before + 1 links in all
        for j in range(before + 1):
            link = f"p{i}_{j + 1}" if j < before else f"c{i}/f"
            files[f"p{i}_{j}"] = FileRecord(path=f"p{i}_{j}", kind=FileKind.SYMLINK, link=link)
    resolver = PathResolver(files)
    paths = (
        [f"/c{i}/f" for i in range(42)] + [f"/p{i}_0" for i in range(42)] + [f"/p{i}_0/x" for i in range(42)]
    )
    assert resolver.owned_files(paths) == _reference_owned(files, paths)
    for path in paths:
        clean = normalize(path)
        assert resolver.resolve(clean) == _reference_resolve(files, clean)
