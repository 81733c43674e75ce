"""Benchmark ``dockwright push``/``pull`` against ``skopeo copy`` on a local ``docker-registry``.

Run from the repository (needs ``/usr/bin/docker-registry`` and ``skopeo``)::

    .venv/bin/python benchmarks/ship_vs_skopeo.py [--runs N] [--size-mb 200] [--layers 8] [--json FILE]

What it does, in one temporary directory: write an OCI layout holding one image of ``--layers``
layers whose blobs add up to about ``--size-mb`` MB (deterministic pseudo-random bytes, so gzip
cannot shrink them and every run moves the same bytes), then for ``--runs`` rounds, interleaved so
drift in the machine's load hits both tools alike (and within each case the tool that goes first
alternates from round to round: a command that follows another's large write and delete can be
slower, whichever tool it is):

* **push cold**: into a freshly started registry (empty storage), ``oci:`` to ``docker://``;
* **push warm**: the same again, every blob already in the repository (dockwright must send no
  blob bytes: its ``--json`` summary is checked);
* **pull cold**: ``docker://`` into a new ``oci:`` directory;
* **pull warm**: again into that directory, every blob already there;
* **start only**: ``push --help`` and ``skopeo copy --help``, the fixed cost of starting each tool.

dockwright runs as a subprocess, the ``dockwright`` console script of this interpreter's
environment as a user runs it (interpreter start and imports included, as for skopeo), with
``--tls-verify=false`` (plain HTTP on loopback); skopeo with ``--dest-tls-verify=false`` or
``--src-tls-verify=false``. Each tool gets its own registry per round so neither finds the other's
blobs. Throughput is blob bytes per wall second.

dockwright runs with a bytecode cache (``PYTHONPYCACHEPREFIX`` in the work directory, filled by an
untimed first round; ``PYTHONDONTWRITEBYTECODE`` is dropped for it), as an installed wheel has its
bytecode compiled at install time; ``--bytecode none`` runs it with the environment as it is (with
``PYTHONDONTWRITEBYTECODE=1`` and an editable install, each run compiles dockwright's modules).

Before each timed command, the page cache's dirty data is written out (``os.sync()``, untimed),
so that no command pays for writing back what the one before it wrote. Each round deletes what it
pulled (and its registries' storage): on this VM, page cache that grows into memory the guest
never touched before costs about twice the CPU per byte written, for both tools alike, so keeping
every round's pulls doubled the pull times from the third round on. (Deleting them lets later
rounds reuse that memory, as a long-running machine does.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _support import REGISTRY, registry


def make_image(layout: Path, size_mb: int, layers: int) -> tuple[int, str]:
    """Write the benchmark image; return its blob bytes and manifest digest."""
    import random

    from dockwright.fs.tree import Entry, EntryType, FileTree
    from dockwright.oci.image_writer import ImageConfigInput, write_image

    rng = random.Random(20261128)
    per_layer = size_mb * 1_000_000 // layers
    trees = []
    for i in range(layers):
        tree, left, j = FileTree(), per_layer, 0
        while left > 0:
            data = rng.randbytes(min(4 << 20, left))
            tree.add(Entry(path=f"layer{i}/file{j}", type=EntryType.FILE, data=data))
            left, j = left - len(data), j + 1
        trees.append(tree)
    result = write_image(
        trees, ImageConfigInput(cmd=["/bin/true"]), f"oci:{layout}:bench", mtime=0, compresslevel=1
    )
    blob_bytes = len(result.config) + sum(info.size for info in result.layers)
    return blob_bytes, str(result.manifest_digest)


def dockwright_command() -> list[str]:
    """The ``dockwright`` console script next to this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "dockwright"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "dockwright.cli"]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``cmd`` after writing out dirty page cache (untimed); return wall and CPU seconds
    (children) and its stdout."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, proc.stdout


