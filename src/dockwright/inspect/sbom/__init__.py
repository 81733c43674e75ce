"""SBOM writers: an SPDX 2.3 and a CycloneDX 1.6 document of an image and the packages found in it.

Both take the reader's :class:`~dockwright.inspect.model.ImageContents` and the catalogers'
packages, and agree on the subject (the image), the package ids and which license strings are
SPDX. They do no I/O: callers write the bytes where they want them.
"""

from dockwright.inspect.sbom.cyclonedx import cyclonedx_document
from dockwright.inspect.sbom.spdx import spdx_document, to_json

__all__ = ["cyclonedx_document", "spdx_document", "to_json"]
