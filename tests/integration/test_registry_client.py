"""The registry client against Debian's real ``docker-registry`` (2.8) on 127.0.0.1.

Blobs go up monolithic, chunked and mounted, come back verified (also resumed from a partial
file); manifests are put under tags and read back by tag and digest; tags are listed; an artifact
with a ``subject`` is found through the referrers tag schema (2.8 has no referrers API), with the
``sha256-<hex>`` index pushed here as the transfer engine does in production. One TLS test goes
through the basic-auth registry with the test CA in ``cert_dir``. ``test_throughput`` prints MB/s.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from dockwright.oci.descriptor import OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index, Manifest
from dockwright.registry import BlobNotFound, ManifestNotFound, RegistryClient, RepositoryNotFound
from tests.integration.registry_fixtures import RunningRegistry, registry_anon, registry_basic

pytestmark = pytest.mark.integration
__all__ = ["registry_anon", "registry_basic"]  # session fixtures used below

EMPTY = b"{}"
SBOM_TYPE = "application/spdx+json"
SIG_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def opener(path: Path) -> Callable[[int], BinaryIO]:
    def open_at(offset: int) -> BinaryIO:
        stream = open(path, "rb")  # noqa: SIM115 - the client closes it
        stream.seek(offset)
        return stream

    return open_at


@pytest.fixture
def client(registry_anon: RunningRegistry) -> Iterator[RegistryClient]:
    with RegistryClient(registry_anon.registry, plain_http=True) as c:
        yield c


@pytest.fixture
def blob_file(tmp_path: Path) -> tuple[Path, Digest, int]:
    data = os.urandom(3 * 1024 * 1024 + 12345)
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path, Digest.of(data), len(data)


def _push_bytes(client: RegistryClient, repo: str, data: bytes) -> Descriptor:
    digest = Digest.of(data)
    client.upload_blob(repo, digest, len(data), lambda offset: io.BytesIO(data[offset:]))
    return Descriptor(media_type=OCI_EMPTY, digest=digest, size=len(data))


def test_ping(client: RegistryClient) -> None:
    client.ping()


def test_monolithic_push_and_verified_pull(
    client: RegistryClient, blob_file: tuple[Path, Digest, int], tmp_path: Path
) -> None:
    path, digest, size = blob_file
    assert client.blob_size("it/mono", digest) is None
    client.upload_blob("it/mono", digest, size, opener(path))
    assert client.blob_size("it/mono", digest) == size
    out_path = tmp_path / "out"
    with open(out_path, "wb") as out:
        client.fetch_blob("it/mono", digest, out, size=size)
    assert out_path.read_bytes() == path.read_bytes()


def test_chunked_push(client: RegistryClient, blob_file: tuple[Path, Digest, int]) -> None:
    path, digest, size = blob_file
    progress: list[int] = []
    client.upload_blob(
        "it/chunked", digest, size, opener(path), chunk_size=1024 * 1024, on_progress=progress.append
    )
    assert client.blob_size("it/chunked", digest) == size
    assert progress[-1] == size
    out = io.BytesIO()
    client.fetch_blob("it/chunked", digest, out, size=size)
    assert out.getvalue() == path.read_bytes()


def test_mount_from_another_repository(client: RegistryClient, blob_file: tuple[Path, Digest, int]) -> None:
    path, digest, size = blob_file
    client.upload_blob("it/mount-src", digest, size, opener(path))
    assert client.mount_blob("it/mount-dst", digest, "it/mount-src") is True
    assert client.blob_size("it/mount-dst", digest) == size
    absent = Digest.of(b"never pushed")
    assert client.mount_blob("it/mount-dst", absent, "it/mount-src") is False


def test_resume_from_a_partial_file(
    client: RegistryClient, blob_file: tuple[Path, Digest, int], tmp_path: Path
) -> None:
    path, digest, size = blob_file
    client.upload_blob("it/resume", digest, size, opener(path))
    partial = tmp_path / "partial"
    partial.write_bytes(path.read_bytes()[:1_000_000])
    with open(partial, "r+b") as out:
        client.fetch_blob("it/resume", digest, out, size=size, offset=1_000_000)
    assert partial.read_bytes() == path.read_bytes()


class FlakyTransport(httpx.HTTPTransport):
    """The real transport, with faults: the second PATCH fails before it reaches the registry
    (``lost="request"``) or after the registry acted on it (``lost="answer"``), and the first
    blob download drops after ``drop_after`` bytes."""

    def __init__(self, lost: str, drop_after: int) -> None:
        super().__init__()
        self.lost = lost
        self.drop_after = drop_after
        self.methods: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        second_patch = request.method == "PATCH" and self.methods.count("PATCH") == 2
        if second_patch and self.lost == "request":
            raise httpx.ConnectError("connection refused", request=request)
        response = super().handle_request(request)
        if second_patch and self.lost == "answer":
            response.close()
            raise httpx.ReadError("answer lost", request=request)
        if request.method == "GET" and "/blobs/sha256:" in request.url.path and self.drop_after:
            response.stream = _Truncated(response.stream, self.drop_after)  # type: ignore[arg-type]
            self.drop_after = 0
        return response


class _Truncated(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for chunk in self._inner:
            if sent + len(chunk) >= self._limit:
                yield chunk[: self._limit - sent]
                raise httpx.ReadError("connection reset by peer")
            sent += len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize(
    ("lost", "offsets", "methods"),
    [
        # the registry holds 1 MiB: ask (GET -> Range: 0-1048575) and go on from there
        ("request", [0, 1, 2, 3], ["POST", "PATCH", "PATCH", "GET", "PATCH", "PATCH", "PATCH", "PUT"]),
        # the registry stored the chunk, but 2.8 signs the offset into the Location's _state: the
        # old Location no longer matches, and 2.8 cancels the session (404). Start over, once.
        (
            "answer",
            [0, 1, 0, 1, 2, 3],
            ["POST", "PATCH", "PATCH", "GET", "POST", "PATCH", "PATCH", "PATCH", "PATCH", "PUT"],
        ),
    ],
)
def test_chunked_push_and_pull_recover_from_lost_connections(
    registry_anon: RunningRegistry,
    blob_file: tuple[Path, Digest, int],
    lost: str,
    offsets: list[int],
    methods: list[str],
) -> None:
    path, digest, size = blob_file
    transport = FlakyTransport(lost, drop_after=1_500_000)
    opened: list[int] = []

    def open_at(offset: int) -> BinaryIO:
        opened.append(offset)
        return opener(path)(offset)

    repo = f"it/flaky-{lost}"
    with RegistryClient(registry_anon.registry, plain_http=True, transport=transport) as client:
        client.upload_blob(repo, digest, size, open_at, chunk_size=1 << 20)
        assert opened == [n << 20 for n in offsets]
        assert transport.methods == methods
        out = io.BytesIO()
        client.fetch_blob(repo, digest, out, size=size)
    assert out.getvalue() == path.read_bytes()
    assert transport.methods[-2:] == ["GET", "GET"]


def test_missing_things(client: RegistryClient) -> None:
    absent = Digest.of(b"absent")
    assert client.blob_size("it/missing", absent) is None
    with pytest.raises(BlobNotFound):
        client.fetch_blob("it/missing", absent, io.BytesIO())
    with pytest.raises(ManifestNotFound):
        client.get_manifest("it/missing", "v1")
    assert client.manifest_exists("it/missing", "v1") is None
    with pytest.raises(RepositoryNotFound):
        client.list_tags("it/missing")


def _push_image(client: RegistryClient, repo: str, tags: list[str]) -> tuple[bytes, Digest]:
    config = _push_bytes(
        client, repo, b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    )
    layer = _push_bytes(client, repo, os.urandom(4096))
    manifest = Manifest(
        config=Descriptor(
            media_type="application/vnd.oci.image.config.v1+json", digest=config.digest, size=config.size
        ),
        layers=(Descriptor(media_type=OCI_LAYER, digest=layer.digest, size=layer.size),),
    ).to_json()
    digest = Digest.of(manifest)
    for tag in tags:
        assert client.put_manifest(repo, tag, manifest, OCI_MANIFEST) == digest
    return manifest, digest


def test_manifests_and_tags(client: RegistryClient) -> None:
    manifest, digest = _push_image(client, "it/image", ["v1", "v2", "latest"])
    expected = Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(manifest))
    assert client.manifest_exists("it/image", "v1") == expected
    assert client.manifest_exists("it/image", str(digest)) == expected
    for reference in ("v2", str(digest)):
        fetched = client.get_manifest("it/image", reference)
        assert (fetched.data, fetched.media_type, fetched.digest) == (manifest, OCI_MANIFEST, digest)
    assert sorted(client.list_tags("it/image")) == ["latest", "v1", "v2"]


def _push_artifact(client: RegistryClient, repo: str, subject: Descriptor, artifact_type: str) -> Descriptor:
    empty = _push_bytes(client, repo, EMPTY)
    payload = _push_bytes(client, repo, b'{"artifact": "%s"}' % artifact_type.encode())
    manifest = Manifest(
        config=Descriptor(media_type=OCI_EMPTY, digest=empty.digest, size=empty.size),
        layers=(Descriptor(media_type=artifact_type, digest=payload.digest, size=payload.size),),
        subject=subject,
        artifact_type=artifact_type,
    ).to_json()
    digest = client.put_manifest(repo, str(Digest.of(manifest)), manifest, OCI_MANIFEST)
    return Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(manifest), artifact_type=artifact_type)


def test_referrers_through_the_tag_schema(client: RegistryClient) -> None:
    manifest, digest = _push_image(client, "it/signed", ["v1"])
    subject = Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(manifest))
    assert client.referrers("it/signed", digest) == []
    sbom = _push_artifact(client, "it/signed", subject, SBOM_TYPE)
    sig = _push_artifact(client, "it/signed", subject, SIG_TYPE)
    # the pusher's job: the referrers tag schema index
    index = Index(manifests=(sbom, sig)).to_json()
    client.put_manifest("it/signed", f"sha256-{digest.hex}", index, OCI_INDEX)
    assert client.referrers("it/signed", digest) == [sbom, sig]
    assert client.referrers("it/signed", digest, artifact_type=SIG_TYPE) == [sig]
    fetched = client.get_manifest("it/signed", str(sbom.digest))
    assert Manifest.from_json(fetched.data).subject == subject


def test_tls_with_cert_dir_and_basic_auth(registry_basic: RunningRegistry) -> None:
    from dockwright.registry.auth import RegistryAuth
    from dockwright.registry.credentials import Credentials

    user, password = next(iter(registry_basic.users.items()))
    auth = RegistryAuth(Credentials(username=user, password=password))
    with auth, RegistryClient(registry_basic.registry, cert_dir=registry_basic.cert_dir, auth=auth) as client:
        client.ping()
        desc = _push_bytes(client, "it/tls", b"over tls")
        out = io.BytesIO()
        client.fetch_blob("it/tls", desc.digest, out)
        assert out.getvalue() == b"over tls"


@pytest.mark.slow
def test_throughput(client: RegistryClient, tmp_path: Path) -> None:
    size = 128 * 1024 * 1024
    path = tmp_path / "big"
    path.write_bytes(os.urandom(size))
    digest = Digest.of(path.read_bytes())
    mib = size / (1024 * 1024)
    results = {}
    for name, repo, chunk in (
        ("push monolithic", "it/big-mono", None),
        ("push chunked 16 MiB", "it/big-chunk", 16 << 20),
    ):
        start = time.perf_counter()
        client.upload_blob(repo, digest, size, opener(path), chunk_size=chunk)
        results[name] = mib / (time.perf_counter() - start)
    out_path = tmp_path / "out"
    start = time.perf_counter()
    with open(out_path, "wb") as out:
        client.fetch_blob("it/big-mono", digest, out, size=size)
    results["pull (verified)"] = mib / (time.perf_counter() - start)
    print()
    for name, rate in results.items():
        print(f"{name}: {rate:.0f} MiB/s ({mib:.0f} MiB)")
