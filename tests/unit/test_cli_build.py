"""End to end through the CLI against the loopback fixture mirror: lock, build, caches, reproducibility.

Every test runs the real ``dockwright`` command (in process through click's runner, or as a
subprocess where umask and TZ must differ) on a spec whose ``source`` names a signed repository
served by the ``http_server`` fixture. No internet is used. Refusals are in ``test_cli_refusals.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import (
    Mirror,
    assert_refused,
    copy_mirror,
    make_mirror,
    read_image,
    run,
    snapshot,
    umask_preexec,
    write_project,
)

EPOCH = 1_704_067_200  # the fixture Release's Date: 2024-01-01T00:00:00Z
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RESULT_KEYS = {
    "manifestDigest",
    "output",
    "packages",
    "layers",
    "imageSize",
    "buildCacheHit",
    "lockWritten",
    "created",
    "provenance",
}


@pytest.fixture(scope="module")
def mirror(
    tmp_path_factory: pytest.TempPathFactory, http_server: str, keyring: Path, gpg_home: Path
) -> Mirror:
    """One repository for the module; tests that break a mirror use ``own_mirror``."""
    base = tmp_path_factory.getbasetemp()
    return make_mirror(tmp_path_factory.mktemp("mirror") / "repo", http_server, base, keyring, gpg_home)


@pytest.fixture
def own_mirror(
    mirror: Mirror, tmp_path: Path, http_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Mirror:
    """A private copy of ``mirror`` (same bytes, another URL) that a test may damage."""
    return copy_mirror(mirror, tmp_path / "own-repo", http_server, tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a forgotten -o writes under tmp_path, never into the checkout


def build(cache: Path, spec: Path, output: str, *flags: str) -> dict[str, Any]:
    """``dockwright build SPEC -o OUTPUT --json FLAGS``; the parsed JSON result."""
    result = run(cache, "build", str(spec), "-o", output, "--json", *flags)
    assert (result.exit_code, result.stderr) == (0, "")
    doc: dict[str, Any] = json.loads(result.stdout)
    assert set(doc) == RESULT_KEYS
    return doc


def test_lock_then_build_writes_the_image_the_spec_describes(tmp_path: Path, mirror: Mirror) -> None:
    spec = write_project(tmp_path / "proj", mirror)
    lock_path = spec.parent / "dockwright.lock"
    cache = tmp_path / "cache"

    locked = run(cache, "lock", str(spec), "--json")
    assert (locked.exit_code, locked.stderr) == (0, "")
    assert json.loads(locked.stdout) == {"lock": str(lock_path), "packages": 3, "timestamp": EPOCH}

    lock = json.loads(lock_path.read_text())
    assert lock["name"] == "demo" and lock["architecture"] == "amd64" and lock["timestamp"] == EPOCH
    inrelease = (mirror.root / "dists" / "stable" / "InRelease").read_bytes()
    assert lock["repositories"] == [
        {
            "uri": mirror.url,
            "suite": "stable",
            "components": ["main"],
            "inRelease": "sha256:" + hashlib.sha256(inrelease).hexdigest(),
            "date": "Mon, 01 Jan 2024 00:00:00 UTC",
            "origin": "Dockwright Tests",
            "codename": "testing",
            "version": "",
        }
    ]
    # app depends on libfoo | libbar (the first alternative wins), libfoo pre-depends on base.
    assert [p["name"] for p in lock["packages"]] == ["app", "base", "libfoo"]
    for package in lock["packages"]:
        deb = mirror.deb(package["name"])
        assert package["filename"] == str(deb.relative_to(mirror.root))
        assert package["sha256"] == hashlib.sha256(deb.read_bytes()).hexdigest()
        assert package["size"] == deb.stat().st_size
        assert (package["version"], package["architecture"], package["suite"]) == ("1.0", "amd64", "stable")

    out = tmp_path / "image"
    result = build(cache, spec, f"oci:{out}:v1")
    image = read_image(out, "v1")
    assert result["manifestDigest"] == image.manifest_digest
    assert result["output"] == f"oci:{out}:v1"
    assert (result["packages"], result["buildCacheHit"], result["lockWritten"]) == (3, False, False)
    assert result["created"] == EPOCH
    assert result["layers"] == [layer["digest"] for layer in image.manifest["layers"]]
    blobs = [image.manifest["config"], *image.manifest["layers"]]
    manifest_size = (out / "blobs" / "sha256" / image.manifest_digest.removeprefix("sha256:")).stat().st_size
    assert result["imageSize"] == sum(b["size"] for b in blobs) + manifest_size

    for name in ("app", "base", "libfoo"):
        status = image.contents[f"var/lib/dpkg/status.d/{name}"].decode()
        assert status.startswith(f"Package: {name}\nStatus: install ok installed\n")
        assert f"var/lib/dpkg/status.d/{name}.md5sums" in image.files
    assert "var/lib/dpkg/status.d/libbar" not in image.files
    assert "usr/lib/bar/data" not in image.files
    assert image.contents["etc/base.conf"] == b"base=1\n"
    assert image.contents["usr/lib/foo/data"] == b"foo\n"
    assert image.files["usr/bin/app"].mode == 0o755
    assert image.contents["app/server.sh"] == b"echo serving\n"
    assert (image.files["app/server.sh"].mode, image.files["app/run"].mode) == (0o644, 0o755)
    assert "app:x:65532:65532:" in image.contents["etc/passwd"].decode()
    assert {info.mtime for info in image.files.values()} == {EPOCH}

    config = image.config["config"]
    assert config["User"] == "65532:65532"
    assert config["Env"] == [PATH, "APP_MODE=prod"]
    assert config["Entrypoint"] == ["/usr/bin/app", "--serve"]
    assert image.config["created"] == "2024-01-01T00:00:00Z"
    assert image.config["architecture"] == "amd64" and image.config["os"] == "linux"


def _dockwright() -> str:
    script = Path(sys.executable).with_name("dockwright")
    assert script.is_file(), f"the console script is not installed next to {sys.executable}"
    return str(script)


def test_same_spec_and_lock_give_the_same_digest_everywhere(tmp_path: Path, mirror: Mirror) -> None:
    """Another directory, umask 077, TZ +14, cold and warm download caches, --no-cache: one digest."""
    spec = write_project(tmp_path / "one", mirror)
    assert run(tmp_path / "cache1", "lock", str(spec)).exit_code == 0
    first = build(tmp_path / "cache1", spec, f"oci:{tmp_path}/img1")

    elsewhere = tmp_path / "checkouts" / "two"
    shutil.copytree(spec.parent, elsewhere)
    (elsewhere / "app" / "server.sh").chmod(0o600)  # as a checkout under umask 077 would have it
    env = {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "DOCKWRIGHT_CACHE")}
    env.update(TZ="Pacific/Kiritimati", LC_ALL="C")
    digests = []
    for flags in ([], ["--no-cache"]):  # the download cache is cold, then warm
        proc = subprocess.run(
            [
                _dockwright(),
                "--cache-dir",
                "../cache2",
                "build",
                "--locked",
                "--json",
                "-o",
                "oci:../img2",
                *flags,
            ],
            cwd=elsewhere,
            env=env,
            preexec_fn=umask_preexec(0o077),
            capture_output=True,
            text=True,
            check=False,
        )
        assert (proc.returncode, proc.stderr) == (0, "")
        result = json.loads(proc.stdout)
        assert (result["buildCacheHit"], result["lockWritten"]) == (False, False)
        digests.append(result["manifestDigest"])
    debs = {p["sha256"] for p in json.loads((elsewhere / "dockwright.lock").read_text())["packages"]}
    assert debs <= {p.name for p in (tmp_path / "checkouts" / "cache2" / "sha256").iterdir()}
    no_cache = build(tmp_path / "cache1", spec, f"oci:{tmp_path}/img3", "--no-cache")
    assert digests == [first["manifestDigest"]] * 2
    assert no_cache["manifestDigest"] == first["manifestDigest"]
    assert snapshot(tmp_path / "checkouts" / "img2") == snapshot(tmp_path / "img1")  # byte for byte


def test_locked_needs_a_fresh_lock_and_an_unlocked_build_resolves_again(
    tmp_path: Path, mirror: Mirror
) -> None:
    spec = write_project(tmp_path / "proj", mirror)
    lock = spec.parent / "dockwright.lock"
    cache, out = tmp_path / "cache", tmp_path / "out" / "img"

    missing = run(cache, "build", str(spec), "--locked", "-o", f"oci:{out}")
    assert_refused(missing, 2, f"{lock}: no lock file")
    assert "hint: run `dockwright lock` to write a fresh dockwright.lock" in missing.stderr
    assert not lock.exists() and not out.parent.exists()

    assert run(cache, "lock", str(spec)).exit_code == 0
    before = lock.read_bytes()
    spec.write_text(spec.read_text().replace("packages: [app]", "packages: [app, apple]"))
    stale = run(cache, "build", str(spec), "--locked", "-o", f"oci:{out}")
    assert_refused(stale, 2, f"{lock} is stale: the spec's packages or sources changed since it was written")
    assert "hint: run `dockwright lock` and commit the new lock, or build without --locked" in stale.stderr
    assert lock.read_bytes() == before and not out.parent.exists()

    relocked = build(cache, spec, f"oci:{out}")
    assert (relocked["lockWritten"], relocked["packages"]) == (True, 4)
    assert [p["name"] for p in json.loads(lock.read_text())["packages"]] == ["app", "apple", "base", "libfoo"]
    assert read_image(out).contents["usr/share/apple"] == b"apple\n"
    again = build(cache, spec, f"oci:{out}", "--locked")
    assert (again["lockWritten"], again["manifestDigest"]) == (False, relocked["manifestDigest"])


def test_unchanged_rebuild_hits_the_build_cache_and_a_changed_file_does_not(
    tmp_path: Path, mirror: Mirror
) -> None:
    spec = write_project(tmp_path / "proj", mirror)
    cache, out = tmp_path / "cache", f"oci:{tmp_path}/out"
    first = build(cache, spec, out)
    second = build(cache, spec, out)
    assert (first["buildCacheHit"], second["buildCacheHit"]) == (False, True)
    assert (second["manifestDigest"], second["layers"]) == (first["manifestDigest"], first["layers"])
    plain = run(cache, "build", str(spec), "-o", out)  # without --json: the digest alone
    assert (plain.exit_code, plain.stdout, plain.stderr) == (0, first["manifestDigest"] + "\n", "")

    (spec.parent / "app" / "server.sh").write_text("echo changed\n")
    changed = build(cache, spec, out)
    assert changed["buildCacheHit"] is False
    assert changed["manifestDigest"] != first["manifestDigest"]
    assert read_image(tmp_path / "out").contents["app/server.sh"] == b"echo changed\n"

    # A runtime-only change keeps the lock and the layers, and changes only the config.
    spec.write_text(spec.read_text().replace("APP_MODE: prod", "APP_MODE: test"))
    runtime = build(cache, spec, out, "--locked")
    assert (runtime["buildCacheHit"], runtime["layers"]) == (True, changed["layers"])
    assert runtime["manifestDigest"] != changed["manifestDigest"]


def test_warm_cache_locked_build_uses_no_network(
    tmp_path: Path, own_mirror: Mirror, http_requests: list[tuple[str, str]]
) -> None:
    spec = write_project(tmp_path / "proj", own_mirror)
    cache = tmp_path / "cache"
    first = build(cache, spec, f"oci:{tmp_path}/one")
    assert any(path.endswith(".deb") for path, _ in http_requests)

    shutil.rmtree(own_mirror.root)  # the mirror is gone: every request would now be a 404
    http_requests.clear()
    offline = build(cache, spec, f"oci:{tmp_path}/two", "--locked", "--no-cache")
    assert (offline["manifestDigest"], offline["buildCacheHit"]) == (first["manifestDigest"], False)
    assert http_requests == []

    cold = run(tmp_path / "cold", "build", str(spec), "--locked", "-o", f"oci:{tmp_path}/three")
    assert cold.exit_code == 4  # and a cold cache does need the mirror
    assert cold.stderr.startswith(f"error: GET {own_mirror.url}/pool/main/")
    assert not (tmp_path / "three").exists()


def test_docker_archive_output(tmp_path: Path, mirror: Mirror) -> None:
    spec = write_project(tmp_path / "proj", mirror)
    cache = tmp_path / "cache"
    oci = build(cache, spec, f"oci:{tmp_path}/oci")
    archive = tmp_path / "archives" / "demo.tar"
    result = build(cache, spec, f"docker-archive:{archive}:demo:1.0")
    assert result["output"] == f"docker-archive:{archive}:docker.io/library/demo:1.0"
    assert result["manifestDigest"] == oci["manifestDigest"]  # the same image, another container
    assert [p.name for p in archive.parent.iterdir()] == ["demo.tar"]  # no temp files beside it
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        [manifest] = json.loads(handle.read())
    assert names[0] == "manifest.json"
    assert manifest["RepoTags"] == ["docker.io/library/demo:1.0"]
    assert manifest["Layers"] == [f"blobs/sha256/{d.removeprefix('sha256:')}" for d in result["layers"]]
    assert set(names) == {"manifest.json", "blobs", "blobs/sha256", manifest["Config"], *manifest["Layers"]}


def test_by_origin_layering_keeps_packages_apart_from_local_files(tmp_path: Path, mirror: Mirror) -> None:
    spec = write_project(tmp_path / "proj", mirror)
    cache = tmp_path / "cache"
    single = build(cache, spec, f"oci:{tmp_path}/single")
    spec.write_text(spec.read_text() + "layering: by-origin\n")
    first = build(cache, spec, f"oci:{tmp_path}/split")
    assert len(single["layers"]) == 1 and len(first["layers"]) == 2
    image = read_image(tmp_path / "split")
    layer_paths = []
    for layer in image.manifest["layers"]:
        data = gzip.decompress((tmp_path / "split" / "blobs" / "sha256" / layer["digest"][7:]).read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            layer_paths.append({info.name.rstrip("/") for info in tar})
    packages, files = layer_paths
    assert "var/lib/dpkg/status.d/app" in packages and "app/server.sh" not in packages
    assert {"app", "app/server.sh", "app/run"} <= files and not any(p.startswith("usr/") for p in files)
    # Changing the application changes only the top layer: the package layer is reused as is.
    (tmp_path / "proj" / "app" / "server.sh").write_text("echo changed\n")
    second = build(cache, spec, f"oci:{tmp_path}/split2")
    assert second["layers"][0] == first["layers"][0]
    assert second["layers"][1] != first["layers"][1]


def test_build_attaches_signed_provenance_naming_every_deb(
    tmp_path: Path, mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockwright.oci.digest import Digest
    from dockwright.registry.store import LayoutSource
    from dockwright.trust.attestation_store import list_attestations
    from dockwright.trust.envelope import open_statement
    from dockwright.trust.keys import create_key

    monkeypatch.setenv("DOCKWRIGHT_KEY_PASSPHRASE", "test passphrase")
    key = create_key(tmp_path / "keys", "builder", passphrase="test passphrase")
    spec = write_project(tmp_path / "proj", mirror)
    cache = tmp_path / "cache"
    plain = build(cache, spec, f"oci:{tmp_path}/plain:v1")
    assert plain["provenance"] is None
    result = build(cache, spec, f"oci:{tmp_path}/signed:v1", "--attest-key", str(key.private))
    assert result["manifestDigest"] == plain["manifestDigest"]  # the image itself is unchanged
    stored = list_attestations(
        LayoutSource(tmp_path / "signed", "v1"), Digest.parse(result["manifestDigest"])
    )
    [attestation] = stored
    assert str(attestation.envelope_digest) == result["provenance"]
    verified = open_statement(attestation.envelope, [key.key], 1)
    statement = verified.statement.to_dict()
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"][0]["digest"] == {"sha256": result["manifestDigest"].removeprefix("sha256:")}
    lock = json.loads((spec.parent / "dockwright.lock").read_text())
    deps = {d["digest"]["sha256"] for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert {p["sha256"] for p in lock["packages"]} <= deps


def test_built_image_signed_with_sbom_and_provenance_verifies(
    tmp_path: Path, mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockwright.trust.keys import create_key

    passphrase = "test passphrase"
    monkeypatch.setenv("DOCKWRIGHT_KEY_PASSPHRASE", passphrase)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    attest = create_key(tmp_path / "attest", "attest", passphrase=passphrase)
    spec = write_project(tmp_path / "proj", mirror)
    cache = tmp_path / "cache"
    layout = tmp_path / "image"
    built = build(cache, spec, f"oci:{layout}:v1", "--attest-key", str(attest.private))
    assert built["provenance"] is not None
    keys = tmp_path / "keys"
    result = run(cache, "trust", "init", f"oci:{layout}", "--keys-dir", str(keys), "--bin-bits", "1")
    assert result.exit_code == 0, result.output
    result = run(
        cache, "sign", f"oci:{layout}:v1", "--keys-dir", str(keys), "--attest", "sbom,provenance",
        "--key", str(attest.private), "--lockfile", str(spec.parent / "dockwright.lock"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["attestations"]) == {"sbom", "provenance"}
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        'version: 1\nscopes:\n  - match: "*"\n    attestations: [sbom, provenance]\n'
        f"    keys: [{attest.public}]\n"
    )
    result = run(cache, "verify", f"oci:{layout}:v1", "--policy", str(policy), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["tufVerified"] is True and report["sbomMatches"] is True
    assert sorted(a["kind"] for a in report["attestations"]) == ["provenance", "sbom"]
    assert all(a["pinned"] for a in report["attestations"])
