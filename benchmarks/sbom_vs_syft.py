"""Benchmark ``dockwright sbom`` against ``syft`` on the same ~100-package image, in one run.

Run from the repository (as root when the image must be built: mmdebstrap, ``umoci unpack``)::

    .venv/bin/python benchmarks/sbom_vs_syft.py [--runs N] [--json FILE] [--image oci:DIR:TAG]

The image (unless ``--image`` names another) is the integration tests' ``minbase_image``:
``mmdebstrap --variant=minbase --include=jq bookworm`` from the host's apt mirror (99 packages),
split by ``umoci`` into three gzip layers with deletions. It is reused from the tests' cache
(``~/.cache/dockwright-tests/<version>/layout``, ``$DOCKWRIGHT_TEST_CACHE`` overrides the base)
and built there with the fixture's own recipe (``tests/integration/conftest.py``) when missing.

In one temporary directory it then times, ``--runs`` rounds after one untimed warm-up round, each
round running every case once, in order, so drift in the machine's load hits all of them alike:

* ``dockwright --cache-dir C sbom IMAGE --format spdx-json -o F`` and ``--format cyclonedx-json``,
  each **cold** (``C`` is emptied before every run: the command reads every layer and fills its
  layer cache, ``C/layers-index``) and **warm** (``C`` keeps what the warm-up round stored: the
  command hashes each blob to check its digest and replays the layers' cached parsed forms);
* ``dockwright sbom --no-cache --format spdx-json`` (reads every layer, stores nothing), and
  ``dockwright --help``: the interpreter start and the imports every command pays;
* the warm SBOMs again through a command group holding only the inspect commands (``python -c``
  with ``INSPECT_ONLY``): the same code path without the imports of the other commands, to
  tell what the SBOM itself costs from what starting ``dockwright`` costs;
* ``syft -q oci-dir:LAYOUT -o spdx-json=F`` and ``-o cyclonedx-json=F`` (with
  ``SYFT_CHECK_FOR_APP_UPDATE=false``; syft wants a layout whose index holds one manifest, so for
  a layout with several a copy of the index with only the chosen one is made, sharing the blobs);
  syft has no cache to warm;
* ``dockwright sbom --format spdx-json``, cold and warm, on the same image plus a fourth layer
  holding one file of 1 GiB of zeros (written by streaming ``tarfile`` through ``gzip``, never held
  in memory, and cached in ``--cache-dir``), to check that memory does not grow with file sizes.
  syft runs once on that image too, for context.

dockwright runs with a bytecode cache (``PYTHONPYCACHEPREFIX`` in the work directory, filled by
the warm-up round; ``PYTHONDONTWRITEBYTECODE`` is dropped for it), as an installed wheel has its
bytecode compiled at install time; ``--bytecode none`` runs it with the environment as it is
(where ``PYTHONDONTWRITEBYTECODE=1`` and an editable install, each run compiles dockwright's
modules again).

Each command is started with :class:`subprocess.Popen` and reaped with :func:`os.wait4`, which
gives that one child's peak RSS (``ru_maxrss``) and CPU time. The script reports median and minimum
wall time, median CPU and peak RSS per case, the packages each SBOM lists (and whether dockwright
and syft list the same name/version set), and the dockwright/syft ratios against the 0.1 target.
See docs/benchmarks.md for results and method.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import zstandard

REPO = Path(__file__).resolve().parent.parent
ZEROS_BYTES = 1 << 30
ZEROS_PATH = "opt/zeros.bin"
ZEROS_VERSION = "zeros-1g-v2"  # names the cached zeros image: bump it when its recipe changes
DEFAULT_CACHE = Path.home() / ".cache" / "dockwright-bench"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
SYFT_ENV = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}
# ``dockwright`` with the inspect commands only: ``python -c INSPECT_ONLY ARGS``.
INSPECT_ONLY = """
from pathlib import Path
import click
from dockwright.cli.inspect_cmds import register
@click.group()
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def cli(ctx, cache_dir):
    ctx.obj = {"cache_dir": cache_dir, "quiet": True}
