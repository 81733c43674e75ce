"""Benchmark dockwright's TUF tag signing and verification against Notary v1 (Docker Content Trust).

Run from the repository (needs ``/usr/bin/docker-registry`` and Debian's ``notary`` package)::

    .venv/bin/python benchmarks/trust_vs_notary.py [--sizes 10,1000,10000] [--runs 5] [--json FILE]

For each size N, in one temporary directory, with a fresh ``docker-registry`` (dockwright keeps
its TUF metadata there as OCI artifacts) and a fresh ``notary-server`` (memory storage, plain
HTTP on loopback), each behind a loopback proxy that counts the response bytes:

* **setup**: N tags signed in one go: ``TrustRepository.sign_tags`` (256 hash bins, the default)
  and ``notary addhash`` N times then one ``notary publish``;
* **verify cold**: resolve one tag with nothing cached: a new ``TrustClient`` with an empty cache
  (root pinned), and ``notary lookup`` with an empty trust directory (root trusted on first use);
* **verify warm**: the same tag again with the cache of the cold run: a new ``TrustClient`` on
  the same cache directory, ``notary lookup`` on the same trust directory;
* **sign warm**: one more tag into the N: ``sign_tag`` on the repository object that signed
  before; ``notary addhash`` + ``notary publish`` with the trust directory that published before;
* **sign cold**: the same from nothing cached: a new ``TrustRepository`` (reads the metadata
  again); for notary a copy of the trust directory with the keys only (metadata cache removed).

Bytes are the response bodies the proxy sent during the verification (metadata only: neither
tool fetches the manifest here). dockwright runs in this interpreter (imports already paid);
notary is a process per command, so ``notary version`` is timed too as its fixed start cost.
Each measurement is repeated ``--runs`` times; the median is reported (each cold run uses a new
cache directory, each sign run a new tag).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _support import registry
from tests.integration.notary_support import LoopbackProxy, NotaryCLI, start_notary_server

from dockwright.registry import RegistryClient
from dockwright.trust import RegistryMetadataStore, RoleKeys, TrustClient, TrustRepository
from dockwright.trust.keys import generate_signer

GUN_PREFIX = "bench.test/notary"


def _digest(n: int) -> tuple[int, str]:
    data = f'{{"schemaVersion":2,"n":{n}}}'.encode()
    return len(data), hashlib.sha256(data).hexdigest()


def _timed(action: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action(*args)
    return time.perf_counter() - start, result


def _measure(proxy: LoopbackProxy, action: Callable[[], Any]) -> tuple[float, int]:
    proxy.reset()
    seconds, _ = _timed(action)
    return seconds, proxy.total


def bench_dockwright(work: Path, n: int, runs: int, out: dict[str, Any]) -> None:
    with registry(work / "registry") as address, LoopbackProxy(f"http://{address}") as proxy:
        repository = f"bench/n{n}"
        root, online = generate_signer(), [generate_signer() for _ in range(3)]
        with RegistryClient(address, plain_http=True) as direct:
            store = RegistryMetadataStore(direct, repository)
            repo = TrustRepository(store, [root, *online])
            repo.init(
                root=RoleKeys.of(root),
                targets=RoleKeys.of(online[0]),
                snapshot=RoleKeys.of(online[1]),
                timestamp=RoleKeys.of(online[2]),
            )
            out["setup_s"], _ = _timed(lambda: repo.sign_tags({f"t{i}": _digest(i) for i in range(n)}))
            trusted_root = store.get("1.root.json")
            assert trusted_root is not None
            tag, expected = f"t{n // 2}", _digest(n // 2)[1]
            with RegistryClient(proxy.address, plain_http=True) as counted:
                counted_store = RegistryMetadataStore(counted, repository)
                for run in range(runs):
                    cache = work / f"cache-{run}"

                    def verify(cache: Path = cache) -> None:
                        found = TrustClient(counted_store, trusted_root=trusted_root, cache_dir=cache).tag(
                            tag
                        )
                        assert found.digest.hex == expected

                    out.setdefault("verify_cold", []).append(_measure(proxy, verify))
                    out.setdefault("verify_warm", []).append(_measure(proxy, verify))
            for run in range(runs):
                fresh = TrustRepository(RegistryMetadataStore(direct, repository), online)
                seconds, _ = _timed(fresh.sign_tag, f"cold{run}", _digest(n + 2 * run))
                out.setdefault("sign_cold", []).append((seconds, 0))
                seconds, _ = _timed(fresh.sign_tag, f"warm{run}", _digest(n + 2 * run + 1))
                out.setdefault("sign_warm", []).append((seconds, 0))


def bench_notary(work: Path, n: int, runs: int, out: dict[str, Any]) -> None:
    with start_notary_server(_mkdir(work / "notary")) as server, LoopbackProxy(server) as proxy:
        gun = f"{GUN_PREFIX}/n{n}"
        signer = NotaryCLI(server, work / "signer")
        signer.run("init", gun)
        start = time.perf_counter()
        for i in range(n):
            length, sha256 = _digest(i)
            signer.run("addhash", gun, f"t{i}", str(length), "--sha256", sha256)
        added = time.perf_counter() - start
        publish, _ = _timed(lambda: signer.run("publish", gun))
        out["setup_s"] = added + publish
        out["setup_publish_s"] = publish
        tag, expected = f"t{n // 2}", _digest(n // 2)[1]
        for run in range(runs):
            reader = NotaryCLI(proxy.url, work / f"reader-{run}")

            def lookup(reader: NotaryCLI = reader) -> None:
                assert expected in reader.run("lookup", gun, tag)

            out.setdefault("verify_cold", []).append(_measure(proxy, lookup))
            out.setdefault("verify_warm", []).append(_measure(proxy, lookup))
        for run in range(runs):
            cold_dir = work / f"signer-cold-{run}"
            shutil.copytree(work / "signer", cold_dir)
            shutil.rmtree(cold_dir / "tuf" / gun / "metadata")
            cold = NotaryCLI(server, cold_dir)
            length, sha256 = _digest(n + 2 * run)

            def sign(cli: NotaryCLI, name: str, length: int, sha256: str) -> None:
                cli.run("addhash", gun, name, str(length), "--sha256", sha256)
                cli.run("publish", gun)

            seconds, _ = _timed(sign, cold, f"cold{run}", length, sha256)
            out.setdefault("sign_cold", []).append((seconds, 0))
            length, sha256 = _digest(n + 2 * run + 1)
            seconds, _ = _timed(sign, cold, f"warm{run}", length, sha256)
            out.setdefault("sign_warm", []).append((seconds, 0))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _startup() -> float:
    times = []
    for _ in range(5):
        seconds, _ = _timed(lambda: subprocess.run(["notary", "version"], capture_output=True, check=True))
        times.append(seconds)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000", help="Comma-separated tag counts.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tools", default="dockwright,notary")
    parser.add_argument("--json", type=Path, help="Also write the raw results here.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, dict[int, dict[str, Any]]] = {}
    load = [os.getloadavg()[0]]
    for n in sizes:
        for tool, bench in (("dockwright", bench_dockwright), ("notary", bench_notary)):
            if tool not in args.tools.split(","):
                continue
            with tempfile.TemporaryDirectory(prefix="dw-trust-bench-") as tmp:
                out: dict[str, Any] = {}
                started = time.perf_counter()
                bench(Path(tmp), n, args.runs, out)
                out["total_s"] = time.perf_counter() - started
                results.setdefault(tool, {})[n] = out
                print(
                    f"{tool} n={n}: done in {out['total_s']:.1f} s (setup {out['setup_s']:.1f} s)", flush=True
                )
    load.append(os.getloadavg()[0])
    startup = _startup() if "notary" in args.tools else 0.0
    report(results, startup, load, args)


def _median_ms(runs: list[tuple[float, int]]) -> float:
    return statistics.median(s for s, _ in runs) * 1000


def _median_bytes(runs: list[tuple[float, int]]) -> int:
    return int(statistics.median(b for _, b in runs))


def report(
    results: dict[str, dict[int, dict[str, Any]]], startup: float, load: list[float], args: Any
) -> None:
    print(
        "\n| tool | tags | setup s | sign cold ms | sign warm ms | verify cold ms | verify warm ms "
        "| bytes cold | bytes warm |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    summary: dict[str, Any] = {}
    for tool, by_size in results.items():
        for n, out in by_size.items():
            row = {
                "setup_s": round(out["setup_s"], 2),
                "sign_cold_ms": round(_median_ms(out["sign_cold"]), 1),
                "sign_warm_ms": round(_median_ms(out["sign_warm"]), 1),
                "verify_cold_ms": round(_median_ms(out["verify_cold"]), 1),
                "verify_warm_ms": round(_median_ms(out["verify_warm"]), 1),
                "bytes_cold": _median_bytes(out["verify_cold"]),
                "bytes_warm": _median_bytes(out["verify_warm"]),
            }
            summary.setdefault(tool, {})[n] = row
            print(
                f"| {tool} | {n} | {row['setup_s']} | {row['sign_cold_ms']} | {row['sign_warm_ms']} "
                f"| {row['verify_cold_ms']} | {row['verify_warm_ms']} "
                f"| {row['bytes_cold']} | {row['bytes_warm']} |"
            )
    print(f"\nnotary process start (notary version): {startup * 1000:.1f} ms")
    print(f"load average: {load[0]:.2f} before, {load[1]:.2f} after")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": datetime.date.today().isoformat(),
                    "runs": args.runs,
                    "summary": summary,
                    "raw": {t: {str(n): o for n, o in s.items()} for t, s in results.items()},
                    "notaryStartS": startup,
                    "load": load,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
