"""How the ``dockwright`` process starts and ends: fewer cycle collections, no teardown.

A command runs once and exits, and two of CPython's defaults buy such a process nothing:

* The cycle collector scans its youngest generation every 700 net allocations of container
  objects. Reading an image builds tens of thousands of entries that all stay alive until the end,
  so they are scanned again and again for no garbage (about 20 ms for a 100-package image).
  :func:`tune_collector` raises the thresholds: cycles are still collected, less often.
* At exit CPython frees every object and module one by one (about 20 ms once an image was read).
  :func:`exit_now` ends the process as soon as what an exit must do is done: the ``atexit``
  handlers have run (``weakref.finalize`` callbacks such as a forgotten temporary directory's
  removal among them) and the standard streams are flushed. It does so only when no non-daemon
  thread is left and the exit code is a number; otherwise, and when a flush fails, the ordinary
  exit happens, with its usual reporting.

Only the console script uses this module; a library user's process is left alone.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading

__all__ = ["exit_now", "tune_collector"]

_THRESHOLDS = (100_000, 50, 1_000)  # CPython's defaults: (700, 10, 10)


def tune_collector() -> None:
    """Collect cycles less often (module docstring)."""
    gc.set_threshold(*_THRESHOLDS)


def _only_daemons_left() -> bool:
    main = threading.main_thread()
    return all(t is main or t.daemon for t in threading.enumerate())


def exit_now(code: object) -> None:
    """End the process with ``code`` (a ``SystemExit`` code) without freeing every object.

    Raises:
        SystemExit: when the fast way does not apply (see the module docstring), to exit the
            ordinary way.
    """
    if code is None:
        code = 0
    if not isinstance(code, int) or not _only_daemons_left():
        raise SystemExit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: let the ordinary exit report it
        raise SystemExit(code) from None
    os._exit(code & 0xFF)
