"""Read the host's apt sources: where the mirror is and which key signs it.

Reads ``etc/apt/sources.list`` and, in name order, ``etc/apt/sources.list.d/*.list`` (one-line
format, ``deb [opt=value ...] URI SUITE [COMPONENT ...]``) and ``*.sources`` (deb822 paragraphs
with ``Types``, ``URIs``, ``Suites``, ``Components``, ``Signed-By``, ``Architectures``,
``Enabled``). Only ``deb`` entries are kept; files with other endings (``*.disabled-by-farm``),
``Enabled: no`` paragraphs and comments are skipped. An inline ASCII-armored ``Signed-By`` key is
dearmored (``gpg --dearmor``) into a keyring file that lives as long as the process.

What this module does not do: honour ``trusted=yes`` (dockwright always verifies signatures),
resolve ``Signed-By`` fingerprints against ``trusted.gpg.d`` (refused with a clear error), read
apt.conf settings (proxies, ``Check-Valid-Until``: those are dockwright settings), or fetch.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dockwright.errors import InputError

__all__ = ["DEFAULT_KEYRING", "AptSource", "host_sources", "parse_deb822_sources", "parse_one_line_sources"]

DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_FALSE = frozenset({"no", "false", "off", "without", "disable", "0"})  # apt's StringToBool


@dataclass(frozen=True, slots=True, kw_only=True)
class AptSource:
    """One ``deb`` source: a repository URI with its suites and components.

    ``signed_by`` is the keyring file named by ``Signed-By`` (an inline key is written to a
    temporary keyring and named here), or ``None`` when the source does not say; then
    :attr:`keyring` is :data:`DEFAULT_KEYRING`. Empty ``architectures`` means the host's.
    """

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None
    architectures: tuple[str, ...] = ()

    @property
    def keyring(self) -> Path:
        """The keyring that must have signed this source's InRelease files."""
        return Path(self.signed_by) if self.signed_by is not None else DEFAULT_KEYRING


def host_sources(root: Path = Path("/")) -> list[AptSource]:
    """Read every enabled ``deb`` source of the system at ``root``, in apt's order.

    Args:
        root: the system's root directory (tests pass a fake one). ``Signed-By`` paths are kept
            as written, relative to the real root, as apt would use them.

    Returns:
        The sources, ``sources.list`` first, then ``sources.list.d`` files by name.

    Raises:
        InputError: a sources file is malformed (the message names file and line).
    """
    etc = root / "etc" / "apt"
    files = [etc / "sources.list"]
    parts = etc / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    found: list[AptSource] = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".sources":
            found += parse_deb822_sources(text, origin=str(path))
        else:
            found += parse_one_line_sources(text, origin=str(path))
    return found


def parse_one_line_sources(text: str, *, origin: str = "<sources.list>") -> list[AptSource]:
    """Parse the one-line format: ``deb [opt=v ...] URI SUITE [COMPONENT ...]``.

    Args:
        text: the file's content.
        origin: the file name, for error messages.

    Returns:
        One source per ``deb`` line.

    Raises:
        InputError: a line is malformed.
    """
    found = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        if kind not in ("deb", "deb-src"):
            raise InputError(f"{origin}:{lineno}: unknown source type {kind!r}")
        options, words = _split_options(rest.strip(), f"{origin}:{lineno}")
        if len(words) < 2:
            raise InputError(f"{origin}:{lineno}: expected a URI and a suite after {kind!r}")
        if kind == "deb":
            found.append(_make_source(words[0], words[1:2], words[2:], options, f"{origin}:{lineno}"))
    return found


def _split_options(rest: str, where: str) -> tuple[dict[str, str], list[str]]:
    """Split ``[a=b c=d] words...`` into options and the remaining words."""
    if not rest.startswith("["):
        return {}, rest.split()
    inside, sep, after = rest[1:].partition("]")
    if not sep:
        raise InputError(f"{where}: unclosed '[' in the options")
    options = {}
    for item in inside.split():
        key, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"{where}: option {item!r} is not key=value")
        options[key.rstrip("+-").lower()] = value
    return options, after.split()


