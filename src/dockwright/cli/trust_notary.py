"""``dockwright trust import-notary``: verify a Notary v1 repository's tags and sign them with dockwright.

:func:`register_notary` adds the command to the ``trust`` click group. The Notary root is never
taken silently: pin it with ``--root-cert`` or ``--root-sha256``; without a pin the command
prints the root's sha256 and stops (exit 2) unless ``--trust-on-first-use`` is given, in which
case the sha256 is printed for the user to record. Any verification failure exits 5 and nothing
is signed.

What this module does not do: create the dockwright trust repository (``--to`` must hold one,
with the signers for the roles the tags land in given by ``--key``) or push images.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dockwright.cli.common import emit_json, err_console, run
from dockwright.errors import InputError

if TYPE_CHECKING:  # the trust stack (tuf, securesystemslib) loads only when the command runs
    from dockwright.trust.metadata_store import MetadataStore
    from dockwright.trust.notary import NotaryTag, NotaryTrustData

__all__ = ["import_notary_cmd", "register_notary"]


@contextlib.contextmanager
def _store(destination: str, plain_http: bool, cert_dir: Path | None) -> Iterator[MetadataStore]:
    from dockwright.trust.metadata_store import OciLayoutMetadataStore, RegistryMetadataStore

    if destination.startswith("oci:"):
        yield OciLayoutMetadataStore(Path(destination.removeprefix("oci:")))
        return
    from dockwright.registry import RegistryClient, parse_registry_reference
    from dockwright.registry.auth import RegistryAuth
    from dockwright.registry.credentials import find_credentials

    text = destination if "://" in destination else f"docker://{destination}"
    reference = parse_registry_reference(text)
    if reference.digest is not None or ":" in text.rsplit("/", 1)[-1]:
        raise InputError(
            f"--to names a repository (docker://HOST[:PORT]/REPOSITORY), not an image: {destination}"
        )
    auth = RegistryAuth(find_credentials(reference.registry, repository=reference.repository))
    try:
        with RegistryClient(
            reference.registry, plain_http=plain_http, cert_dir=cert_dir, auth=auth
        ) as client:
            yield RegistryMetadataStore(client, reference.repository)
    finally:
        auth.close()


def _print_root(data: NotaryTrustData, pinned: bool) -> None:
    if not pinned:
        err_console.print(
            f"trusting the Notary root of {data.gun} on first use: sha256 {data.root_sha256} "
            f"(pass --root-sha256 {data.root_sha256} next time)",
            soft_wrap=True,
            markup=False,
        )
    for name, why in sorted(data.skipped.items()):
        err_console.print(f"skipped {name!r}: {why}", soft_wrap=True, markup=False)


@click.command("import-notary")
@click.argument("server")
@click.argument("gun")
@click.option(
    "--to",
    "destination",
    required=True,
    help="The dockwright trust repository: docker://HOST[:PORT]/REPOSITORY or oci:PATH.",
)
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    help="A signing key (.key file, env:VAR or key URI) for the roles the tags land in; repeatable.",
)
@click.option(
    "--root-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Pin the Notary root by its root certificate (PEM or DER).",
)
@click.option("--root-sha256", help="Pin the Notary root by the sha256 of its root.json.")
@click.option(
    "--trust-on-first-use", is_flag=True, help="Accept the server's root unpinned; prints its sha256."
)
@click.option("--tag", "tags", multiple=True, help="Import only this tag (repeatable; default: all).")
@click.option(
    "--notary-ca",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CA certificate for the notary server's TLS.",
)
@click.option("--plain-http", is_flag=True, help="Speak plain HTTP to the --to registry.")
@click.option(
    "--cert-dir", type=click.Path(file_okay=False, path_type=Path), help="CAs for the --to registry."
)
@click.option("--json", "as_json", is_flag=True, help="Print the imported tags as JSON.")
def import_notary_cmd(
    server: str,
    gun: str,
    destination: str,
    keys: tuple[str, ...],
    root_cert: Path | None,
    root_sha256: str | None,
    trust_on_first_use: bool,
    tags: tuple[str, ...],
    notary_ca: Path | None,
    plain_http: bool,
    cert_dir: Path | None,
    as_json: bool,
) -> None:
    """Verify the signed tags of Notary repository GUN on notary-server SERVER; sign them into --to."""

    def action() -> tuple[list[NotaryTag], str]:
        from dockwright.trust.keys import load_signer
        from dockwright.trust.notary import import_notary
        from dockwright.trust.repository import TrustRepository

        pinned = root_cert is not None or root_sha256 is not None
        if not pinned and not trust_on_first_use:
            from dockwright.trust.notary import read_notary

            data = read_notary(
                server, gun, trust_on_first_use=True, verify=str(notary_ca) if notary_ca else True
            )
            raise InputError(
                f"the Notary root of {gun} is not pinned; its root.json has sha256 {data.root_sha256}",
                hint=f"check it out of band, then pass --root-sha256 {data.root_sha256} "
                "(or --root-cert, or --trust-on-first-use)",
            )
        signers = [load_signer(k) for k in keys]
        seen: dict[str, str] = {}

        def report(data: NotaryTrustData) -> None:
            seen["root"] = data.root_sha256
            _print_root(data, pinned)

        with _store(destination, plain_http, cert_dir) as store:
            repo = TrustRepository(store, signers)
            imported = import_notary(
                server,
                gun,
                repo,
                trusted_root_sha256=root_sha256,
                root_cert=root_cert.read_bytes() if root_cert is not None else None,
                trust_on_first_use=trust_on_first_use,
                tags=list(tags) or None,
                report=report,
                verify=str(notary_ca) if notary_ca else True,
            )
        return imported, seen.get("root", "")

    imported, root = run(action)
    if as_json:
        payload: dict[str, Any] = {
            "gun": gun,
            "root_sha256": root,
            "tags": [
                {"tag": t.tag, "digest": str(t.digest), "size": t.size, "role": t.role} for t in imported
            ],
        }
        emit_json(payload)
        return
    for item in imported:
        click.echo(f"{item.tag}\t{item.digest}\t{item.size}\t{item.role}")
    err_console.print(f"imported {len(imported)} tag(s) from {gun}", markup=False)


def register_notary(trust_group: click.Group) -> None:
    """Add ``import-notary`` to the ``trust`` group."""
    trust_group.add_command(import_notary_cmd)