def one_round(
    work: Path, layout: Path, n: int, results: dict[str, list[tuple[float, float]]], dw_env: dict[str, str]
) -> dict[str, Any]:
    dw = dockwright_command()
    checks: dict[str, Any] = {}
    with (
        registry(work / f"reg-dw-{n}", remove=True) as dw_host,
        registry(work / f"reg-sk-{n}", remove=True) as sk_host,
    ):
        dw_ref, sk_ref = f"docker://{dw_host}/bench/app:1", f"docker://{sk_host}/bench/app:1"
        dw_out, sk_out = work / f"dw-pull-{n}", work / f"sk-pull-{n}"
        cases = [
            ("push cold", [*dw, "push", f"oci:{layout}:bench", dw_ref, "--tls-verify=false", "--json"],
             ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", sk_ref]),
            ("push warm", [*dw, "push", f"oci:{layout}:bench", dw_ref, "--tls-verify=false", "--json"],
             ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", sk_ref]),
            ("pull cold", [*dw, "pull", dw_ref, f"oci:{dw_out}:bench", "--tls-verify=false", "--json"],
             ["skopeo", "copy", "-q", "--src-tls-verify=false", sk_ref, f"oci:{sk_out}:bench"]),
            ("pull warm", [*dw, "pull", dw_ref, f"oci:{dw_out}:bench", "--tls-verify=false", "--json"],
             ["skopeo", "copy", "-q", "--src-tls-verify=false", sk_ref, f"oci:{sk_out}:bench"]),
            ("start only", [*dw, "push", "--help"], ["skopeo", "copy", "--help"]),
        ]  # fmt: skip
        for name, dw_cmd, sk_cmd in cases:
            runs = [("dockwright", dw_cmd, dw_env), ("skopeo", sk_cmd, None)]
            for tool, cmd, env in runs if n % 2 == 0 else runs[::-1]:  # who goes first alternates
                wall, cpu, out = timed(cmd, env)
                results.setdefault(f"{tool} {name}", []).append((wall, cpu))
                if tool == "dockwright" and "--json" in cmd:
                    checks[name] = json.loads(out)
    for pulled in (dw_out, sk_out):  # see the module docstring: memory the next round reuses
        shutil.rmtree(pulled)
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--bytecode",
        choices=("cache", "none"),
        default="cache",
        help="give dockwright a bytecode cache (default), or run it with the environment as it is",
    )
    args = parser.parse_args()
    for tool in (REGISTRY, "skopeo"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    with tempfile.TemporaryDirectory(prefix="ship-bench-") as tmp:
        work = Path(tmp)
        layout = work / "layout"
        start = time.perf_counter()
        blob_bytes, digest = make_image(layout, args.size_mb, args.layers)
        print(
            f"image: {args.layers} layers, {blob_bytes:,} blob bytes, {digest} "
            f"({time.perf_counter() - start:.1f} s)"
        )
        dw_env = dict(os.environ)
        if args.bytecode == "cache":
            dw_env.pop("PYTHONDONTWRITEBYTECODE", None)
            dw_env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
            one_round(work, layout, -1, {}, dw_env)  # untimed: fills the bytecode cache
        results: dict[str, list[tuple[float, float]]] = {}
        load = [os.getloadavg()[0]]
        checks: list[dict[str, Any]] = []
        for n in range(args.runs):
            checks.append(one_round(work, layout, n, results, dw_env))
            print(f"round {n + 1}/{args.runs} done")
        load.append(os.getloadavg()[0])
    report(results, checks, blob_bytes, digest, load, args)


def report(
    results: dict[str, list[tuple[float, float]]],
    checks: list[dict[str, Any]],
    blob_bytes: int,
    digest: str,
    load: list[float],
    args: argparse.Namespace,
) -> None:
    rows = {}
    print(
        "\n| what is timed | median s | min s | MB/s (median) | CPU s (median) |\n|---|---:|---:|---:|---:|"
    )
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        median = statistics.median(walls)
        rows[name] = {"median": median, "min": min(walls), "cpu": statistics.median(c for _, c in runs)}
        rate = blob_bytes / 1e6 / median
        print(f"| {name} | {median:.3f} | {min(walls):.3f} | {rate:.0f} | {rows[name]['cpu']:.3f} |")
    print()
    for case in ("push cold", "push warm", "pull cold", "pull warm"):
        sk, dw = rows[f"skopeo {case}"], rows[f"dockwright {case}"]
        print(
            f"{case}: skopeo/dockwright = {sk['median'] / dw['median']:.2f} (median), "
            f"{sk['min'] / dw['min']:.2f} (min)"
        )
    warm_bytes = [c["push warm"]["bytesSent"] for c in checks]
    digests = {c[case]["digest"] for c in checks for case in c}
    print(f"re-push blob bytes sent: {warm_bytes}; digests: {sorted(digests)} (image {digest})")
    print(f"load average: {load[0]:.2f} before, {load[1]:.2f} after; dockwright bytecode: {args.bytecode}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": datetime.date.today().isoformat(),
                    "blobBytes": blob_bytes,
                    "digest": digest,
                    "runs": {k: [list(r) for r in v] for k, v in results.items()},
                    "summary": rows,
                    "repushBytesSent": warm_bytes,
                    "load": load,
                    "bytecode": args.bytecode,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
