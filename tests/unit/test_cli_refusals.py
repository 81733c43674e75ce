"""End to end through the CLI: every bad input is one ``error:`` line, its exit code, and no output.

Hostile .debs are written by hand (ar + tar, see ``tests/unit/test_deb.py``), put into the fixture
repository's pool and indexed and signed properly, so that only extraction can catch them. Tampering
happens after signing, on a private repository per test, with a cold download cache.
"""

from __future__ import annotations

import hashlib
import lzma
import socketserver
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from dockwright.net.http import RetryPolicy
from tests.e2e import (
    Mirror,
    assert_refused,
    copy_mirror,
    make_mirror,
    read_image,
    run,
    snapshot,
    write_project,
)
from tests.unit.test_deb import craft_deb, member

HOSTILE = {
    "evil-dotdot": ([member("./usr/../../etc/passwd", b"x")], "./usr/../../etc/passwd: path contains '..'"),
    "evil-absolute": ([member("/etc/passwd", b"x")], "/etc/passwd: absolute path"),
    "evil-symlink": (
        [member("./x", kind=tarfile.SYMTYPE, link="/etc"), member("./x/passwd", b"pwned")],
        "./x/passwd: its parent /x is a symbolic link from the same package",
    ),
    "evil-hardlink": (
        [member("./h", kind=tarfile.LNKTYPE, link="../../etc/shadow")],
        "./h: hard link to ../../etc/shadow escapes the package",
    ),
    "evil-device": (
        [member("./dev/mem", kind=tarfile.CHRTYPE)],
        "./dev/mem: character devices are not allowed",
    ),
    "evil-bomb": ([], "./zeros: data.tar.xz decompresses more than 200 times its size"),
    # A member name that looks like console markup must be printed as it is, not crash the printer.
    "evil-markup": ([member("./[/x]/:dog:/../../y", b"x")], "./[/x]/:dog:/../../y: path contains '..'"),
}


def _bomb() -> bytes:
    """data.tar.xz of one 64 MiB file of zeros, about 18 KiB compressed."""
    info = tarfile.TarInfo("./zeros")
    info.size = 64 << 20
    head = lzma.compress(info.tobuf(format=tarfile.GNU_FORMAT))
    return head + lzma.compress(bytes(1 << 20)) * 64 + lzma.compress(bytes(1024))


def _hostile_deb(directory: Path, name: str) -> bytes:
    control = (
        f"Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@x.invalid>\nDescription: x\n"
    )
    members, _ = HOSTILE[name]
    path = directory / f"{name}.deb"
    if name == "evil-bomb":
        return craft_deb(path, [], control=control, data_tar=_bomb()).read_bytes()
    return craft_deb(
        path, [member("./", kind=tarfile.DIRTYPE, mode=0o755), *members], control=control
    ).read_bytes()


@pytest.fixture(scope="module")
def hostile_mirror(
    tmp_path_factory: pytest.TempPathFactory, http_server: str, keyring: Path, gpg_home: Path
) -> Mirror:
    """The standard packages plus every HOSTILE one, indexed and signed over their real bytes."""
    work = tmp_path_factory.mktemp("hostile")
    extra = {name: _hostile_deb(work, name) for name in HOSTILE}
    return make_mirror(work / "repo", http_server, tmp_path_factory.getbasetemp(), keyring, gpg_home, extra)


@pytest.fixture
def mirror(
    hostile_mirror: Mirror, tmp_path: Path, http_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Mirror:
    """A private copy of the repository that this test may tamper with."""
    return copy_mirror(hostile_mirror, tmp_path / "repo", http_server, tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _quiet_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # The loopback server prints a traceback when a client hangs up early; click's runner would
    # capture it as the CLI's stderr.
    monkeypatch.setattr(socketserver.BaseServer, "handle_error", lambda self, request, address: None)


def refused_build(tmp_path: Path, spec: Path, exit_code: int, message: str, *flags: str) -> Result:
    """Build into tmp_path/out/img with a cold cache; check the refusal and that nothing was written."""
    result = run(tmp_path / "cache", "build", str(spec), "-o", f"oci:{tmp_path}/out/img", *flags)
    assert_refused(result, exit_code, message)
    assert not (tmp_path / "out").exists()
    return result


# ---------------------------------------------------------------------------------- spec and resolution


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("packages: [app]", "packagse: [app]", ":8:1", "unknown key 'packagse' in the spec"),
        ("packages: [app]", "packages: [app", ":9:9", "not valid YAML: expected ',' or ']', but got ':'"),
        ("run-as: app", "run-as: bob", ":11:11", "run-as names 'bob', which is not in accounts.users"),
    ],
    ids=["unknown-key", "yaml-syntax", "unknown-user"],
)
def test_malformed_spec(
    tmp_path: Path, hostile_mirror: Mirror, old: str, new: str, where: str, message: str
) -> None:
    spec = write_project(tmp_path / "proj", hostile_mirror)
    spec.write_text(spec.read_text().replace(old, new))
    refused_build(tmp_path, spec, 2, f"{spec}{where}: {message}")
    assert not (spec.parent / "dockwright.lock").exists()


