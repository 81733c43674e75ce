"""Licenses from a Debian ``copyright`` file, the way syft reads them, minus its guesses.

A machine-readable file (DEP-5: its first field is ``Format:`` or ``Format-Specification:``) gives
its licenses in ``License:`` fields. Grammar of the first line of such a field, as used here::

    expression := alternative (("or" | "and" | "," | ", and" | ", or") alternative)*
    alternative := "("* short-name ("with" words)? ")"*

Each short name counts once (``GPL-2+ with OpenSSL exception`` gives ``GPL-2+``, like syft, which
keeps the first word of the value). Compared with syft 1.18.1 (anchore/syft
``syft/pkg/cataloger/debian/parse_copyright.go``) on Debian 12 minbase, the differences are
deliberate: syft keeps only the first name of ``GPL-1+ or Artistic`` (both are kept here); its
pattern (``License:``, one space, a word) misses values after two spaces (libtirpc writes
``License:   BSD-2-Clause``); it adds ``/usr/share/common-licenses/NAME`` references also in DEP-5
files, which turns a declared ``GPL-2+`` into an extra, less precise ``GPL-2`` (not done here).

Other files (free-form text) give only the names of ``/usr/share/common-licenses/NAME`` they
refer to, as syft also does. syft additionally takes the first word after any ``License:`` at the
start of a line in free-form files, which yields words such as ``This`` or ``Permission`` for
python3.11: that guess is not made here.

This module does not map names to SPDX identifiers (Debian short names such as ``GPL-2+`` and
``Expat`` are kept as written) and does not read license texts.
"""

from __future__ import annotations

import functools
import re

__all__ = ["copyright_licenses", "is_machine_readable"]

_COMMON = re.compile(r"/usr/share/common-licenses/([0-9A-Za-z_.\-+]+)")
_SPLIT = re.compile(r"\s*,\s*(?:(?:and|or)\s+)?|\s+(?:or|and)\s+|\s*\|\s*", re.IGNORECASE)
_FIRST_FIELD = re.compile(r"\A\s*(format|format-specification)\s*:", re.IGNORECASE)


def is_machine_readable(text: str) -> bool:
    """Tell whether ``text`` is a DEP-5 copyright file (its first field names the format)."""
    return _FIRST_FIELD.match(text) is not None


@functools.lru_cache(maxsize=1024)  # copyright files repeat a few values (GPL-2+, BSD-3-clause) often
def _short_names(value: str) -> tuple[str, ...]:
    names = []
    for alternative in _SPLIT.split(value):
        words = alternative.replace("(", " ").replace(")", " ").split()
        if not words:
            continue
        name = words[0].rstrip(".")
        if name and name.lower() != "none":
            names.append(name)
    return tuple(names)


def copyright_licenses(data: bytes) -> tuple[str, ...]:
    """Return the license names a copyright file declares, sorted and unique.

    Args:
        data: the bytes of ``usr/share/doc/<package>/copyright``.

    Returns:
        Short names from ``License:`` fields of a DEP-5 file, else names of common-licenses files
        the text refers to; ``()`` when neither is found.
    """
    text = data.decode("utf-8", "replace")
    found: set[str] = set()
    if is_machine_readable(text):
        for line in text.splitlines():
            # the first test is cheap, and only "L" and "l" lower to "l"
            if line[:1] in "Ll" and line[:8].lower() == "license:":
                found.update(_short_names(line[8:].strip()))
    else:
        found.update(m.rstrip(".") for m in _COMMON.findall(text) if m.rstrip("."))
    return tuple(sorted(found))
