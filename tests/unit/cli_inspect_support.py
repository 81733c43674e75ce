"""Helpers for the CLI ``inspect``/``sbom``/``diff`` tests: in-process invocation, error checks and
synthetic Debian-like images written byte by byte by :mod:`tests.inspect_images`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from dockwright.cli.main import cli
from tests.inspect_images import (
    TarMember,
    blob_file,
    make_layout,
)

M = TarMember
MB = 1_000_000
OS_RELEASE = M(
    "etc/os-release", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
)
ENV = ["PATH=/usr/bin:/bin"]
INSPECT_KEYS = {
    "reference",
    "manifestDigest",
    "osRelease",
    "layers",
    "packages",
    "waste",
    "warnings",
    "gate",
}


def invoke(*args: str) -> Result:
    """``dockwright ARGS...`` in process, wide enough that no name is cut, without colours."""
    env = {"COLUMNS": "200", "NO_COLOR": "1", "FORCE_COLOR": None, "DOCKWRIGHT_CACHE": None}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(*args: str) -> Result:
    """``invoke`` that must exit 0 with nothing on stderr."""
    result = invoke(*args)
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    return result


def inspect_json(*args: str) -> dict[str, Any]:
    """``dockwright inspect --json ARGS...``, parsed."""
    doc: dict[str, Any] = json.loads(ok("inspect", "--json", *args).stdout)
    return doc


def assert_error(result: Result, exit_code: int, start: str) -> str:
    """The command failed with ``exit_code``, one ``error:`` line starting with ``start``, no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {start}"), result.stderr
    assert result.exit_code == exit_code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return errors[0]


# Synthetic Debian-like images -------------------------------------------------------------------


def stanza(name: str, version: str, *, source: str = "", arch: str = "amd64", size: int = 0) -> str:
    """One installed dpkg status stanza."""
    lines = [f"Package: {name}", "Status: install ok installed", f"Architecture: {arch}"]
    lines += [f"Source: {source}"] if source else []
    lines += [f"Version: {version}"]
    lines += [f"Installed-Size: {size}"] if size else []
    return "\n".join([*lines, f"Description: {name}"]) + "\n"


def dpkg(
    packages: dict[str, tuple[str, dict[str, bytes]]], sources: dict[str, str] | None = None
) -> list[TarMember]:
    """The status database, ``info/*.list`` files and files of ``packages`` (name -> version, files)."""
    sources = sources or {}
    status = "\n".join(stanza(n, v, source=sources.get(n, "")) for n, (v, _) in packages.items())
    members = [M("var/lib/dpkg/status", status.encode())]
    for name, (_, files) in packages.items():
        listing = "".join(f"/{path}\n" for path in files)
        members.append(M(f"var/lib/dpkg/info/{name}:amd64.list", listing.encode()))
        members += [M(path, data) for path, data in files.items()]
    return members


def debian_image(path: Path, *, tag: str = "latest") -> str:
    """Two packages over two layers; the second layer rewrites and deletes files of the first."""
    base = [
        OS_RELEASE,
        *dpkg(
            {
                "libc6": ("2.36-9+deb12u4", {"usr/lib/x86_64-linux-gnu/libc.so.6": b"\x7fELF" + bytes(4000)}),
                "hello": ("2.10-3", {"usr/bin/hello": b"\x7fELF" + bytes(1000)}),
            },
            {"libc6": "glibc"},
        ),
        M("usr/share/doc/hello/changelog.gz", bytes(3000)),
        M("tmp/big.log", bytes(50_000)),
    ]
    second = [M("tmp/big.log", kind="whiteout"), M("usr/bin/hello", b"\x7fELF" + bytes(2000))]
    return make_layout(path, [base, second], tag=tag, history=["debootstrap", "RUN rm /tmp/big.log"])


def manifest_of(layout: Path, digest: str) -> dict[str, Any]:
    """The parsed manifest (or index) blob ``digest`` of a layout."""
    data: dict[str, Any] = json.loads(blob_file(layout, digest).read_bytes())
    return data


def _purls(packages: list[dict[str, Any]]) -> set[str]:
    return {
        ref["referenceLocator"]
        for p in packages
        for ref in p.get("externalRefs", [])
        if ref["referenceType"] == "purl" and not ref["referenceLocator"].startswith("pkg:oci/")
    }


def _blob(layout: Path, which: str) -> Path:
    index = json.loads((layout / "index.json").read_bytes())
    manifest_digest = index["manifests"][0]["digest"]
    if which == "manifest":
        return blob_file(layout, manifest_digest)
    manifest = manifest_of(layout, manifest_digest)
    return blob_file(
        layout, manifest["config"]["digest"] if which == "config" else manifest["layers"][-1]["digest"]
    )