def parse_deb822_sources(text: str, *, origin: str = "<sources>") -> list[AptSource]:
    """Parse deb822 ``.sources`` paragraphs; one source per URI of each enabled ``deb`` paragraph.

    Args:
        text: the file's content.
        origin: the file name, for error messages.

    Returns:
        The sources.

    Raises:
        InputError: a paragraph is malformed or lacks ``URIs``/``Suites``.
    """
    found = []
    for lineno, fields in _paragraphs(text, origin):
        where = f"{origin}:{lineno}"
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").strip().lower() in _FALSE:
            continue
        uris, suites = fields.get("uris", "").split(), fields.get("suites", "").split()
        if not uris or not suites:
            raise InputError(f"{where}: a deb paragraph needs URIs and Suites")
        options = {"signed-by": fields["signed-by"]} if "signed-by" in fields else {}
        if "architectures" in fields:
            options["arch"] = ",".join(fields["architectures"].split())
        components = fields.get("components", "").split()
        found += [_make_source(uri, suites, components, options, where) for uri in uris]
    return found


def _paragraphs(text: str, origin: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(first line number, lower-cased field -> value)`` for each deb822 paragraph."""
    fields: dict[str, str] = {}
    start, key = 0, ""
    for lineno, line in enumerate([*text.splitlines(), ""], 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield start, fields
            fields, key = {}, ""
            continue
        if line[0] in " \t":
            if not key:
                raise InputError(f"{origin}:{lineno}: continuation line outside a field")
            fields[key] += "\n" + line[1:]
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise InputError(f"{origin}:{lineno}: expected 'Field: value', got {line!r}")
        if not fields:
            start = lineno
        key = name.strip().lower()
        fields[key] = value.strip()


def _make_source(
    uri: str, suites: list[str], components: list[str], options: dict[str, str], where: str
) -> AptSource:
    signed_by = options.get("signed-by")
    if signed_by is not None:
        signed_by = _keyring_path(signed_by, where)
    arch = options.get("arch", "")
    return AptSource(
        uri=uri,
        suites=tuple(suites),
        components=tuple(components),
        signed_by=signed_by,
        architectures=tuple(a for a in arch.split(",") if a),
    )


def _keyring_path(value: str, where: str) -> str:
    """A ``Signed-By`` value as a keyring file path (inline keys are dearmored to a file)."""
    value = value.strip()
    if _ARMOR_BEGIN in value:
        # deb822 writes an empty line inside a field as " ."
        armored = "\n".join("" if ln.strip() == "." else ln.strip() for ln in value.splitlines())
        return str(_dearmor_inline(armored + "\n", where))
    if value.startswith("/") and "," not in value and " " not in value:
        return value
    raise InputError(
        f"{where}: Signed-By {value!r} is not a keyring path or an inline key",
        hint="name a keyring file in Signed-By (fingerprint lists are not supported)",
    )


@functools.cache
def _inline_dir() -> Path:
    """One private directory per process for dearmored inline keys, removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="dockwright-keys-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _dearmor_inline(armored: str, where: str) -> Path:
    """Write an armored key to ``<process temp dir>/<sha256>.gpg`` as a binary keyring."""
    target = _inline_dir() / f"{hashlib.sha256(armored.encode()).hexdigest()}.gpg"
    if target.exists():
        return target
    result = subprocess.run(
        ["gpg", "--batch", "--homedir", str(_inline_dir()), "--dearmor", "--output", "-"],
        input=armored.encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0 or not result.stdout:
        raise InputError(f"{where}: the inline Signed-By key could not be read: {result.stderr.decode()}")
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(result.stdout)
    tmp.replace(target)
    return target
