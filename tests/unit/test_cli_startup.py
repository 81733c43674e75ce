"""What the ``dockwright`` command loads: only the modules the command it runs needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from dockwright.cli import main as cli_main


def _modules_after(args: list[str]) -> list[str]:
    script = (  # main() ends the process; the listing is printed on the way out
        "import atexit, sys\n"
        "atexit.register(lambda: print('\\n'.join(sorted(k for k, v in sys.modules.items() if v is not None))))\n"
        "from dockwright.cli.main import main\n"
        f"sys.argv = ['dockwright', *{args!r}]\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_every_lazily_named_command_is_the_one_its_module_registers() -> None:
    group = click.Group()
    for module, names in cli_main._COMMAND_MODULES.items():
        before = set(group.commands)
        __import__(module, fromlist=["register"]).register(group)
        assert set(group.commands) - before == set(names), module
    listed = cli_main.cli.list_commands(click.Context(cli_main.cli))
    assert listed == sorted({*group.commands, "build", "lock"})


@pytest.mark.parametrize("name", ["push", "trust", "sbom", "lock"])
def test_each_command_resolves(name: str) -> None:
    assert cli_main.cli.get_command(click.Context(cli_main.cli), name) is not None
    assert cli_main.cli.get_command(click.Context(cli_main.cli), "no-such-command") is None


def test_a_copy_loads_neither_trust_libraries_nor_rich_nor_httpx_cli(tmp_path: Path) -> None:
    from dockwright.fs.tree import Entry, EntryType, FileTree
    from dockwright.oci.image_writer import ImageConfigInput, write_image

    layout = tmp_path / "img"
    tree = FileTree()
    tree.add(Entry(path="hello", type=EntryType.FILE, data=b"hello"))
    write_image([tree], ImageConfigInput(cmd=["/hello"]), f"oci:{layout}:v1", mtime=0)
    modules = _modules_after(["copy", f"oci:{layout}:v1", f"oci:{tmp_path / 'copy'}:v1", "--json"])
    assert "dockwright.registry.transfer" in modules
    assert "dockwright.trust.location" in modules  # tuf-* tags are carried along...
    heavy = ("tuf.ngclient", "securesystemslib.signer", "rich", "httpx._main", "pygments")
    assert [m for m in modules if m.startswith(heavy)] == []  # ...without python-tuf or rich
    others = ("dockwright.inspect.", "dockwright.cli.inspect", "dockwright.cli.trust")
    assert not [m for m in modules if m.startswith(others)]


def test_stderr_is_terminal_follows_richs_environment_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from dockwright.cli.common import stderr_is_terminal

    cases = [
        {"TTY_COMPATIBLE": "1"},
        {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
        {"FORCE_COLOR": "1"},
        {"FORCE_COLOR": ""},
        {},
    ]
    for env in cases:
        for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert stderr_is_terminal() == Console(stderr=True).is_terminal, env


def test_trust_package_names_resolve_lazily_to_their_modules() -> None:
    import importlib

    import dockwright.trust as trust

    assert set(trust.__all__) == set(trust._HOMES)
    for name, home in trust._HOMES.items():
        assert getattr(trust, name) is getattr(importlib.import_module(home), name), name
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        trust.missing  # noqa: B018


def test_prepare_sbom_loads_the_writer_and_the_license_tables_and_nothing_else() -> None:
    script = (
        "import sys\n"
        "from dockwright.inspect import inspector\n"
        "from dockwright.inspect.sbom import licenses\n"
        "inspector.prepare_sbom('cyclonedx-json')\n"
        "inspector.prepare_sbom('no-such-format')\n"
        "print(licenses._licensing.cache_info().currsize, licenses._spdx_ids.cache_info().currsize)\n"
        "print(' '.join(sorted(k for k in sys.modules if k.startswith('dockwright.inspect.sbom.'))))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    counts, modules = run.stdout.splitlines()
    assert counts == "1 1"
    assert "dockwright.inspect.sbom.cyclonedx" in modules.split()
    assert "dockwright.inspect.sbom.spdx" not in modules.split()
