"""Read what ``ldconfig`` needs from an ELF shared object: its ``DT_SONAME`` and its cache flags.

``elf_soname`` takes a file's bytes, accepts only little-endian ``ET_DYN`` objects whose machine
and class belong to the image's architecture (x86-64, i386 and x32 objects on amd64; AArch64 on
arm64), walks the program headers to the ``PT_DYNAMIC`` segment and reads ``DT_SONAME`` through
``DT_STRTAB``, mapping the string table's address to a file offset with the first ``PT_LOAD``
segment, as glibc's ``readelflib.c`` does. The flags are the ones ldconfig stores: fixed per
machine (x86-64: ``FLAG_ELF_LIBC6 | FLAG_X8664_LIB64`` = 0x0303), else the libc5/libc6 guess
from ``PT_INTERP`` and ``DT_NEEDED``. A truncated or corrupt object reads as "not a library",
as ldconfig skips it.

What this module does not do: no big-endian objects, no section headers, symbols, versions or
relocations, no ``DT_RPATH``/``DT_RUNPATH``, and no file access (callers pass bytes); the
directory scan and the cache format live in ``ldcache``.
"""

from __future__ import annotations

import struct

__all__ = ["elf_soname"]

# (e_machine, EI_CLASS) -> flags ldconfig forces for that kind; 0 means "classify like readelflib.c".
_MACHINE_FLAGS = {
    "amd64": {(62, 2): 0x0303, (62, 1): 0x0803, (3, 1): 0},
    "arm64": {(183, 2): 0x0A03},
}
_FLAG_ELF = 1
# DT_NEEDED names and PT_INTERP paths that classify a generic ELF object (glibc's ldconfig.h tables).
_KNOWN = dict.fromkeys(["libc.so.5", "libm.so.5", "/lib/ld-linux.so.1"], 2) | dict.fromkeys(
    [
        "libc.so.6",
        "libm.so.6",
        "/lib/ld-linux.so.2",
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/ld-linux-aarch64.so.1",
    ],
    3,
)
_PHDR = {2: struct.Struct("<IIQQQQQQ"), 1: struct.Struct("<IIIIIIII")}
_DYN = {2: struct.Struct("<qQ"), 1: struct.Struct("<iI")}


def elf_soname(data: bytes, arch: str) -> tuple[int, str | None] | None:
    """Return ``(flags, DT_SONAME or None)`` for an ELF shared object ldconfig would cache, else None.

    Args:
        data: The file's bytes.
        arch: The Debian architecture of the image (``amd64`` or ``arm64``).

    Returns:
        ldconfig's flags for the object and its SONAME (None when it has none), or None when the
        data is not a well-formed shared object of that architecture.

    Raises:
        KeyError: The architecture is not supported (``ldcache`` checks it first).
    """
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[5] != 1:
        return None
    cls = data[4]
    e_type, machine = struct.unpack_from("<HH", data, 16)
    fixed = _MACHINE_FLAGS[arch].get((machine, cls))
    if e_type != 3 or fixed is None:  # ET_DYN only, of this architecture
        return None
    try:
        flags, soname = _read_dynamic(data, cls)
    except (struct.error, IndexError, ValueError, StopIteration):
        return None  # truncated or corrupt: ldconfig skips it too
    return (fixed or flags), soname


def _read_dynamic(data: bytes, cls: int) -> tuple[int, str | None]:
    phoff = struct.unpack_from("<Q" if cls == 2 else "<I", data, 32 if cls == 2 else 28)[0]
    phnum = struct.unpack_from("<H", data, 56 if cls == 2 else 44)[0]
    loadaddr, dyn_off, dyn_size, flags = -1, 0, 0, _FLAG_ELF
    for i in range(phnum):
        fields = _PHDR[cls].unpack_from(data, phoff + i * _PHDR[cls].size)
        p_type, offset, vaddr, filesz = (
            (fields[0], fields[2], fields[3], fields[5]) if cls == 2 else (*fields[:3], fields[4])
        )
        if p_type == 1 and loadaddr == -1:
            loadaddr = vaddr - offset
        elif p_type == 2:
            dyn_off, dyn_size = offset, filesz
        elif p_type == 3:
            flags = _KNOWN.get(_cstring(data, offset), flags)
    if not dyn_size:
        raise ValueError("no dynamic segment")
    dynamic: list[tuple[int, int]] = []
    while (item := _DYN[cls].unpack_from(data, dyn_off + len(dynamic) * _DYN[cls].size))[0] != 0:
        dynamic.append(item)
    strtab = next(val for tag, val in dynamic if tag == 5) - max(loadaddr, 0)  # DT_STRTAB
    soname = None
    for tag, val in dynamic:
        if tag == 1 and flags == _FLAG_ELF:  # DT_NEEDED
            flags = _KNOWN.get(_cstring(data, strtab + val), flags)
        elif tag == 14:  # DT_SONAME
            soname = _cstring(data, strtab + val)
        if soname is not None and flags != _FLAG_ELF:
            break
    return flags, soname


def _cstring(data: bytes, offset: int) -> str:
    if offset < 0:
        raise ValueError("negative offset")
    return data[offset : data.index(b"\0", offset)].decode("utf-8", "surrogateescape")
