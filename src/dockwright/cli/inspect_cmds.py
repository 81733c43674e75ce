"""``dockwright inspect``, ``sbom`` and ``diff``: thin wrappers over :mod:`dockwright.inspect.inspector`.

Each keeps the parsed form of every layer it reads in ``CACHE/layers-index`` (``CACHE`` is
``--cache-dir``, ``$DOCKWRIGHT_CACHE`` or ``$XDG_CACHE_HOME/dockwright``) and reuses it for a blob it
has seen, after checking that the blob still has its digest; ``--no-cache`` reads every layer from
its blob and keeps nothing. Only ``diff`` hashes every file (it compares contents).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dockwright.cli.common import emit_json, run
from dockwright.cli.registry_cmds import _connection_options, _SkopeoBoolCommand
from dockwright.errors import InputError
from dockwright.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from dockwright.registry.endpoints import RegistryOptions

__all__ = ["register"]

_PLATFORM = click.option(
    "--platform", default=None, help="os/arch[/variant] to pick from a multi-arch index."
)
_NO_CACHE = click.option(
    "--no-cache",
    is_flag=True,
    help="Read every layer from its blob; neither use nor fill the layer cache (CACHE/layers-index).",
)


def _cache_dir(ctx: click.Context, no_cache: bool) -> Path | None:
    if no_cache:
        return None
    from dockwright.inspect.inspector import layer_cache_dir

    obj = ctx.find_root().obj
    root = obj.get("cache_dir") if isinstance(obj, dict) else None
    return layer_cache_dir(root)


def _registry(flags: dict[str, Any], *images: str) -> RegistryOptions | None:
    """How to reach the registry of a ``docker://`` image (the same flags as ``pull``).

    None when no image is in a registry: local images do not load the registry client (httpx).
    """
    if not any(image.startswith("docker://") for image in images):
        return None
    from dockwright.registry.endpoints import RegistryOptions

    return RegistryOptions(
        tls_verify=flags["tls_verify"],
        plain_http=True if flags["plain_http"] else None,
        cert_dir=flags["cert_dir"],
        authfile=flags["authfile"],
    )


def _write(output: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(output, data)
    except OSError as exc:
        raise InputError(
            f"cannot write {output}: {exc.strerror or exc}", hint="pass -o a path in a writable directory"
        ) from None


def _package_dict(p: Any) -> dict[str, Any]:
    d = dataclasses.asdict(p)
    d["files"] = len(p.files)
    return d


@click.command("inspect", cls=_SkopeoBoolCommand)
@_connection_options
@click.argument("image")
@_PLATFORM
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option("--fail-on", default=None, help="CI gate, e.g. 'wasted>20MB,dev-packages,efficiency<0.95'.")
@click.option("--top", default=10, show_default=True, help="How many paths to list per category.")
@_NO_CACHE
@click.pass_context
def inspect_cmd(
    ctx: click.Context,
    /,
    image: str,
    platform: str | None,
    as_json: bool,
    fail_on: str | None,
    top: int,
    no_cache: bool,
    **connection: Any,
) -> None:
    """What is in IMAGE, where it came from, and what should not be there."""
    from dockwright.inspect import inspector, render

    cache_dir = _cache_dir(ctx, no_cache)
    registry = _registry(connection, image)
    analysis = run(
        lambda: inspector.analyze(
            image, platform=platform, hash_files=False, cache_dir=cache_dir, registry=registry
        )
    )
    report = analysis.waste(top=top)
    reasons = run(lambda: inspector.check_gate(report, fail_on)) if fail_on else []
    contents = analysis.contents
    if as_json:
        emit_json(
            {
                "reference": contents.reference,
                "manifestDigest": contents.manifest_digest,
                "osRelease": contents.os_release,
                "layers": [dataclasses.asdict(layer) for layer in contents.layers],
                "packages": [_package_dict(p) for p in analysis.packages],
                "waste": report.to_dict(),
                "warnings": [dataclasses.asdict(w) for w in analysis.warnings],
                "gate": {"expression": fail_on, "passed": not reasons, "reasons": reasons},
            }
        )
    else:
        from rich.console import Console
        from rich.text import Text

        console = Console(highlight=False)
        console.print(
            Text.assemble(("image ", "bold"), contents.reference, " ", (contents.manifest_digest, "dim"))
        )
        render.render_layers(console, report)
        render.render_packages(console, analysis.packages)
        render.render_waste(console, report)
        render.render_largest_paths(console, render.largest_paths(contents.files, top))
        for w in analysis.warnings:
            console.print(Text.assemble(("warning: ", "yellow"), w.message))
        if fail_on:
            render.render_gate(console, reasons)
    if reasons:
        run(lambda: inspector.enforce_gate(report, fail_on or ""))


@click.command("sbom", cls=_SkopeoBoolCommand)
@_connection_options
@click.argument("image")
@_PLATFORM
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["spdx-json", "cyclonedx-json"]),
    default="spdx-json",
    show_default=True,
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout)."
)
@_NO_CACHE
@click.pass_context
def sbom_cmd(
    ctx: click.Context,
    /,
    image: str,
    platform: str | None,
    fmt: str,
    output: Path | None,
    no_cache: bool,
    **connection: Any,
) -> None:
    """Write the SBOM of IMAGE (the image digest is its subject)."""
    from dockwright.inspect import inspector

    cache_dir = _cache_dir(ctx, no_cache)
    registry = _registry(connection, image)
    analysis = run(
        lambda: inspector.analyze(
            image,
            platform=platform,
            hash_files=False,
            cache_dir=cache_dir,
            registry=registry,
            prepare=lambda: inspector.prepare_sbom(fmt),
        )
    )
    data = run(lambda: inspector.sbom(analysis, fmt))
    if output is None:
        click.echo(data.decode(), nl=not data.endswith(b"\n"))
    else:
        run(lambda: _write(output, data))


@click.command("diff", cls=_SkopeoBoolCommand)
@_connection_options
@click.argument("image_a")
@click.argument("image_b")
@_PLATFORM
@click.option("--json", "as_json", is_flag=True, help="Print the difference as JSON.")
@_NO_CACHE
@click.pass_context
def diff_cmd(
    ctx: click.Context,
    /,
    image_a: str,
    image_b: str,
    platform: str | None,
    as_json: bool,
    no_cache: bool,
    **connection: Any,
) -> None:
    """What changed from IMAGE_A to IMAGE_B: packages, files and config (ignores mtimes and order)."""
    from dockwright.inspect import inspector, render

    cache_dir = _cache_dir(ctx, no_cache)
    registry = _registry(connection, image_a, image_b)
    a = run(lambda: inspector.analyze(image_a, platform=platform, cache_dir=cache_dir, registry=registry))
    b = run(lambda: inspector.analyze(image_b, platform=platform, cache_dir=cache_dir, registry=registry))
    result = inspector.diff(a, b)
    if as_json:
        emit_json(result.to_dict())
    else:
        from rich.console import Console

        render.render_diff(Console(highlight=False), result)


def register(group: click.Group) -> None:
    """Add the inspect commands to the top-level group."""
    for command in (inspect_cmd, sbom_cmd, diff_cmd):
        group.add_command(command)
