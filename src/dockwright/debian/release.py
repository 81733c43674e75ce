"""Verify a repository's InRelease with gpgv and read the signed Release fields.

:func:`verify_inrelease` runs ``gpgv`` (what apt uses) on the clearsigned bytes and returns only
the cleartext gpgv wrote out as signed; nothing before verification looks inside the text beyond
its armor lines. It accepts the file when at least one signature is good (``GOODSIG`` plus
``VALIDSIG``, made with a strong digest) and none is bad. Other signatures from keys missing in the
keyring are tolerated, as apt does: Debian signs each InRelease with several keys and an older
keyring may lack the newest. :func:`parse_release` reads the cleartext into a :class:`Release`;
:func:`check_freshness` applies ``Date`` and ``Valid-Until``.

What this module does not do: fetch anything, read detached ``Release.gpg`` signatures, keep
state between runs (no protection against rollback to an older, still valid Release), or use
the MD5Sum and SHA1 fields (only SHA256 counts).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

from dockwright.errors import SignatureError, VerificationError

__all__ = [
    "MAX_CLOCK_SKEW",
    "FileHash",
    "Release",
    "check_freshness",
    "parse_release",
    "verify_inrelease",
]

MAX_CLOCK_SKEW = timedelta(minutes=10)
"""How far a Release ``Date`` may lie in the future before it is refused."""

_WEAK_DIGESTS = {"1": "MD5", "2": "SHA1", "3": "RIPEMD160"}
_STATUS = "[GNUPG:] "
_BEGIN_MSG = b"-----BEGIN PGP SIGNED MESSAGE-----"
_BEGIN_SIG = b"-----BEGIN PGP SIGNATURE-----"
_END_SIG = b"-----END PGP SIGNATURE-----"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_GPGV_TIMEOUT = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class FileHash:
    """Size and sha256 of one file listed in a signed Release."""

    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """The signed fields of a Release file.

    ``files`` maps a path relative to ``dists/<suite>/`` to its :class:`FileHash` (from the SHA256
    field). ``fields`` keeps every field's raw text, unknown ones included, by name as written.
    """

    origin: str
    suite: str
    codename: str
    date: datetime
    valid_until: datetime | None
    architectures: tuple[str, ...]
    components: tuple[str, ...]
    acquire_by_hash: bool
    files: dict[str, FileHash] = field(hash=False)
    fields: dict[str, str] = field(hash=False, repr=False)


def verify_inrelease(data: bytes, keyring: Path, *, name: str = "InRelease") -> bytes:
    """Verify a clearsigned InRelease with gpgv and return the signed cleartext.

    Args:
        data: the InRelease file as downloaded.
        keyring: an OpenPGP keyring, binary (``.gpg``) or ASCII-armored (``.asc``).
        name: names the file (a URL) in error messages.

    Returns:
        Exactly the text gpgv reports as signed.

    Raises:
        SignatureError: unsigned, not a single clearsigned message, bad signature, or no good
            signature (unknown, expired or revoked key, expired signature, weak digest); also
            when the keyring is missing or gpgv is not installed.
    """
    _check_armor(data, name)
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise SignatureError("gpgv is not installed", hint="install it: apt-get install gpgv")
    if not keyring.is_file():
        raise SignatureError(f"keyring {keyring} does not exist (needed to verify {name})")
    with tempfile.TemporaryDirectory(prefix="dockwright-gpgv-") as tmp:
        ring = _binary_keyring(keyring.resolve(), Path(tmp))
        cleartext, status, stderr = _run_gpgv(gpgv, ring, data, Path(tmp))
    _judge(_parse_status(status), name, keyring, stderr)
    return cleartext


def _check_armor(data: bytes, name: str) -> None:
    """Refuse anything but one clearsigned message with nothing around it.

    gpgv would ignore text outside the signed part; refusing it keeps anyone from reading
    unsigned text by mistake.
    """
    lines = data.lstrip(b"\r\n").splitlines()
    if not lines or lines[0].rstrip() != _BEGIN_MSG:
        raise SignatureError(f"{name} is not signed: it is not an OpenPGP clearsigned message")
    stripped = [line.rstrip() for line in lines]
    counts = [stripped.count(marker) for marker in (_BEGIN_MSG, _BEGIN_SIG, _END_SIG)]
    if counts != [1, 1, 1] or any(line.strip() for line in lines[stripped.index(_END_SIG) + 1 :]):
        raise SignatureError(f"{name} is not a single clearsigned message (extra armor or trailing text)")


def _binary_keyring(keyring: Path, tmp: Path) -> Path:
    """gpgv reads binary keyrings only; dearmor an ``.asc`` keyring into ``tmp``."""
    with open(keyring, "rb") as f:
        head = f.read(64)
    if keyring.suffix != ".asc" and not head.lstrip().startswith(b"-----BEGIN PGP"):
        return keyring
    target = tmp / "keyring.gpg"
    result = subprocess.run(
        ["gpg", "--batch", "--homedir", str(tmp), "--output", str(target), "--dearmor", str(keyring)],
        capture_output=True,
        check=False,
        timeout=_GPGV_TIMEOUT,
    )
    if result.returncode != 0:
        raise SignatureError(f"keyring {keyring} could not be dearmored: {result.stderr.decode().strip()}")
    return target


def _run_gpgv(gpgv: str, ring: Path, data: bytes, tmp: Path) -> tuple[bytes, str, str]:
    """Run gpgv with its status lines going to a file (no pipe to fill up)."""
    with open(tmp / "status", "w+b") as status:
        fd = status.fileno()
        result = subprocess.run(
            [
                gpgv,
                "--homedir",
                str(tmp),
                "--keyring",
                str(ring),
                "--status-fd",
                str(fd),
                "--output",
                "-",
                "-",
            ],
            input=data,
            capture_output=True,
            pass_fds=(fd,),
            check=False,
            timeout=_GPGV_TIMEOUT,
        )
        status.seek(0)
        text = status.read().decode("utf-8", "replace")
    return result.stdout, text, result.stderr.decode("utf-8", "replace")


@dataclass(slots=True)
class _Signature:
    keyid: str = ""
    good: bool = False
    fingerprint: str = ""
    digest: str = ""
    problem: str = ""


_PROBLEMS = {
    "BADSIG": "bad",
    "EXPKEYSIG": "expired key",
    "REVKEYSIG": "revoked key",
    "EXPSIG": "expired signature",
}
_SIG_KEYWORDS = frozenset({"GOODSIG", "VALIDSIG", "ERRSIG", "NO_PUBKEY", *_PROBLEMS})


def _parse_status(status: str) -> list[_Signature]:
    """One record per signature from gpgv's ``[GNUPG:]`` status lines."""
    sigs: list[_Signature] = []
    for line in status.splitlines():
        if not line.startswith(_STATUS):
            continue
        keyword, *args = line[len(_STATUS) :].split()
        if keyword == "NEWSIG":
            sigs.append(_Signature())
        elif keyword in _SIG_KEYWORDS and args:
            if not sigs:  # gpg versions before 2.1 emit no NEWSIG
                sigs.append(_Signature())
            _apply(sigs[-1], keyword, args)
    return sigs


