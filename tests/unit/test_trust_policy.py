"""Trust policy files: parsing with file:line:column errors, scope matching, pure evaluation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner

from dockwright.inspect.waste import waste_report
from dockwright.trust.keys import write_public_key
from dockwright.trust.policy import (
    Policy,
    PolicyError,
    Scope,
    TrustedKey,
    Violation,
    load_policy,
    parse_policy,
)
from tests.unit import signers
from tests.unit.inspect_images import bloated, clean, deb

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def pem_of(signer: CryptoSigner) -> bytes:
    private = serialization.load_pem_private_key(signer.private_bytes, None)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


alice, bob = signers.alice, signers.bob


@pytest.fixture
def key_dir(tmp_path: Path, alice: CryptoSigner, bob: CryptoSigner) -> Path:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "alice.pem").write_bytes(pem_of(alice))
    write_public_key(tmp_path / "keys" / "bob.pub", bob.public_key)
    return tmp_path


FULL = """\
version: 1
scopes:
  - match: ["127.0.0.1:5000/team/*", "oci:*"]
    roles: {targets: 2, root: 1}
    attestations: [sbom, provenance, sbom]
    keys:
      - keys/alice.pem
      - {file: keys/bob.pub}
      - {keyid: "0123456789abcdef"}
    threshold: 2
    forbid:
      packages: ["gcc*", "pypi:pytest"]
      dev-packages: yes
      wasted: 20MB
      fail-on: "docs>5MB,caches"
    max-age: 30d
  - match: "*"
