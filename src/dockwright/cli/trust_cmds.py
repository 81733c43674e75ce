"""``dockwright trust ...``, ``sign`` and ``verify``: thin wrappers over :mod:`dockwright.trust.commands`.

REPO and REF are ``docker://HOST[:PORT]/REPOSITORY[:TAG]`` or ``oci:DIR[:TAG]``; connection flags
are those of ``copy`` (``--tls-verify=false`` on a loopback registry means plain HTTP). Signing keys
for TUF roles come from ``-k/--signing-key`` (repeatable) and every ``*.key`` of ``--keys-dir``
(``$DOCKWRIGHT_KEYS_DIR``); encrypted keys are opened with ``$DOCKWRIGHT_KEY_PASSPHRASE``.

Refusals keep their exit codes (5: verification, 9: policy) and their message says which attack
class or check refused the image. Other ``trust`` subcommands (``trust import-notary``) plug in
through :func:`register_trust`: a module ``dockwright.cli.trust_notary`` that defines
``register_trust(group)`` is called with the ``trust`` group when present.

What this module does not do: any trust logic (see :mod:`dockwright.trust.commands` and
:mod:`dockwright.trust.signing`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dockwright.cli.common import emit_json, err_console, run
from dockwright.cli.registry_cmds import _connection_options, _SkopeoBoolCommand
from dockwright.errors import DockwrightError

if TYPE_CHECKING:
    from dockwright.registry.endpoints import Connections

__all__ = ["explain_refusal", "register", "register_trust", "trust_group"]

_T = TypeVar("_T")
_KEYS_DIR_ENV = "DOCKWRIGHT_KEYS_DIR"
_REASONS = {
    "moved-tag": "arbitrary image: the tag was moved to a digest it is not signed for",
    "bad-signature": "tampered attestation",
    "wrong-subject": "attestation for another subject",
    "sbom-mismatch": "the image's layers no longer match its signed SBOM",
    "not-pinned": "attestation not signed with the tag",
    "missing-attestation": "missing attestation",
    "untrusted-tag": "untrusted tag",
    "trust-roles": "too few signatures for the policy",
    "no-scope": "no policy scope",
}


def _announce(text: str) -> None:
    from rich.text import Text

    err_console.print(Text(text), soft_wrap=True)


def explain_refusal(exc: DockwrightError) -> DockwrightError:
    """Prefix a verification refusal with the attack class or check that refused it (in place)."""
    from dockwright.trust import TrustError
    from dockwright.trust.verify import ImageRefused

    if isinstance(exc, TrustError):
        label = "" if exc.attack in exc.message else f"{exc.attack}: "
        exc.message = f"refused: {label}{exc.message}"
    elif isinstance(exc, ImageRefused):
        label = _REASONS.get(exc.reason, exc.reason)
        extra = "".join(f"\n  {line}" for line in exc.details)
        exc.message = f"refused ({label}): {exc.message}{extra}"
    return exc


def run_verification(action: Callable[[], _T]) -> _T:
    """:func:`run` with refusals explained (see :func:`explain_refusal`)."""

    def explained() -> _T:
        try:
            return action()
        except DockwrightError as exc:
            raise explain_refusal(exc) from None

    return run(explained)


@contextlib.contextmanager
def _connections(flags: dict[str, Any]) -> Iterator[Connections]:
    from dockwright.registry.endpoints import Connections, RegistryOptions

    options = RegistryOptions(
        tls_verify=flags["tls_verify"],
        plain_http=True if flags["plain_http"] else None,
        cert_dir=flags["cert_dir"],
        authfile=flags["authfile"],
    )
    with Connections(options) as connect:
        yield connect


def _signing_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "-k", "--signing-key", "signing_keys", multiple=True, metavar="KEY",
        help="A TUF role key: .key file, env:VAR, or signer URI[#PUBFILE] (repeatable).",
    )(func)  # fmt: skip
    return click.option(
        "--keys-dir", type=click.Path(file_okay=False, path_type=Path), envvar=_KEYS_DIR_ENV,
        help="Load every *.key file of DIR as a TUF role key.",
    )(func)  # fmt: skip


def _repository(
    location_ref: str, connect: Connections, flags: dict[str, Any], extra: tuple[str, ...] = ()
) -> Any:
    from dockwright.trust.commands import load_signers, open_location
    from dockwright.trust.repository import TrustRepository

    location = open_location(location_ref, connect)
    signers = load_signers([*flags["signing_keys"], *extra], flags["keys_dir"])
    return TrustRepository(location.store, signers)


def _written(files: list[str], as_json: bool = False) -> None:
    if as_json:
        emit_json({"written": files})
    else:
        click.echo(f"wrote {len(files)} metadata file(s): {', '.join(files) if len(files) < 8 else '...'}")


@click.group("trust")
def trust_group() -> None:
    """Sign tags with TUF in the registry itself: init, delegate, rotate, revoke, status."""


@trust_group.command("init", cls=_SkopeoBoolCommand)
@click.argument("repo")
@click.option("--root-key", "root_keys", multiple=True, metavar="KEY", help="A root key (repeatable).")
@click.option("--root-threshold", type=click.IntRange(1, 100), help="Root keys that must sign (default 2).")
@click.option("--targets-key", metavar="KEY", help="The targets key (file or signer URI).")
@click.option("--snapshot-key", metavar="KEY", help="The snapshot key.")
@click.option("--timestamp-key", metavar="KEY", help="The timestamp key.")
@click.option("--bins-key", metavar="KEY", help="The key of the hash bins (default: the targets key).")
@click.option(
    "--keys-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Generate the keys not given here, encrypted with $DOCKWRIGHT_KEY_PASSPHRASE.",
)  # fmt: skip
@click.option("--bin-bits", default=8, show_default=True, type=click.IntRange(1, 16), help="2**N hash bins.")
@_connection_options
def init_cmd(repo: str, keys_dir: Path | None, **flags: Any) -> None:
    """Create the TUF repository of REPO and pin its root on this machine."""
    from dockwright.trust.commands import InitKeys, init_repository, open_location, pinned_root

    keys = InitKeys(
        root=tuple(flags["root_keys"]), root_threshold=flags["root_threshold"],
        targets=flags["targets_key"], snapshot=flags["snapshot_key"], timestamp=flags["timestamp_key"],
        bins=flags["bins_key"], keys_dir=keys_dir, bin_bits=flags["bin_bits"],
    )  # fmt: skip
    with _connections(flags) as connect:
        location = run(lambda: open_location(repo, connect))
        files = run(lambda: init_repository(location, keys, _announce))
        run(lambda: pinned_root(location, _announce))
    _written(files)


@trust_group.command("delegate", cls=_SkopeoBoolCommand)
@click.argument("repo")
@click.argument("name")
@click.option("--pattern", "patterns", multiple=True, required=True, help="Tag glob, e.g. 'v*' (repeatable).")
@click.option(
    "--key", "keys", multiple=True, required=True, metavar="KEY", help="The role's key (repeatable)."
)
@click.option("--threshold", default=1, show_default=True, type=click.IntRange(1, 100))
@_signing_options
@_connection_options
def delegate_cmd(
    repo: str, name: str, patterns: tuple[str, ...], keys: tuple[str, ...], **flags: Any
) -> None:
    """Delegate the tags matching --pattern to a new role NAME signed by --key."""
    from dockwright.trust import RoleKeys
    from dockwright.trust.commands import load_signers

    with _connections(flags) as connect:
        role_signers = run(lambda: load_signers(keys))
        trust = run(lambda: _repository(repo, connect, flags, keys))
        role = run(lambda: RoleKeys.of(*role_signers, threshold=flags["threshold"]))
        _written(run(lambda: trust.delegate(name, list(patterns), role)))


@trust_group.command("rotate", cls=_SkopeoBoolCommand)
@click.argument("repo")
@click.argument("role")
@click.option("--key", "keys", multiple=True, required=True, metavar="KEY", help="A new key (repeatable).")
@click.option("--threshold", default=1, show_default=True, type=click.IntRange(1, 100))
@_signing_options
@_connection_options
def rotate_cmd(repo: str, role: str, keys: tuple[str, ...], **flags: Any) -> None:
    """Replace every key of ROLE with --key (root changes need the root threshold loaded)."""
    from dockwright.trust import RoleKeys
    from dockwright.trust.commands import load_signers

    with _connections(flags) as connect:
        new = run(lambda: load_signers(keys))
        trust = run(lambda: _repository(repo, connect, flags, keys))
        role_keys = run(lambda: RoleKeys.of(*new, threshold=flags["threshold"]))
        _written(run(lambda: trust.rotate(role, role_keys)))


@trust_group.command("revoke", cls=_SkopeoBoolCommand)
@click.argument("repo")
@click.argument("keyid")
@_signing_options
@_connection_options
def revoke_cmd(repo: str, keyid: str, **flags: Any) -> None:
    """Remove KEYID from every role that lists it, and re-sign what those roles sign."""
    with _connections(flags) as connect:
        trust = run(lambda: _repository(repo, connect, flags))
        _written(run(lambda: trust.revoke(keyid)))


@trust_group.command("refresh", cls=_SkopeoBoolCommand)
@click.argument("repo")
@click.option("--within-days", default=1, show_default=True, type=click.IntRange(0, 3650))
@_signing_options
@_connection_options
def refresh_cmd(repo: str, within_days: int, **flags: Any) -> None:
    """Re-sign the metadata expiring within --within-days whose keys are loaded, and the timestamp."""
    from dockwright.trust.commands import refresh_repository

    with _connections(flags) as connect:
        trust = run(lambda: _repository(repo, connect, flags))
        _written(run(lambda: refresh_repository(trust, timedelta(days=within_days))))


@trust_group.command("status", cls=_SkopeoBoolCommand)
@click.argument("repo")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@_connection_options
def status_cmd(repo: str, as_json: bool, **flags: Any) -> None:
    """Roles, keys, thresholds, versions and expiry of REPO's TUF repository."""
    from dockwright.trust.commands import status_dict

    flags.update(signing_keys=(), keys_dir=None)
    with _connections(flags) as connect:
        trust = run(lambda: _repository(repo, connect, flags))
        status = run(trust.status)
    if as_json:
        emit_json(status_dict(status))
    else:
        click.echo("\n".join(status.lines()))