def _apply(sig: _Signature, keyword: str, args: list[str]) -> None:
    if keyword == "GOODSIG":
        sig.keyid, sig.good = args[0], True
    elif keyword == "VALIDSIG" and len(args) >= 8:
        sig.fingerprint, sig.digest = args[0], args[7]
    elif keyword in _PROBLEMS:
        sig.keyid, sig.problem = args[0], _PROBLEMS[keyword]
    elif keyword == "ERRSIG":
        sig.keyid = args[0]
        sig.problem = sig.problem or ("unknown key" if args[5:6] == ["9"] else "unverifiable")
    elif keyword == "NO_PUBKEY":
        sig.keyid, sig.problem = args[0], "unknown key"


def _judge(sigs: list[_Signature], name: str, keyring: Path, stderr: str) -> None:
    if not sigs:
        raise SignatureError(f"{name} is not signed (gpgv found no signature): {stderr.strip()}")
    for sig in sigs:
        if sig.problem == "bad":
            raise SignatureError(
                f"{name} has a bad signature from key {sig.keyid}: it was altered or damaged"
            )
    for sig in sigs:
        if sig.good and sig.fingerprint and not sig.problem and sig.digest not in _WEAK_DIGESTS:
            return
    reasons = "; ".join(_describe(sig, keyring) for sig in sigs)
    raise SignatureError(f"{name} has no good signature: {reasons}")


