"""``dockwright copy``, ``push``, ``pull``, ``login`` and ``logout``: thin wrappers over the registry package.

References are skopeo's: ``oci:DIR[:TAG]``, ``docker-archive:FILE[:NAME[:TAG]]`` and
``docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]``. ``push`` is ``copy`` with a registry
destination, ``pull`` is ``copy`` with a registry source.

TLS flags follow skopeo: ``--tls-verify=false`` (or ``--no-tls-verify``) turns certificate checks
off, and on a loopback registry (``127.0.0.1``, ``[::1]``, ``localhost``) also means plain HTTP, as
test registries usually speak it; ``--plain-http`` forces HTTP for any host. The flag applies to
every registry the command talks to.

What this module does not do: copy anything itself (see :mod:`dockwright.registry.transfer`),
or read and write credentials itself (see :mod:`dockwright.registry.credentials`).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dockwright.cli.common import emit_json, err_console, run, stderr_console, stderr_is_terminal
from dockwright.errors import InputError

if TYPE_CHECKING:
    from dockwright.oci.descriptor import Descriptor
    from dockwright.registry.credentials import Credentials
    from dockwright.registry.endpoints import Connections
    from dockwright.registry.transfer import TransferReporter, TransferSummary
    from dockwright.trust.location import TrustLocation

__all__ = ["register"]

F = TypeVar("F", bound=Callable[..., Any])
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class _SkopeoBoolCommand(click.Command):
    """Accepts ``--tls-verify=false`` / ``=true`` as skopeo does (click flags take no value)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, [_bool_flag(arg) for arg in args])


def _bool_flag(arg: str) -> str:
    name, eq, value = arg.partition("=")
    if not eq or name != "--tls-verify":
        return arg
    if value.lower() in _TRUE:
        return "--tls-verify"
    if value.lower() in _FALSE:
        return "--no-tls-verify"
    raise click.UsageError(f"{name} takes true or false, not {value!r}")


