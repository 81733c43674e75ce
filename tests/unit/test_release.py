from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockwright.debian.release import (
    FileHash,
    Release,
    _judge,
    _parse_status,
    check_freshness,
    parse_release,
    verify_inrelease,
)
from dockwright.errors import SignatureError, VerificationError
from tests.debrepo import export_armored, sign

RELEASE = b"""\
Origin: Debian
Label: Debian
Suite: stable
Codename: bookworm
Date: Sat, 11 Jul 2026 10:16:37 UTC
Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64
Components: main contrib
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all
SHA256:
 %s  8790396 main/binary-amd64/Packages.xz
 %s 50060337 main/binary-amd64/Packages
""" % (b"a" * 64, b"b" * 64)


@pytest.fixture
def inrelease(tmp_path: Path, gpg_home: Path) -> bytes:
    (tmp_path / "Release").write_bytes(RELEASE)
    sign(tmp_path / "Release", tmp_path / "InRelease", gnupghome=gpg_home)
    return (tmp_path / "InRelease").read_bytes()


def test_good_signature_returns_exactly_the_signed_text(inrelease: bytes, keyring: Path) -> None:
    assert verify_inrelease(inrelease, keyring) == RELEASE


def test_armored_asc_keyring_is_accepted(
    inrelease: bytes, tmp_path: Path, gpg_home: Path, signing_key: str
) -> None:
    asc = tmp_path / "archive.asc"
    asc.write_text(export_armored(gpg_home, signing_key))
    assert verify_inrelease(inrelease, asc) == RELEASE


def test_one_changed_byte_is_a_bad_signature(inrelease: bytes, keyring: Path, signing_key: str) -> None:
    tampered = inrelease.replace(b"Codename: bookworm", b"Codename: bookwork")
    assert len(tampered) == len(inrelease) and tampered != inrelease
    with pytest.raises(SignatureError) as info:
        verify_inrelease(tampered, keyring, name="http://mirror.test/dists/stable/InRelease")
    assert str(info.value) == (
        f"http://mirror.test/dists/stable/InRelease has a bad signature from key {signing_key[-16:]}: "
        "it was altered or damaged"
    )


def test_unsigned_release_is_refused(keyring: Path) -> None:
    with pytest.raises(SignatureError) as info:
        verify_inrelease(RELEASE, keyring)
    assert str(info.value) == "InRelease is not signed: it is not an OpenPGP clearsigned message"


def test_text_before_the_signed_message_is_refused(inrelease: bytes, keyring: Path) -> None:
    with pytest.raises(SignatureError) as info:
        verify_inrelease(b"Suite: evil\n" + inrelease, keyring)
    assert str(info.value) == "InRelease is not signed: it is not an OpenPGP clearsigned message"


@pytest.mark.parametrize("extra", [b"Suite: evil\n", b"-----BEGIN PGP SIGNATURE-----\n"])
def test_text_after_the_signature_is_refused(inrelease: bytes, keyring: Path, extra: bytes) -> None:
    with pytest.raises(SignatureError) as info:
        verify_inrelease(inrelease + extra, keyring)
    assert str(info.value) == "InRelease is not a single clearsigned message (extra armor or trailing text)"


def test_signed_by_another_key_is_refused(
    tmp_path: Path, keyring: Path, gpg_factory: Callable[..., tuple[Path, str, Path]]
) -> None:
    other_home, other_key, _ = gpg_factory()
    (tmp_path / "Release").write_bytes(RELEASE)
    sign(tmp_path / "Release", tmp_path / "InRelease", gnupghome=other_home)
    with pytest.raises(SignatureError) as info:
        verify_inrelease((tmp_path / "InRelease").read_bytes(), keyring)
    assert str(info.value) == f"InRelease has no good signature: key {other_key[-16:]} is not in {keyring}"


def test_expired_key_is_refused(tmp_path: Path, gpg_factory: Callable[..., tuple[Path, str, Path]]) -> None:
    home, key, ring = gpg_factory(expire="1d", faked_time="20200101T000000")
    (tmp_path / "Release").write_bytes(RELEASE)
    sign(tmp_path / "Release", tmp_path / "InRelease", gnupghome=home, faked_time="20200101T000100")
    with pytest.raises(SignatureError) as info:
        verify_inrelease((tmp_path / "InRelease").read_bytes(), ring)
    assert str(info.value) == f"InRelease has no good signature: key {key[-16:]}: expired key"


def test_missing_keyring_is_refused(inrelease: bytes, tmp_path: Path) -> None:
    with pytest.raises(SignatureError) as info:
        verify_inrelease(inrelease, tmp_path / "none.gpg", name="X")
    assert str(info.value) == f"keyring {tmp_path / 'none.gpg'} does not exist (needed to verify X)"


