"""push, pull and copy against Debian's real ``docker-registry``, with skopeo as the peer, and faults.

Images are written offline by ``write_image`` (one file per layer, one layer of 3 MB random bytes).
Commands run in process through click's runner on a group holding only the registry commands.
Registries come from :mod:`tests.integration.registry_fixtures`; the fault cases put
:class:`tests.faultproxy.FaultProxy` between dockwright and a private registry.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from dockwright.cli.registry_cmds import register
from dockwright.errors import DigestMismatchError, NetworkError
from dockwright.net.http import RetryPolicy
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index
from dockwright.oci.image_writer import ImageResult
from dockwright.oci.layout import read_oci_layout
from dockwright.registry import RegistryClient
from dockwright.registry.content import ManifestBytes
from dockwright.registry.endpoints import Connections, RegistryOptions, copy
from dockwright.registry.reference import parse_registry_reference
from dockwright.registry.referrers import ArtifactFile, push_artifact, referrers_tag
from dockwright.registry.remote import RegistryTarget
from dockwright.registry.store import LayoutSource
from dockwright.registry.transfer import copy_image
from tests.fakeregistry import make_image, make_index, random_bytes
from tests.faultproxy import FaultProxy
from tests.integration import registry_fixtures
from tests.integration.registry_fixtures import RunningRegistry, start_registry

pytestmark = pytest.mark.integration
registry_anon = registry_fixtures.registry_anon
registry_basic = registry_fixtures.registry_basic

BIG = 3_000_000
_names = itertools.count()
FAST_RETRY = RetryPolicy(attempts=4, backoff_base=0.01, backoff_max=0.05)


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    ctx.obj = {"quiet": True}


register(cli)


def dockwright(*args: str | Path, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=stdin, catch_exceptions=False)


def ok(*args: str | Path) -> dict[str, Any]:
    result = dockwright(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def skopeo(*args: str | Path) -> str:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    done = subprocess.run(["skopeo", *map(str, args)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def repo(reg: RunningRegistry, tag: str = "1") -> str:
    return f"docker://{reg.registry}/ship/t{next(_names)}:{tag}"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImageResult]:
    layout = tmp_path_factory.mktemp("ship") / "layout"
    built = make_image(layout, "v1", [b"base\n", random_bytes(BIG, seed=7), b"app\n"])
    return layout, built


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    (tmp_path / "registry").mkdir()
    with start_registry("anon", tmp_path / "registry") as running:
        yield running


def test_push_pull_round_trip_keeps_the_digest(registry_anon: RunningRegistry, image, tmp_path: Path) -> None:
    layout, built = image
    dest = repo(registry_anon)
    pushed = ok("push", f"oci:{layout}:v1", dest, "--tls-verify=false")
    assert pushed["digest"] == str(built.manifest_digest) and pushed["blobsSent"] == 4
    pulled = ok("pull", dest, f"oci:{tmp_path / 'out'}:x", "--tls-verify=false")
    assert pulled["digest"] == str(built.manifest_digest)
    assert read_oci_layout(tmp_path / "out", "x").manifest == built.manifest
    again = ok("push", f"oci:{layout}:v1", dest, "--no-tls-verify")
    assert (again["bytesSent"], again["blobsSent"], again["blobsSkipped"]) == (0, 0, 4)


def test_skopeo_pushes_and_dockwright_pulls(registry_anon: RunningRegistry, image, tmp_path: Path) -> None:
    layout, built = image
    dest = repo(registry_anon)
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", dest)
    pulled = ok("pull", dest, f"oci:{tmp_path / 'out'}:x", "--tls-verify=false")
    assert pulled["digest"] == str(built.manifest_digest)
    assert read_oci_layout(tmp_path / "out", "x").manifest == built.manifest


def test_dockwright_pushes_and_skopeo_reads(registry_anon: RunningRegistry, image, tmp_path: Path) -> None:
    layout, built = image
    dest = repo(registry_anon)
    ok("push", f"oci:{layout}:v1", dest, "--tls-verify=false")
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", dest))
    assert inspected["Digest"] == str(built.manifest_digest)
    assert skopeo("inspect", "--raw", "--tls-verify=false", dest).encode() == built.manifest
    skopeo("copy", "--src-tls-verify=false", dest, f"oci:{tmp_path / 'back'}:b")
    assert read_oci_layout(tmp_path / "back", "b").manifest_digest == built.manifest_digest


def test_docker_archive_through_the_registry(registry_anon: RunningRegistry, tmp_path: Path) -> None:
    archive = tmp_path / "in.tar"
    built = make_image(tmp_path, None, [b"archived\n"], target=f"docker-archive:{archive}:app:1")
    dest = repo(registry_anon)
    assert ok("push", f"docker-archive:{archive}", dest, "--tls-verify=false")["digest"] == str(
        built.manifest_digest
    )
    skopeo("copy", "--src-tls-verify=false", dest, f"docker-archive:{tmp_path / 'skopeo.tar'}:app:1")
    ok("pull", dest, f"docker-archive:{tmp_path / 'out.tar'}:app:2", "--tls-verify=false")
    config = json.loads(skopeo("inspect", "--config", f"docker-archive:{tmp_path / 'out.tar'}"))
    assert config["rootfs"]["diff_ids"] == [str(info.diff_id) for info in built.layers]


def test_multi_arch_all_and_platform(registry_anon: RunningRegistry, tmp_path: Path) -> None:
    layout = tmp_path / "multi"
    amd = make_image(layout, "amd", [b"amd64\n"], arch="amd64")
    arm = make_image(layout, "arm", [b"arm64\n"], arch="arm64")
    index = make_index(layout, "multi", [(amd, "amd64", None), (arm, "arm64", "v8")])
    dest = repo(registry_anon)
    assert ok("push", f"oci:{layout}:multi", dest, "--all", "--tls-verify=false")["digest"] == str(
        Digest.of(index)
    )
    assert skopeo("inspect", "--raw", "--tls-verify=false", dest).encode() == index
    arm_only = ok(
        "pull", dest, f"oci:{tmp_path / 'arm'}:a", "--platform", "linux/arm64", "--tls-verify=false"
    )
    assert arm_only["digest"] == str(arm.manifest_digest)
    ok("pull", dest, f"oci:{tmp_path / 'all'}:m", "--all", "--tls-verify=false")
    assert LayoutSource(tmp_path / "all", "m").resolve().data == index
    missing = dockwright(
        "pull", dest, f"oci:{tmp_path / 'x'}", "--platform", "linux/riscv64", "--tls-verify=false"
    )
    assert missing.exit_code == 2 and "has no image for linux/riscv64" in missing.stderr


def test_referrers_copied_between_registries(
    registry_anon: RunningRegistry, private_registry: RunningRegistry, image, tmp_path: Path
) -> None:
    layout, built = image
    source = repo(registry_anon)
    ok("push", f"oci:{layout}:v1", source, "--tls-verify=false")
    name = parse_registry_reference(source).repository
    with RegistryClient(registry_anon.registry, plain_http=True) as client:
        signature = push_artifact(
            client,
            name,
            ManifestBytes.of(built.manifest).descriptor,
            artifact_type="application/vnd.example.sig",
            files=[ArtifactFile(b"signed", "application/vnd.example.sig.v1")],
        )
        assert [d.digest for d in client.referrers(name, built.manifest_digest)] == [signature.digest]
    dest = f"docker://{private_registry.registry}/mirror/app:1"
    copied = ok("copy", source, dest, "--tls-verify=false")
    assert copied["referrers"] == 1
    with RegistryClient(private_registry.registry, plain_http=True) as client:
        index = Index.from_json(client.get_manifest("mirror/app", referrers_tag(built.manifest_digest)).data)
        assert [d.digest for d in index.manifests] == [signature.digest]
        assert index.manifests[0].artifact_type == "application/vnd.example.sig"
    ok("pull", dest, f"oci:{tmp_path / 'with'}:v1", "--tls-verify=false")
    assert [d.digest for d in LayoutSource(tmp_path / "with", "v1").referrers(built.manifest_digest)] == [
        signature.digest
    ]
    assert (
        ok("pull", dest, f"oci:{tmp_path / 'without'}:v1", "--no-referrers", "--tls-verify=false")[
            "referrers"
        ]
        == 0
    )


def test_login_checks_the_password_then_push_uses_it(
    registry_basic: RunningRegistry, image, tmp_path: Path
) -> None:
    layout, built = image
    authfile = tmp_path / "auth.json"
    host = registry_basic.registry
    tls = ("--cert-dir", str(registry_basic.cert_dir), "--authfile", str(authfile))
    wrong = dockwright("login", host, "-u", "alice", "--password-stdin", *tls, stdin="nope\n")
    assert wrong.exit_code == 4 and not authfile.exists()
    good = dockwright(
        "login", host, "-u", "alice", "--password-stdin", *tls, stdin=registry_basic.users["alice"] + "\n"
    )
    assert good.exit_code == 0, good.output
    assert host in json.loads(authfile.read_text())["auths"]
    pushed = ok("push", f"oci:{layout}:v1", f"docker://{host}/ship/auth:1", *tls)
    assert pushed["digest"] == str(built.manifest_digest)
    assert dockwright("logout", host, "--authfile", str(authfile)).exit_code == 0
    denied = dockwright("push", f"oci:{layout}:v1", f"docker://{host}/ship/auth:2", *tls)
    assert denied.exit_code == 4 and "login" in denied.stderr


# --- faults -------------------------------------------------------------------------------------


@pytest.fixture
def proxy(private_registry: RunningRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(private_registry.registry) as running:
        yield running


def _connect() -> Connections:
    return Connections(RegistryOptions(plain_http=True, retry=FAST_RETRY))


def _push_through(proxy: FaultProxy, layout: Path, name: str, *, chunk: int | None = None) -> None:
    with _connect() as connect:
        target = RegistryTarget(
            connect(proxy.address),
            parse_registry_reference(f"docker://{proxy.address}/{name}"),
            chunk_size=chunk or 1 << 20,
            monolithic_limit=chunk or 16 << 20,
        )
        copy_image(LayoutSource(layout, "v1"), target)


def _pull_through(proxy: FaultProxy, name: str, out: Path) -> str:
    with _connect() as connect:
        return copy(f"docker://{proxy.address}/{name}", f"oci:{out}:x", connect=connect).digest


def _big_blob(built: ImageResult) -> str:
    return max(built.layers, key=lambda info: info.size).digest.hex


def test_pull_resumes_a_dropped_blob(proxy: FaultProxy, image, tmp_path: Path) -> None:
    layout, built = image
    _push_through(proxy, layout, "f/app:1")
    proxy.add("drop", f"/blobs/sha256:{_big_blob(built)}", method="GET", at=1_000_000)
    proxy.add("status", "/manifests/1", method="GET", status=503, times=2)
    assert _pull_through(proxy, "f/app:1", tmp_path / "out") == str(built.manifest_digest)
    assert proxy.actions() == ["status", "status", "drop"]
    assert any(r.startswith("bytes=1000000-") for _, r in proxy.ranges)  # resumed, not restarted
    assert read_oci_layout(tmp_path / "out", "x").manifest == built.manifest


def test_pull_retries_a_truncated_blob(proxy: FaultProxy, image, tmp_path: Path) -> None:
    layout, built = image
    _push_through(proxy, layout, "f/app:1")
    proxy.add("truncate", f"/blobs/sha256:{_big_blob(built)}", method="GET", at=10, times=2)
    proxy.add("slow", "/blobs/", method="GET", delay=0.01, times=3)
    assert _pull_through(proxy, "f/app:1", tmp_path / "out") == str(built.manifest_digest)


def test_a_corrupt_blob_is_never_accepted(proxy: FaultProxy, image, tmp_path: Path) -> None:
    layout, built = image
    _push_through(proxy, layout, "f/app:1")
    existing = tmp_path / "existing"
    make_image(existing, "old", [b"old\n"])
    before = {p: p.read_bytes() for p in existing.rglob("*") if p.is_file()}
    proxy.add("corrupt", f"/blobs/sha256:{_big_blob(built)}", method="GET", at=123_456, times=100)
    with pytest.raises(DigestMismatchError):
        _pull_through(proxy, "f/app:1", existing)
    assert {p: p.read_bytes() for p in existing.rglob("*") if p.is_file()} == before
    with pytest.raises(DigestMismatchError):
        _pull_through(proxy, "f/app:1", tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_pull_fails_clearly_when_the_registry_keeps_failing(proxy: FaultProxy, image, tmp_path: Path) -> None:
    layout, built = image
    _push_through(proxy, layout, "f/app:1")
    proxy.add("status", f"/blobs/sha256:{_big_blob(built)}", method="GET", status=502, times=100)
    with pytest.raises(NetworkError, match=r"HTTP 502.*gave up after 4 attempts"):
        _pull_through(proxy, "f/app:1", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_push_survives_a_chunk_dropped_midway(proxy: FaultProxy, image, tmp_path: Path) -> None:
    layout, built = image
    proxy.add("drop_request", "/blobs/uploads/", method="PATCH", at=300_000, after=1)
    proxy.add("status", "/blobs/uploads/", method="PATCH", status=503, after=2)
    proxy.add("status", "/manifests/", method="PUT", status=500)
    _push_through(proxy, layout, "f/chunked:1", chunk=1 << 20)
    assert proxy.actions() == ["drop_request", "status", "status"]
    # docker-registry 2.8 forgets an upload whose PATCH was cut (BLOB_UPLOAD_INVALID): the client
    # then starts that blob again; a 503 before any byte arrived is resumed in place.
    assert _pull_through(proxy, "f/chunked:1", tmp_path / "out") == str(built.manifest_digest)


def test_a_corrupted_upload_is_refused_by_the_registry(proxy: FaultProxy, image) -> None:
    layout, _ = image
    proxy.add("corrupt_request", "/blobs/uploads/", method="PUT", at=1000, times=100)
    with pytest.raises(DigestMismatchError):
        _push_through(proxy, layout, "f/corrupt:1")
    with RegistryClient(proxy.address, plain_http=True) as client:
        assert client.manifest_exists("f/corrupt", "1") is None


def test_a_corrupt_local_blob_is_refused_by_the_registry_and_no_tag_is_pushed(
    registry_anon: RunningRegistry, image, tmp_path: Path
) -> None:
    """dockwright does not hash what it uploads: the registry does, and refuses a wrong blob."""
    layout, built = image
    broken = tmp_path / "broken"
    shutil.copytree(layout, broken)
    blob = broken / "blobs" / "sha256" / built.layers[1].digest.hex
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    target = repo(registry_anon, "broken")
    result = dockwright("push", f"oci:{broken}:v1", target, "--tls-verify=false")
    assert result.exit_code == 5, result.output
    assert str(built.layers[1].digest) in result.output
    assert "corrupt" in result.output
    repository = target.removeprefix(f"docker://{registry_anon.registry}/").rpartition(":")[0]
    with RegistryClient(registry_anon.registry, plain_http=True) as client:
        assert client.manifest_exists(repository, "broken") is None


def test_inspect_and_sbom_read_an_image_straight_from_the_registry(
    registry_anon: RunningRegistry, image, tmp_path: Path
) -> None:
    layout, built = image
    dest = repo(registry_anon)
    from dockwright.cli.main import cli as main_cli

    def dockwright(*args: str | Path) -> Result:  # the whole CLI: inspect and sbom too
        return CliRunner().invoke(main_cli, [str(a) for a in args], catch_exceptions=False)

    ok("push", f"oci:{layout}:v1", dest, "--tls-verify=false")
    local = dockwright("inspect", f"oci:{layout}:v1", "--json", "--no-cache")
    remote = dockwright("inspect", dest, "--json", "--tls-verify=false", "--no-cache")
    assert (local.exit_code, remote.exit_code) == (0, 0), remote.output
    local_doc, remote_doc = json.loads(local.stdout), json.loads(remote.stdout)
    assert remote_doc["reference"] == dest
    assert remote_doc["manifestDigest"] == local_doc["manifestDigest"] == str(built.manifest_digest)
    assert remote_doc["layers"] == local_doc["layers"]
    sbom = dockwright("sbom", dest, "--tls-verify=false", "-o", tmp_path / "sbom.json")
    assert sbom.exit_code == 0, sbom.output
    doc = json.loads((tmp_path / "sbom.json").read_text())
    assert str(built.manifest_digest) in json.dumps(doc)
