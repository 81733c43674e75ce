"""Hash bins bound what one tag's verification reads: flat from 10 to 10,000 tags.

Measured here (metadata bytes a cold client reads to verify one tag; the snapshot, 256 entries,
is most of it): about 13.5 KB at 10 tags, 14.3 KB at 1,000 and 18.4 KB at 10,000, against
3 KB, 120 KB and 1.19 MB for one flat targets role. A warm client reads only
``timestamp.json`` (about 470 bytes) while nothing changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockwright.oci.digest import Digest
from dockwright.trust import MemoryMetadataStore
from tests.unit.trust_support import Keys, client, make_repo, manifest


def _bytes_to_verify(tags: int, tmp_path: Path, *, bin_bits: int = 8) -> tuple[int, int]:
    """Sign ``tags`` tags; return the bytes a cold and then a warm client read for one of them."""
    store = MemoryMetadataStore("127.0.0.1:5000/team/app")
    repo = make_repo(store, Keys(), bin_bits=bin_bits)
    for start in range(0, tags, 2500):
        repo.sign_tags({f"build-{i}": manifest(i) for i in range(start, min(tags, start + 2500))})
    cold = client(store, tmp_path)
    assert cold.tag("build-7").digest == Digest.of(manifest(7))
    warm = client(store, tmp_path)
    assert warm.tag("build-7").digest == Digest.of(manifest(7))
    assert warm.stats.files == ["timestamp.json"]
    return cold.stats.bytes, warm.stats.bytes


@pytest.mark.slow
def test_bytes_per_verification_stay_flat_with_hash_bins(tmp_path: Path) -> None:
    measured = {n: _bytes_to_verify(n, tmp_path / str(n)) for n in (10, 1000, 10_000)}
    cold = {n: c for n, (c, _) in measured.items()}
    assert cold[10_000] < 1.6 * cold[10]
    assert cold[10_000] < 24_000
    assert all(w < 1000 for _, w in measured.values())
    flat, _ = _bytes_to_verify(10_000, tmp_path / "flat", bin_bits=0)
    assert flat > 50 * cold[10_000]
