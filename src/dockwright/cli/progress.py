"""Rich progress bars plugged into the library's reporter hooks (the library never prints)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from dockwright.build.builder import BuildReporter

__all__ = ["RichReporter", "progress_reporter"]


class RichReporter(BuildReporter):
    """Shows build stages and one aggregate download bar on stderr. Thread-safe."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def stage(self, text: str) -> None:
        """A new build stage begins."""
        self._console.print(Text.assemble(("•", "dim"), " ", text))

    def start(self, total_items: int, total_bytes: int) -> None:
        """Downloads begin."""
        if total_items == 0:
            return
        with self._lock:
            self._progress.start()
            self._task = self._progress.add_task(f"fetching {total_items} packages", total=total_bytes)

    def advance(self, name: str, nbytes: int) -> None:
        """Bytes arrived."""
        with self._lock:
            if self._task is not None:
                self._progress.advance(self._task, nbytes)

    def item_done(self, name: str) -> None:
        """One download finished and verified."""

    def finish(self) -> None:
        """All downloads finished."""
        with self._lock:
            self._progress.stop()
            self._task = None


@contextlib.contextmanager
def progress_reporter(quiet: bool) -> Iterator[BuildReporter]:
    """Yield a rich reporter, or the silent base reporter with ``quiet``."""
    if quiet:
        yield BuildReporter()
        return
    reporter = RichReporter(Console(stderr=True, highlight=False))
    try:
        yield reporter
    finally:
        reporter.finish()
