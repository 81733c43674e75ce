"""A fixture that runs a test module's image reads both ways: by the layer workers and one by one.

The reader reads the layers of a layout with :mod:`dockwright.inspect._layer_workers` (two at a
time, members applied in layer order) and every other source one layer after another; both must
give the same contents, warnings and errors. ``both_reading_modes`` (autouse where imported) runs
every test twice: ``workers`` (a child process reads the later layers of an image of two or more) and ``one-by-one``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dockwright.inspect import _layer_workers, reader


class NoWorkers:
    """Stands in for ``LayerWorkers``: takes no layer, so each is read in the reader's thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def take(self, index: int) -> None:
        return None

    def close(self) -> None:
        pass


@pytest.fixture(params=["workers", "one-by-one"])
def both_reading_modes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Read layouts with the layer workers, or one layer after another."""
    if request.param == "workers":
        monkeypatch.setattr(reader, "_PARALLEL_FROM", 1)
        # the test session runs server threads; these tests fork anyway, as a lone CLI process does
        monkeypatch.setattr(_layer_workers, "_alone", lambda: True)
    else:
        monkeypatch.setattr(reader, "LayerWorkers", NoWorkers)
    yield str(request.param)
