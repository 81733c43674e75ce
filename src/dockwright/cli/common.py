"""What every command shares: error reporting with exit codes, and JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from dockwright.errors import DockwrightError

__all__ = ["emit_json", "err_console", "run"]

_T = TypeVar("_T")
err_console = Console(stderr=True, highlight=False)


def run(action: Callable[[], _T]) -> _T:
    """Run ``action``; turn a DockwrightError into one clear message and its exit code."""
    try:
        return action()
    except DockwrightError as exc:
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