@pytest.mark.parametrize(
    ("packages", "message"),
    [
        ("appl", "unknown package 'appl' (did you mean apple, app?)"),
        (
            "top",
            "cannot install needy: needy 1.0 depends on libfoo (>= 2.0), but only libfoo 1.0 is available "
            "(required by needy <- top)",
        ),
    ],
    ids=["unknown", "unsatisfiable"],
)
def test_resolution_failure(tmp_path: Path, hostile_mirror: Mirror, packages: str, message: str) -> None:
    spec = write_project(tmp_path / "proj", hostile_mirror, packages=packages)
    refused_build(tmp_path, spec, 3, message)
    assert not (spec.parent / "dockwright.lock").exists()


def test_bad_output_targets_leave_nothing_behind(tmp_path: Path, hostile_mirror: Mirror) -> None:
    spec = write_project(tmp_path / "proj", hostile_mirror)
    bad = run(tmp_path / "cache", "build", str(spec), "-o", "oci:")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: empty directory in image reference 'oci:': expected oci:DIR[:TAG]\n")
    occupied = tmp_path / "out" / "notes"
    occupied.mkdir(parents=True)
    (occupied / "todo.txt").write_text("mine\n")
    before = snapshot(tmp_path / "out")
    result = run(tmp_path / "cache", "build", str(spec), "-o", f"oci:{occupied}")
    assert_refused(
        result, 2, f"{occupied} exists, is not empty and is not an OCI layout (no oci-layout file)"
    )
    assert snapshot(tmp_path / "out") == before  # the staged image was removed


# ------------------------------------------------------------------------------------ signed metadata


def _signature_refused(tmp_path: Path, mirror: Mirror, message: str) -> None:
    spec = write_project(tmp_path / "proj", mirror)
    url = f"{mirror.url}/dists/stable/InRelease"
    refused_build(tmp_path, spec, 5, f"{url} {message}")
    assert not (spec.parent / "dockwright.lock").exists()


def test_tampered_inrelease(tmp_path: Path, mirror: Mirror, signing_key: str) -> None:
    inrelease = mirror.root / "dists" / "stable" / "InRelease"
    inrelease.write_bytes(
        inrelease.read_bytes().replace(b"Label: Dockwright Tests", b"Label: Dockwright Tesss")
    )
    _signature_refused(
        tmp_path, mirror, f"has a bad signature from key {signing_key[-16:]}: it was altered or damaged"
    )


def test_inrelease_signed_by_another_key(
    tmp_path: Path, mirror: Mirror, gpg_factory: Callable[..., tuple[Path, str, Path]], keyring: Path
) -> None:
    home, fingerprint, _ = gpg_factory()
    mirror.reindex(gnupghome=home)
    _signature_refused(
        tmp_path, mirror, f"has no good signature: key {fingerprint[-16:]} is not in {keyring}"
    )


def test_unsigned_release_served_as_inrelease(tmp_path: Path, mirror: Mirror) -> None:
    dist = mirror.root / "dists" / "stable"
    (dist / "InRelease").write_bytes((dist / "Release").read_bytes())
    _signature_refused(tmp_path, mirror, "is not signed: it is not an OpenPGP clearsigned message")


def test_repository_with_release_but_no_inrelease_is_unsigned(tmp_path: Path, mirror: Mirror) -> None:
    (mirror.root / "dists" / "stable" / "InRelease").unlink()
    spec = write_project(tmp_path / "proj", mirror)
    result = run(tmp_path / "cache", "build", str(spec), "-o", f"oci:{tmp_path}/out/img")
    assert result.exit_code == 5, result.stderr


def test_tampered_packages_index(tmp_path: Path, mirror: Mirror) -> None:
    index = mirror.root / "dists" / "stable" / "main" / "binary-amd64" / "Packages.xz"
    signed = hashlib.sha256(index.read_bytes()).hexdigest()
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0xFF
    index.write_bytes(bytes(data))
    spec = write_project(tmp_path / "proj", mirror)
    actual = hashlib.sha256(data).hexdigest()
    url = f"{mirror.url}/dists/stable/main/binary-amd64/Packages.xz"
    refused_build(tmp_path, spec, 5, f"{url}: sha256 mismatch: expected {signed}, got {actual}")


