"""The CA bundle, .pem links and OpenSSL hash links, compared with the real tools."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dockwright.build.cacerts import subject_hash, update_ca_certificates
from dockwright.fs.tree import Entry, EntryType, FileTree

HOST_CERTS = Path("/usr/share/ca-certificates")
needs_tools = pytest.mark.skipif(
    not HOST_CERTS.is_dir()
    or shutil.which("update-ca-certificates") is None
    or shutil.which("openssl") is None,
    reason="needs ca-certificates and openssl on the host",
)


def _der(pem: bytes) -> bytes:
    body = re.search(rb"-----BEGIN CERTIFICATE-----(.*?)-----END", pem, re.S)
    assert body is not None
    return base64.b64decode(b"".join(body.group(1).split()))


def _host_certs() -> list[Path]:
    return sorted(HOST_CERTS.rglob("*.crt"))


def _tree_with(certs: dict[str, bytes]) -> FileTree:
    tree = FileTree()
    tree.add(Entry(path="usr/share/ca-certificates", type=EntryType.DIR, origin="ca-certificates"))
    tree.add(Entry(path="etc/ssl/certs", type=EntryType.DIR, origin="ca-certificates"))
    for path, data in certs.items():
        tree.add(Entry(path=path, type=EntryType.FILE, data=data, origin="ca-certificates"))
    return tree


@needs_tools
def test_subject_hash_matches_openssl_for_every_mozilla_root() -> None:
    certs = _host_certs()
    assert len(certs) > 100
    for cert in certs:
        expected = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(cert)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert subject_hash(_der(cert.read_bytes())) == expected, cert.name


@needs_tools
def test_same_output_as_update_ca_certificates(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(HOST_CERTS, root / "usr/share/ca-certificates")
    local = root / "usr/local/share/ca-certificates"
    local.mkdir(parents=True)
    first = _host_certs()[0].read_bytes()
    (local / "my ca (test),x.crt").write_bytes(first.rstrip(b"\n"))  # no final newline, odd name
    (root / "etc/ssl/certs").mkdir(parents=True)
    tree = FileTree()
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        kind = EntryType.DIR if path.is_dir() else EntryType.FILE
        tree.add(Entry(path=rel, type=kind, data=b"" if path.is_dir() else path.read_bytes()))

    result = update_ca_certificates(tree)

    assert result is not None
    conf = tree.get("etc/ca-certificates.conf")
    assert conf is not None
    (root / "etc/ca-certificates.conf").write_bytes(conf.data)
    args = ["--certsconf", "etc/ca-certificates.conf", "--certsdir", "usr/share/ca-certificates"]
    args += [
        "--localcertsdir",
        "usr/local/share/ca-certificates",
        "--etccertsdir",
        "etc/ssl/certs",
        "--hooksdir",
        "",
    ]
    absolute = [str(root / a) if a.startswith(("etc", "usr")) else a for a in args]
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(["update-ca-certificates", *absolute], check=True, capture_output=True, env=env)

    certs_dir = root / "etc/ssl/certs"
    real_bundle = (certs_dir / "ca-certificates.crt").read_bytes()
    bundle = tree.get("etc/ssl/certs/ca-certificates.crt")
    assert bundle is not None and bundle.data == real_bundle
    assert (bundle.mode, bundle.origin) == (0o644, "dockwright")
    assert (
        real_bundle.count(b"-----BEGIN CERTIFICATE-----")
        == len(result.certificates)
        == len(_host_certs()) + 1
    )
    real_links = {
        p.name: os.readlink(p).replace(str(root), "") for p in certs_dir.iterdir() if p.is_symlink()
    }
    links = {e.path.rpartition("/")[2]: e.target for e in tree.entries() if e.type is EntryType.SYMLINK}
    assert links == real_links
    assert links["my_ca_=test=_x.pem"] == "/usr/local/share/ca-certificates/my ca (test),x.crt"
    assert result.hash_links == {k: v for k, v in links.items() if not k.endswith(".pem")}


def test_no_ca_certificates_package_means_nothing() -> None:
    tree = FileTree()
    assert update_ca_certificates(tree) is None
    assert len(tree) == 1


@needs_tools
def test_duplicates_get_one_hash_link_and_collisions_count_up() -> None:
    pem = _host_certs()[0].read_bytes()
    tree = _tree_with(
        {
            "usr/share/ca-certificates/a/one.crt": pem,
            "usr/share/ca-certificates/b/two.crt": pem,
            "usr/share/ca-certificates/b/empty.crt": b"",
        }
    )
    result = update_ca_certificates(tree)
    assert result is not None
    digest = subject_hash(_der(pem))
    assert result.hash_links == {f"{digest}.0": "one.pem"}
    conf = tree.get("etc/ca-certificates.conf")
    assert conf is not None and conf.data.decode().endswith("\na/one.crt\nb/empty.crt\nb/two.crt\n")