register(cli)
cli(prog_name="dockwright")
"""


def run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc


def measured(
    cmd: list[str], env: dict[str, str], output: Path, logs: Path, empty: Path | None = None
) -> dict[str, float]:
    """Remove ``output`` (and ``empty``), run ``cmd``; its wall and CPU seconds and peak RSS (KiB)."""
    output.unlink(missing_ok=True)
    if empty is not None:
        shutil.rmtree(empty, ignore_errors=True)
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode != 0 or not output.is_file():
        tail = (logs / "stderr").read_text(errors="replace")[-3000:]
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrssKiB": usage.ru_maxrss}


# The image ---------------------------------------------------------------------------------------


def fixture_image() -> tuple[Path, str]:
    """The integration tests' minbase+jq layout and tag, built into their cache if missing."""
    spec = importlib.util.spec_from_file_location("_it_conftest", REPO / "tests/integration/conftest.py")
    if spec is None or spec.loader is None:
        sys.exit("cannot load tests/integration/conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = conftest  # its dataclasses look their module up there
    spec.loader.exec_module(conftest)
    cache = conftest._cache_base() / conftest.MINBASE_VERSION
    if not (cache / "expected.json").is_file():
        for tool in ("mmdebstrap", "umoci", "skopeo", "tar"):
            if shutil.which(tool) is None:
                sys.exit(f"{tool} not found (apt-get install -y mmdebstrap umoci skopeo)")
        print(f"building the minbase+jq image into {cache} (about a minute) ...", file=sys.stderr)
        cache.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{conftest.MINBASE_VERSION}.", dir=cache.parent))
        try:  # as the minbase_image fixture does, so the tests reuse what this builds
            expected = conftest._build(work)
            (work / "expected.json").write_text(json.dumps(expected, indent=1))
            if cache.exists():
                shutil.rmtree(cache)
            work.rename(cache)
        except BaseException as exc:
            shutil.rmtree(work, ignore_errors=True)
            if isinstance(exc, Exception | conftest.pytest.skip.Exception):
                sys.exit(f"could not build the minbase image: {exc}")
            raise
    return cache / "layout", conftest.TAG


def parse_image(ref: str) -> tuple[Path, str]:
    m = re.fullmatch(r"oci:(.+):([A-Za-z0-9_][A-Za-z0-9._-]*)", ref)
    if m is None:
        sys.exit(f"--image must be oci:DIR:TAG, not {ref!r}")
    layout = Path(m.group(1)).resolve()
    if not (layout / "index.json").is_file():
        sys.exit(f"{layout} is not an OCI layout (no index.json)")
    return layout, m.group(2)


def blob(layout: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algorithm / hexdigest


def tagged(layout: Path, tag: str) -> dict[str, Any]:
    """The index descriptor of ``tag`` (a single-platform image manifest)."""
    index = json.loads((layout / "index.json").read_text())
    for d in index["manifests"]:
        if d.get("annotations", {}).get(REF_NAME) == tag:
            if d["mediaType"] != OCI_MANIFEST:
                sys.exit(f"{tag} in {layout} is a {d['mediaType']}; pass a single-platform image")
            return dict(d)
    sys.exit(f"no tag {tag!r} in {layout}")


def syft_layout(layout: Path, tag: str, work: Path) -> Path:
    """``layout`` if its index holds only ``tag``; else a layout with that one manifest, same blobs."""
    index = json.loads((layout / "index.json").read_text())
    if len(index["manifests"]) == 1:
        return layout
    single = work / "syft-layout"
    single.mkdir()
    (single / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (single / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [tagged(layout, tag)]}))
    (single / "blobs").symlink_to(layout / "blobs")
    return single


def image_facts(layout: Path, tag: str) -> dict[str, Any]:
    """Layers, stored and uncompressed bytes (gunzipped here once) of the tagged image."""
    manifest = json.loads(blob(layout, tagged(layout, tag)["digest"]).read_bytes())
    stored = uncompressed = 0
    for layer in manifest["layers"]:
        path = blob(layout, layer["digest"])
        stored += path.stat().st_size
        with open(path, "rb") as raw:
            head = raw.read(4)
            raw.seek(0)
            if head.startswith(b"\x1f\x8b"):
                f: IO[bytes] = gzip.GzipFile(fileobj=raw)
            elif head == b"\x28\xb5\x2f\xfd":
                f = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            else:
                f = raw
            while chunk := f.read(1 << 20):
                uncompressed += len(chunk)
    return {"layers": len(manifest["layers"]), "storedBytes": stored, "uncompressedBytes": uncompressed}


class _HashingFile:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha.hexdigest()}"


