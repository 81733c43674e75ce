"""Helpers for the end-to-end CLI tests: a served fixture mirror, a project on disk, the CLI, the image.

A :class:`Mirror` is a signed repository built by :mod:`tests.debrepo` under pytest's base temp
directory (so the ``http_server`` fixture serves it); :meth:`Mirror.add_deb` drops any .deb (also a
hand-made hostile one) into its pool and :meth:`Mirror.reindex` writes and signs the indexes over
whatever the pool holds, so only extraction can catch a hostile archive. :func:`write_project`
writes a ``dockwright.yaml`` naming that mirror, plus local files; :func:`run` runs the real CLI in
process; :func:`read_image` reads an OCI layout back with nothing but json and tarfile.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from dockwright.cli.main import cli
from tests.debrepo import FakePackage, build_repo, write_indexes, write_release

__all__ = [
    "PACKAGES",
    "Image",
    "Mirror",
    "assert_refused",
    "copy_mirror",
    "make_mirror",
    "read_image",
    "run",
    "snapshot",
    "umask_preexec",
    "write_project",
]

PACKAGES = [
    FakePackage("base", files={"/etc/base.conf": b"base=1\n"}),
    FakePackage("libfoo", pre_depends="base", files={"/usr/lib/foo/data": b"foo\n"}),
    FakePackage("libbar", files={"/usr/lib/bar/data": b"bar\n"}),
    FakePackage(
        "app",
        depends="libfoo | libbar",
        files={"/usr/bin/app": b"#!/bin/sh\n"},
        modes={"/usr/bin/app": 0o755},
    ),
    FakePackage("apple", files={"/usr/share/apple": b"apple\n"}),
    FakePackage("needy", depends="libfoo (>= 2.0)", files={"/usr/bin/needy": b"needy\n"}),
    FakePackage("top", depends="needy", files={"/usr/bin/top": b"top\n"}),
]


@dataclass(frozen=True)
class Mirror:
    """A signed repository on disk and the URL it is served at."""

    root: Path
    url: str
    keyring: Path
    gnupghome: Path

    def deb(self, name: str) -> Path:
        """The pool file of package ``name``."""
        [path] = self.root.glob(f"pool/*/*/*/{name}_*.deb")
        return path

    def add_deb(self, name: str, data: bytes) -> Path:
        """Put ``data`` into the pool as package ``name`` 1.0 (call :meth:`reindex` afterwards)."""
        path = self.root / "pool" / "main" / name[0] / name / f"{name}_1.0_amd64.deb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def rewrite_packages(self, old: str, new: str, *, sign: bool = True) -> None:
        """Replace ``old`` by ``new`` in every Packages variant; sign a new InRelease over them or not."""
        directory = self.root / "dists" / "stable" / "main" / "binary-amd64"
        text = (directory / "Packages").read_bytes()
        assert old.encode() in text
        text = text.replace(old.encode(), new.encode())
        (directory / "Packages").write_bytes(text)
        (directory / "Packages.gz").write_bytes(gzip.compress(text, mtime=0))
        (directory / "Packages.xz").write_bytes(lzma.compress(text, format=lzma.FORMAT_XZ))
        if sign:
            write_release(self.root, gnupghome=self.gnupghome)

    def reindex(self, *, gnupghome: Path | None = None) -> None:
        """Write Packages over every .deb in the pool and sign a new InRelease."""
        debs = {p: FakePackage(p.name.split("_")[0]) for p in sorted(self.root.glob("pool/**/*.deb"))}
        write_indexes(self.root, debs, suite="stable", component="main", arch="amd64")
        write_release(self.root, gnupghome=gnupghome or self.gnupghome)


def make_mirror(
    root: Path,
    base_url: str,
    base: Path,
    keyring: Path,
    gnupghome: Path,
    extra: dict[str, bytes] | None = None,
) -> Mirror:
    """Build the standard repository (:data:`PACKAGES` plus ``extra`` hand-made .debs) at ``root``.

    ``base_url`` serves ``base`` (pytest's base temp directory), which must hold ``root``.
    """
    build_repo(root, PACKAGES, gnupghome=gnupghome)
    mirror = Mirror(root, f"{base_url}/{root.resolve().relative_to(base.resolve())}", keyring, gnupghome)
    if extra:
        for name, data in extra.items():
            mirror.add_deb(name, data)
        mirror.reindex()
    return mirror


def copy_mirror(mirror: Mirror, root: Path, base_url: str, base: Path) -> Mirror:
    """A copy of ``mirror`` at ``root`` (same bytes and signatures, another URL) to damage freely."""
    shutil.copytree(mirror.root, root)
    return Mirror(
        root, f"{base_url}/{root.resolve().relative_to(base.resolve())}", mirror.keyring, mirror.gnupghome
    )


SPEC = """\
name: demo
source:
  mirror: {url}
  suites: [stable]
  components: [main]
  keyring: {keyring}
architectures: [amd64]
packages: [{packages}]
accounts:
  users: [{{name: app, uid: 65532, gid: 65532, home: /home/app}}]
  run-as: app
files: [{{src: app/, dst: /app/}}]
entrypoint: [/usr/bin/app, --serve]
env: {{APP_MODE: prod}}
"""


def write_project(directory: Path, mirror: Mirror, packages: str = "app") -> Path:
    """Write ``dockwright.yaml`` and ``app/`` into ``directory``; return the spec path."""
    (directory / "app").mkdir(parents=True, exist_ok=True)
    (directory / "app" / "server.sh").write_text("echo serving\n")
    (directory / "app" / "run").write_text("#!/bin/sh\n")
    (directory / "app" / "run").chmod(0o755)
    spec = directory / "dockwright.yaml"
    spec.write_text(SPEC.format(url=mirror.url, keyring=mirror.keyring, packages=packages))
    return spec


def run(cache: Path, *args: str) -> Result:
    """Run ``dockwright --cache-dir CACHE ARGS...`` in process (unexpected exceptions propagate)."""
    env = {"SOURCE_DATE_EPOCH": None, "DOCKWRIGHT_CACHE": None, "FORCE_COLOR": None}
    return CliRunner().invoke(cli, ["--cache-dir", str(cache), *args], env=env, catch_exceptions=False)


def assert_refused(result: Result, exit_code: int, message: str) -> None:
    """The run failed with ``exit_code``, printed nothing on stdout and exactly one error line."""
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("error:")] == [f"error: {message}"], result.stderr
    assert result.exit_code == exit_code, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def snapshot(directory: Path) -> dict[str, str]:
    """Every path under ``directory`` with the sha256 of files (``dir`` for directories)."""
    if not directory.exists():
        return {}
    out = {}
    for path in sorted(directory.rglob("*")):
        rel = str(path.relative_to(directory))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@dataclass(frozen=True)
class Image:
    """An image read back from an OCI layout."""

    manifest_digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    files: dict[str, tarfile.TarInfo]  # path in the image (no leading ./) -> tar header
    contents: dict[str, bytes]


def read_image(layout: Path, tag: str | None = None) -> Image:
    """Read the manifest tagged ``tag`` (default: the last one added), its config and every layer."""
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    manifests = json.loads((layout / "index.json").read_text())["manifests"]
    ref = "org.opencontainers.image.ref.name"
    [entry] = [m for m in manifests if m.get("annotations", {}).get(ref) == tag] if tag else manifests[-1:]

    def blob(digest: str) -> bytes:
        data = (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        return data

    manifest = json.loads(blob(entry["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    files: dict[str, tarfile.TarInfo] = {}
    contents: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layer["digest"])))) as tar:
            for info in tar:
                name = info.name.removeprefix("./").rstrip("/")
                files[name] = info
                if info.isreg():
                    handle = tar.extractfile(info)
                    assert handle is not None
                    contents[name] = handle.read()
    return Image(entry["digest"], manifest, config, files, contents)


def umask_preexec(mask: int) -> Any:
    """A ``preexec_fn`` for subprocess that sets the child's umask."""

    def set_mask() -> None:
        os.umask(mask)

    return set_mask