def _describe(sig: _Signature, keyring: Path) -> str:
    if sig.problem == "unknown key":
        return f"key {sig.keyid} is not in {keyring}"
    if sig.problem:
        return f"key {sig.keyid}: {sig.problem}"
    if sig.digest in _WEAK_DIGESTS:
        return f"key {sig.keyid} signed with the weak digest {_WEAK_DIGESTS[sig.digest]}"
    return f"key {sig.keyid}: not confirmed valid by gpgv"


def parse_release(text: bytes) -> Release:
    """Read the fields of a (verified) Release text.

    Args:
        text: the cleartext from :func:`verify_inrelease`.

    Returns:
        The release.

    Raises:
        VerificationError: the text is not UTF-8 deb822, lacks ``Date`` or ``SHA256``, or has a
            malformed date or SHA256 line.
    """
    try:
        fields = _fields(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise VerificationError(f"signed Release is not UTF-8: {exc}") from exc
    lower = {key.lower(): value for key, value in fields.items()}
    if "date" not in lower:
        raise VerificationError("signed Release has no Date field")
    if "sha256" not in lower:
        raise VerificationError("signed Release has no SHA256 field (MD5Sum and SHA1 are not trusted)")
    valid_until = lower.get("valid-until")
    return Release(
        origin=lower.get("origin", ""),
        suite=lower.get("suite", ""),
        codename=lower.get("codename", ""),
        date=_date(lower["date"], "Date"),
        valid_until=_date(valid_until, "Valid-Until") if valid_until else None,
        architectures=tuple(lower.get("architectures", "").split()),
        components=tuple(lower.get("components", "").split()),
        acquire_by_hash=lower.get("acquire-by-hash", "no").strip().lower() == "yes",
        files=_sha256_files(lower["sha256"]),
        fields=fields,
    )


def _fields(text: str) -> dict[str, str]:
    """Fields of a single deb822 paragraph; continuation lines joined with newlines."""
    fields: dict[str, str] = {}
    key, ended = "", False
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            ended = bool(fields)
            continue
        if ended:
            raise VerificationError(f"signed Release line {lineno}: more than one paragraph")
        if line[0] in " \t":
            if not key:
                raise VerificationError(f"signed Release line {lineno}: continuation outside a field")
            fields[key] += "\n" + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or " " in name:
            raise VerificationError(f"signed Release line {lineno}: expected 'Field: value', got {line!r}")
        key = name
        fields[key] = value.strip()
    return fields


def _date(value: str, what: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"signed Release has a malformed {what}: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _sha256_files(value: str) -> dict[str, FileHash]:
    files = {}
    for line in value.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or not _HEX64.fullmatch(parts[0]) or not parts[1].isdigit():
            raise VerificationError(f"signed Release has a malformed SHA256 line: {line!r}")
        files[parts[2]] = FileHash(size=int(parts[1]), sha256=parts[0])
    return files


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_freshness(
    release: Release,
    now: datetime,
    check_valid_until: bool,
    *,
    max_future: timedelta = MAX_CLOCK_SKEW,
    name: str = "Release",
) -> None:
    """Refuse a Release that expired or is dated in the future.

    Args:
        release: the verified release.
        now: the current time (timezone-aware; naive means UTC).
        check_valid_until: refuse when ``Valid-Until`` has passed. Turn off only for snapshot
            mirrors that are known to be old; the Date check stays on.
        max_future: tolerated clock skew for ``Date``.
        name: names the file in messages.

    Raises:
        SignatureError: expired, or dated more than ``max_future`` ahead of ``now``.
    """
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    if release.date > now + max_future:
        raise SignatureError(
            f"{name} is dated {_utc(release.date)}, in the future (now {_utc(now)})",
            hint="check this machine's clock",
        )
    if check_valid_until and release.valid_until is not None and now > release.valid_until:
        raise SignatureError(f"{name} expired at {_utc(release.valid_until)} (now {_utc(now)})")
