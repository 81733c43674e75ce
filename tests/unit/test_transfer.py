"""The copy engine against the in-memory registry: skip, mount, parallelism, resume, platforms, referrers.

Every test copies real images (written by ``write_image`` into OCI layouts, or docker-archives)
through :func:`dockwright.registry.transfer.copy_image` and the registry stores, with
:class:`tests.fakeregistry.FakeRegistry` in place of the HTTP client. No sockets.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dockwright.cli import registry_cmds
from dockwright.cli.registry_cmds import register
from dockwright.errors import DigestMismatchError, InputError, NetworkError
from dockwright.oci.descriptor import ANNOTATION_REF_NAME, OCI_INDEX, Descriptor
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index, Manifest
from dockwright.oci.layout import blob_path, read_oci_layout
from dockwright.oci.reference import DockerArchiveReference
from dockwright.registry import transfer
from dockwright.registry.content import ManifestBytes
from dockwright.registry.endpoints import RegistryOptions, copy, uses_plain_http
from dockwright.registry.reference import parse_registry_reference
from dockwright.registry.referrers import ArtifactFile, push_artifact, referrers_tag
from dockwright.registry.remote import RegistrySource, RegistryTarget
from dockwright.registry.store import ArchiveSource, LayoutSource, LayoutTarget
from dockwright.registry.transfer import TransferOptions, TransferReporter, copy_image
from tests.fakeregistry import FakeRegistry, make_image, make_index, random_bytes

HOST = "127.0.0.1:5000"
LAYERS = [b"one\n", b"two\n", b"three\n"]


def ref(text: str):
    return parse_registry_reference(f"docker://{HOST}/{text}")


def push(
    layout: Path, tag: str, fake: FakeRegistry, dest: str, **options: object
) -> transfer.TransferSummary:
    return copy_image(
        LayoutSource(layout, tag),
        RegistryTarget(fake, ref(dest)),
        TransferOptions(**options),  # type: ignore[arg-type]
    )


class Recorder(TransferReporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def _add(self, kind: str, d: Descriptor) -> None:
        with self.lock:
            self.events.append((kind, str(d.digest)))

    def blob_start(self, descriptor: Descriptor) -> None:
        self._add("start", descriptor)

    def blob_done(self, descriptor: Descriptor) -> None:
        self._add("done", descriptor)

    def blob_skipped(self, descriptor: Descriptor) -> None:
        self._add("skipped", descriptor)

    def blob_mounted(self, descriptor: Descriptor, from_repository: str) -> None:
        self._add("mounted", descriptor)

    def manifest_done(self, manifest: ManifestBytes) -> None:
        with self.lock:
            self.events.append(("manifest", str(manifest.digest)))


@pytest.fixture
def image(tmp_path: Path):
    layout = tmp_path / "src"
    return layout, make_image(layout, "v1", LAYERS)


def test_push_keeps_manifest_bytes_and_tags_last(image, tmp_path: Path) -> None:
    layout, built = image
    fake = FakeRegistry()
    reporter = Recorder()
    summary = copy_image(LayoutSource(layout, "v1"), RegistryTarget(fake, ref("app:1")), reporter=reporter)
    assert fake.tagged("app", "1") == built.manifest
    assert summary.digest == str(built.manifest_digest)
    assert (summary.blobs_sent, summary.blobs_skipped, summary.manifests) == (4, 0, 1)
    assert summary.bytes_sent == len(built.config) + sum(layer.size for layer in built.layers)
    assert fake.calls[-1] == ("put_manifest", "app", "1")  # the tag is the last write
    assert {e for e, _ in reporter.events} == {"start", "done", "manifest"}


def test_repush_sends_no_blob_bytes(image) -> None:
    layout, _ = image
    fake = FakeRegistry()
    push(layout, "v1", fake, "app:1")
    fake.uploads.clear()
    summary = push(layout, "v1", fake, "app:2")
    assert fake.uploads == []
    assert (summary.blobs_sent, summary.bytes_sent, summary.blobs_skipped) == (0, 0, 4)
    assert summary.bytes_skipped > 0


def test_blobs_go_in_parallel_up_to_jobs(tmp_path: Path) -> None:
    layout = tmp_path / "many"
    make_image(layout, "v1", [f"layer {i}\n".encode() for i in range(8)])
    fake = FakeRegistry()
    fake.upload_delay = 0.05
    push(layout, "v1", fake, "app:1", jobs=4)
    assert 2 <= fake.max_active_uploads <= 4
    serial = FakeRegistry()
    serial.upload_delay = 0.01
    push(layout, "v1", serial, "app:1", jobs=1)
    assert serial.max_active_uploads == 1


def test_small_blobs_go_beside_the_large_ones_from_the_start(tmp_path: Path) -> None:
    layout = tmp_path / "big"
    built = make_image(layout, "v1", [random_bytes(2 << 20, seed=1), random_bytes(3 << 20, seed=2)])
    fake = FakeRegistry()
    fake.upload_delay = 0.05
    reporter = Recorder()
    copy_image(
        LayoutSource(layout, "v1"), RegistryTarget(fake, ref("app:1")), TransferOptions(jobs=1), reporter
    )
    assert fake.max_active_uploads == 2  # one large blob at a time (jobs=1), the config beside it
    done = [digest for kind, digest in reporter.events if kind == "done"]
    assert done.index(str(built.config_digest)) < len(done) - 1  # not left for the end
    started = [digest for kind, digest in reporter.events if kind == "start"]
    layers = sorted(built.layers, key=lambda layer: -layer.size)
    assert [d for d in started if d != str(built.config_digest)] == [str(layer.digest) for layer in layers]


def test_same_registry_copy_mounts_from_the_source_repository(image) -> None:
    layout, built = image
    fake = FakeRegistry()
    push(layout, "v1", fake, "team/app:1")
    fake.uploads.clear()
    summary = copy(f"docker://{HOST}/team/app:1", f"docker://{HOST}/other/app:1", connect=lambda _: fake)
    assert summary.blobs_mounted == 4 and summary.blobs_sent == 0
    assert fake.uploads == []
    assert fake.tagged("other/app", "1") == built.manifest


def test_large_blobs_go_in_chunks_and_resume_after_a_drop(tmp_path: Path) -> None:
    layout = tmp_path / "big"
    built = make_image(layout, "v1", [random_bytes(300_000), b"small\n"])
    big = max(built.layers, key=lambda info: info.size)
    fake = FakeRegistry()
    fake.fail("drop_upload", big.digest, at=100_000)
    target = RegistryTarget(fake, ref("app:1"), chunk_size=64 << 10, monolithic_limit=64 << 10)
    copy_image(LayoutSource(layout, "v1"), target)
    chunked = dict(fake.uploads)
    assert chunked[big.digest] == 64 << 10
    assert chunked[built.config_digest] is None  # small: one request
    assert fake.blobs[big.digest] == blob_path(layout, big.digest).read_bytes()
    assert fake.tagged("app", "1") == built.manifest


def test_resume_from_a_docker_archive_reads_at_the_offset(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    make_image(tmp_path, None, [random_bytes(200_000, seed=3)], target=f"docker-archive:{archive}:app:1")
    source = ArchiveSource(DockerArchiveReference(path=str(archive)))
    top = source.resolve()
    layer = Manifest.from_json(top.data).layers[0]
    fake = FakeRegistry()
    fake.fail("drop_upload", layer.digest, at=70_000)
    copy_image(source, RegistryTarget(fake, ref("app:1"), chunk_size=50_000, monolithic_limit=50_000))
    assert Digest.of(fake.blobs[layer.digest]) == layer.digest
    assert fake.tagged("app", "1") == top.data


def test_a_corrupt_local_blob_is_never_pushed(image) -> None:
    layout, built = image
    path = blob_path(layout, built.layers[1].digest)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    fake = FakeRegistry()
    with pytest.raises(DigestMismatchError, match=str(built.layers[1].digest)):
        push(layout, "v1", fake, "app:1")
    assert "1" not in fake.repo("app").tags
    assert built.layers[1].digest not in fake.blobs


def test_a_failed_upload_fails_the_copy_and_puts_no_tag(image) -> None:
    layout, built = image
    fake = FakeRegistry()
    fake.fail("fail_upload", built.layers[0].digest)
    with pytest.raises(NetworkError, match="BLOB_UPLOAD_INVALID"):
        push(layout, "v1", fake, "app:1")
    assert fake.repo("app").tags == {}


def test_pull_writes_the_exact_manifest_and_verifies(image, tmp_path: Path) -> None:
    layout, built = image
    fake = FakeRegistry()
    push(layout, "v1", fake, "app:1")
    fake.fail("drop_fetch", built.layers[0].digest, at=5)
    out = tmp_path / "pulled"
    summary = copy_image(RegistrySource(fake, ref("app:1")), LayoutTarget(out, "latest"))
    pulled = read_oci_layout(out, "latest")
    assert pulled.manifest == built.manifest and summary.digest == str(built.manifest_digest)


def test_a_corrupt_pull_leaves_a_new_layout_absent(image, tmp_path: Path) -> None:
    layout, built = image
    fake = FakeRegistry()
    push(layout, "v1", fake, "app:1")
    fake.fail("corrupt_blob", built.layers[2].digest, at=3)
    out = tmp_path / "pulled"
    with pytest.raises(DigestMismatchError):
        copy_image(RegistrySource(fake, ref("app:1")), LayoutTarget(out, "latest"))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_a_corrupt_pull_leaves_an_existing_layout_unchanged(image, tmp_path: Path) -> None:
    layout, built = image
    fake = FakeRegistry()
    other = make_image(tmp_path / "other", "v2", [b"different\n"])
    copy_image(LayoutSource(tmp_path / "other", "v2"), RegistryTarget(fake, ref("app:2")))
    before = {p: p.read_bytes() for p in layout.rglob("*") if p.is_file()}
    fake.fail("corrupt_blob", other.layers[0].digest)
    with pytest.raises(DigestMismatchError):
        copy_image(RegistrySource(fake, ref("app:2")), LayoutTarget(layout, "v2"), TransferOptions(jobs=1))
    assert {p: p.read_bytes() for p in layout.rglob("*") if p.is_file()} == before
    assert read_oci_layout(layout, "v1").manifest == built.manifest


def test_destination_digest_must_match(image) -> None:
    layout, built = image
    wrong = Digest.of(b"other")
    with pytest.raises(InputError, match="names digest"):
        push(layout, "v1", FakeRegistry(), f"app@{wrong}")
    summary = push(layout, "v1", FakeRegistry(), f"app@{built.manifest_digest}")
    assert summary.digest == str(built.manifest_digest)


# --- multi-arch ---------------------------------------------------------------------------------


@pytest.fixture
def multi(tmp_path: Path):
    layout = tmp_path / "multi"
    amd = make_image(layout, "amd", [b"amd64 bits\n"], arch="amd64")
    arm = make_image(layout, "arm", [b"arm64 bits\n"], arch="arm64")
    index = make_index(layout, "multi", [(amd, "amd64", None), (arm, "arm64", "v8")])
    fake = FakeRegistry()
    copy_image(
        LayoutSource(layout, "multi"),
        RegistryTarget(fake, ref("app:multi")),
        TransferOptions(all_platforms=True),
    )
    return fake, index, amd, arm


def test_all_platforms_keeps_the_index_bytes(multi) -> None:
    fake, index, amd, arm = multi
    assert fake.tagged("app", "multi") == index
    assert {amd.manifest_digest, arm.manifest_digest} <= set(fake.repo("app").manifests)


def test_platform_selection(multi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _, amd, arm = multi
    summary = copy_image(
        RegistrySource(fake, ref("app:multi")),
        LayoutTarget(tmp_path / "arm"),
        TransferOptions(platform="linux/arm64"),
    )
    assert summary.digest == str(arm.manifest_digest)
    assert read_oci_layout(tmp_path / "arm").manifest == arm.manifest
    monkeypatch.setattr(transfer, "host_platform", lambda: "linux/amd64")
    summary = copy_image(RegistrySource(fake, ref("app:multi")), LayoutTarget(tmp_path / "amd", "x"))
    assert summary.digest == str(amd.manifest_digest)
    with pytest.raises(InputError, match=r"no image for linux/s390x; it has: linux/amd64, linux/arm64/v8"):
        copy_image(
            RegistrySource(fake, ref("app:multi")),
            LayoutTarget(tmp_path / "none"),
            TransferOptions(platform="linux/s390x"),
        )


def test_all_platforms_into_a_layout_and_refused_for_an_archive(multi, tmp_path: Path) -> None:
    fake, index, _, _ = multi
    copy_image(
        RegistrySource(fake, ref("app:multi")),
        LayoutTarget(tmp_path / "all", "m"),
        TransferOptions(all_platforms=True),
    )
    entry = Index.from_json((tmp_path / "all" / "index.json").read_bytes()).manifests[0]
    assert entry.media_type == OCI_INDEX and blob_path(tmp_path / "all", entry.digest).read_bytes() == index
    with pytest.raises(InputError, match="holds one image"):
        copy_image(
            RegistrySource(fake, ref("app:multi")),
            ArchiveTargetFor(tmp_path / "x.tar"),
            TransferOptions(all_platforms=True),
        )


def ArchiveTargetFor(path: Path):
    from dockwright.registry.store import ArchiveTarget

    return ArchiveTarget(DockerArchiveReference(path=str(path)))


# --- archives -----------------------------------------------------------------------------------


def test_archive_to_registry_to_archive_keeps_the_digest(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    built = make_image(tmp_path, None, LAYERS, target=f"docker-archive:{archive}:app:1")
    fake = FakeRegistry()
    summary = copy(f"docker-archive:{archive}", f"docker://{HOST}/app:1", connect=lambda _: fake)
    assert summary.digest == str(built.manifest_digest)  # the OCI manifest the builder computed
    again = tmp_path / "b.tar"
    copy(f"docker://{HOST}/app:1", f"docker-archive:{again}:app:2", connect=lambda _: fake)
    assert ArchiveSource(DockerArchiveReference(path=str(again))).resolve().digest == built.manifest_digest


# --- referrers ----------------------------------------------------------------------------------


def _sign(fake: FakeRegistry, repository: str, subject: ManifestBytes, text: bytes) -> ManifestBytes:
    return push_artifact(
        fake,
        repository,
        subject.descriptor,
        artifact_type="application/vnd.example.signature",
        files=[ArtifactFile(text, "application/vnd.example.sig")],
        annotations={"org.example.note": text.decode()},
    )


def test_push_artifact_keeps_the_tag_index_without_the_api(image) -> None:
    layout, built = image
    fake = FakeRegistry()
    push(layout, "v1", fake, "app:1")
    subject = ManifestBytes.of(built.manifest)
    signature = _sign(fake, "app", subject, b"sig")
    index = Index.from_json(fake.tagged("app", referrers_tag(built.manifest_digest)))
    assert [d.digest for d in index.manifests] == [signature.digest]
    assert index.manifests[0].artifact_type == "application/vnd.example.signature"
    assert index.manifests[0].annotations == {"org.example.note": "sig"}
    _sign(fake, "app", subject, b"sig")  # the same artifact again: listed once
    assert len(Index.from_json(fake.tagged("app", referrers_tag(built.manifest_digest))).manifests) == 1


@pytest.mark.parametrize("api", [False, True])
def test_referrers_are_copied_between_registries(image, api: bool) -> None:
    layout, built = image
    first, second = FakeRegistry(), FakeRegistry(referrers_api=api)
    push(layout, "v1", first, "app:1")
    signature = _sign(first, "app", ManifestBytes.of(built.manifest), b"sig")
    counter = _sign(first, "app", signature, b"countersig")  # a referrer of the referrer
    connect = {HOST: first, "127.0.0.1:5001": second}.__getitem__
    summary = copy(f"docker://{HOST}/app:1", "docker://127.0.0.1:5001/mirror:1", connect=connect)
    assert summary.referrers == 2
    repo = second.repo("mirror")
    assert {signature.digest, counter.digest} <= set(repo.manifests)
    tag = referrers_tag(built.manifest_digest)
    assert (tag in repo.tags) is not api  # the tag index only where the registry has no API
    assert [d.digest for d in second.referrers("mirror", built.manifest_digest)] == [signature.digest]
    assert [d.digest for d in second.referrers("mirror", signature.digest)] == [counter.digest]


def test_referrers_depth_and_opt_out(image) -> None:
    layout, built = image
    first = FakeRegistry()
    push(layout, "v1", first, "app:1")
    signature = _sign(first, "app", ManifestBytes.of(built.manifest), b"sig")
    _sign(first, "app", signature, b"countersig")
    shallow, none = FakeRegistry(), FakeRegistry()
    options = TransferOptions(referrers_depth=1)
    assert (
        copy_image(
            RegistrySource(first, ref("app:1")), RegistryTarget(shallow, ref("m:1")), options
        ).referrers
        == 1
    )
    options = TransferOptions(with_referrers=False)
    assert (
        copy_image(RegistrySource(first, ref("app:1")), RegistryTarget(none, ref("m:1")), options).referrers
        == 0
    )
    assert set(none.repo("m").manifests) == {built.manifest_digest}


def test_referrers_travel_through_a_layout(image, tmp_path: Path) -> None:
    layout, built = image
    first = FakeRegistry()
    push(layout, "v1", first, "app:1")
    signature = _sign(first, "app", ManifestBytes.of(built.manifest), b"sig")
    out = tmp_path / "pulled"
    copy_image(RegistrySource(first, ref("app:1")), LayoutTarget(out, "v1"))
    entries = json.loads((out / "index.json").read_bytes())["manifests"]
    assert [e.get("annotations", {}).get(ANNOTATION_REF_NAME) for e in entries] == ["v1", None]
    assert [d.digest for d in LayoutSource(out, "v1").referrers(built.manifest_digest)] == [signature.digest]
    assert LayoutSource(out).resolve().digest == built.manifest_digest  # referrers do not count as images
    second = FakeRegistry()
    summary = copy_image(LayoutSource(out, "v1"), RegistryTarget(second, ref("app:1")))
    assert summary.referrers == 1 and signature.digest in second.repo("app").manifests


# --- the commands (no registry needed) -----------------------------------------------------------


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    ctx.obj = {"quiet": True}


register(cli)


def test_copy_between_local_stores_prints_a_summary(image, tmp_path: Path) -> None:
    layout, built = image
    archive = tmp_path / "out.tar"
    result = CliRunner().invoke(
        cli, ["copy", f"oci:{layout}:v1", f"docker-archive:{archive}:app:1", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["digest"] == str(built.manifest_digest) and summary["blobsSent"] == 4
    assert set(summary) >= {"blobsSkipped", "bytesSkipped", "blobsMounted", "manifests", "seconds", "source"}
    human = CliRunner().invoke(cli, ["copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'back'}:x"])
    assert human.exit_code == 0 and human.stdout.startswith(f"{built.manifest_digest}\n4 blobs sent")


def test_push_and_pull_need_a_registry_end(image, tmp_path: Path) -> None:
    layout, _ = image
    push = CliRunner().invoke(cli, ["push", f"oci:{layout}:v1", f"oci:{tmp_path / 'x'}"])
    assert push.exit_code == 2 and "destination of `dockwright push` must be docker://" in push.stderr
    pull = CliRunner().invoke(cli, ["pull", f"oci:{layout}:v1", f"oci:{tmp_path / 'x'}"])
    assert pull.exit_code == 2 and "source of `dockwright pull`" in pull.stderr
    bad = CliRunner().invoke(cli, ["copy", "docker://app:1", f"oci:{tmp_path / 'x'}"])
    assert bad.exit_code == 2 and "missing registry host" in bad.stderr


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("--tls-verify=false", "--no-tls-verify"),
        ("--tls-verify=TRUE", "--tls-verify"),
        ("--tls-verify", "--tls-verify"),
    ],
)
def test_tls_verify_takes_a_value_like_skopeo(given: str, expected: str) -> None:
    assert registry_cmds._bool_flag(given) == expected
    with pytest.raises(click.UsageError, match="takes true or false"):
        registry_cmds._bool_flag("--tls-verify=maybe")


def test_plain_http_only_for_loopback_without_tls_verify() -> None:
    off = RegistryOptions(tls_verify=False)
    assert [
        uses_plain_http(h, off) for h in ("127.0.0.1:5000", "localhost", "[::1]:5000", "registry.test:5000")
    ] == [
        True,
        True,
        True,
        False,
    ]
    assert not uses_plain_http("127.0.0.1:5000", RegistryOptions())
    assert uses_plain_http("registry.test", RegistryOptions(plain_http=True))


def test_the_rich_reporter_takes_every_hook(image) -> None:
    _, built = image
    descriptor = built.layers[0].descriptor()
    with registry_cmds._reporter(quiet=False) as reporter:
        reporter.blob_start(descriptor)
        reporter.blob_progress(descriptor, 10)
        reporter.blob_done(descriptor)
        reporter.blob_skipped(descriptor)
        reporter.blob_mounted(descriptor, "other/repo")
        reporter.manifest_done(ManifestBytes.of(built.manifest))


def test_threads_asking_for_one_registry_share_one_client() -> None:
    from dockwright.registry.endpoints import Connections

    start = threading.Barrier(8)
    clients: list[object] = []

    def ask() -> None:
        start.wait()
        clients.append(connections("127.0.0.1:5000"))

    with Connections(RegistryOptions()) as connections:
        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(clients) == 8 and len({id(c) for c in clients}) == 1
        assert connections("127.0.0.2:5000") is not clients[0]