@click.command("sign", cls=_SkopeoBoolCommand)
@click.argument("ref")
@click.option("--role", default=None, help="The delegated role that must own the tag.")
@click.option("--attest", default="", help="Attestations to sign with the tag: sbom,provenance.")
@click.option("--key", "attest_key", metavar="KEY", help="The attestation signing key.")
@click.option(
    "--lockfile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Make the provenance from this lock (default: pin the one `build --attest-key` attached).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_signing_options
@_connection_options
def sign_cmd(ref: str, role: str | None, attest: str, attest_key: str | None, **flags: Any) -> None:
    """Sign REF's tag in its TUF repository, with the attestations named by --attest."""
    from dockwright.trust.commands import load_key, load_signers, open_location
    from dockwright.trust.signing import sign_image

    kinds = [k.strip() for k in attest.split(",") if k.strip()]
    with _connections(flags) as connect:
        location = run(lambda: open_location(ref, connect))
        signers = run(lambda: load_signers(flags["signing_keys"], flags["keys_dir"]))
        attester = run(lambda: load_key(attest_key)) if attest_key else None
        result = run(
            lambda: sign_image(
                location, connect, signers, role=role, attest=kinds, attest_signer=attester,
                lockfile=flags["lockfile"],
            )
        )  # fmt: skip
    if flags["as_json"]:
        emit_json(
            {"digest": str(result.digest), "attestations": result.attestations, "written": result.files}
        )
    else:
        click.echo(f"signed {ref} -> {result.digest}")
        for kind, digest in result.attestations.items():
            click.echo(f"  {kind}: {digest}")


@click.command("verify", cls=_SkopeoBoolCommand)
@click.argument("ref")
@click.option("--policy", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Policy file.")
@click.option(
    "--trusted-root", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The root to pin on first use (default: trust on first use, announced).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_connection_options
def verify_cmd(ref: str, policy: Path | None, trusted_root: Path | None, as_json: bool, **flags: Any) -> None:
    """Resolve REF's tag through TUF and verify its attestations and layers against --policy."""
    from dockwright.trust.signing import verify_reference

    with _connections(flags) as connect:
        report = run_verification(
            lambda: verify_reference(ref, connect, _announce, policy_path=policy, trusted_root=trusted_root)
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        kinds = ", ".join(a.kind for a in report.attestations) or "none required"
        click.echo(f"verified {ref} -> {report.digest} (attestations: {kinds})")


def verify_for_copy(source: str, policy: Path, connect: Connections) -> str:
    """Verify ``source`` for ``pull``/``copy --verify``; return it pinned by digest (registries)."""
    from dockwright.trust.signing import verify_reference

    report = run_verification(lambda: verify_reference(source, connect, _announce, policy_path=policy))
    _announce(f"verified {source} -> {report.digest}")
    if source.startswith("docker://"):
        return f"docker://{report.name}@{report.digest}"
    return source


def register_trust(group: click.Group) -> None:
    """Let ``dockwright.cli.trust_notary`` add subcommands: its ``register_trust(group)`` (or
    ``register_notary(group)``) is called with the ``trust`` group."""
    name = "dockwright.cli.trust_notary"
    if importlib.util.find_spec(name) is not None:
        module = importlib.import_module(name)
        hook = getattr(module, "register_trust", None) or getattr(module, "register_notary", None)
        if hook is not None:
            hook(group)


def register(group: click.Group) -> None:
    """Add ``trust``, ``sign`` and ``verify`` to the top-level group."""
    trust_group.add_command(sign_cmd)
    register_trust(trust_group)
    for command in (trust_group, sign_cmd, verify_cmd):
        group.add_command(command)