def _connection_options(func: F) -> F:
    options = [
        click.option(
            "--tls-verify/--no-tls-verify",
            default=True,
            help="Check registry certificates (--tls-verify=false works too; on loopback it means HTTP).",
        ),
        click.option(
            "--cert-dir",
            type=click.Path(file_okay=False, exists=True, path_type=Path),
            help="Directory of *.crt CAs and a *.cert/*.key client certificate.",
        ),
        click.option("--plain-http", is_flag=True, help="Speak plain HTTP to every registry."),
        click.option(
            "--authfile",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Auth file to read (default: ~/.docker/config.json, then podman's).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _copy_options(func: F) -> F:
    options = [
        click.option(
            "--platform", default=None, help="os/arch[/variant] to take from an index (default: host's)."
        ),
        click.option(
            "--all", "all_platforms", is_flag=True, help="Copy every platform of an index, index unchanged."
        ),
        click.option(
            "--with-referrers/--no-referrers",
            default=True,
            show_default=True,
            help="Copy signatures, SBOMs and other referrers along.",
        ),
        click.option(
            "-j", "--jobs", default=4, show_default=True, type=click.IntRange(1, 64), help="Blobs at once."
        ),
        click.option(
            "--creds", default=None, metavar="USER:PASS", help="Credentials for every registry involved."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return _connection_options(func)


_verify_option = click.option(
    "--verify",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="POLICY",
    help="Verify SOURCE against POLICY first (TUF, attestations, layers), then copy it by digest.",
)


def _rich_reporter() -> Iterator[TransferReporter]:
    """One bar per blob in flight on stderr, and a line per blob when it is done. Thread-safe.

    Defined here, not at module level, so that other commands do not import the registry stack.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
    from rich.text import Text

    from dockwright.registry.transfer import TransferReporter

    class RichTransfer(TransferReporter):
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.tasks: dict[str, TaskID] = {}
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=stderr_console(),
                transient=True,
            )

        def line(self, what: str, descriptor: Descriptor, note: str = "") -> None:
            err_console.print(Text.assemble((f"{descriptor.digest.hex[:12]} ", "dim"), what, note))

        def blob_start(self, descriptor: Descriptor) -> None:
            with self.lock:
                task = self.progress.add_task(descriptor.digest.hex[:12], total=descriptor.size)
                self.tasks[str(descriptor.digest)] = task

        def blob_progress(self, descriptor: Descriptor, done: int) -> None:
            with self.lock:
                task = self.tasks.get(str(descriptor.digest))
                if task is not None:
                    self.progress.update(task, completed=done)

        def blob_done(self, descriptor: Descriptor) -> None:
            with self.lock:
                task = self.tasks.pop(str(descriptor.digest), None)
                if task is not None:
                    self.progress.remove_task(task)
            self.line("copied", descriptor, f" ({descriptor.size} bytes)")

        def blob_skipped(self, descriptor: Descriptor) -> None:
            self.line("already there", descriptor)

        def blob_mounted(self, descriptor: Descriptor, from_repository: str) -> None:
            self.line("mounted", descriptor, f" from {from_repository}")

    reporter = RichTransfer()
    reporter.progress.start()
    try:
        yield reporter
    finally:
        reporter.progress.stop()


@contextlib.contextmanager
def _reporter(quiet: bool) -> Iterator[TransferReporter]:
    if quiet:
        from dockwright.registry.transfer import TransferReporter

        yield TransferReporter()
    else:
        yield from _rich_reporter()


def _credentials(creds: str | None) -> Credentials | None:
    if creds is None:
        return None
    from dockwright.registry.credentials import Credentials

    user, sep, password = creds.partition(":")
    if not sep or not user:
        raise InputError("--creds takes USER:PASSWORD", hint="or log in once with `dockwright login`")
    return Credentials(username=user, password=password, source="--creds")


def _transfer(obj: dict[str, Any] | None, source: str, destination: str, flags: dict[str, Any]) -> None:
    from dockwright.registry.endpoints import Connections, RegistryOptions, copy
    from dockwright.registry.transfer import TransferOptions

    started = time.monotonic()
    options = TransferOptions(
        platform=flags["platform"],
        all_platforms=flags["all_platforms"],
        with_referrers=flags["with_referrers"],
        jobs=flags["jobs"],
    )
    registry = RegistryOptions(
        tls_verify=flags["tls_verify"],
        plain_http=True if flags["plain_http"] else None,
        cert_dir=flags["cert_dir"],
        credentials=run(lambda: _credentials(flags["creds"])),
        authfile=flags["authfile"],
        max_connections=max(8, 2 * flags["jobs"]),
    )
    quiet = bool((obj or {}).get("quiet")) or not stderr_is_terminal()
    with Connections(registry) as connect:
        if flags.get("verify") is not None:
            from dockwright.cli.trust_cmds import verify_for_copy

            source = verify_for_copy(source, flags["verify"], connect)
        carry_trust = _carry_trust(source, destination, connect) if flags["with_referrers"] else None
        with _reporter(quiet) as reporter:
            summary = run(
                lambda: copy(source, destination, connect=connect, options=options, reporter=reporter)
            )
        if carry_trust is not None:
            carry_trust()
    _print_summary(summary, source, destination, time.monotonic() - started, flags["as_json"])


def _carry_trust(source: str, destination: str, connect: Connections) -> Callable[[], None]:
    """Start carrying the ``tuf-*`` metadata along (both ends docker:// or oci:; quiet if none).

    The source's metadata is listed on a thread while the image is copied; the function returned
    copies what the destination lacks, once the image is in place.
    """
    from concurrent.futures import ThreadPoolExecutor

    ends = ("docker://", "oci:")
    if not (source.startswith(ends) and destination.startswith(ends)):
        return lambda: None

    def list_source() -> tuple[TrustLocation, list[str]]:
        from dockwright.trust.location import open_location

        located = open_location(source, connect)
        return located, located.store.names()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dockwright-trust")
    listing = pool.submit(list_source)

    def finish() -> None:
        from dockwright.trust.location import copy_trust_metadata, open_location

        located, names = run(listing.result)
        pool.shutdown()  # its thread is done: join it, so the process can end at once
        copied = run(
            lambda: copy_trust_metadata(located, open_location(destination, connect), source_names=names)
        )
        if copied:
            err_console.print(f"copied {len(copied)} TUF metadata file(s)", soft_wrap=True, markup=False)

    return finish


def _print_summary(
    summary: TransferSummary, source: str, destination: str, seconds: float, as_json: bool
) -> None:
    if as_json:
        emit_json(
            {**summary.to_dict(), "source": source, "destination": destination, "seconds": round(seconds, 3)}
        )
        return
    click.echo(
        f"{summary.digest}\n"
        f"{summary.blobs_sent} blobs sent ({summary.bytes_sent} bytes), "
        f"{summary.blobs_skipped} already there ({summary.bytes_skipped} bytes), "
        f"{summary.blobs_mounted} mounted, {summary.manifests} manifests "
        f"({summary.referrers} referrers) in {seconds:.2f} s"
    )


def _require_registry(reference: str, role: str, command: str) -> None:
    if not reference.startswith("docker://"):
        raise InputError(
            f"the {role} of `dockwright {command}` must be docker://HOST[:PORT]/REPOSITORY[:TAG], "
            f"not {reference!r}",
            hint="use `dockwright copy` between local stores",
        )


@click.command("copy", cls=_SkopeoBoolCommand)
@click.argument("source")
@click.argument("destination")
@_copy_options
@_verify_option
@click.pass_obj
def copy_cmd(obj: dict[str, Any] | None, /, source: str, destination: str, **flags: Any) -> None:
    """Copy an image (and its referrers) from SOURCE to DESTINATION: oci:, docker-archive: or docker://."""
    _transfer(obj, source, destination, flags)


@click.command("push", cls=_SkopeoBoolCommand)
@click.argument("source")
@click.argument("destination")
@_copy_options
@click.pass_obj
def push_cmd(obj: dict[str, Any] | None, /, source: str, destination: str, **flags: Any) -> None:
    """Push SOURCE (oci:DIR[:TAG] or docker-archive:FILE) to DESTINATION (docker://HOST/REPO[:TAG])."""
    run(lambda: _require_registry(destination, "destination", "push"))
    _transfer(obj, source, destination, flags)


@click.command("pull", cls=_SkopeoBoolCommand)
@click.argument("source")
@click.argument("destination")
@_copy_options
@_verify_option
@click.pass_obj
def pull_cmd(obj: dict[str, Any] | None, /, source: str, destination: str, **flags: Any) -> None:
    """Pull SOURCE (docker://HOST/REPO[:TAG|@DIGEST]) into DESTINATION (oci:DIR[:TAG] or docker-archive:)."""
    run(lambda: _require_registry(source, "source", "pull"))
    _transfer(obj, source, destination, flags)


def _check_login(registry: str, username: str, password: str, flags: dict[str, Any]) -> None:
    """Ping the registry with the credentials (a 401 after authorizing means they are wrong)."""
    from dockwright.registry.credentials import Credentials, normalize_registry
    from dockwright.registry.endpoints import Connections, RegistryOptions

    options = RegistryOptions(
        tls_verify=flags["tls_verify"],
        plain_http=True if flags["plain_http"] else None,
        cert_dir=flags["cert_dir"],
        credentials=Credentials(username=username, password=password, source="login"),
        retry=None,
    )
    with Connections(options) as connect:
        connect(normalize_registry(registry)).ping()


@click.command("login", cls=_SkopeoBoolCommand)
@click.argument("registry")
@click.option("-u", "--username", required=True, help="User name.")
@click.option(
    "-p", "--password", default=None, help="Password (visible to other users: prefer --password-stdin)."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_connection_options
def login_cmd(registry: str, username: str, password: str | None, password_stdin: bool, **flags: Any) -> None:
    """Check USERNAME's password against REGISTRY (HOST[:PORT]) and store it in the auth file."""
    from dockwright.registry.credentials import login

    if password_stdin:
        if password is not None:
            raise click.UsageError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\r\n")
    elif password is None:
        password = click.prompt("Password", hide_input=True, err=True)
    else:
        err_console.print(
            "warning: a password on the command line is visible to other users; use --password-stdin"
        )
    secret = password
    run(lambda: _check_login(registry, username, secret, flags))
    path = run(lambda: login(registry, username, secret, config_path=flags["authfile"]))
    click.echo(f"Login succeeded (credentials stored in {path})")


@click.command("logout")
@click.argument("registry")
@click.option("--authfile", type=click.Path(dir_okay=False, path_type=Path), help="Auth file to edit.")
def logout_cmd(registry: str, authfile: Path | None) -> None:
    """Remove the stored credentials for REGISTRY (HOST[:PORT])."""
    from dockwright.registry.credentials import logout

    path = run(lambda: logout(registry, config_path=authfile))
    click.echo(f"Removed the credentials for {registry} from {path}")


def register(group: click.Group) -> None:
    """Add the registry commands to the top-level group."""
    for command in (copy_cmd, push_cmd, pull_cmd, login_cmd, logout_cmd):
        group.add_command(command)
