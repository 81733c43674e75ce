"""Shared pieces of the benchmark scripts (imported as ``_support``: the scripts run from this directory)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

REGISTRY = "/usr/bin/docker-registry"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def registry(workdir: Path, *, remove: bool = False) -> Iterator[str]:
    """Start a fresh docker-registry on loopback; yield ``127.0.0.1:PORT``.

    ``workdir`` must not exist yet; with ``remove`` it is deleted once the registry has stopped.
    """
    workdir.mkdir(parents=True)
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {workdir / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(8)}\n"
    )
    with open(workdir / "log", "wb") as log:
        process = subprocess.Popen(
            [REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        if remove:
            shutil.rmtree(workdir, ignore_errors=True)
