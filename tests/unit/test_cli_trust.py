"""``dockwright trust``, ``sign`` and ``verify`` through the CLI on OCI layouts (no network).

Each test inits a TUF repository inside an ``oci:`` layout with generated, encrypted keys, signs a
one-package image with an SBOM attestation, and checks what ``verify`` accepts and refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dockwright.cli.main import cli
from dockwright.trust import OciLayoutMetadataStore
from dockwright.trust.keys import create_key
from tests.inspect_images import TarMember, make_layout

STATUS = (
    b"Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\nDescription: x\n"
)
PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "DOCKWRIGHT_KEY_PASSPHRASE": PASSPHRASE,
        "DOCKWRIGHT_KEYS_DIR": None,
        "FORCE_COLOR": None,
    }


def dw(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def image(layout: Path, tag: str, version: str = "2.10-3") -> str:
    status = STATUS.replace(b"2.10-3", version.encode())
    members = [TarMember("etc/os-release", b"ID=debian\n"), TarMember("var/lib/dpkg/status", status)]
    return make_layout(layout, [members], tag=tag)


@pytest.fixture
def signed(tmp_path: Path, env: dict[str, str | None]) -> tuple[Path, Path]:
    """A layout with image ``1`` signed (TUF and an SBOM attestation); the policy requiring it."""
    layout, keys = tmp_path / "img", tmp_path / "keys"
    image(layout, "1")
    result = dw(env, "trust", "init", f"oci:{layout}", "--keys-dir", str(keys), "--bin-bits", "1")
    assert result.exit_code == 0, result.output
    assert "pinned the root" in result.stderr
    create_key(tmp_path / "attest", "attest", passphrase=PASSPHRASE)
    result = dw(
        env, "sign", f"oci:{layout}:1", "--keys-dir", str(keys), "--attest", "sbom",
        "--key", str(tmp_path / "attest" / "attest.key"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["attestations"]) == {"sbom"}
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        'version: 1\nscopes:\n  - match: "*"\n    attestations: [sbom]\n    keys: [attest/attest.pub]\n'
    )
    return layout, policy


def test_signed_layout_verifies_with_its_sbom(signed: tuple[Path, Path], env: dict[str, str | None]) -> None:
    layout, policy = signed
    result = dw(env, "verify", f"oci:{layout}:1", "--policy", str(policy), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["tufVerified"] is True and report["sbomMatches"] is True
    assert [a["kind"] for a in report["attestations"]] == ["sbom"]
    assert [a["pinned"] for a in report["attestations"]] == [True]


def test_moved_tag_is_refused_as_an_arbitrary_image(
    signed: tuple[Path, Path], env: dict[str, str | None]
) -> None:
    layout, policy = signed
    image(layout, "1", version="2.10-4")  # the tag now names an unsigned image
    result = dw(env, "verify", f"oci:{layout}:1", "--policy", str(policy))
    assert result.exit_code == 5
    assert "error: refused (arbitrary image: the tag was moved" in result.stderr


def test_unsigned_tag_is_refused(signed: tuple[Path, Path], env: dict[str, str | None]) -> None:
    layout, _ = signed
    image(layout, "2")
    result = dw(env, "verify", f"oci:{layout}:2")
    assert result.exit_code == 5
    assert "error: refused: unsigned tag:" in result.stderr and "tag 2 is not signed" in result.stderr


def test_another_trusted_root_is_never_pinned_silently(
    signed: tuple[Path, Path], env: dict[str, str | None], tmp_path: Path
) -> None:
    layout, _ = signed
    other = tmp_path / "other"
    image(other, "1")
    assert (
        dw(
            env, "trust", "init", f"oci:{other}", "--keys-dir", str(tmp_path / "k2"), "--bin-bits", "1"
        ).exit_code
        == 0
    )
    root = tmp_path / "other-root.json"
    data = OciLayoutMetadataStore(other).get("1.root.json")
    assert data is not None
    root.write_bytes(data)
    result = dw(env, "verify", f"oci:{layout}:1", "--trusted-root", str(root))
    assert result.exit_code == 2
    assert "is not the root pinned for" in result.stderr


def test_status_and_delegation(signed: tuple[Path, Path], env: dict[str, str | None], tmp_path: Path) -> None:
    layout, _ = signed
    keys = tmp_path / "keys"
    create_key(tmp_path / "release", "release", passphrase=PASSPHRASE)
    result = dw(
        env, "trust", "delegate", f"oci:{layout}", "release", "--pattern", "v*",
        "--key", str(tmp_path / "release" / "release.key"), "--keys-dir", str(keys),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = dw(env, "trust", "status", f"oci:{layout}", "--json")
    assert result.exit_code == 0, result.output
    roles = {r["name"]: r for r in json.loads(result.stdout)["roles"]}
    assert roles["root"]["threshold"] == 2 and len(roles["root"]["keyids"]) == 3
    assert roles["release"]["paths"] == ["tags/v*"]
    image(layout, "v1")
    result = dw(env, "sign", f"oci:{layout}:v1", "--keys-dir", str(keys), "--role", "bins")
    assert result.exit_code == 2 and "is delegated to role release, not bins" in result.stderr