class _Zeros:
    """``size`` zero bytes, read in chunks (tarfile copies member data with ``read``)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def write_blob(layout: Path, data: bytes) -> str:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    blob(layout, digest).write_bytes(data)
    return digest


def zeros_image(base: Path, tag: str, cache: Path) -> Path:
    """``base``'s tagged image plus a layer with one 1 GiB file of zeros, built once into ``cache``.

    The layer is streamed (tarfile -> gzip -> file, hashing both sides); nothing holds the file.
    """
    descriptor = tagged(base, tag)
    out = cache / f"{ZEROS_VERSION}-{descriptor['digest'].split(':')[1][:16]}"
    if (out / "index.json").is_file():
        return out
    print(f"writing the 1 GiB zeros image into {out} ...", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".zeros-", dir=cache))
    (work / "blobs/sha256").mkdir(parents=True)
    (work / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    manifest = json.loads(blob(base, descriptor["digest"]).read_bytes())
    for d in [manifest["config"], *manifest["layers"]]:
        src, dst = blob(base, d["digest"]), blob(work, d["digest"])
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    layer_tmp = work / "layer.tmp"
    with open(layer_tmp, "wb") as raw:
        stored = _HashingFile(raw)
        with gzip.GzipFile(fileobj=stored, mode="wb", compresslevel=6, mtime=0) as gz:
            tar_bytes = _HashingFile(gz)
            with tarfile.open(fileobj=tar_bytes, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                info = tarfile.TarInfo(ZEROS_PATH.split("/")[0])
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                tf.addfile(info)
                info = tarfile.TarInfo(ZEROS_PATH)
                info.size, info.mode, info.mtime = ZEROS_BYTES, 0o644, 0
                tf.addfile(info, _Zeros(ZEROS_BYTES))
    layer_tmp.rename(blob(work, stored.digest))
    config = json.loads(blob(base, manifest["config"]["digest"]).read_bytes())
    config["rootfs"]["diff_ids"].append(tar_bytes.digest)
    if "history" in config:
        created = config.get("created", "1970-01-01T00:00:00Z")
        config["history"].append(
            {"created": created, "created_by": f"benchmark: {ZEROS_PATH} (1 GiB of zeros)"}
        )
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    manifest["config"] = {
        "mediaType": OCI_CONFIG,
        "digest": write_blob(work, config_bytes),
        "size": len(config_bytes),
    }
    manifest["layers"].append({"mediaType": OCI_LAYER_GZIP, "digest": stored.digest, "size": stored.size})
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": write_blob(work, manifest_bytes),
                "size": len(manifest_bytes),
                "annotations": {REF_NAME: tag},
            }
        ],
    }
    (work / "index.json").write_text(json.dumps(index))
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    return out


# What each SBOM lists ----------------------------------------------------------------------------


def _purl_type(purl: str) -> str:
    return purl.removeprefix("pkg:").split("/")[0] if purl else "(none)"


def sbom_packages(path: Path, fmt: str) -> dict[str, Any]:
    """The packages an SBOM lists (the image itself and the OS entry left out), by PURL type."""
    doc = json.loads(path.read_bytes())
    listed: list[tuple[str, str, str]] = []  # (purl type, name, version)
    if fmt == "spdx-json":
        described = set(doc.get("documentDescribes", ()))
        for p in doc.get("packages", ()):
            purls = [
                r["referenceLocator"] for r in p.get("externalRefs", ()) if r.get("referenceType") == "purl"
            ]
            kind = _purl_type(purls[0] if purls else "")
            if p["SPDXID"] in described or kind == "oci" or p.get("primaryPackagePurpose") == "CONTAINER":
                continue
            listed.append((kind, p["name"], p.get("versionInfo", "")))
        extra = {"files": len(doc.get("files", ())), "relationships": len(doc.get("relationships", ()))}
    else:
        stack = list(doc.get("components", ()))
        while stack:
            c = stack.pop()
            stack.extend(c.get("components", ()))
            kind = _purl_type(c.get("purl", ""))
            if c.get("type") in ("operating-system", "container", "file") or kind == "oci":
                continue
            listed.append((kind, c["name"], c.get("version", "")))
        extra = {"dependencies": len(doc.get("dependencies", ()))}
    return {
        "packages": len(listed),
        "byPurlType": dict(Counter(k for k, _, _ in listed)),
        "nameVersions": sorted({f"{n}={v}" for _, n, v in listed}),
        "bytes": path.stat().st_size,
        **extra,
    }


_VOLATILE = {"documentNamespace", "created", "annotationDate", "serialNumber", "timestamp"}


def _stable(value: Any) -> Any:
    """``value`` without the fields that change on every run (time stamps, random ids)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def same_document(a: Path, b: Path) -> bool:
    """Whether two SBOMs of one image say the same (time stamps and random ids left out)."""
    first, second = (json.loads(p.read_bytes()) for p in (a, b))
    return bool(_stable(first) == _stable(second))