"""


def test_full_policy(key_dir: Path, alice: CryptoSigner, bob: CryptoSigner) -> None:
    (key_dir / "policy.yaml").write_text(FULL)
    policy = load_policy(key_dir / "policy.yaml")
    scope = policy.scopes[0]
    assert scope.match == ("127.0.0.1:5000/team/*", "oci:*")
    assert scope.roles == (("targets", 2), ("root", 1))
    assert scope.attestations == ("sbom", "provenance")
    assert [k.keyid for k in scope.keys] == [alice.public_key.keyid, bob.public_key.keyid, "0123456789abcdef"]
    assert scope.keys[0].key == alice.public_key
    assert scope.keys[1].key == bob.public_key
    assert scope.keys[2] == TrustedKey(keyid="0123456789abcdef", origin=f"{key_dir / 'policy.yaml'}:9")
    assert scope.threshold == 2
    assert scope.forbid.packages == ("gcc*", "pypi:pytest")
    assert scope.forbid.dev_packages
    assert [(r.metric, r.op, r.threshold) for r in scope.forbid.rules] == [
        ("wasted", ">", 20_000_000),
        ("docs", ">", 5_000_000),
        ("caches", ">", 0),
    ]
    assert scope.max_age == dt.timedelta(days=30)
    assert scope.location == f"{key_dir / 'policy.yaml'}:3"
    assert policy.scopes[1] == Scope(match=("*",), location=f"{key_dir / 'policy.yaml'}:17")


def test_first_matching_scope_wins_and_star_crosses_slashes() -> None:
    policy = parse_policy(
        'version: 1\nscopes:\n  - match: "127.0.0.1:5000/team/*"\n    max-age: 1d\n  - match: "*"\n'
    )
    assert policy.scope_for("127.0.0.1:5000/team/deep/app") is policy.scopes[0]
    assert policy.scope_for("127.0.0.1:5000/other/app") is policy.scopes[1]
    assert Policy(scopes=policy.scopes[:1]).scope_for("oci:out/app") is None


def test_keyid_override_of_a_pem_key(tmp_path: Path, alice: CryptoSigner) -> None:
    (tmp_path / "a.pem").write_bytes(pem_of(alice))
    policy = parse_policy(
        'version: 1\nscopes:\n  - match: "*"\n    keys: [{file: a.pem, keyid: "abcdef0123"}]\n',
        base_dir=tmp_path,
    )
    key = policy.scopes[0].keys[0]
    assert key.keyid == "abcdef0123"
    assert key.key is not None and key.key.keyid == "abcdef0123"


def scope_text(body: str) -> str:
    return 'version: 1\nscopes:\n  - match: "*"\n' + body


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        (
            "version: 1\nscopes: [\n",
            "p.yaml:3:1",
            "not valid YAML: expected the node content, but found '<stream end>'",
        ),
        ("", "p.yaml", "the policy is empty"),
        ("version: 2\nscopes: []\n", "p.yaml:1:10", "the policy must say `version: 1`"),
        ("scopes: []\n", "p.yaml:1:1", "the policy must say `version: 1`"),
        ("version: 1\nscopes: []\n", "p.yaml:2:9", "scopes must be a non-empty list of scopes"),
        ("version: 1\nscope: []\n", "p.yaml:2:1", "unknown key 'scope' in the policy"),
        (
            "version: 1\nscopes:\n  - roles: {}\n",
            "p.yaml:3:5",
            "a scope needs `match:` (a REGISTRY/REPOSITORY glob)",
        ),
        (scope_text("    max_age: 1d\n"), "p.yaml:4:5", "unknown key 'max_age' in a scope"),
        (
            scope_text("    attestations: [sbom, vex]\n    keys: [{keyid: abcdef0123}]\n"),
            "p.yaml:4:19",
            "unknown attestation 'vex': use sbom or provenance",
        ),
        (
            scope_text("    attestations: [sbom]\n"),
            "p.yaml:4:19",
            "required attestations need `keys:` trusted to sign them",
        ),
        (
            scope_text("    keys: [{keyid: abcdef0123}]\n    threshold: 2\n"),
            "p.yaml:5:16",
            "threshold 2 is more than the 1 keys listed",
        ),
        (
            scope_text("    keys: [{keyid: abcdef0123}]\n    threshold: 0\n"),
            "p.yaml:5:16",
            "threshold must be a whole number from 1 to 1000, not '0'",
        ),
        (scope_text("    keys: [{keyid: ABC}]\n"), "p.yaml:4:20", "keyid 'ABC' must be lowercase hex"),
        (
            scope_text("    keys: [{keyid: abcdef0123}, {keyid: abcdef0123}]\n"),
            "p.yaml:4:33",
            "key abcdef0123 is listed twice",
        ),
        (
            scope_text("    keys: []\n"),
            "p.yaml:4:11",
            "keys must be a non-empty list of key files or {file, keyid} entries",
        ),
        (scope_text("    keys: [{}]\n"), "p.yaml:4:12", "a key needs `file:` or `keyid:`"),
        (
            scope_text("    keys: [missing.pub]\n"),
            "p.yaml:4:12",
            "cannot read the key file missing.pub: No such file or directory",
        ),
        (
            scope_text("    roles: {targets: two}\n"),
            "p.yaml:4:22",
            "roles.targets must be a whole number from 1 to 1000, not 'two'",
        ),
        (
            scope_text("    forbid: {wasted: 20XB}\n"),
            "p.yaml:4:22",
            "unknown unit 'XB' for wasted: use B, kB, KB, MB, GB, KiB, MiB or GiB in 'wasted>20XB'",
        ),
        (
            scope_text("    forbid: {fail-on: 'docs>'}\n"),
            "p.yaml:4:23",
            "expected a number after '>' in 'docs>'",
        ),
        (
            scope_text("    forbid: {dev-packages: maybe}\n"),
            "p.yaml:4:28",
            "forbid.dev-packages must be true or false",
        ),
        (scope_text("    forbid: {package: [gcc]}\n"), "p.yaml:4:14", "unknown key 'package' in forbid"),
        (
            scope_text("    max-age: 30 days\n"),
            "p.yaml:4:14",
            "max-age '30 days' must be a positive number with s, m, h, d or w, such as 30d",
        ),
        (
            scope_text("    max-age: 0d\n"),
            "p.yaml:4:14",
            "max-age '0d' must be a positive number with s, m, h, d or w, such as 30d",
        ),
        (scope_text("    match: x\n"), "p.yaml:4:5", "duplicate key 'match' in a scope"),
    ],
)
def test_errors_point_at_the_line(tmp_path: Path, text: str, location: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, path="p.yaml", base_dir=tmp_path)
    assert caught.value.location == location
    assert caught.value.message == f"{location}: {message}"
    assert caught.value.exit_code == 2


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(scope_text("    atestations: [sbom]\n"), path="p.yaml")
    assert caught.value.hint == "did you mean 'attestations'?"


def test_key_file_errors(tmp_path: Path, bob: CryptoSigner) -> None:
    (tmp_path / "junk.pem").write_bytes(b"not a key")
    with pytest.raises(PolicyError, match=r"p.yaml:4:12: junk.pem is not a supported PEM public key"):
        parse_policy(scope_text("    keys: [junk.pem]\n"), path="p.yaml", base_dir=tmp_path)
    write_public_key(tmp_path / "bob.pub", bob.public_key)
    with pytest.raises(PolicyError, match=f"bob.pub holds key {bob.public_key.keyid}, not abcdef0123"):
        parse_policy(
            scope_text("    keys: [{file: bob.pub, keyid: abcdef0123}]\n"), path="p.yaml", base_dir=tmp_path
        )


def test_load_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy: No such file or directory"):
        load_policy(tmp_path / "missing.yaml")
    (tmp_path / "big.yaml").write_bytes(b"#" * ((1 << 20) + 1))
    with pytest.raises(PolicyError, match="the policy is larger than 1048576 bytes"):
        load_policy(tmp_path / "big.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"# \xe9\n")
    with pytest.raises(PolicyError, match="the policy is not UTF-8 text"):
        load_policy(tmp_path / "latin1.yaml")


# Evaluation ---------------------------------------------------------------------------------------


def scope(body: str) -> Scope:
    return parse_policy(scope_text(body)).scopes[0]


def test_clean_image_passes() -> None:
    contents, packages = clean()
    strict = scope("    forbid: {packages: [gcc*], dev-packages: true, wasted: 1MB}\n    max-age: 30d\n")
    created = NOW - dt.timedelta(days=29)
    assert (
        strict.evaluate(packages=packages, waste=waste_report(contents, packages), created=created, now=NOW)
        == []
    )


def test_forbidden_and_dev_packages_and_waste() -> None:
    contents, packages = bloated()
    strict = scope(
        "    forbid: {packages: [gcc-12, 'pypi:py*', 'rpm:bash'], dev-packages: true, wasted: 20MB}\n"
    )
    violations = strict.evaluate(
        packages=packages, waste=waste_report(contents, packages), created=None, now=NOW
    )
    assert violations[:2] == [
        Violation(reason="forbidden-package", message="deb package gcc-12 12.2.0-14 is forbidden (gcc-12)"),
        Violation(reason="forbidden-package", message="pypi package pytest 8.0.0 is forbidden (pypi:py*)"),
    ]
    assert [v.message for v in violations if v.reason == "dev-packages"] == [
        "gcc-12 12.2.0-14 is a dev/test package (compiler or build tool)",
        "make 4.3-4.1 is a dev/test package (compiler or build tool)",
        "pytest 8.0.0 is a dev/test package (test tool)",
    ]
    wasted = [v.message for v in violations if v.reason == "wasted"]
    assert len(wasted) == 1 and wasted[0].startswith("wasted ") and "> 20 MB" in wasted[0]


def test_size_rules_need_a_waste_report() -> None:
    _, packages = bloated()
    assert (
        scope("    forbid: {wasted: 1B}\n").evaluate(packages=packages, waste=None, created=None, now=NOW)
        == []
    )


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (NOW - dt.timedelta(days=30), []),
        (
            NOW - dt.timedelta(days=31, hours=2),
            [
                Violation(
                    reason="too-old",
                    message="the image is 31d 2h old (made 2025-04-30T22:00:00Z); max-age is 30d 0h",
                )
            ],
        ),
        (
            None,
            [
                Violation(
                    reason="no-age", message="the image's creation time is unknown; max-age cannot be met"
                )
            ],
        ),
    ],
)
def test_max_age(created: dt.datetime | None, expected: list[Violation]) -> None:
    packages = [deb("app", "1")]
    assert (
        scope("    max-age: 30d\n").evaluate(packages=packages, waste=None, created=created, now=NOW)
        == expected
    )


def test_short_ages_read_in_hours() -> None:
    violations = scope("    max-age: 90m\n").evaluate(
        packages=[], waste=None, created=NOW - dt.timedelta(hours=2), now=NOW
    )
    assert violations[0].message == "the image is 2h 0m old (made 2025-05-31T22:00:00Z); max-age is 1h 30m"
