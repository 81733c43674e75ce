"""The ``dockwright`` command line: a thin layer over :mod:`dockwright.build.builder`.

Every command is a library function first; this module only parses flags, plugs rich progress into
the library's reporters, prints results (``--json`` for machines) and maps errors to exit codes:

====  ==========================================================
0     success
1     unexpected internal error (a bug: please report it)
2     invalid input: spec, lock, flags or image reference
3     resolution failed: unknown package or unsatisfiable relations
4     network trouble reaching the mirror: retry
5     verification failed: bad signature or digest mismatch
6     a package archive holds hostile entries
7     two origins write the same path differently
8     an inspected image fails a ``--fail-on`` rule
9     an authentic image breaks the trust policy (``verify --policy``)
====  ==========================================================
"""

from __future__ import annotations

import importlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dockwright import __version__
from dockwright.cli._process import exit_now, tune_collector
from dockwright.cli.common import emit_json, run, stderr_is_terminal

if TYPE_CHECKING:
    from dockwright.build.builder import BuildOptions

__all__ = ["main"]

_COMMAND_MODULES = {
    "dockwright.cli.inspect_cmds": ("inspect", "sbom", "diff"),
    "dockwright.cli.registry_cmds": ("copy", "push", "pull", "login", "logout"),
    "dockwright.cli.trust_cmds": ("trust", "sign", "verify"),
}
"""Command modules, each with a ``register(group)``, and the commands it adds."""


class _LazyGroup(click.Group):
    """Imports a command's module only when that command (or the full help) is asked for.

    ``dockwright push`` then loads neither the inspect nor the trust commands' dependencies.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = {name for names in _COMMAND_MODULES.values() for name in names}
        return sorted(names | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            for module, names in _COMMAND_MODULES.items():
                if cmd_name in names:
                    importlib.import_module(module).register(self)
        return super().get_command(ctx, cmd_name)


def _emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    if as_json:
        emit_json(payload)
    else:
        click.echo(human)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dockwright")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DOCKWRIGHT_CACHE",
    help="Content-addressed download cache (default: $XDG_CACHE_HOME/dockwright).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def cli(ctx: click.Context, cache_dir: Path | None, quiet: bool) -> None:
    """Build minimal, reproducible OCI images straight from Debian packages."""
    ctx.obj = {"cache_dir": cache_dir, "quiet": quiet or not stderr_is_terminal()}


def _spec_path(spec: Path | None) -> Path:
    return spec if spec is not None else Path("dockwright.yaml")


@cli.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lockfile", type=click.Path(dir_okay=False, path_type=Path), help="Default: next to SPEC.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def lock(obj: dict[str, Any], spec: Path | None, lockfile: Path | None, as_json: bool) -> None:
    """Resolve SPEC against verified indexes and write dockwright.lock."""
    from dockwright.build.builder import lock_spec
    from dockwright.cli.progress import progress_reporter

    spec_path = _spec_path(spec)
    lock_path = lockfile or spec_path.parent / "dockwright.lock"
    with progress_reporter(obj["quiet"]) as reporter:
        result = run(lambda: lock_spec(spec_path, lock_path, cache_dir=obj["cache_dir"], reporter=reporter))
    _emit(
        as_json,
        {"lock": str(lock_path), "packages": len(result.packages), "timestamp": result.timestamp},
        f"wrote {lock_path} ({len(result.packages)} packages)",
    )


@cli.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", default=None, help="oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG].")
@click.option("--locked", is_flag=True, help="Fail if the lock is missing or stale instead of resolving.")
@click.option("--lockfile", type=click.Path(dir_okay=False, path_type=Path), help="Default: next to SPEC.")
@click.option("--no-cache", is_flag=True, help="Rebuild layers even when the build cache has them.")
@click.option(
    "--attest-key",
    envvar="DOCKWRIGHT_ATTEST_KEY",
    metavar="KEY",
    help="Sign SLSA provenance with KEY and attach it to an oci: output.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def build(
    obj: dict[str, Any],
    spec: Path | None,
    output: str | None,
    locked: bool,
    lockfile: Path | None,
    no_cache: bool,
    attest_key: str | None,
    as_json: bool,
) -> None:
    """Build SPEC into an OCI image and print its manifest digest."""
    from dockwright.build.builder import BuildOptions, build_image
    from dockwright.cli.progress import progress_reporter

    spec_path = _spec_path(spec)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    options = BuildOptions(
        spec_path=spec_path,
        lock_path=lockfile or spec_path.parent / "dockwright.lock",
        output=output,
        locked=locked,
        cache_dir=obj["cache_dir"],
        source_date_epoch=int(epoch) if epoch and epoch.isdigit() else None,
        use_build_cache=not no_cache,
    )
    started = datetime.now(UTC)
    with progress_reporter(obj["quiet"]) as reporter:
        result = run(lambda: build_image(options, reporter=reporter))
    provenance = run(lambda: _provenance(options, result.output, result.manifest_digest, attest_key, started))
    _emit(as_json, {**result.to_dict(), "provenance": provenance}, result.manifest_digest)


def _provenance(
    options: BuildOptions, output: str, digest: str, key: str | None, started: datetime
) -> str | None:
    """Sign and attach the build's provenance when a key is given; its envelope digest, or None."""
    if key is None:
        return None
    from dockwright.trust.commands import load_key
    from dockwright.trust.signing import write_build_provenance

    return write_build_provenance(
        output,
        digest,
        spec_path=options.spec_path,
        lock_path=options.lock_path,
        signer=load_key(key),
        started_on=started,
        source_date_epoch=options.source_date_epoch,
    )


def main() -> None:
    """Entry point of the ``dockwright`` console script."""
    # httpx imports its own command line client (rich, pygments: 20-40 ms) unless that import
    # fails; this process never runs it. A library user's process is left alone.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    tune_collector()
    try:
        cli(prog_name="dockwright")
    except SystemExit as done:
        exit_now(done.code)
