"""Benchmark ``dockwright build`` against ``mmdebstrap --variant=extract`` for the python3 set.

Run as root (mmdebstrap picks its root mode) from the repository::

    .venv/bin/python benchmarks/build_vs_mmdebstrap.py [--runs N] [--json FILE]

What it does, in one temporary directory: write two specs (``packages: [python3]`` with
``strip: []`` and with the default strip), ``dockwright lock`` once, warm the download cache with one
untimed build, copy the exact locked .debs into a directory, then time (``--runs`` rounds,
interleaved so drift hits every tool alike):

* dockwright cold: ``build --locked --no-cache -o oci:DIR:bench`` (cached .debs, no layer cache);
* dockwright rebuild: the same without ``--no-cache`` (nothing changed), to OCI and docker-archive;
* mmdebstrap local: ``--variant=extract`` from a ``copy://`` apt repository holding exactly the
  locked .debs (offline, like dockwright with a warm cache), to ``.tar`` and to ``.tar.gz``;
* mmdebstrap host: the host's apt sources (``apt-get update`` over the network on every run) with
  the locked .debs placed in ``/var/cache/apt/archives`` by a setup hook, to ``.tar``.

Both tools get SOURCE_DATE_EPOCH from the lock. See docs/benchmarks.md for results and method.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from dockwright.build.lock import read_lock
from dockwright.net.cache import BlobCache

SPEC = "name: bench\npackages: [python3]\n"
DEFAULT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
MM_SKIP = "--skip=check/qemu,check/signed-by"


def run(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc


def timed(
    cmd: list[str], env: dict[str, str], fresh: Path | None
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Remove ``fresh`` (the output), run ``cmd``; return wall and CPU seconds and its output."""
    if fresh is not None and fresh.is_dir():
        shutil.rmtree(fresh)
    elif fresh is not None:
        fresh.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = run(cmd, env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, proc


def tar_stats(path: Path, tar_bytes: int) -> dict[str, Any]:
    """Entries, regular files, uncompressed size and what a complete image needs, of a tar(.gz)."""
    names: dict[str, int] = {}
    entries = files = 0
    with tarfile.open(path, "r:*") as tf:
        for m in tf:
            entries += 1
            files += m.isfile()
            names[m.name.removeprefix("./").rstrip("/")] = m.size
    status_d = sum(1 for n in names if n.startswith("var/lib/dpkg/status.d/") and not n.endswith(".md5sums"))
    return {
        "entries": entries,
        "regularFiles": files,
        "uncompressedBytes": tar_bytes,
        "packageDb": status_d or (1 if names.get("var/lib/dpkg/status", 0) > 0 else 0),
        "ldSoCache": names.get("etc/ld.so.cache", 0) > 0,
        "accounts": "etc/passwd" in names and "etc/group" in names,
    }


def uncompressed_size(path: Path) -> int:
    """Bytes of the tar stream inside a gzip file (exact, unlike gzip's 32-bit trailer)."""
    total = 0
    with gzip.open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            total += len(chunk)
    return total


def oci_layer(layout: Path) -> Path:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / digest).read_text())
    layers = manifest["layers"]
    if len(layers) != 1:
        sys.exit(f"expected one layer, found {len(layers)}")
    layer: str = layers[0]["digest"]
    return layout / "blobs/sha256" / layer.split(":")[1]


def mm_packages(log: str) -> tuple[set[str], str]:
    """Packages apt chose (from ``-v`` output) and what it said it had to fetch ("0 B": all cached)."""
    m = re.search(r"The following NEW packages will be installed:\n((?:  .*\n)+)", log)
    need = re.search(r"Need to get ([\d.,]+ \w?B)", log)
    return set(m.group(1).split() if m else ()), need.group(1) if need else "?"


def machine() -> dict[str, Any]:
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    return {
        "nproc": os.cpu_count(),
        "memTotalGiB": round(int(mem) / 2**20, 1),
        "cpu": cpu.group(1) if cpu else "?",
        "kernel": os.uname().release,
        "mmdebstrap": run(["mmdebstrap", "--version"]).stdout.strip(),
        "python": sys.version.split()[0],
    }