def test_one_good_signature_among_unknown_keys_is_enough() -> None:
    status = """\
[GNUPG:] NEWSIG
[GNUPG:] ERRSIG 78DBA3BC47EF2265 1 8 01 1783765032 9 B8E5F13176D2A7A75220028078DBA3BC47EF2265
[GNUPG:] NO_PUBKEY 78DBA3BC47EF2265
[GNUPG:] NEWSIG
[GNUPG:] GOODSIG 6ED0E7B82643E131 Debian Archive Automatic Signing Key (12/bookworm)
[GNUPG:] VALIDSIG 4CB50190207B4758A3F73A796ED0E7B82643E131 2026-07-11 1783765031 0 4 0 1 8 01 X
"""
    _judge(_parse_status(status), "InRelease", Path("k.gpg"), "")


def test_sha1_signature_is_not_good_enough() -> None:
    status = """\
[GNUPG:] NEWSIG
[GNUPG:] GOODSIG 6ED0E7B82643E131 someone
[GNUPG:] VALIDSIG 4CB50190207B4758A3F73A796ED0E7B82643E131 2026-07-11 1783765031 0 4 0 1 2 01 X
"""
    with pytest.raises(SignatureError) as info:
        _judge(_parse_status(status), "InRelease", Path("k.gpg"), "")
    assert str(info.value) == (
        "InRelease has no good signature: key 6ED0E7B82643E131 signed with the weak digest SHA1"
    )


def test_no_signature_at_all() -> None:
    with pytest.raises(SignatureError) as info:
        _judge(_parse_status("[GNUPG:] NODATA 1\n"), "InRelease", Path("k.gpg"), "gpgv: no signature")
    assert str(info.value) == "InRelease is not signed (gpgv found no signature): gpgv: no signature"


def test_parse_release() -> None:
    release = parse_release(RELEASE)
    assert release.origin == "Debian"
    assert (release.suite, release.codename) == ("stable", "bookworm")
    assert release.date == datetime(2026, 7, 11, 10, 16, 37, tzinfo=UTC)
    assert release.valid_until == datetime(2026, 7, 18, 10, 16, 37, tzinfo=UTC)
    assert release.architectures == ("all", "amd64", "arm64")
    assert release.components == ("main", "contrib")
    assert release.acquire_by_hash is True
    assert release.files == {
        "main/binary-amd64/Packages.xz": FileHash(size=8790396, sha256="a" * 64),
        "main/binary-amd64/Packages": FileHash(size=50060337, sha256="b" * 64),
    }
    assert release.fields["No-Support-for-Architecture-all"] == "Packages"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"Suite: x\nSHA256:\n", "signed Release has no Date field"),
        (
            b"Date: Sat, 11 Jul 2026 10:16:37 UTC\n",
            "signed Release has no SHA256 field (MD5Sum and SHA1 are not trusted)",
        ),
        (b"Date: yesterday\nSHA256:\n", "signed Release has a malformed Date: 'yesterday'"),
        (
            b"Date: Sat, 11 Jul 2026 10:16:37 UTC\nSHA256:\n abc 12 main/x\n",
            "signed Release has a malformed SHA256 line: 'abc 12 main/x'",
        ),
        (b"Suite: x\n\nSuite: y\n", "signed Release line 3: more than one paragraph"),
        (b" x\n", "signed Release line 1: continuation outside a field"),
        (b"Bad line\n", "signed Release line 1: expected 'Field: value', got 'Bad line'"),
    ],
)
def test_parse_release_errors(text: bytes, message: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_release(text)
    assert str(info.value) == message


def _release(date: datetime, valid_until: datetime | None) -> Release:
    return Release(
        origin="",
        suite="stable",
        codename="",
        date=date,
        valid_until=valid_until,
        architectures=(),
        components=(),
        acquire_by_hash=False,
        files={},
        fields={},
    )


NOW = datetime(2026, 8, 1, 12, 0, 0, tzinfo=UTC)


def test_expired_valid_until_is_refused_unless_disabled() -> None:
    release = _release(NOW - timedelta(days=10), NOW - timedelta(days=3))
    with pytest.raises(SignatureError) as info:
        check_freshness(release, NOW, check_valid_until=True)
    assert str(info.value) == "Release expired at 2026-07-29 12:00:00 UTC (now 2026-08-01 12:00:00 UTC)"
    assert "check-valid-until: false" in info.value.hint
    check_freshness(release, NOW, check_valid_until=False)


def test_future_date_is_refused_even_without_valid_until_checks() -> None:
    release = _release(NOW + timedelta(hours=1), None)
    with pytest.raises(SignatureError) as info:
        check_freshness(release, NOW, check_valid_until=False)
    assert str(info.value) == (
        "Release is dated 2026-08-01 13:00:00 UTC, in the future (now 2026-08-01 12:00:00 UTC)"
    )


def test_small_clock_skew_and_naive_now_are_fine() -> None:
    release = _release(NOW + timedelta(minutes=5), NOW + timedelta(days=7))
    check_freshness(release, NOW.replace(tzinfo=None), check_valid_until=True)
