"""License classification without importing cyclonedx-python-lib: the library's own answers, cached."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cyclonedx import spdx as library

from dockwright.inspect.sbom import licenses

SAMPLES = [
    "MIT",
    "mit",
    "Apache-2.0",
    "apache-2.0 OR mit",
    "GPL-2+",
    "GPL-2.0-or-later WITH Classpath-exception-2.0",
    "LGPL-2.1+",
    "public-domain",
    "BSD-3-clause",
    "(MIT",
    "MIT AND",
    "",
    "   ",
    "Expat",
    "GPL-3.0+ or Artistic-1.0",
    "\u00e9",
]


def test_the_id_list_is_the_one_the_library_ships() -> None:
    ids = licenses._spdx_ids()
    assert ids is not None and len(ids) > 500
    for spdx_id in ids.values():
        assert licenses.fixup_id(spdx_id.upper()) == library.fixup_id(spdx_id.upper()) == spdx_id


@pytest.mark.parametrize("text", SAMPLES)
def test_ids_and_expressions_are_decided_as_the_library_decides(text: str) -> None:
    assert licenses.fixup_id(text) == library.fixup_id(text)
    assert licenses.is_expression(text) == library.is_expression(text)


def test_classification_is_cached() -> None:
    licenses.classify_license.cache_clear()
    first = licenses.classify_license("GPL-2+")
    assert licenses.classify_license("GPL-2+") is first
    assert licenses.classify_license.cache_info().hits == 1


def test_classifying_imports_no_cyclonedx_code() -> None:
    script = (
        "import sys\n"
        "from dockwright.inspect.sbom.licenses import classify_license\n"
        "classify_license('MIT'); classify_license('GPL-2+ or MIT')\n"
        "print(sorted(m for m in sys.modules if m.startswith('cyclonedx')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_load_tables_builds_the_expression_tokenizer_too() -> None:
    # Else the first expression checked builds it, after the image is read (about 4 ms).
    script = (
        "from dockwright.inspect.sbom import licenses\n"
        "licenses.load_tables()\n"
        "print(licenses._licensing().advanced_tokenizer is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
