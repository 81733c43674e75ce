"""Build tiny, really signed Debian repositories for tests, with the real tools.

``build_deb`` runs ``dpkg-deb --build --root-owner-group -Zxz``; ``make_keyring`` creates an ed25519
key with ``gpg --quick-gen-key`` in a private GNUPGHOME; ``build_repo`` lays out ``pool/`` and
``dists/<suite>/`` with ``Packages{,.gz,.xz}``, ``Release`` and a ``gpg --clearsign``-ed
``InRelease``. Tests that tamper with a repository can rewrite files and call ``write_release``
again to re-sign. ``kill_agent`` stops the gpg-agent a GNUPGHOME started.

What this module does not do: sign with anything but the default (or named) key of a GNUPGHOME,
write ``Release.gpg``, Contents or Translation files, or serve the repository (see the
``http_server`` fixture in ``tests/conftest.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

__all__ = [
    "FakePackage",
    "build_deb",
    "build_repo",
    "export_armored",
    "kill_agent",
    "make_keyring",
    "sign",
    "write_indexes",
    "write_release",
]

SOURCE_DATE_EPOCH = 1_700_000_000
_RELEASE_DATE = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class FakePackage:
    """A package to build: control fields plus its files, symlinks and modes."""

    name: str
    version: str = "1.0"
    architecture: str = "amd64"
    depends: str = ""
    pre_depends: str = ""
    provides: str = ""
    conflicts: str = ""
    breaks: str = ""
    multi_arch: str = ""
    essential: bool = False
    source: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # absolute path in the package -> content
    symlinks: dict[str, str] = field(default_factory=dict)  # path -> target
    modes: dict[str, int] = field(default_factory=dict)

    def control(self) -> str:
        """The DEBIAN/control paragraph."""
        fields = [
            ("Package", self.name),
            ("Source", self.source or ""),
            ("Version", self.version),
            ("Architecture", self.architecture),
            ("Essential", "yes" if self.essential else ""),
            ("Multi-Arch", self.multi_arch),
            ("Maintainer", "Dockwright Tests <tests@dockwright.invalid>"),
            ("Installed-Size", str(max(1, sum(len(data) for data in self.files.values()) // 1024))),
            ("Pre-Depends", self.pre_depends),
            ("Depends", self.depends),
            ("Breaks", self.breaks),
            ("Conflicts", self.conflicts),
            ("Provides", self.provides),
            ("Description", f"test package {self.name}"),
        ]
        return "".join(f"{key}: {value}\n" for key, value in fields if value)


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH), "LC_ALL": "C"}
    result = subprocess.run(args, capture_output=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{args[0]} failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
        )
    return result


def _deb_filename(pkg: FakePackage) -> str:
    version = pkg.version.split(":", 1)[-1]  # the epoch is not part of file names
    return f"{pkg.name}_{version}_{pkg.architecture}.deb"


def build_deb(pkg: FakePackage, outdir: Path) -> Path:
    """Build ``pkg`` with dpkg-deb into ``outdir``; return the .deb path."""
    outdir.mkdir(parents=True, exist_ok=True)
    stage = outdir / f".stage-{pkg.name}-{os.getpid()}"
    (stage / "DEBIAN").mkdir(parents=True)
    (stage / "DEBIAN" / "control").write_text(pkg.control())
    for path, content in pkg.files.items():
        target = stage / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for path, link in pkg.symlinks.items():
        target = stage / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(link)
    for path, mode in pkg.modes.items():
        (stage / path.lstrip("/")).chmod(mode)
    for item in [stage, *stage.rglob("*")]:
        os.utime(item, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)
    deb = outdir / _deb_filename(pkg)
    try:
        _run(["dpkg-deb", "--build", "--root-owner-group", "-Zxz", str(stage), str(deb)])
    finally:
        shutil.rmtree(stage)
    return deb


def make_keyring(home: Path, *, expire: str = "never", faked_time: str | None = None) -> tuple[str, Path]:
    """Create a passphrase-less ed25519 signing key in GNUPGHOME ``home``.

    Args:
        home: the GNUPGHOME (created with mode 0700 if missing).
        expire: gpg's expiry (``never``, ``1d``, ...).
        faked_time: gpg ``--faked-system-time`` (e.g. ``20200101T000000``) to make old keys.

    Returns:
        The key's fingerprint and a binary keyring file holding its public key.
    """
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fake = ["--faked-system-time", faked_time] if faked_time else []
    uid = f"Dockwright Test {len(list(home.glob('*.pub.gpg')))} <test@dockwright.invalid>"
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    _run([*gpg, *fake, "--quick-gen-key", uid, "ed25519", "sign", expire])
    listing = _run([*gpg, "--with-colons", "--list-secret-keys", uid]).stdout.decode()
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    keyring = home / f"{fingerprint}.pub.gpg"
    keyring.write_bytes(_run([*gpg, "--export", fingerprint]).stdout)
    return fingerprint, keyring


def export_armored(home: Path, fingerprint: str) -> str:
    """The ASCII-armored public key (as an ``.asc`` keyring or inline ``Signed-By`` holds it)."""
    return _run(["gpg", "--homedir", str(home), "--armor", "--export", fingerprint]).stdout.decode()


def kill_agent(home: Path) -> None:
    """Stop the gpg-agent that gpg started for ``home`` (if any)."""
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False
    )


def sign(
    source: Path,
    target: Path,
    *,
    gnupghome: Path,
    key: str | None = None,
    faked_time: str | None = None,
) -> None:
    """Clearsign ``source`` into ``target`` with the default key of ``gnupghome`` (or ``key``)."""
    args = ["gpg", "--homedir", str(gnupghome), "--batch", "--yes", "--pinentry-mode", "loopback"]
    args += ["--passphrase", "", "--digest-algo", "SHA256"]
    args += ["--local-user", key] if key else []
    args += ["--faked-system-time", faked_time] if faked_time else []
    _run([*args, "--clearsign", "--output", str(target), str(source)])


def write_indexes(
    root: Path, debs: dict[Path, FakePackage], *, suite: str, component: str, arch: str
) -> Path:
    """Write ``dists/<suite>/<component>/binary-<arch>/Packages{,.gz,.xz}``; return the directory."""
    stanzas = []
    for deb, _pkg in sorted(debs.items(), key=lambda item: (item[1].name, item[1].version)):
        control = _run(["dpkg-deb", "--field", str(deb)]).stdout.decode().rstrip("\n")
        data = deb.read_bytes()
        extra = f"Filename: {deb.relative_to(root)}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}"
        stanzas.append(f"{control}\n{extra}\n")
    text = "\n".join(stanzas).encode()
    directory = root / "dists" / suite / component / f"binary-{arch}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Packages").write_bytes(text)
    (directory / "Packages.gz").write_bytes(gzip.compress(text, mtime=0))
    (directory / "Packages.xz").write_bytes(lzma.compress(text, format=lzma.FORMAT_XZ))
    return directory


def write_release(
    root: Path,
    *,
    gnupghome: Path,
    suite: str = "stable",
    codename: str = "testing",
    components: tuple[str, ...] = ("main",),
    architectures: tuple[str, ...] = ("amd64",),
    date: datetime = _RELEASE_DATE,
    valid_until: datetime | None = None,
    acquire_by_hash: bool = False,
    key: str | None = None,
) -> Path:
    """(Re)write ``dists/<suite>/Release`` listing every index file under it, and sign InRelease.

    Files under ``by-hash`` directories are not listed (apt does not list them either).

    Returns:
        The ``dists/<suite>`` directory.
    """
    dist = root / "dists" / suite
    lines = [
        "Origin: Dockwright Tests",
        "Label: Dockwright Tests",
        f"Suite: {suite}",
        f"Codename: {codename}",
        f"Date: {format_datetime(date.astimezone(UTC), usegmt=True)}",
    ]
    if valid_until is not None:
        lines.append(f"Valid-Until: {format_datetime(valid_until.astimezone(UTC), usegmt=True)}")
    lines += [
        f"Architectures: {' '.join(architectures)}",
        f"Components: {' '.join(components)}",
        f"Acquire-By-Hash: {'yes' if acquire_by_hash else 'no'}",
        "Description: a repository built by tests/debrepo.py",
        "SHA256:",
    ]
    for path in sorted(p for p in dist.rglob("*") if p.is_file() and p.parent != dist):
        if "by-hash" not in path.parts:
            data = path.read_bytes()
            lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data):>8} {path.relative_to(dist)}")
    (dist / "Release").write_text("\n".join(lines) + "\n")
    sign(dist / "Release", dist / "InRelease", gnupghome=gnupghome, key=key)
    return dist


def build_repo(
    root: Path,
    packages: list[FakePackage],
    *,
    gnupghome: Path,
    suite: str = "stable",
    codename: str = "testing",
    component: str = "main",
    architecture: str = "amd64",
    valid_until: datetime | None = None,
) -> None:
    """Build a signed repository at ``root``: ``pool/``, indexes, ``Release`` and ``InRelease``.

    ``Architecture: all`` packages go into ``binary-<architecture>`` as in bookworm.
    """
    debs = {}
    for pkg in packages:
        prefix = (pkg.source or pkg.name)[:1]
        outdir = root / "pool" / component / prefix / (pkg.source or pkg.name)
        debs[build_deb(pkg, outdir)] = pkg
    write_indexes(root, debs, suite=suite, component=component, arch=architecture)
    write_release(
        root,
        gnupghome=gnupghome,
        suite=suite,
        codename=codename,
        components=(component,),
        architectures=(architecture,),
        valid_until=valid_until,
    )
