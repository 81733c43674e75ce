"""Generate ``/etc/ld.so.cache`` from a :class:`~dockwright.fs.tree.FileTree`, as ``ldconfig`` would.

This reproduces glibc 2.36's ``ldconfig`` (new format, ``glibc-ld.so.cache1.1``) without running
it, so no chroot, no root and no host paths: directories come from the tree's ``/etc/ld.so.conf``
(``include`` globs followed) or, when the image has none (``libc-bin`` is not installed), from
Debian's default ``include /etc/ld.so.conf.d/*.conf``; then the built-in trusted directories
(``/lib/<triplet>``, ``/usr/lib/<triplet>``, ``/lib``, ``/usr/lib``). A directory reached twice
(merged-/usr) is scanned once, under the first name seen. In each, files named ``lib*``/``ld-*``
holding ``.so`` that are ELF shared objects of the image's architecture are read for ``DT_SONAME``
(by ``elf``); the cache maps each SONAME to ``<dir>/<soname>``, with ldconfig's flags (x86-64:
``FLAG_ELF_LIBC6 | FLAG_X8664_LIB64`` = 0x0303), hwcap 0, entries in ldconfig's order
(``_dl_cache_libcmp`` descending, then flags), the string table tail-merged the way glibc's
``stringtable_finalize`` does, and a generator extension. Like ldconfig, the SONAME symlink
(``libz.so.1 -> libz.so.1.2.13``) is created when missing or pointing elsewhere; packages
normally ship it already.

Verified byte for byte against the real ``ldconfig -r`` in the tests (with the same generator
string).

What this module does not do: ``glibc-hwcaps/`` and legacy hwcap subdirectories (``tls``,
``x86_64``, ``haswell``) are not scanned (Debian's packages ship none); dangling ``*.so.*`` links
are left in place (ldconfig deletes them; they are package content here); no auxiliary cache, no
old-format caches, no ``hwcap`` lines in ld.so.conf.
"""

from __future__ import annotations

import functools
import struct
from collections import defaultdict
from dataclasses import dataclass
from fnmatch import fnmatchcase

from dockwright.build.elf import elf_soname
from dockwright.errors import InputError
from dockwright.fs.tree import Entry, EntryType, FileTree, normalize

__all__ = [
    "GENERATOR",
    "CacheEntry",
    "build_ld_cache",
    "libcmp",
    "parse_ld_cache",
    "scan_libraries",
    "write_ld_cache",
]

GENERATOR = "dockwright"
CACHE_PATH = "etc/ld.so.cache"
_MAGIC = b"glibc-ld.so.cache1.1"
_HEADER = struct.Struct("<20sIIB3xI12x")
_ENTRY = struct.Struct("<iIIIQ")
_EXTENSION_MAGIC = 0xEAA42174
_DEFAULT_CONF = "include /etc/ld.so.conf.d/*.conf\n"
_MAX_INCLUDE_DEPTH = 8
ARCH_TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One ld.so.cache record: ``key`` (a SONAME) resolves to ``value`` (a path)."""

    flags: int
    key: str
    value: str
    hwcap: int = 0


@dataclass(slots=True)
class _Lib:
    name: str
    soname: str
    flags: int
    is_link: bool


def libcmp(a: str, b: str) -> int:
    """glibc's ``_dl_cache_libcmp``: compare names with digit runs compared numerically."""
    p1, p2 = a.encode(), b.encode()
    i = j = 0
    while i < len(p1):
        c1, c2 = p1[i], p2[j] if j < len(p2) else 0
        if _isdigit(c1):
            if not _isdigit(c2):
                return 1
            v1, i = _number(p1, i)
            v2, j = _number(p2, j)
            if v1 != v2:
                return v1 - v2
        elif _isdigit(c2):
            return -1
        elif c1 != c2:
            return _signed(c1) - _signed(c2)
        else:
            i, j = i + 1, j + 1
    return -_signed(p2[j]) if j < len(p2) else 0


def _isdigit(c: int) -> bool:
    return 0x30 <= c <= 0x39


def _signed(c: int) -> int:
    return c - 256 if c > 127 else c  # x86's signed char; only non-ASCII SONAMEs would notice


def _number(s: bytes, i: int) -> tuple[int, int]:
    value = 0
    while i < len(s) and _isdigit(s[i]):
        value = value * 10 + s[i] - 0x30
        i += 1
    return value, i


def _entry_cmp(e1: CacheEntry, e2: CacheEntry) -> int:
    res = libcmp(e2.key, e1.key)
    if res == 0:
        return (e2.flags > e1.flags) - (e2.flags < e1.flags) or (e2.hwcap > e1.hwcap) - (e2.hwcap < e1.hwcap)
    return res


