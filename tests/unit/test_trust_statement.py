"""in-toto Statement v1 wire objects, the SBOM and SLSA provenance builders, and SBOM package diffs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from dockwright import __version__
from dockwright.build.lock import Lock, LockedPackage, LockedRepository
from dockwright.errors import InputError
from dockwright.oci.digest import Digest
from dockwright.trust.sbom_compare import compare_packages, document_packages
from dockwright.trust.statement import (
    BUILD_TYPE,
    CYCLONEDX_PREDICATE,
    DEFAULT_BUILDER_ID,
    SLSA_PROVENANCE,
    SPDX_PREDICATE,
    STATEMENT_TYPE,
    Statement,
    Subject,
    parse_time,
    provenance_statement,
    rfc3339,
    sbom_statement,
    statement_time,
)

HEX = "ab" * 32
DIGEST = f"sha256:{HEX}"
MIRROR = "http://127.0.0.1:8080/debian"
STARTED = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def statement_dict(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "app", "digest": {"sha256": HEX}}],
        "predicateType": SPDX_PREDICATE,
        "predicate": {"spdxVersion": "SPDX-2.3"},
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def spdx(*packages: tuple[str, str, str]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {"SPDXID": "SPDXRef-Image-app", "name": "app", "versionInfo": DIGEST, "externalRefs": []}
    ]
    for i, (name, version, purl) in enumerate(packages):
        entry: dict[str, Any] = {"SPDXID": f"SPDXRef-Package-{i}", "name": name, "versionInfo": version}
        if purl:
            ref = {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}
            entry["externalRefs"] = [ref]
        entries.append(entry)
    return {
        "spdxVersion": "SPDX-2.3",
        "documentDescribes": ["SPDXRef-Image-app"],
        "creationInfo": {"created": "2025-01-02T03:04:05Z"},
        "packages": entries,
    }


def lock() -> Lock:
    def deb(name: str, version: str, filename: str, sha: str) -> LockedPackage:
        return LockedPackage(
            name=name,
            version=version,
            architecture="amd64",
            source=name,
            source_version=version,
            filename=filename,
            size=100,
            sha256=sha,
            suite="bookworm",
        )

    return Lock(
        name="app",
        architecture="amd64",
        spec_sha256="sha256:" + "11" * 32,
        inputs="sha256:" + "22" * 32,
        timestamp=1_700_000_000,
        repositories=(
            LockedRepository(
                uri=MIRROR + "/",
                suite="bookworm",
                components=("main",),
                inrelease_sha256="sha256:" + "33" * 32,
                date="Sat, 10 Jun 2023 08:48:00 UTC",
            ),
        ),
        packages=(
            deb("zlib1g", "1:1.2.13", "pool/main/z/zlib/zlib1g_1.2.13_amd64.deb", "44" * 32),
            deb("bash", "5.2.15-2+b7", "pool/main/b/bash/bash_5.2.15-2+b7_amd64.deb", "55" * 32),
        ),
    )


# Statement wire object ---------------------------------------------------------------------------


def test_statement_round_trip_keeps_unknown_fields() -> None:
    doc = statement_dict(extension={"x": 1})
    doc["subject"][0]["uri"] = "pkg:oci/app"
    statement = Statement.from_dict(doc)
    assert statement.to_dict() == doc
    assert Statement.from_json(statement.to_json()) == statement
    assert statement.about(Digest.parse(DIGEST))
    assert not statement.about(Digest.parse("sha256:" + "cd" * 32))


def test_to_json_is_compact_and_sorted() -> None:
    statement = Statement.from_dict(statement_dict())
    assert statement.to_json() == json.dumps(statement_dict(), sort_keys=True, separators=(",", ":")).encode()


def test_predicate_may_be_absent_or_null() -> None:
    assert Statement.from_dict(statement_dict(predicate=...)).predicate == {}
    assert Statement.from_dict(statement_dict(predicate=None)).predicate == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"_type": "https://in-toto.io/Statement/v0.1"},
            "the statement's _type is 'https://in-toto.io/Statement/v0.1', not 'https://in-toto.io/Statement/v1'",
        ),
        ({"_type": ...}, "the statement's _type is None, not 'https://in-toto.io/Statement/v1'"),
        ({"subject": []}, "the statement must name at least one subject"),
        ({"subject": "app"}, "the statement must name at least one subject"),
        ({"subject": ["app"]}, "subject[0] must be an object"),
        ({"subject": [{"name": "app"}]}, "subject[0].digest must be a non-empty object of algorithm: hex"),
        ({"subject": [{"name": 3, "digest": {"sha256": HEX}}]}, "subject[0].name must be a string"),
        (
            {"subject": [{"digest": {"sha256": HEX.upper()}}]},
            "subject[0].digest.sha256 must be lowercase hex",
        ),
        ({"subject": [{"digest": {"SHA256": HEX}}]}, "subject[0].digest.SHA256 must be lowercase hex"),
        ({"predicateType": ""}, "the statement's predicateType must be a non-empty string"),
        ({"predicate": []}, "the statement's predicate must be a JSON object"),
    ],
)
def test_malformed_statements(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        Statement.from_dict(statement_dict(**changes))
    assert caught.value.message == message


def test_from_json_refuses_non_json() -> None:
    with pytest.raises(InputError, match="the statement is not valid JSON"):
        Statement.from_json(b"\xff")
    with pytest.raises(InputError, match="the statement must be a JSON object"):
        Statement.from_json(b"[]")


def test_subject_of_image() -> None:
    subject = Subject.of_image("127.0.0.1:5000/team/app", DIGEST)
    assert subject.to_dict() == {"name": "127.0.0.1:5000/team/app", "digest": {"sha256": HEX}}
    assert subject.matches(Digest.parse(DIGEST))
    with pytest.raises(InputError):
        Subject.of_image("app", "md5:abc")


# SBOM statements ---------------------------------------------------------------------------------


def test_sbom_statement_spdx_from_bytes() -> None:
    document = spdx(("bash", "5.2", "pkg:deb/debian/bash@5.2"))
    statement = sbom_statement("app", DIGEST, json.dumps(document).encode())
    assert statement.predicate_type == SPDX_PREDICATE
    assert statement.predicate == document
    assert statement.subjects == (Subject(name="app", digest={"sha256": HEX}),)


def test_sbom_statement_cyclonedx() -> None:
    document = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}
    assert sbom_statement("app", Digest.parse(DIGEST), document).predicate_type == CYCLONEDX_PREDICATE


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{", "the SBOM is not valid JSON"),
        (b"[]", "the SBOM must be a JSON object"),
        ({"bomFormat": "other"}, "the SBOM is neither SPDX (spdxVersion) nor CycloneDX (bomFormat) JSON"),
    ],
)
def test_sbom_statement_refuses_other_documents(document: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        sbom_statement("app", DIGEST, document)
    assert caught.value.message.startswith(message)


# SLSA provenance ---------------------------------------------------------------------------------


def test_provenance_records_spec_lock_and_every_deb() -> None:
    statement = provenance_statement(
        "app",
        DIGEST,
        lock(),
        spec_path="dockwright.yaml",
        lock_path="dockwright.lock",
        started_on=STARTED,
        finished_on=STARTED + dt.timedelta(seconds=42),
        invocation_id="build-1",
    )
    assert statement.predicate_type == SLSA_PROVENANCE
    definition = statement.predicate["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"] == {
        "spec": {"path": "dockwright.yaml", "digest": {"sha256": "11" * 32}},
        "lock": {"path": "dockwright.lock", "digest": {"sha256": Digest.of(lock().to_bytes()).hex}},
        "architecture": "amd64",
        "sourceDateEpoch": 1_700_000_000,
    }
    assert definition["resolvedDependencies"] == [
        {
            "uri": f"{MIRROR}/dists/bookworm/InRelease",
            "name": "dists/bookworm/InRelease",
            "digest": {"sha256": "33" * 32},
        },
        {
            "uri": f"{MIRROR}/pool/main/b/bash/bash_5.2.15-2+b7_amd64.deb",
            "name": "pool/main/b/bash/bash_5.2.15-2+b7_amd64.deb",
            "digest": {"sha256": "55" * 32},
        },
        {
            "uri": f"{MIRROR}/pool/main/z/zlib/zlib1g_1.2.13_amd64.deb",
            "name": "pool/main/z/zlib/zlib1g_1.2.13_amd64.deb",
            "digest": {"sha256": "44" * 32},
        },
    ]
    assert statement.predicate["runDetails"] == {
        "builder": {"id": DEFAULT_BUILDER_ID, "version": {"dockwright": __version__}},
        "metadata": {
            "invocationId": "build-1",
            "startedOn": "2025-03-04T05:06:07Z",
            "finishedOn": "2025-03-04T05:06:49Z",
        },
    }
    assert statement_time(statement) == STARTED
    assert Statement.from_json(statement.to_json()) == statement


def test_provenance_defaults() -> None:
    digest = Digest.of(b"the lock file as written")
    statement = provenance_statement(
        "app",
        DIGEST,
        lock(),
        spec_path="s.yaml",
        lock_path="s.lock",
        started_on=STARTED,
        source_date_epoch=5,
        lock_digest=digest,
        builder_id="urn:example:ci",
    )
    external = statement.predicate["buildDefinition"]["externalParameters"]
    assert external["sourceDateEpoch"] == 5
    assert external["lock"]["digest"] == {"sha256": digest.hex}
    run = statement.predicate["runDetails"]
    assert run["builder"]["id"] == "urn:example:ci"
    assert run["metadata"]["invocationId"].startswith("urn:uuid:")
    assert "finishedOn" not in run["metadata"]


def test_times_must_be_aware() -> None:
    with pytest.raises(InputError, match="has no time zone"):
        rfc3339(dt.datetime(2025, 1, 1))
    assert (
        rfc3339(dt.datetime(2025, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))))
        == "2025-01-01T00:00:00Z"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-02T03:04:05Z", dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("2025-01-02T03:04:05.25Z", dt.datetime(2025, 1, 2, 3, 4, 5, 250000, tzinfo=dt.UTC)),
        ("2025-01-02T04:04:05+01:00", dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("2025-01-02T03:04:05", None),
        ("yesterday", None),
    ],
)
def test_parse_time(text: str, expected: dt.datetime | None) -> None:
    assert parse_time(text) == expected


def test_statement_time_of_sboms() -> None:
    spdx_statement = sbom_statement("app", DIGEST, spdx())
    assert statement_time(spdx_statement) == dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    cdx = {"bomFormat": "CycloneDX", "metadata": {"timestamp": "2024-05-06T07:08:09Z"}}
    assert statement_time(sbom_statement("app", DIGEST, cdx)) == dt.datetime(
        2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC
    )
    assert statement_time(sbom_statement("app", DIGEST, {"bomFormat": "CycloneDX"})) is None


# SBOM package sets -------------------------------------------------------------------------------


def test_document_packages_leave_the_image_out() -> None:
    document = spdx(("bash", "5.2", "pkg:deb/debian/bash@5.2"), ("NOASSERTION", "", ""))
    assert document_packages(document, SPDX_PREDICATE) == [
        ("bash", "5.2", "pkg:deb/debian/bash@5.2"),
        ("NOASSERTION", "", ""),
    ]
    cdx = {"components": [{"name": "bash", "version": "5.2", "purl": "pkg:deb/debian/bash@5.2"}]}
    assert document_packages(cdx, CYCLONEDX_PREDICATE) == [("bash", "5.2", "pkg:deb/debian/bash@5.2")]


@pytest.mark.parametrize(
    ("document", "kind", "message"),
    [
        (
            {"packages": {}},
            SPDX_PREDICATE,
            "the SPDX document's packages and documentDescribes must be lists",
        ),
        ({"packages": [1]}, SPDX_PREDICATE, "an SPDX package must be an object"),
        ({"packages": [{"name": 1}]}, SPDX_PREDICATE, "an SBOM package field holds int, not a string"),
        ({"components": {}}, CYCLONEDX_PREDICATE, "the CycloneDX document's components must be a list"),
        ({"components": [[]]}, CYCLONEDX_PREDICATE, "a CycloneDX component must be an object"),
        ({}, SLSA_PROVENANCE, "'https://slsa.dev/provenance/v1' is not an SBOM predicate type"),
    ],
)
def test_document_packages_refuse_malformed_lists(document: dict[str, Any], kind: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        document_packages(document, kind)
    assert caught.value.message == message


def test_compare_packages() -> None:
    bash, bash2 = ("bash", "5.2", "pkg:deb/debian/bash@5.2"), ("bash", "5.3", "pkg:deb/debian/bash@5.3")
    zlib, curl = ("zlib1g", "1.2", "pkg:deb/debian/zlib1g@1.2"), ("curl", "8", "pkg:deb/debian/curl@8")
    assert not compare_packages([bash, zlib], [zlib, bash])
    diff = compare_packages([bash, zlib, zlib], [bash2, zlib, curl])
    assert diff.changed == ((bash, bash2),)
    assert diff.added == (curl,)
    assert diff.removed == (zlib,)
    assert diff.lines() == [
        "~ bash 5.2 -> 5.3",
        "+ curl 8 (in the layers, not in the signed SBOM)",
        "- zlib1g 1.2 (in the signed SBOM, not in the layers)",
    ]
    assert diff.lines(limit=1) == ["~ bash 5.2 -> 5.3", "... and 2 more"]
    assert diff.to_dict()["changed"] == [
        {
            "signed": {"name": "bash", "version": "5.2", "purl": "pkg:deb/debian/bash@5.2"},
            "actual": {"name": "bash", "version": "5.3", "purl": "pkg:deb/debian/bash@5.3"},
        }
    ]