def summary(wall: list[float], cpu: list[float]) -> dict[str, float]:
    med = statistics.median
    return {"median": round(med(wall), 3), "min": round(min(wall), 3), "cpuMedian": round(med(cpu), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="timed rounds per measurement (default 3)")
    ap.add_argument("--json", type=Path, help="also write every number to this JSON file")
    ap.add_argument("--sources", type=Path, default=DEFAULT_SOURCES, help="apt sources for mmdebstrap")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    args = ap.parse_args()
    dw = str(Path(sys.executable).with_name("dockwright"))
    if not Path(dw).exists():
        dw = shutil.which("dockwright") or sys.exit("dockwright not found next to this python")
    for tool in ("mmdebstrap", "dpkg-scanpackages"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found (apt-get install mmdebstrap dpkg-dev)")

    load_before = os.getloadavg()[0]  # other work on the machine skews wall times: record it
    work = Path(tempfile.mkdtemp(prefix="dockwright-bench-"))
    cache = work / "cache"
    full, strip = work / "full", work / "strip"
    for d, text in ((full, SPEC + "strip: []\n"), (strip, SPEC)):
        d.mkdir()
        (d / "dockwright.yaml").write_text(text)
    dwq = [dw, "--cache-dir", str(cache), "-q"]
    print(f"work dir {work}; locking python3 ...", file=sys.stderr)
    run([*dwq, "lock", str(full / "dockwright.yaml")])
    shutil.copy(full / "dockwright.lock", strip / "dockwright.lock")  # strip does not change resolution
    lock = read_lock(full / "dockwright.lock")
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(lock.timestamp)}

    def dw_build(spec: Path, out: str, *extra: str) -> list[str]:
        return [*dwq, "build", str(spec / "dockwright.yaml"), "--locked", "-o", out, "--json", *extra]

    print("warming the download cache and layer cache (untimed) ...", file=sys.stderr)
    run(dw_build(full, f"oci:{work / 'warm'}:bench"), env)
    run(dw_build(strip, f"oci:{work / 'warm-strip'}:bench"), env)

    debs = work / "debs"
    debs.mkdir()
    blobs = BlobCache(cache)
    for p in lock.packages:
        src = blobs.path(p.sha256)
        if src is None:
            sys.exit(f"{p.name} is not in the download cache")
        shutil.copyfile(src, debs / f"{p.name}_{p.version.replace(':', '%3a')}_{p.architecture}.deb")
    (debs / "Packages").write_text(run(["dpkg-scanpackages", "-m", ".", "/dev/null"], cwd=debs).stdout)
    names = ",".join(p.name for p in lock.packages)
    suite = lock.repositories[0].suite
    mm = ["mmdebstrap", "-v", "--variant=extract", f"--include={names}", MM_SKIP]
    local_repo = f"deb [trusted=yes] copy://{debs} ./"
    seed = [
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        f"--setup-hook=sync-in {debs} /var/cache/apt/archives/",
    ]
    out = work / "out"
    out.mkdir()
    cases: dict[str, tuple[list[str], Path | None]] = {
        "dockwright cold (strip: [])": (dw_build(full, f"oci:{out / 'dw'}:bench", "--no-cache"), out / "dw"),
        "dockwright cold (default strip)": (
            dw_build(strip, f"oci:{out / 'dws'}:bench", "--no-cache"),
            out / "dws",
        ),
        "mmdebstrap local -> .tar": ([*mm, suite, str(out / "mm.tar"), local_repo], out / "mm.tar"),
        "mmdebstrap local -> .tar.gz": ([*mm, suite, str(out / "mm.tar.gz"), local_repo], out / "mm.tar.gz"),
        "mmdebstrap host sources -> .tar": (
            [*mm, *seed, suite, str(out / "mmh.tar"), str(args.sources)],
            out / "mmh.tar",
        ),
        "dockwright rebuild -> oci": (dw_build(full, f"oci:{work / 'warm'}:bench"), None),
        "dockwright rebuild -> docker-archive": (
            dw_build(full, f"docker-archive:{work / 'warm.tar'}:bench:latest"),
            None,
        ),
    }
    run(cases["dockwright rebuild -> docker-archive"][0], env)  # first write of the archive, untimed
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    logs: dict[str, subprocess.CompletedProcess[str]] = {}
    for i in range(args.runs):
        print(f"round {i + 1}/{args.runs} ...", file=sys.stderr)
        for name, (cmd, target) in cases.items():
            wall, cpu, logs[name] = timed(cmd, env, target)
            times[name].append(wall)
            cpus[name].append(cpu)

    # what each tool produced (from the last round)
    results: dict[str, Any] = {}
    for key, case, layout in (
        ("dockwright", "dockwright cold (strip: [])", out / "dw"),
        ("dockwright default strip", "dockwright cold (default strip)", out / "dws"),
    ):
        blob = oci_layer(layout)
        info = json.loads(logs[case].stdout)
        results[key] = {
            "packages": info["packages"],
            "layerBlobBytes": blob.stat().st_size,
            "imageBytes": info["imageSize"],
            **tar_stats(blob, uncompressed_size(blob)),
        }
    rebuild = json.loads(logs["dockwright rebuild -> oci"].stdout)
    if not rebuild["buildCacheHit"]:
        sys.exit("the no-change rebuild missed the build cache")
    for key, case, tar in (
        ("mmdebstrap", "mmdebstrap local -> .tar", out / "mm.tar"),
        ("mmdebstrap host sources", "mmdebstrap host sources -> .tar", out / "mmh.tar"),
    ):
        chosen, need = mm_packages(logs[case].stderr)
        results[key] = {
            "packages": len(chosen),
            "sameSetAsLock": chosen == {p.name for p in lock.packages},
            "aptNeedToGet": need,
            "tarBytes": tar.stat().st_size,
            **tar_stats(tar, tar.stat().st_size),
        }
    results["mmdebstrap"]["tarGzBytes"] = (out / "mm.tar.gz").stat().st_size
    mode = re.search(r"automatically chosen mode: (\w+)", logs["mmdebstrap local -> .tar"].stderr)
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "loadAverage1m": {"before": load_before, "after": os.getloadavg()[0]},
        "mmdebstrapMode": mode.group(1) if mode else "?",
        "lockedPackages": len(lock.packages),
        "runs": args.runs,
        "timesSeconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "cpuSeconds": {k: [round(t, 3) for t in v] for k, v in cpus.items()},
        "summary": {k: summary(v, cpus[k]) for k, v in times.items()},
        "outputs": results,
    }
    s = report["summary"]
    cold = s["dockwright cold (strip: [])"]
    report["ratios"] = {
        f"dockwright cold / {k} ({m})": round(cold[m] / v[m], 2)
        for k, v in s.items()
        if k.startswith("mmdebstrap")
        for m in ("median", "min")
    }
    dw_blob, mm_gz = results["dockwright"]["layerBlobBytes"], results["mmdebstrap"]["tarGzBytes"]
    report["ratios"]["dockwright layer / mmdebstrap .tar.gz (bytes)"] = round(dw_blob / mm_gz, 4)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(work)


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"\n{r['date']}  {m['cpu']}  nproc={m['nproc']}  mem={m['memTotalGiB']} GiB  {m['mmdebstrap']}")
    load = r["loadAverage1m"]
    print(f"python3 set: {r['lockedPackages']} locked packages; {r['runs']} runs each; ", end="")
    print(f"load average {load['before']:.1f} before, {load['after']:.1f} after\n")
    print(f"{'wall time (s)':42} {'median':>8} {'min':>8} {'CPU med':>8}")
    for name, v in r["summary"].items():
        print(f"{name:42} {v['median']:8.3f} {v['min']:8.3f} {v['cpuMedian']:8.3f}")
    print()
    cols = ("packages", "entries", "regularFiles", "uncompressedBytes", "packageDb", "ldSoCache", "accounts")
    print(f"{'output':26}" + "".join(f"{c:>18}" for c in cols))
    for name, v in r["outputs"].items():
        print(f"{name:26}" + "".join(f"{v[c]!s:>18}" for c in cols))
    dw, mm = r["outputs"]["dockwright"], r["outputs"]["mmdebstrap"]
    print(f"\ndockwright layer blob {dw['layerBlobBytes']:,} B (image {dw['imageBytes']:,} B); ", end="")
    print(f"mmdebstrap .tar {mm['tarBytes']:,} B, .tar.gz {mm['tarGzBytes']:,} B")
    for name in ("mmdebstrap", "mmdebstrap host sources"):
        v = r["outputs"][name]
        print(f"{name}: same package set as the lock: {v['sameSetAsLock']}; ", end="")
        print(f"apt's 'Need to get': {v['aptNeedToGet']}")
    for name, ratio in r["ratios"].items():
        print(f"ratio {name}: {ratio}")


if __name__ == "__main__":
    main()
