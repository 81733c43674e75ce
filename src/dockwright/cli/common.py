"""What every command shares: error reporting with exit codes, and JSON output.

``err_console`` is rich's stderr console, created (and rich imported) on first use: a command
that prints no progress and no error does not pay for rich.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from dockwright.errors import DockwrightError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["emit_json", "err_console", "run", "stderr_console", "stderr_is_terminal"]

_T = TypeVar("_T")


@functools.cache
def stderr_console() -> Console:
    """The one rich console on stderr (created, and rich imported, on the first call)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


class _LazyConsole:
    """Forwards attribute lookups to :func:`stderr_console` (pass that to rich itself)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(stderr_console(), name)


err_console = cast("Console", _LazyConsole())


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (progress bars make sense), as rich decides it.

    ``TTY_COMPATIBLE=1`` says yes and ``TTY_COMPATIBLE=0`` no; then a set ``FORCE_COLOR`` says yes
    unless empty; without them, whether stderr is a TTY. The order is rich's; rich is not imported.
    """
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # closed stream
        return False


def run(action: Callable[[], _T]) -> _T:
    """Run ``action``; turn a DockwrightError into one clear message and its exit code."""
    try:
        return action()
    except DockwrightError as exc:
        from rich.text import Text

        # Text, not markup: messages quote untrusted names ("[/x]" in a member name, ":dog:").
        err_console.print(Text.assemble(("error:", "bold red"), " ", exc.message), soft_wrap=True)
        if exc.hint:
            err_console.print(Text.assemble(("hint:", "dim"), " ", exc.hint), soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing was written")
        sys.exit(130)


def emit_json(payload: Any) -> None:
    """Print ``payload`` as stable, indented JSON on stdout."""
    click.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))