class _Scanner:
    """Walks the tree the way ldconfig walks a chroot."""

    def __init__(self, tree: FileTree, arch: str) -> None:
        if arch not in ARCH_TRIPLETS:
            raise InputError(f"no ld.so.cache support for architecture {arch!r}")
        self.tree = tree
        self.arch = arch
        self.children: dict[str, list[str]] = defaultdict(list)
        for entry in tree.entries():
            parent, _, leaf = entry.path.rpartition("/")
            self.children[parent].append(leaf)

    def directories(self) -> list[str]:
        """The directories to scan, in ldconfig's order, without duplicates."""
        conf = self._read("etc/ld.so.conf")
        found: list[str] = []
        self._parse_conf(conf if conf is not None else _DEFAULT_CONF, "/etc", found, 0)
        triplet = ARCH_TRIPLETS[self.arch]
        found += [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib"]
        seen: dict[str, str] = {}
        for path in found:
            canonical = self.tree.resolve(path)
            entry = self.tree.get(canonical)
            if entry is not None and entry.type is EntryType.DIR and canonical not in seen:
                seen[canonical] = path
        return list(seen.values())

    def _read(self, path: str) -> str | None:
        entry = self._file(path)
        return entry.data.decode("utf-8", "replace") if entry is not None else None

    def _file(self, path: str) -> Entry | None:
        entry = self.tree.get(self.tree.resolve(path))
        if entry is not None and entry.type is EntryType.HARDLINK:
            entry = self.tree.get(entry.target)
        return entry if entry is not None and entry.type is EntryType.FILE else None

    def _parse_conf(self, text: str, conf_dir: str, out: list[str], depth: int) -> None:
        for raw in text.splitlines():
            line = raw.partition("#")[0].strip()
            if line.startswith("include") and line[7:8] in (" ", "\t"):
                for pattern in line[8:].split():
                    self._include(pattern, conf_dir, out, depth)
            elif line and not (line.startswith("hwcap") and line[5:6] in (" ", "\t")):
                path = line.partition("=")[0].rstrip().rstrip("/")
                if path:
                    out.append(path)

    def _include(self, pattern: str, conf_dir: str, out: list[str], depth: int) -> None:
        if depth >= _MAX_INCLUDE_DEPTH:
            return
        absolute = pattern if pattern.startswith("/") else f"{conf_dir}/{pattern}"
        for path in self._glob(absolute):
            text = self._read(path)
            if text is not None:
                self._parse_conf(text, "/" + path.rpartition("/")[0], out, depth + 1)

    def _glob(self, pattern: str) -> list[str]:
        matches = [""]
        for part in normalize(pattern).split("/"):
            next_matches: list[str] = []
            for base in matches:
                resolved = self.tree.resolve(base)
                names = sorted(self.children.get(resolved, []), key=str.encode)
                wanted = [n for n in names if fnmatchcase(n, part) and not (n[0] == "." != part[0])]
                next_matches += [f"{base}/{n}" if base else n for n in wanted]
            matches = next_matches
        return matches

    def scan(self, directory: str) -> list[_Lib]:
        """Return the libraries of one directory, merged by SONAME as ldconfig does."""
        canonical = self.tree.resolve(directory)
        libs: dict[str, _Lib] = {}
        for name in sorted(self.children.get(canonical, []), key=str.encode):
            found = self._library(canonical, name)
            if found is not None:
                _merge(libs, found)
        return list(libs.values())

    def _library(self, directory: str, name: str) -> _Lib | None:
        if not _is_dso(name) or name.endswith(".#prelink#") or ".#prelink#." in name:
            return None
        entry = self.tree.get(f"{directory}/{name}")
        if entry is None or entry.type is EntryType.DIR:
            return None
        is_link = entry.type is EntryType.SYMLINK
        target = self._file(f"{directory}/{name}")
        if target is None:
            return None  # dangling link, or a link to a directory (hwcap dirs are not scanned)
        info = elf_soname(target.data, self.arch)
        if info is None:
            return None
        flags, soname = info
        soname = soname or name
        if is_link and name != soname and not (name.endswith(".so") and soname.startswith(name)):
            is_link = False
        return _Lib(name, name if is_link else soname, flags, is_link)


def _is_dso(name: str) -> bool:
    return name.startswith(("lib", "ld-")) and ".so" in name


def _merge(libs: dict[str, _Lib], new: _Lib) -> None:
    old = libs.get(new.soname)
    if old is None:
        libs[new.soname] = new
    elif (not new.is_link and old.is_link) or (new.is_link == old.is_link and libcmp(old.name, new.name) < 0):
        libs[new.soname] = _Lib(new.name, new.soname, new.flags, new.is_link)


def scan_libraries(tree: FileTree, *, arch: str = "amd64", create_links: bool = True) -> list[CacheEntry]:
    """Find the shared libraries ldconfig would cache, in cache order.

    Args:
        tree: the root filesystem.
        arch: the Debian architecture of the image (``amd64`` or ``arm64``).
        create_links: add the SONAME symlinks ldconfig would create (origin ``dockwright``).

    Returns:
        The cache entries, sorted as ldconfig sorts them.

    Raises:
        InputError: the architecture is not supported.
    """
    scanner = _Scanner(tree, arch)
    entries: list[CacheEntry] = []
    for directory in scanner.directories():
        for lib in scanner.scan(directory):
            if create_links and not lib.is_link:
                _soname_link(tree, directory, lib)
            entries.append(CacheEntry(lib.flags, lib.soname, f"{directory}/{lib.soname}"))
    return sorted(entries, key=functools.cmp_to_key(_entry_cmp))


def _soname_link(tree: FileTree, directory: str, lib: _Lib) -> None:
    if lib.soname == lib.name:
        return
    canonical = tree.resolve(directory)
    link = f"{canonical}/{lib.soname}"
    existing = tree.get(link)
    if existing is not None and existing.type is not EntryType.SYMLINK:
        return  # ldconfig refuses to replace something that is not a symlink
    if existing is not None and tree.resolve(link) == tree.resolve(f"{canonical}/{lib.name}"):
        return
    tree.add(Entry(path=link, type=EntryType.SYMLINK, mode=0o777, target=lib.name, origin="dockwright"))


def _string_table(strings: set[str]) -> tuple[bytes, dict[str, int]]:
    """Lay out ``strings`` as glibc's ``stringtable_finalize`` does (sorted, tails shared)."""

    # Descending by reversed bytes: a string sorts right after the longer strings it ends.
    ordered = sorted((s.encode() for s in strings), key=lambda b: b[::-1], reverse=True)
    offsets: dict[bytes, int] = {}
    for prev, current in zip([b"", *ordered], ordered, strict=False):
        if not offsets:
            offsets[current] = 0
        elif prev.endswith(current):
            offsets[current] = offsets[prev] + len(prev) - len(current)
        else:
            offsets[current] = offsets[prev] + len(prev) + 1
    size = offsets[ordered[-1]] + len(ordered[-1]) + 1 if ordered else 0
    table = bytearray(size)
    for s, off in offsets.items():
        table[off : off + len(s)] = s
    return bytes(table), {s.decode(): off for s, off in offsets.items()}


def build_ld_cache(entries: list[CacheEntry], *, generator: str = GENERATOR) -> bytes:
    """Serialize ``entries`` (already in cache order) as a little-endian new-format cache.

    Args:
        entries: the records, as returned by :func:`scan_libraries`.
        generator: the text of the generator extension (``ldconfig -p`` prints it).

    Returns:
        The bytes of ``/etc/ld.so.cache``.
    """
    table, offsets = _string_table({e.key for e in entries} | {e.value for e in entries})
    str_offset = _HEADER.size + _ENTRY.size * len(entries)
    ext_offset = (str_offset + len(table) + 3) & ~3
    out = bytearray(_HEADER.pack(_MAGIC, len(entries), len(table), 2, ext_offset))
    for e in entries:
        out += _ENTRY.pack(e.flags, str_offset + offsets[e.key], str_offset + offsets[e.value], 0, e.hwcap)
    out += table
    out += bytes(ext_offset - len(out))
    gen = generator.encode()
    out += struct.pack("<II", _EXTENSION_MAGIC, 1)
    out += struct.pack("<IIII", 0, 0, ext_offset + 24, len(gen)) + gen
    return bytes(out)


def parse_ld_cache(data: bytes) -> tuple[list[CacheEntry], str]:
    """Parse a new-format ld.so.cache.

    Args:
        data: the file's bytes.

    Returns:
        The entries in file order and the generator string ("" when absent).

    Raises:
        ValueError: the data is not a little-endian ``glibc-ld.so.cache1.1``.
    """
    if len(data) < _HEADER.size or not data.startswith(_MAGIC):
        raise ValueError("not a glibc-ld.so.cache1.1 file")
    _, count, _, _, ext_offset = _HEADER.unpack_from(data)

    def string(offset: int) -> str:
        return data[offset : data.index(b"\0", offset)].decode()

    entries = []
    for i in range(count):
        flags, key, value, _, hwcap = _ENTRY.unpack_from(data, _HEADER.size + i * _ENTRY.size)
        entries.append(CacheEntry(flags, string(key), string(value), hwcap))
    generator = ""
    if ext_offset and struct.unpack_from("<I", data, ext_offset)[0] == _EXTENSION_MAGIC:
        for i in range(struct.unpack_from("<I", data, ext_offset + 4)[0]):
            tag, _, offset, size = struct.unpack_from("<IIII", data, ext_offset + 8 + 16 * i)
            if tag == 0:
                generator = data[offset : offset + size].decode()
    return entries, generator


def write_ld_cache(tree: FileTree, *, arch: str = "amd64", generator: str = GENERATOR) -> list[CacheEntry]:
    """Scan ``tree``, add missing SONAME links and write ``/etc/ld.so.cache`` (0644, root).

    Args:
        tree: the root filesystem.
        arch: the Debian architecture of the image.
        generator: the generator string stored in the cache.

    Returns:
        The cache entries written.
    """
    entries = scan_libraries(tree, arch=arch)
    data = build_ld_cache(entries, generator=generator)
    tree.add(Entry(path=CACHE_PATH, type=EntryType.FILE, mode=0o644, data=data, origin="dockwright"))
    return entries
