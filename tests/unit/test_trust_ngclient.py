"""python-tuf's own client reads the published metadata unchanged: plain files over plain HTTP.

The metadata written to an OCI layout is copied byte for byte into a directory, served by the
loopback ``http_server``, and read by a stock ``tuf.ngclient.Updater`` with its default HTTP
fetcher: no dockwright code on the client side.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tuf.ngclient import Updater

from dockwright.oci.digest import Digest
from dockwright.trust import OciLayoutMetadataStore, RoleKeys
from tests.unit.trust_support import Keys, make_repo, manifest


def test_stock_updater_reads_the_metadata(tmp_path: Path, url_for: Callable[[Path], str]) -> None:
    keys = Keys()
    store = OciLayoutMetadataStore(tmp_path / "layout")
    repo = make_repo(store, keys, bin_bits=4)
    for signer in (*keys.ci, keys.release):
        repo.add_signer(signer)
    repo.delegate("ci", ["ci-*"], RoleKeys.of(*keys.ci), bin_bits=2)
    repo.delegate("release", ["v*"], RoleKeys.of(keys.release))
    repo.sign_tags({"latest": manifest(1), "v1.0": manifest(2), "ci-42": manifest(3)})
    repo.rotate("timestamp", RoleKeys.of(keys.timestamp))  # a second root version to walk to
    published = tmp_path / "published"
    published.mkdir()
    for name in store.names():
        data = store.get(name)
        assert data is not None
        (published / name).write_bytes(data)
    cache = tmp_path / "cache"
    cache.mkdir()
    updater = Updater(
        str(cache), url_for(published) + "/", bootstrap=(published / "1.root.json").read_bytes()
    )
    for tag, n in (("latest", 1), ("v1.0", 2), ("ci-42", 3)):
        info = updater.get_targetinfo(f"tags/{tag}")
        assert info is not None, tag
        assert info.length == len(manifest(n))
        assert f"sha256:{info.hashes['sha256']}" == str(Digest.of(manifest(n)))
    assert updater.get_targetinfo("tags/v9") is None
    assert (cache / "root_history" / "2.root.json").is_file()