# Running -----------------------------------------------------------------------------------------


def machine(syft: str) -> dict[str, Any]:
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    version = re.search(r"Version:\s*(\S+)", run([syft, "version"], {**os.environ, **SYFT_ENV}).stdout)
    return {
        "nproc": os.cpu_count(),
        "memTotalGiB": round(int(mem) / 2**20, 1),
        "cpu": cpu.group(1) if cpu else "?",
        "kernel": os.uname().release,
        "syft": version.group(1) if version else "?",
        "python": sys.version.split()[0],
    }


def summary(samples: list[dict[str, float]]) -> dict[str, float]:
    med = statistics.median
    walls = [s["wall"] for s in samples]
    return {
        "median": round(med(walls), 3),
        "min": round(min(walls), 3),
        "cpuMedian": round(med(s["cpu"] for s in samples), 3),
        "maxrssMiB": round(max(s["maxrssKiB"] for s in samples) / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed rounds per measurement (default 5)")
    ap.add_argument("--json", type=Path, help="also write every number to this JSON file")
    ap.add_argument("--image", help="oci:DIR:TAG to use instead of the tests' minbase+jq image")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where the zeros image is kept")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    ap.add_argument(
        "--bytecode",
        choices=("cache", "none"),
        default="cache",
        help="give dockwright a bytecode cache (default), or run it with the environment as it is",
    )
    args = ap.parse_args()
    if args.runs < 1:
        sys.exit("--runs must be at least 1")
    here = Path(sys.executable).parent
    tools = {}
    for name in ("dockwright", "syft"):
        tools[name] = str(here / name) if (here / name).exists() else shutil.which(name)
        if tools[name] is None:
            sys.exit(f"{name} not found next to this python or on PATH")
    dw, syft = tools["dockwright"], tools["syft"]
    assert dw is not None and syft is not None

    layout, tag = parse_image(args.image) if args.image else fixture_image()
    big = zeros_image(layout, tag, args.cache_dir)
    load_before = os.getloadavg()[0]  # other work on the machine skews wall times: record it
    work = Path(tempfile.mkdtemp(prefix="dockwright-sbom-bench-"))
    out = work / "out"
    out.mkdir()
    env = {**os.environ, **SYFT_ENV}
    dw_env = dict(env)
    if args.bytecode == "cache":
        dw_env.pop("PYTHONDONTWRITEBYTECODE", None)
        dw_env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    image, big_image = f"oci:{layout}:{tag}", f"oci:{big}:{tag}"
    syft_dir = syft_layout(layout, tag, work)
    cold_cache, warm_cache = work / "cache-cold", work / "cache-warm"
    # name -> (command, output file, directory emptied before each run)
    cases: dict[str, tuple[list[str], Path, Path | None]] = {}
    # --help writes only to stdout, which measured() sends to work/stdout: check that file
    cases["dockwright --help (start and imports only)"] = ([dw, "--help"], work / "stdout", None)
    for fmt, ext in (("spdx-json", "spdx.json"), ("cyclonedx-json", "cdx.json")):
        for when, cache in (("cold", cold_cache), ("warm", warm_cache)):
            f = out / f"dw-{when}.{ext}"
            cmd = [dw, "--cache-dir", str(cache), "sbom", image, "--format", fmt, "-o", str(f)]
            cases[f"dockwright sbom {fmt} {when}"] = (cmd, f, cache if when == "cold" else None)
    for fmt, ext in (("spdx-json", "spdx.json"), ("cyclonedx-json", "cdx.json")):
        f = out / f"dw-inspect-only.{ext}"
        cmd = [sys.executable, "-c", INSPECT_ONLY, "--cache-dir", str(warm_cache), "sbom", image]
        cases[f"inspect commands only: sbom {fmt} warm"] = ([*cmd, "--format", fmt, "-o", str(f)], f, None)
    f = out / "dw-nocache.spdx.json"
    cases["dockwright sbom spdx-json --no-cache"] = (
        [dw, "sbom", image, "--no-cache", "--format", "spdx-json", "-o", str(f)],
        f,
        None,
    )
    for fmt, ext in (("spdx-json", "spdx.json"), ("cyclonedx-json", "cdx.json")):
        f = out / f"syft.{ext}"
        cases[f"syft {fmt}"] = ([syft, "-q", f"oci-dir:{syft_dir}", "-o", f"{fmt}={f}"], f, None)
    big_cases = {}
    for when, cache in (("cold", cold_cache), ("warm", warm_cache)):
        f = out / f"dw-zeros-{when}.spdx.json"
        big_cases[when] = f"dockwright sbom spdx-json {when}, +1 GiB zeros layer"
        cmd = [dw, "--cache-dir", str(cache), "sbom", big_image, "--format", "spdx-json", "-o", str(f)]
        cases[big_cases[when]] = (cmd, f, cache if when == "cold" else None)
    f = out / "syft-zeros.spdx.json"
    syft_big_case = "syft spdx-json, +1 GiB zeros layer (1 run)"
    syft_big: tuple[list[str], Path] = ([syft, "-q", f"oci-dir:{big}", "-o", f"spdx-json={f}"], f)

    def env_of(cmd: list[str]) -> dict[str, str]:
        return dw_env if cmd[0] in (dw, sys.executable) else env

    print(f"work dir {work}; warm-up round (untimed; fills the warm cache) ...", file=sys.stderr)
    for cmd, target, empty in cases.values():
        measured(cmd, env_of(cmd), target, work, empty)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for i in range(args.runs):
        print(f"round {i + 1}/{args.runs} ...", file=sys.stderr)
        for name, (cmd, target, empty) in cases.items():
            samples[name].append(measured(cmd, env_of(cmd), target, work, empty))
    samples[syft_big_case] = [measured(syft_big[0], env, syft_big[1], work)]
    load_after = os.getloadavg()[0]

    outputs = {
        "dockwright spdx-json cold": sbom_packages(out / "dw-cold.spdx.json", "spdx-json"),
        "dockwright spdx-json warm": sbom_packages(out / "dw-warm.spdx.json", "spdx-json"),
        "dockwright cyclonedx-json cold": sbom_packages(out / "dw-cold.cdx.json", "cyclonedx-json"),
        "dockwright cyclonedx-json warm": sbom_packages(out / "dw-warm.cdx.json", "cyclonedx-json"),
        "syft spdx-json": sbom_packages(out / "syft.spdx.json", "spdx-json"),
        "syft cyclonedx-json": sbom_packages(out / "syft.cdx.json", "cyclonedx-json"),
        "dockwright spdx-json, +1 GiB zeros": sbom_packages(out / "dw-zeros-cold.spdx.json", "spdx-json"),
        "syft spdx-json, +1 GiB zeros": sbom_packages(out / "syft-zeros.spdx.json", "spdx-json"),
    }
    same_documents = {
        fmt: same_document(out / f"dw-cold.{ext}", out / f"dw-warm.{ext}")
        for fmt, ext in (("spdx-json", "spdx.json"), ("cyclonedx-json", "cdx.json"))
    }
    reference = set(outputs["syft spdx-json"]["nameVersions"])
    for v in outputs.values():
        names = set(v.pop("nameVersions"))
        v["sameAsSyft"] = names == reference
        v["onlyHere"], v["missingHere"] = sorted(names - reference), sorted(reference - names)

    s = {name: summary(v) for name, v in samples.items()}
    ratios: dict[str, float] = {}
    for fmt in ("spdx-json", "cyclonedx-json"):
        for when in ("cold", "warm"):
            for m in ("median", "min", "cpuMedian"):
                ratios[f"dockwright {when} / syft, {fmt} ({m})"] = round(
                    s[f"dockwright sbom {fmt} {when}"][m] / s[f"syft {fmt}"][m], 3
                )
    for fmt in ("spdx-json", "cyclonedx-json"):
        ratios[f"inspect commands only, warm / syft, {fmt} (median)"] = round(
            s[f"inspect commands only: sbom {fmt} warm"]["median"] / s[f"syft {fmt}"]["median"], 3
        )
    ratios["dockwright --no-cache / syft, spdx-json (median)"] = round(
        s["dockwright sbom spdx-json --no-cache"]["median"] / s["syft spdx-json"]["median"], 3
    )
    ratios["dockwright peak RSS, +1 GiB zeros / base image (cold)"] = round(
        s[big_cases["cold"]]["maxrssMiB"] / s["dockwright sbom spdx-json cold"]["maxrssMiB"], 3
    )
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(syft),
        "loadAverage1m": {"before": load_before, "after": load_after},
        "image": {"reference": image, "syftSource": f"oci-dir:{syft_dir}", **image_facts(layout, tag)},
        "zerosImage": {"reference": big_image, **image_facts(big, tag)},
        "runs": args.runs,
        "bytecode": args.bytecode,
        "pythonDontWriteBytecode": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "target": 0.1,
        "samples": {k: [{m: round(x, 3) for m, x in d.items()} for d in v] for k, v in samples.items()},
        "summary": s,
        "outputs": outputs,
        "sameDocumentColdAndWarm": same_documents,
        "ratios": ratios,
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(work)


def print_report(r: dict[str, Any]) -> None:
    m, img, big = r["machine"], r["image"], r["zerosImage"]
    print(f"\n{r['date']}  {m['cpu']}  nproc={m['nproc']}  mem={m['memTotalGiB']} GiB  syft {m['syft']}")
    load = r["loadAverage1m"]
    print(f"image {img['reference']}: {img['layers']} layers, {img['storedBytes']:,} B stored, ", end="")
    print(f"{img['uncompressedBytes']:,} B uncompressed", end="")
    print(f"; zeros image {big['layers']} layers, {big['uncompressedBytes']:,} B uncompressed")
    print(
        f"{r['runs']} runs each; load average {load['before']:.1f} before, {load['after']:.1f} after", end=""
    )
    print(f"; dockwright bytecode: {r['bytecode']}\n")
    print(f"{'command':54} {'median s':>9} {'min s':>8} {'CPU s':>8} {'peak RSS MiB':>13}")
    for name, v in r["summary"].items():
        print(f"{name:54} {v['median']:9.3f} {v['min']:8.3f} {v['cpuMedian']:8.3f} {v['maxrssMiB']:13.1f}")
    print(f"\n{'SBOM':36} {'packages':>9} {'by PURL type':>20} {'bytes':>11} {'files':>6}  same set as syft")
    for name, v in r["outputs"].items():
        kinds = ",".join(f"{k}:{n}" for k, n in sorted(v["byPurlType"].items()))
        print(
            f"{name:36} {v['packages']:9} {kinds:>20} {v['bytes']:11,} {v.get('files', '-')!s:>6}  ", end=""
        )
        diff = (
            f" (only here {v['onlyHere'][:3]}, missing {v['missingHere'][:3]})" if not v["sameAsSyft"] else ""
        )
        print(f"{v['sameAsSyft']}{diff}")
    print()
    for fmt, same in r["sameDocumentColdAndWarm"].items():
        print(f"{fmt}: cold and warm documents equal (but for time stamps and ids): {same}")
    for name, ratio in r["ratios"].items():
        print(f"ratio {name}: {ratio}")
    print(f"target: dockwright / syft <= {r['target']}")


if __name__ == "__main__":
    main()
