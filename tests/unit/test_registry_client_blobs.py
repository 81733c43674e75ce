"""The distribution-spec client's blobs: size, download with resume and digest checks, monolithic and
chunked upload, mount.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dockwright.errors import DigestMismatchError, InputError
from dockwright.net.http import RetryPolicy
from dockwright.oci.digest import Digest
from dockwright.registry import (
    BlobNotFound,
    NotFoundError,
    RegistryClient,
    RegistryError,
)
from tests.unit.registry_fake import (
    BASE,
    BLOB,
    FakeRegistry,
    _Dropping,
    _error,
    is_,
    make_client,
    once,
    opener,
    raise_read_error,
)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def client(registry: FakeRegistry) -> Iterator[RegistryClient]:
    with make_client(registry) as c:
        yield c


# -- blobs: HEAD and download ---------------------------------------------------------------


def test_blob_size(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    assert client.blob_size("app", digest) == len(BLOB)
    assert client.blob_size("app", Digest.of(b"absent")) is None
    assert client.blob_size("other", digest) is None


def test_fetch_blob(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("team/app", BLOB)
    out = io.BytesIO()
    progress: list[int] = []
    client.fetch_blob("team/app", digest, out, size=len(BLOB), on_progress=progress.append)
    assert out.getvalue() == BLOB
    assert progress[-1] == len(BLOB)
    assert registry.requests[0].headers["Accept-Encoding"] == "identity"


def test_fetch_blob_resumes_a_dropped_download(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    registry.faults.append(
        once(is_("GET", "/blobs/"), lambda r: httpx.Response(200, stream=_Dropping(BLOB[:100_000])))
    )
    out = io.BytesIO()
    client.fetch_blob("app", digest, out, size=len(BLOB))
    assert out.getvalue() == BLOB
    assert [r.headers.get("Range") for r in registry.requests] == [None, "bytes=100000-"]


def test_fetch_blob_keeps_resuming_while_bytes_arrive(registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)

    def drop_after_some(request: httpx.Request) -> httpx.Response | None:
        start = int(request.headers.get("Range", "bytes=0-").removeprefix("bytes=").split("-")[0])
        if request.method != "GET" or start >= 200_000:
            return None
        return httpx.Response(
            206,
            stream=_Dropping(BLOB[start : start + 40_000]),
            headers={"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"},
        )

    registry.faults.append(drop_after_some)
    out = io.BytesIO()
    with make_client(registry, retry=RetryPolicy(attempts=2, backoff_base=0)) as client:
        client.fetch_blob("app", digest, out)
    assert out.getvalue() == BLOB
    assert len(registry.requests) == 6  # 5 drops with progress do not use up the 2 attempts


def test_fetch_blob_resume_when_the_server_ignores_range(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    digest = registry.add_blob("app", BLOB)
    registry.faults.append(once(is_("GET"), lambda r: httpx.Response(200, stream=_Dropping(BLOB[:5000]))))
    registry.faults.append(lambda r: httpx.Response(200, content=BLOB) if "Range" in r.headers else None)
    out = io.BytesIO()
    client.fetch_blob("app", digest, out, size=len(BLOB))
    assert out.getvalue() == BLOB


def test_fetch_blob_resumes_from_a_partial_file(
    client: RegistryClient, registry: FakeRegistry, tmp_path: Path
) -> None:
    digest = registry.add_blob("app", BLOB)
    path = tmp_path / "partial"
    path.write_bytes(BLOB[:1000] + b"junk after the offset")
    progress: list[int] = []
    with open(path, "r+b") as out:
        client.fetch_blob("app", digest, out, size=len(BLOB), offset=1000, on_progress=progress.append)
    assert path.read_bytes() == BLOB
    assert registry.requests[0].headers["Range"] == "bytes=1000-"
    assert progress[0] > 1000


def test_fetch_blob_hashes_the_prefix_it_did_not_download(
    client: RegistryClient, registry: FakeRegistry, tmp_path: Path
) -> None:
    digest = registry.add_blob("app", BLOB)
    path = tmp_path / "partial"
    path.write_bytes(b"X" + BLOB[1:1000])
    with open(path, "r+b") as out, pytest.raises(DigestMismatchError):
        client.fetch_blob("app", digest, out, offset=1000)


def test_fetch_blob_offset_needs_a_readable_file(
    client: RegistryClient, registry: FakeRegistry, tmp_path: Path
) -> None:
    digest = registry.add_blob("app", BLOB)
    (tmp_path / "partial").write_bytes(BLOB[:10])
    with open(tmp_path / "partial", "ab") as out, pytest.raises(InputError, match="open the file 'r\\+b'"):
        client.fetch_blob("app", digest, out, offset=10)


def test_a_corrupted_byte_raises_digest_mismatch(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    registry.corrupt_blobs = True
    with pytest.raises(DigestMismatchError) as caught:
        client.fetch_blob("app", digest, io.BytesIO(), size=len(BLOB))
    assert caught.value.message.startswith(
        f"GET {BASE}/v2/app/blobs/{digest}: the bytes received have digest"
    )
    assert len(registry.requests) == 1  # never retried


def test_a_corrupted_byte_after_a_resume_is_caught(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    bad = BLOB[:50] + b"\x00" + BLOB[51:1000]
    registry.faults.append(once(is_("GET"), lambda r: httpx.Response(200, stream=_Dropping(bad))))
    with pytest.raises(DigestMismatchError):
        client.fetch_blob("app", digest, io.BytesIO())


def test_more_bytes_than_the_size_are_refused(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    with pytest.raises(DigestMismatchError, match="larger than 1000 bytes"):
        client.fetch_blob("app", digest, io.BytesIO(), size=1000)


def test_fewer_bytes_than_the_size_are_refused(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("app", BLOB)
    with pytest.raises(DigestMismatchError, match=f"got {len(BLOB)} bytes, expected {len(BLOB) + 1}"):
        client.fetch_blob("app", digest, io.BytesIO(), size=len(BLOB) + 1)


def test_missing_blob_raises_blob_not_found(client: RegistryClient) -> None:
    digest = Digest.of(b"absent")
    with pytest.raises(BlobNotFound) as caught:
        client.fetch_blob("app", digest, io.BytesIO())
    assert caught.value.message == f"GET {BASE}/v2/app/blobs/{digest}: HTTP 404 BLOB_UNKNOWN: blob_unknown"
    assert isinstance(caught.value, NotFoundError)


def test_redirect_loops_stop(client: RegistryClient, registry: FakeRegistry) -> None:
    registry.faults.append(lambda r: httpx.Response(302, headers={"Location": "/v2/"}))
    with pytest.raises(RegistryError, match="more than 5 redirects"):
        client.ping()


# -- blobs: upload and mount ----------------------------------------------------------------


def test_monolithic_upload(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(BLOB)
    progress: list[int] = []
    client.upload_blob("app", digest, len(BLOB), opener(BLOB), on_progress=progress.append)
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PUT"]
    put = registry.requests[1]
    assert put.url.params["digest"] == str(digest)
    assert "_state" in put.url.params  # the Location's own query is kept
    assert put.headers["Content-Length"] == str(len(BLOB))
    assert progress[-1] == len(BLOB)


def test_monolithic_upload_restarts_after_a_failure(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(BLOB)
    calls: list[int] = []
    registry.faults.append(once(is_("PUT"), raise_read_error))
    client.upload_blob("app", digest, len(BLOB), opener(BLOB, calls))
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PUT", "POST", "PUT"]
    assert calls == [0, 0]


def test_empty_blob_upload(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(b"")
    client.upload_blob("app", digest, 0, opener(b""))
    client.upload_blob("app2", digest, 0, opener(b""), chunk_size=10)
    assert registry.blobs["app"][str(digest)] == b""
    assert registry.blobs["app2"][str(digest)] == b""


def test_chunked_upload(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(BLOB)
    calls: list[int] = []
    client.upload_blob("app", digest, len(BLOB), opener(BLOB, calls), chunk_size=100_000)
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PATCH", "PATCH", "PATCH", "PUT"]
    ranges = [r.headers["Content-Range"] for r in registry.requests if r.method == "PATCH"]
    assert ranges == ["0-99999", "100000-199999", "200000-255999"]
    assert calls == [0, 100_000, 200_000]
    final = registry.requests[-1]
    assert final.content == b""
    assert final.url.params["digest"] == str(digest)


def test_chunked_upload_resumes_from_what_the_registry_holds(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    """A PATCH drops after the registry stored part of it: ask (GET -> Range 0-N), go on at N+1."""
    digest = Digest.of(BLOB)
    calls: list[int] = []

    def store_part_then_drop(request: httpx.Request) -> httpx.Response:
        session = request.url.path.rsplit("/", 1)[1]
        registry.uploads[session][1].extend(request.content[:30_000])
        raise httpx.ReadError("connection reset by peer", request=request)

    registry.faults.append(
        once(
            lambda r: r.method == "PATCH" and r.headers["Content-Range"].startswith("100000-"),
            store_part_then_drop,
        )
    )
    client.upload_blob("app", digest, len(BLOB), opener(BLOB, calls), chunk_size=100_000)
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PATCH", "PATCH", "GET", "PATCH", "PATCH", "PUT"]
    assert calls == [0, 100_000, 130_000, 230_000]
    ranges = [r.headers["Content-Range"] for r in registry.requests if r.method == "PATCH"]
    assert ranges == ["0-99999", "100000-199999", "130000-229999", "230000-255999"]


def test_chunked_upload_with_absolute_locations_and_a_range_mismatch(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    registry.absolute_locations = True
    digest = Digest.of(BLOB)
    # the first PATCH is refused with 416 (say, a proxy replayed it): ask, then go on
    registry.faults.append(once(is_("PATCH"), lambda r: _error(416, "BLOB_UPLOAD_INVALID")))
    client.upload_blob("app", digest, len(BLOB), opener(BLOB), chunk_size=200_000)
    assert registry.blobs["app"][str(digest)] == BLOB
    assert [r.method for r in registry.requests] == ["POST", "PATCH", "GET", "PATCH", "PATCH", "PUT"]


def test_upload_uuid_without_location(client: RegistryClient, registry: FakeRegistry) -> None:
    session = "0d9b1a0e-5d0e-4a8e-8a4c-1b1f0f0e0e0e"
    registry.uploads[session] = ("app", bytearray())
    registry.faults.append(
        once(is_("POST"), lambda r: httpx.Response(202, headers={"Docker-Upload-UUID": session}))
    )
    client.upload_blob("app", Digest.of(b"abc"), 3, opener(b"abc"))
    assert registry.seen("PUT")[0].startswith(f"PUT /v2/app/blobs/uploads/{session}?digest=sha256%3A")


def test_lost_answer_to_the_final_put_finds_the_blob_there(
    client: RegistryClient, registry: FakeRegistry
) -> None:
    digest = Digest.of(BLOB)

    def finish_then_drop(request: httpx.Request) -> httpx.Response:
        registry.faults.clear()
        registry(request)
        raise httpx.ReadError("connection reset by peer", request=request)

    registry.faults.append(once(is_("PUT"), finish_then_drop))
    client.upload_blob("app", digest, len(BLOB), opener(BLOB), chunk_size=200_000)
    assert [r.method for r in registry.requests][-3:] == ["PUT", "PUT", "HEAD"]


def test_upload_of_wrong_bytes_raises_digest_mismatch(client: RegistryClient, registry: FakeRegistry) -> None:
    with pytest.raises(DigestMismatchError) as caught:
        client.upload_blob("app", Digest.of(b"other"), 3, opener(b"abc"))
    assert "DIGEST_INVALID" in caught.value.message
    assert caught.value.message == (
        f"the registry refused blob {Digest.of(b'other')} (DIGEST_INVALID): the bytes sent do not have that digest"
    )
    assert [r.method for r in registry.requests] == ["POST", "PUT"]


def test_upload_source_that_ends_early_is_refused(client: RegistryClient, registry: FakeRegistry) -> None:
    with pytest.raises(
        DigestMismatchError, match="the upload source ended at byte 3, before the expected 10"
    ):
        client.upload_blob("app", Digest.of(b"abc"), 10, opener(b"abc"))


def test_mount_201_is_true(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = registry.add_blob("base", BLOB)
    assert client.mount_blob("app", digest, "base") is True
    assert registry.blobs["app"][str(digest)] == BLOB
    assert registry.seen() == [f"POST /v2/app/blobs/uploads/?mount=sha256%3A{digest.hex}&from=base"]


def test_mount_202_cancels_the_session_and_is_false(client: RegistryClient, registry: FakeRegistry) -> None:
    digest = Digest.of(BLOB)
    assert client.mount_blob("app", digest, "base") is False
    assert [r.method for r in registry.requests] == ["POST", "DELETE"]
    assert registry.uploads == {}


def test_each_thread_reads_bodies_into_its_own_buffer_made_once() -> None:
    import threading

    from dockwright.registry import _download

    mine = _download._read_buffer()
    assert _download._read_buffer() is mine  # the next blob of this thread: no new allocation
    theirs: list[bytearray] = []
    thread = threading.Thread(target=lambda: theirs.append(_download._read_buffer()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine  # threads fetching at once never share one
