"""SBOM writers: SPDX 2.3 (checked against the official schema) and CycloneDX 1.6 (strict validator).

The image and packages are built here directly: deb, rpm, apk, pypi and npm packages with SPDX ids,
compound expressions, free-text licenses and none, and the same npm package in two places.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.spdx import is_expression
from cyclonedx.validation.json import JsonStrictValidator
from jsonschema import validators

from dockwright.errors import InputError
from dockwright.inspect.model import ImageContents, LayerRecord, Package
from dockwright.inspect.sbom import cyclonedx_document, spdx_document, to_json
from dockwright.inspect.sbom._common import image_subject, package_keys
from dockwright.inspect.sbom.licenses import LicenseKind, classify_license, join_expressions
from tests.sbom_schema import spdx_23_schema
from tests.unit.cdx_reference import library_cyclonedx_document

CREATED = "2024-05-06T07:08:09Z"
SERIAL = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
MANIFEST_HEX = "ab" * 32
LAYER_DIGESTS = ("sha256:" + "01" * 32, "sha256:" + "02" * 32, "sha256:" + "03" * 32)
REFERENCE = "docker-archive:/tmp/app.tar:registry.example:5000/team/app:1.0"
IMAGE_PURL = (
    f"pkg:oci/app@sha256%3A{MANIFEST_HEX}?arch=amd64&repository_url=registry.example:5000/team/app&tag=1.0"
)
SPDX_ID = re.compile(r"SPDXRef-[A-Za-z0-9.-]+")


def _contents(reference: str = REFERENCE) -> ImageContents:
    layers = tuple(
        LayerRecord(
            index=i, digest=d, diff_id="sha256:" + f"{i + 10:02d}" * 32, size=10, uncompressed_size=20
        )
        for i, d in enumerate(LAYER_DIGESTS)
    )
    return ImageContents(
        reference=reference,
        manifest_digest=f"sha256:{MANIFEST_HEX}",
        config={"architecture": "amd64", "os": "linux"},
        layers=layers,
        files={},
        contents={},
        versions={},
    )


def _packages() -> list[Package]:
    dpkg, rpmdb, apkdb = "var/lib/dpkg/status", "var/lib/rpm/rpmdb.sqlite", "lib/apk/db/installed"
    return [
        Package(name="bash", version="5.2.15-2+b13", type="deb", architecture="amd64", location=dpkg,
                purl="pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&distro=debian-12",
                licenses=("GPL-3.0-or-later",), files=("usr/bin/bash", "usr/share/doc/bash/copyright")),
        Package(name="libc6", version="2.36-9+deb12u4", type="deb", architecture="amd64", location=dpkg,
                source="glibc", purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
                licenses=("GPL-2+ with exceptions", "LGPL-2.1-or-later"), files=("usr/lib/x86_64-linux-gnu/libc.so.6",)),
        Package(name="openssl-libs", version="3.0.7-27.el9", type="rpm", architecture="x86_64", location=rpmdb,
                purl="pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64", licenses=("Apache-2.0",),
                layer_added=1, layer_changed=2),
        Package(name="musl", version="1.2.4-r2", type="apk", architecture="x86_64", location=apkdb,
                purl="pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4", licenses=("mit",)),
        Package(name="requests", version="2.31.0", type="pypi",
                location="usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                purl="pkg:pypi/Requests@2.31.0", licenses=("MIT OR Apache-2.0",), layer_added=1, layer_changed=1),
        Package(name="left-pad", version="1.3.0", type="npm", location="app/node_modules/left-pad/package.json",
                purl="pkg:npm/left-pad@1.3.0", layer_added=2, layer_changed=2),
        Package(name="lodash", version="4.17.21", type="npm", location="app/node_modules/lodash/package.json",
                purl="pkg:npm/lodash@4.17.21", licenses=("MIT",), layer_added=2, layer_changed=2),
        Package(name="lodash", version="4.17.21", type="npm", dev=True,
                location="app/node_modules/jest/node_modules/lodash/package.json",
                purl="pkg:npm/lodash@4.17.21", licenses=("MIT",), layer_added=2, layer_changed=2),
        Package(name="@babel/core", version="7.24.0", type="npm", dev=True,
                location="app/node_modules/@babel/core/package.json",
                purl="pkg:npm/%40babel/core@7.24.0", licenses=("MIT", "GPL-2+ with exceptions"),
                layer_added=2, layer_changed=2),
    ]  # fmt: skip


@pytest.fixture(scope="session")
def spdx_validator() -> Any:
    schema = spdx_23_schema()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _spdx(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("created", CREATED)
    kwargs.setdefault("namespace_seed", "seed")
    return spdx_document(_contents(), _packages(), **kwargs)


def _cdx(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("created", CREATED)
    kwargs.setdefault("serial", SERIAL)
    return dict(json.loads(cyclonedx_document(_contents(), _packages(), **kwargs)))


def _by_name(entries: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["name"] == name]


# --- licenses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("MIT", LicenseKind.ID, "MIT"),
        ("mit", LicenseKind.ID, "MIT"),
        ("  Apache-2.0 ", LicenseKind.ID, "Apache-2.0"),
        ("GPL-2.0+", LicenseKind.ID, "GPL-2.0+"),
        ("MIT OR Apache-2.0", LicenseKind.EXPRESSION, "MIT OR Apache-2.0"),
        ("mit or apache-2.0", LicenseKind.EXPRESSION, "MIT OR Apache-2.0"),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0", LicenseKind.EXPRESSION,
         "GPL-2.0-or-later WITH Classpath-exception-2.0"),
        ("GPL-2+ with exceptions", LicenseKind.NAME, "GPL-2+ with exceptions"),
        ("public-domain", LicenseKind.NAME, "public-domain"),
        ("MIT/X11", LicenseKind.NAME, "MIT/X11"),
    ],
)  # fmt: skip
def test_classify_license(text: str, kind: LicenseKind, value: str) -> None:
    choice = classify_license(text)
    assert choice is not None
    assert (choice.kind, choice.value, choice.text) == (kind, value, text)


@pytest.mark.parametrize("text", ["", "   "])
def test_blank_license_is_nothing(text: str) -> None:
    assert classify_license(text) is None


def test_join_expressions_parenthesizes_compound_parts() -> None:
    assert join_expressions(["MIT"]) == "MIT"
    assert join_expressions(["MIT OR Apache-2.0"]) == "MIT OR Apache-2.0"
    assert join_expressions(["LicenseRef-x", "MIT OR Apache-2.0"]) == "LicenseRef-x AND (MIT OR Apache-2.0)"


# --- SPDX ----------------------------------------------------------------------------------------


def test_spdx_validates_against_official_schema(spdx_validator: Any) -> None:
    document = json.loads(to_json(_spdx()))
    errors = sorted(spdx_validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_spdx_schema_rejects_a_broken_document(spdx_validator: Any) -> None:
    document = _spdx()
    del document["packages"][1]["downloadLocation"]
    document["relationships"][0]["relationshipType"] = "OWNS"
    assert len(list(spdx_validator.iter_errors(document))) == 2


def test_spdx_image_is_the_subject() -> None:
    document = _spdx()
    image = document["packages"][0]
    assert document["documentDescribes"] == [image["SPDXID"]]
    assert {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
            "relatedSpdxElement": image["SPDXID"]} in document["relationships"]  # fmt: skip
    assert image["name"] == REFERENCE == document["name"]
    assert image["versionInfo"] == f"sha256:{MANIFEST_HEX}"
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": MANIFEST_HEX}]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert image["externalRefs"] == [
        {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": IMAGE_PURL}
    ]


def test_spdx_image_contains_every_package_and_ids_resolve() -> None:
    document = _spdx()
    image_id = document["packages"][0]["SPDXID"]
    package_ids = [p["SPDXID"] for p in document["packages"][1:]]
    contains = [
        r["relatedSpdxElement"] for r in document["relationships"] if r["relationshipType"] == "CONTAINS"
    ]
    assert sorted(contains) == sorted(package_ids)
    assert len(package_ids) == len(_packages())
    known = {"SPDXRef-DOCUMENT", image_id, *package_ids}
    for relationship in document["relationships"]:
        assert {relationship["spdxElementId"], relationship["relatedSpdxElement"]} <= known


def test_spdx_ids_are_unique_sanitized_and_split_by_location() -> None:
    document = _spdx()
    ids = [p["SPDXID"] for p in document["packages"]]
    assert len(set(ids)) == len(ids)
    assert all(SPDX_ID.fullmatch(i) for i in ids)
    lodash = [p["SPDXID"] for p in _by_name(document["packages"], "lodash")]
    assert len(lodash) == 2 and lodash[0] != lodash[1]
    assert all(i.startswith("SPDXRef-Package-npm-lodash-4.17.21-") for i in lodash)


def test_exact_duplicates_still_get_distinct_ids() -> None:
    package = _packages()[0]
    keys = package_keys([package, package, package])
    assert keys[1:] == [keys[0] + "-2", keys[0] + "-3"]


def test_spdx_purls_preserved_exactly() -> None:
    purls = [p["externalRefs"][0]["referenceLocator"] for p in _spdx()["packages"][1:]]
    assert sorted(purls) == sorted(p.purl for p in _packages())
    assert "pkg:pypi/Requests@2.31.0" in purls  # not re-normalized to pkg:pypi/requests


def test_spdx_layer_annotations_name_layer_digests() -> None:
    document = _spdx()
    for entry in document["packages"][1:]:
        notes = [a["comment"] for a in entry["annotations"]]
        assert all(a["annotator"] == "Tool: dockwright-0.1.0" and a["annotationDate"] == CREATED
                   for a in entry["annotations"])  # fmt: skip
        assert notes[0].startswith("dockwright:layer=sha256:")
    (ssl,) = _by_name(document["packages"], "openssl-libs")
    notes = [a["comment"] for a in ssl["annotations"]]
    assert notes[:2] == [
        f"dockwright:layer={LAYER_DIGESTS[1]}",
        f"dockwright:layer_changed={LAYER_DIGESTS[2]}",
    ]
    assert "dockwright:location=var/lib/rpm/rpmdb.sqlite" in notes
    dev = {tuple(a["comment"] for a in p["annotations"]).count("dockwright:dev=true")
           for p in _by_name(document["packages"], "lodash")}  # fmt: skip
    assert dev == {0, 1}


def test_spdx_licenses() -> None:
    document = _spdx()
    declared = {(p["name"], p.get("versionInfo")): p["licenseDeclared"] for p in document["packages"]}
    extracted = {e["licenseId"]: e for e in document["hasExtractedLicensingInfos"]}
    (ref,) = extracted
    assert ref == "LicenseRef-GPL-2-with-exceptions"
    assert extracted[ref]["extractedText"] == "GPL-2+ with exceptions"
    assert declared[("bash", "5.2.15-2+b13")] == "GPL-3.0-or-later"
    assert declared[("libc6", "2.36-9+deb12u4")] == f"{ref} AND LGPL-2.1-or-later"
    assert declared[("musl", "1.2.4-r2")] == "MIT"
    assert declared[("requests", "2.31.0")] == "MIT OR Apache-2.0"
    assert declared[("left-pad", "1.3.0")] == "NOASSERTION"
    assert declared[("@babel/core", "7.24.0")] == f"MIT AND {ref}"
    for value in declared.values():  # every declared license is an SPDX expression once refs are known
        assert value == "NOASSERTION" or is_expression(value.replace(ref, "MIT"))


def test_license_refs_stay_distinct_when_texts_sanitize_alike() -> None:
    packages = [
        Package(name="a", version="1", type="deb", purl="pkg:deb/debian/a@1", licenses=("GPL-2+",)),
        Package(name="b", version="1", type="deb", purl="pkg:deb/debian/b@1", licenses=("GPL-2",)),
        Package(name="c", version="1", type="deb", purl="pkg:deb/debian/c@1", licenses=("∅",)),
    ]
    document = spdx_document(_contents(), packages, created=CREATED, namespace_seed="s")
    ids = [e["licenseId"] for e in document["hasExtractedLicensingInfos"]]
    assert len(set(ids)) == 3
    assert "LicenseRef-GPL-2" in ids
    assert all(re.fullmatch(r"LicenseRef-[A-Za-z0-9.-]+", i) for i in ids)


def test_spdx_is_deterministic_and_namespace_unique_per_seed() -> None:
    first = to_json(_spdx())
    shuffled = spdx_document(_contents(), list(reversed(_packages())), created=CREATED, namespace_seed="seed")
    assert to_json(shuffled) == first
    assert first.endswith(b"}\n") and b'\n  "SPDXID"' in first  # 2-space indent, sorted keys
    other_seed = _spdx(namespace_seed="other")["documentNamespace"]
    assert other_seed != json.loads(first)["documentNamespace"]
    unseeded = {_spdx(namespace_seed=None)["documentNamespace"] for _ in range(2)}
    assert len(unseeded) == 2
    assert json.loads(first)["documentNamespace"].startswith("https://spdx.org/spdxdocs/dockwright/app-")


def test_spdx_created_defaults_to_now_utc() -> None:
    document = spdx_document(_contents(), [], namespace_seed="s")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["creationInfo"]["created"])
    assert document["creationInfo"]["creators"] == ["Tool: dockwright-0.1.0"]


@pytest.mark.parametrize(
    "created", ["2024-05-06 07:08:09", "2024-05-06T07:08:09+00:00", "2024-02-30T00:00:00Z"]
)
def test_malformed_created_is_refused(created: str) -> None:
    with pytest.raises(InputError, match="creation time"):
        spdx_document(_contents(), [], created=created)
    with pytest.raises(InputError, match="creation time"):
        cyclonedx_document(_contents(), [], created=created)


@pytest.mark.parametrize(
    ("reference", "purl"),
    [
        (REFERENCE, IMAGE_PURL),
        ("docker-archive:/x/out.tar:app", f"pkg:oci/app@sha256%3A{MANIFEST_HEX}"
         "?arch=amd64&repository_url=docker.io/library/app&tag=latest"),
        ("oci:/srv/layouts/MyApp:v1", f"pkg:oci/myapp@sha256%3A{MANIFEST_HEX}?arch=amd64&tag=v1"),
        ("docker-archive:/x/out.tar", f"pkg:oci/out@sha256%3A{MANIFEST_HEX}?arch=amd64"),
        ("ghcr.io/org/tool:2", f"pkg:oci/tool@sha256%3A{MANIFEST_HEX}"
         "?arch=amd64&repository_url=ghcr.io/org/tool&tag=2"),
    ],
)  # fmt: skip
def test_image_purl(reference: str, purl: str) -> None:
    assert image_subject(_contents(reference)).purl == purl


# --- CycloneDX -----------------------------------------------------------------------------------


def test_cyclonedx_validates_strictly() -> None:
    text = cyclonedx_document(_contents(), _packages(), created=CREATED, serial=SERIAL)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def test_cyclonedx_image_is_metadata_component() -> None:
    document = _cdx()
    image = document["metadata"]["component"]
    assert image["type"] == "container"
    assert image["bom-ref"] == f"sha256:{MANIFEST_HEX}" == image["version"]
    assert image["name"] == REFERENCE
    assert image["hashes"] == [{"alg": "SHA-256", "content": MANIFEST_HEX}]
    assert image["purl"] == IMAGE_PURL
    assert document["metadata"]["timestamp"] == "2024-05-06T07:08:09+00:00"
    assert document["metadata"]["tools"]["components"] == [
        {"type": "application", "name": "dockwright", "version": "0.1.0"}
    ]
    assert document["serialNumber"] == SERIAL and document["specVersion"] == "1.6"


def test_cyclonedx_components_and_dependencies() -> None:
    document = _cdx()
    components = document["components"]
    refs = [c["bom-ref"] for c in components]
    assert len(set(refs)) == len(refs) == len(_packages())
    assert sorted(c["purl"] for c in components) == sorted(p.purl for p in _packages())
    (image_deps,) = [d for d in document["dependencies"] if d["ref"] == f"sha256:{MANIFEST_HEX}"]
    assert sorted(image_deps["dependsOn"]) == sorted(refs)
    types = {c["name"]: c["type"] for c in components}
    assert types["bash"] == "application" and types["libc6"] == "library"


def test_cyclonedx_properties_name_layers_and_dev() -> None:
    components = _cdx()["components"]
    (ssl,) = _by_name(components, "openssl-libs")
    props = {p["name"]: p["value"] for p in ssl["properties"]}
    assert props["dockwright:layer"] == LAYER_DIGESTS[1]
    assert props["dockwright:layer_changed"] == LAYER_DIGESTS[2]
    assert props["dockwright:location"] == "var/lib/rpm/rpmdb.sqlite"
    lodash_dev = sorted(
        {p["name"]: p["value"] for p in c["properties"]}.get("dockwright:dev", "")
        for c in _by_name(components, "lodash")
    )
    assert lodash_dev == ["", "true"]


def test_cyclonedx_licenses_agree_with_spdx() -> None:
    licenses = {c["name"]: c.get("licenses") for c in _cdx()["components"]}
    assert licenses["bash"] == [{"license": {"id": "GPL-3.0-or-later"}}]
    assert licenses["musl"] == [{"license": {"id": "MIT"}}]
    assert licenses["requests"] == [{"expression": "MIT OR Apache-2.0"}]
    assert licenses["left-pad"] is None
    libc6 = sorted(licenses["libc6"], key=json.dumps)
    assert libc6 == [
        {"license": {"id": "LGPL-2.1-or-later"}},
        {"license": {"name": "GPL-2+ with exceptions"}},
    ]


def test_cyclonedx_joins_several_spdx_licenses_into_one_expression() -> None:
    package = Package(
        name="x", version="1", type="npm", purl="pkg:npm/x@1", licenses=("ISC", "MIT OR Apache-2.0")
    )
    document = json.loads(cyclonedx_document(_contents(), [package], created=CREATED, serial=SERIAL))
    assert document["components"][0]["licenses"] == [{"expression": "ISC AND (MIT OR Apache-2.0)"}]
    spdx = spdx_document(_contents(), [package], created=CREATED, namespace_seed="s")
    assert spdx["packages"][1]["licenseDeclared"] == "ISC AND (MIT OR Apache-2.0)"


def test_cyclonedx_is_deterministic() -> None:
    first = cyclonedx_document(_contents(), _packages(), created=CREATED, serial=SERIAL)
    again = cyclonedx_document(
        _contents(), list(reversed(_packages())), created=CREATED, serial=SERIAL.removeprefix("urn:uuid:")
    )
    assert first == again
    fresh = {json.loads(cyclonedx_document(_contents(), []))["serialNumber"] for _ in range(2)}
    assert len(fresh) == 2 and all(uuid.UUID(s.removeprefix("urn:uuid:")) for s in fresh)


@pytest.mark.parametrize("seed", range(40))
def test_cyclonedx_gives_the_bytes_cyclonedx_python_lib_gives(seed: int) -> None:
    # The document is written by hand; the library's model and serializer are the reference.
    rnd = random.Random(seed)
    licenses = [
        "MIT",
        "mit",
        "GPL-2+",
        "GPL-2.0-or-later",
        "MIT OR Apache-2.0",
        "public-domain",
        " ",
        "",
        "Apache-2.0 AND BSD-3-Clause",
        "GPL-2+ with exceptions",
        "Ünïcode licence",
        "mit and apache-2.0",
    ]
    purls = ["pkg:npm/lodash@4", "pkg:deb/debian/bash@5.2%2B1?arch=amd64", "not a purl", "",
             "pkg:pypi/Requests@2.31.0", "pkg:npm/%40babel/core@7.24.0"]  # fmt: skip
    packages = list(_packages()) if seed == 0 else []
    for _ in range(rnd.randint(0, 12) if seed else 0):
        packages.append(
            Package(name=rnd.choice(["a", "b", "lodash", "Zeta", "zeta", "é-pkg", "x y"]),
                    version=rnd.choice(["", "1.0", "2"]), type=rnd.choice(["deb", "npm", "pypi"]),
                    architecture=rnd.choice(["", "amd64"]), location=rnd.choice(["", "a/b", "var/lib/dpkg/status"]),
                    purl=rnd.choice(purls), licenses=tuple(rnd.choices(licenses, k=rnd.randint(0, 4))),
                    files=tuple(rnd.choices(["usr/bin/x", "lib/y", "sbin/z"], k=rnd.randint(0, 2))),
                    layer_added=rnd.randint(0, 3), layer_changed=rnd.randint(0, 4), dev=rnd.random() < 0.3)
        )  # fmt: skip
    contents = _contents(
        rnd.choice([REFERENCE, "oci:/x:y", "docker-archive:/tmp/a.tar", "nginx:latest", "é"])
    )
    tool = rnd.choice(["dockwright-1.2.3", "mytool"])
    ours = cyclonedx_document(contents, packages, tool=tool, created=CREATED, serial=SERIAL)
    assert ours == library_cyclonedx_document(contents, packages, tool=tool, created=CREATED, serial=SERIAL)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(ours) is None


def test_malformed_serial_is_refused() -> None:
    with pytest.raises(InputError, match="serial"):
        cyclonedx_document(_contents(), [], serial="not-a-uuid")


# --- scale ---------------------------------------------------------------------------------------


def test_hundred_packages_validate_quickly(spdx_validator: Any) -> None:
    packages = [
        Package(name=f"pkg{i}", version=f"1.{i}", type="deb", architecture="amd64", location="var/lib/dpkg/status",
                purl=f"pkg:deb/debian/pkg{i}@1.{i}?arch=amd64&distro=debian-12",
                licenses=("GPL-2+", "MIT") if i % 2 else ("Apache-2.0",), layer_added=i % 3, layer_changed=i % 3)
        for i in range(100)
    ]  # fmt: skip
    start = time.monotonic()
    spdx = json.loads(to_json(spdx_document(_contents(), packages, created=CREATED, namespace_seed="s")))
    assert not list(spdx_validator.iter_errors(spdx))
    cdx = cyclonedx_document(_contents(), packages, created=CREATED, serial=SERIAL)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx) is None
    assert time.monotonic() - start < 30
