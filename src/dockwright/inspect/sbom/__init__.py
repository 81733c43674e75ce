"""SBOM writers: an SPDX 2.3 and a CycloneDX 1.6 document of an image and the packages found in it.

Both take the reader's :class:`~dockwright.inspect.model.ImageContents` and the catalogers'
packages, and agree on the subject (the image), the package ids and which license strings are
SPDX. They do no I/O: callers write the bytes where they want them.

The writers are imported on first use (``from dockwright.inspect.sbom import spdx_document`` loads
only the SPDX writer; the CycloneDX one brings in cyclonedx-python-lib).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockwright.inspect.sbom.cyclonedx import cyclonedx_document
    from dockwright.inspect.sbom.spdx import spdx_document, to_json

__all__ = ["cyclonedx_document", "spdx_document", "to_json"]

_WHERE = {"cyclonedx_document": "cyclonedx", "spdx_document": "spdx", "to_json": "spdx"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
