"""Parse one deb822 stanza (a control file, a paragraph of dpkg's ``status``) into its fields.

Kept apart from :mod:`dockwright.debian.deb` so that readers of installed databases (the dpkg
cataloger of ``inspect``) load no archive or decompression code.

What this module does not do: split a file into stanzas (callers split on blank lines, as each
database's rules say), interpret field values, or check PGP signatures.
"""

from __future__ import annotations

from dockwright.errors import UnsafeArchiveError

__all__ = ["parse_control_fields"]


def parse_control_fields(text: str, *, label: str = "control") -> dict[str, str]:
    """Parse one deb822 stanza into an ordered dict.

    Grammar: ``field := name ":" value NL (continuation NL)*`` where a continuation line starts
    with a space or a tab. Comment lines (``#``) are skipped. Values are stripped; continuation
    lines are kept verbatim (joined with newlines) so ``Description`` round-trips.

    Args:
        text: the stanza text.
        label: what to name in an error message.

    Returns:
        The fields in the order written.

    Raises:
        UnsafeArchiveError: a line is neither a field nor a continuation.
    """
    fields: dict[str, str] = {}
    current = ""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if line[0] in " \t":
            if not current:
                raise UnsafeArchiveError(f"{label}:{lineno}: continuation line before any field")
            fields[current] += "\n" + line
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or " " in name:
            raise UnsafeArchiveError(f"{label}:{lineno}: expected 'Field: value', got {line!r}")
        current = name
        fields[name] = value.strip()
    return fields
