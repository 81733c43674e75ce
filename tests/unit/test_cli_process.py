"""The console script's process ending: a fast exit that still runs atexit handlers and flushes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from dockwright.cli._process import exit_now


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )


def test_fast_exit_runs_atexit_handlers_flushes_and_keeps_the_code() -> None:
    done = _python(
        """
        import atexit, sys
        from dockwright.cli._process import exit_now
        atexit.register(lambda: print("handler ran"))
        print("x" * 100_000, end="")
        print("to stderr", file=sys.stderr, end="")
        exit_now(3)
        """
    )
    assert done.returncode == 3
    assert done.stdout == "x" * 100_000 + "handler ran\n"
    assert done.stderr == "to stderr"


def test_fast_exit_removes_a_forgotten_temporary_directory() -> None:
    done = _python(
        """
        import os, tempfile
        from dockwright.cli._process import exit_now
        tmp = tempfile.TemporaryDirectory()
        print(tmp.name)
        exit_now(None)
        """
    )
    assert done.returncode == 0
    path = done.stdout.strip()
    assert path
    assert not os.path.exists(path)


def test_a_message_code_exits_the_ordinary_way() -> None:
    with pytest.raises(SystemExit) as raised:
        exit_now("something went wrong")
    assert raised.value.code == "something went wrong"


def test_a_running_thread_is_waited_for_the_ordinary_way() -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait, daemon=False)
    worker.start()
    try:
        with pytest.raises(SystemExit) as raised:
            exit_now(0)
        assert raised.value.code == 0
    finally:
        release.set()
        worker.join()


def test_the_console_script_exit_codes_and_output_are_unchanged() -> None:
    ok = _python(
        "import sys; sys.argv = ['dockwright', '--version']; from dockwright.cli.main import main; main()"
    )
    assert ok.returncode == 0
    assert ok.stdout.startswith("dockwright")
    bad = _python(
        "import sys; sys.argv = ['dockwright', 'sbom', 'oci:/nonexistent/layout:x'];"
        " from dockwright.cli.main import main; main()"
    )
    assert bad.returncode == 2
    assert "/nonexistent/layout" in bad.stderr