def _cache_is_clean(cache: Path) -> None:
    """Every cached blob hashes to its name; no partial download holds any byte."""
    for blob in (cache / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert [p.stat().st_size for p in (cache / "tmp").glob("*.partial")] in ([], [0])


def test_tampered_deb(tmp_path: Path, mirror: Mirror) -> None:
    deb = mirror.deb("libfoo")
    signed = hashlib.sha256(deb.read_bytes()).hexdigest()
    data = bytearray(deb.read_bytes())
    data[-10] ^= 0xFF  # same size, other bytes
    deb.write_bytes(bytes(data))
    spec = write_project(tmp_path / "proj", mirror)
    url = f"{mirror.url}/{deb.relative_to(mirror.root)}"
    actual = hashlib.sha256(data).hexdigest()
    refused_build(tmp_path, spec, 5, f"{url}: sha256 mismatch: expected {signed}, got {actual}")
    assert not (tmp_path / "cache" / "sha256" / signed).exists()
    _cache_is_clean(tmp_path / "cache")


@pytest.mark.parametrize("what", ["deb", "index"])
def test_file_larger_than_signed_is_a_verification_failure(tmp_path: Path, mirror: Mirror, what: str) -> None:
    if what == "deb":
        mirror.deb("libfoo").write_bytes(mirror.deb("libbar").read_bytes() * 4)  # another package
    else:  # an index listing one more package, not signed
        mirror.rewrite_packages("Package: base\n", "Package: base\nTag: extra\n", sign=False)
    spec = write_project(tmp_path / "proj", mirror)
    result = run(tmp_path / "cache", "build", str(spec), "-o", f"oci:{tmp_path}/out/img")
    assert not (tmp_path / "out").exists()
    _cache_is_clean(tmp_path / "cache")
    assert result.exit_code == 5, result.stderr


# ------------------------------------------------------------------------------------ hostile archives


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_deb_is_refused_at_extraction(tmp_path: Path, hostile_mirror: Mirror, name: str) -> None:
    spec = write_project(tmp_path / "proj", hostile_mirror, packages=f"app, {name}")
    result = refused_build(tmp_path, spec, 6, f"{name}: refusing member {HOSTILE[name][1]}")
    assert "hint: the package is malformed or hostile; do not install it" in result.stderr


@pytest.mark.parametrize("kind", ["oci", "docker-archive"])
def test_refused_build_leaves_an_existing_output_as_it_was(
    tmp_path: Path, hostile_mirror: Mirror, kind: str
) -> None:
    spec = write_project(tmp_path / "proj", hostile_mirror)
    target = f"oci:{tmp_path}/out/img" if kind == "oci" else f"docker-archive:{tmp_path}/out/img.tar:demo:1"
    assert run(tmp_path / "cache", "build", str(spec), "-o", target).exit_code == 0
    before = snapshot(tmp_path / "out")
    spec.write_text(spec.read_text().replace("packages: [app]", "packages: [app, evil-symlink]"))
    result = run(tmp_path / "cache", "build", str(spec), "-o", target)
    assert_refused(result, 6, f"evil-symlink: refusing member {HOSTILE['evil-symlink'][1]}")
    assert snapshot(tmp_path / "out") == before


# ----------------------------------------------------------------------------------------------- network


def test_dropped_connections_are_resumed(
    tmp_path: Path, mirror: Mirror, monkeypatch: pytest.MonkeyPatch, http_requests: list[tuple[str, str]]
) -> None:
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, retry: 0.0)
    clean = write_project(tmp_path / "clean", mirror)
    expected = run(tmp_path / "cache0", "build", str(clean), "-o", f"oci:{tmp_path}/clean-img").stdout
    # The signed index names the .deb with a query the server reads as "drop the connection after
    # 100 body bytes, for the first 3 requests": every retry resumes where the last one stopped.
    pool = "pool/main/l/libfoo/libfoo_1.0_amd64.deb"
    mirror.rewrite_packages(f"Filename: {pool}\n", f"Filename: {pool}?drop=100&times=3\n")
    spec = write_project(tmp_path / "proj", mirror)
    http_requests.clear()
    result = run(tmp_path / "cache", "build", str(spec), "-o", f"oci:{tmp_path}/img")
    assert (result.exit_code, result.stderr, result.stdout) == (0, "", expected)
    libfoo = [(path.rpartition("/")[2], ranges) for path, ranges in http_requests if "libfoo_" in path]
    name = "libfoo_1.0_amd64.deb?drop=100&times=3"
    assert libfoo == [(name, ""), (name, "bytes=100-"), (name, "bytes=200-"), (name, "bytes=300-")]
    assert read_image(tmp_path / "img").contents["usr/lib/foo/data"] == b"foo\n"


def test_missing_deb_is_a_network_error(tmp_path: Path, mirror: Mirror) -> None:
    spec = write_project(tmp_path / "proj", mirror)
    assert run(tmp_path / "cache", "lock", str(spec)).exit_code == 0
    deb = mirror.deb("libfoo")
    deb.unlink()
    url = f"{mirror.url}/{deb.relative_to(mirror.root)}"
    refused_build(tmp_path, spec, 4, f"GET {url}: HTTP 404", "--locked")
    _cache_is_clean(tmp_path / "cache")
