from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dockwright.errors import DigestMismatchError, InputError
from dockwright.net.cache import BlobCache, default_cache_root

DATA = bytes(range(256)) * 1000
SHA = hashlib.sha256(DATA).hexdigest()


def _leftovers(cache: BlobCache) -> list[str]:
    return sorted(p.name for p in (cache.root / "tmp").iterdir())


def test_write_verify_and_rename(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    assert cache.path(SHA) is None
    with cache.writer(SHA, len(DATA)) as w:
        assert (w.offset, w.remaining) == (0, len(DATA))
        for i in range(0, len(DATA), 1000):
            w.write(DATA[i : i + 1000])
    path = cache.path(SHA, verify=True)
    assert path == tmp_path / "sha256" / SHA
    assert path.read_bytes() == DATA
    assert _leftovers(cache) == []


def test_digest_mismatch_removes_the_partial(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    corrupt = b"X" + DATA[1:]
    with pytest.raises(DigestMismatchError) as info, cache.writer(SHA, len(DATA), label="pkg.deb") as w:
        w.write(corrupt)
    assert str(info.value) == (
        f"pkg.deb: sha256 mismatch: expected {SHA}, got {hashlib.sha256(corrupt).hexdigest()}"
    )
    assert cache.path(SHA) is None
    assert _leftovers(cache) == []


def test_short_blob_is_a_size_mismatch(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    with pytest.raises(DigestMismatchError) as info, cache.writer(SHA, len(DATA)) as w:
        w.write(DATA[:10])
    assert str(info.value) == f"blob sha256:{SHA}: size mismatch: expected {len(DATA)} bytes, got 10"
    assert _leftovers(cache) == []


def test_long_blob_is_refused_while_writing(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    with pytest.raises(DigestMismatchError) as info, cache.writer(SHA, 10) as w:
        w.write(DATA[:11])
    assert str(info.value) == f"blob sha256:{SHA}: size mismatch: expected 10 bytes, got more"
    assert _leftovers(cache) == []


def test_interrupted_write_keeps_the_partial_and_resumes(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    with pytest.raises(ConnectionResetError), cache.writer(SHA, len(DATA)) as w:
        w.write(DATA[:5000])
        raise ConnectionResetError
    assert cache.path(SHA) is None
    assert cache.partial_size(SHA) == 5000
    with cache.writer(SHA, len(DATA)) as w:
        assert (w.offset, w.remaining) == (5000, len(DATA) - 5000)
        w.write(DATA[5000:])
    assert cache.path(SHA, verify=True) is not None
    assert cache.partial_size(SHA) == 0


def test_corrupt_partial_fails_on_resume_and_is_removed(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / f"{SHA}.partial").write_bytes(b"garbage")
    with pytest.raises(DigestMismatchError), cache.writer(SHA, len(DATA)) as w:
        assert w.offset == 7
        w.write(DATA[7:])
    assert cache.partial_size(SHA) == 0


def test_partial_longer_than_the_blob_starts_over(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / f"{SHA}.partial").write_bytes(DATA + b"more")
    with cache.writer(SHA, len(DATA)) as w:
        assert w.offset == 0
        w.write(DATA)
    assert cache.path(SHA, verify=True) is not None


def test_writer_for_a_cached_blob_has_nothing_to_do(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    cache.add(DATA, SHA)
    with cache.writer(SHA, len(DATA)) as w:
        assert w.remaining == 0
    assert _leftovers(cache) == []


def test_verify_removes_a_corrupt_entry(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    path = cache.add(DATA, SHA)
    path.write_bytes(b"bit rot")
    assert cache.path(SHA) == path  # without verify, presence is enough
    assert cache.path(SHA, verify=True) is None
    assert not path.exists()


def test_add_refuses_wrong_data_and_survives_a_corrupt_partial(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    with pytest.raises(DigestMismatchError) as info:
        cache.add(b"other", SHA, label="x")
    assert (
        str(info.value) == f"x: sha256 mismatch: expected {SHA}, got {hashlib.sha256(b'other').hexdigest()}"
    )
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / f"{SHA}.partial").write_bytes(b"garbage")
    assert cache.add(DATA, SHA).read_bytes() == DATA


@pytest.mark.parametrize("digest", ["abc", "A" * 64, "../" + "a" * 61])
def test_malformed_digest(tmp_path: Path, digest: str) -> None:
    with pytest.raises(InputError) as info:
        BlobCache(tmp_path).path(digest)
    assert str(info.value) == f"malformed sha256 digest {digest!r}: expected 64 lowercase hex digits"


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKWRIGHT_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert default_cache_root() == tmp_path / "a"
    assert BlobCache().root == tmp_path / "a"
    monkeypatch.delenv("DOCKWRIGHT_CACHE")
    assert default_cache_root() == tmp_path / "b" / "dockwright"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_root() == tmp_path / "home" / ".cache" / "dockwright"
