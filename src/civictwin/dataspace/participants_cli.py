"""`civictwin participants ...`: register organisations, their roles, keys and status."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:  # the CLI imports this module on every command: keep it light
    from civictwin.config import Settings
    from civictwin.dataspace.participants import Participants
    from civictwin.store import Store

participants_app = typer.Typer(help="Data space participants: organisations, roles, API keys.",
                               no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

IdArg = Annotated[str, typer.Argument(help="The participant's id (a URI or a short name).")]


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit non-zero."""
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(2)


@contextmanager
def opened(config: Path | None, database_url: str | None) -> Iterator[tuple[Settings, Store]]:
    """Yield the settings and the opened store; close it afterwards."""
    from civictwin.cli import _settings
    from civictwin.store import open_store

    settings = _settings(config, database_url)
    try:
        store = open_store(settings.database_url)
    except CivicTwinError as exc:
        fail(exc.detail)
    try:
        yield settings, store
    finally:
        store.close()


def _run(config: Path | None, database_url: str | None,
         step: Callable[[Participants], T]) -> T:
    from civictwin.dataspace.participants import Participants

    with opened(config, database_url) as (_, store):
        try:
            return step(Participants(store))
        except CivicTwinError as exc:
            fail(exc.detail)


def _public_key(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")


@participants_app.command("add")
def add(participant_id: IdArg,
        name: Annotated[str, typer.Option(help="The organisation's name.")],
        role: Annotated[list[str], typer.Option(
            help="provider, consumer, intermediary or operator (repeat for several).")],
        tenant: Annotated[str, typer.Option(help="The tenant it acts in.")] = "",
        kind: Annotated[str, typer.Option(
            help="department, utility, mobility, ngo, city, company, research or other.")] =
        "other",
        public_key: Annotated[Path | None, typer.Option(
            help="PEM file of the key its signed tokens are checked with.")] = None,
        endpoint: Annotated[str | None, typer.Option(
            help="Its Dataspace Protocol base URL (…/dsp), for a provider we consume from.")] =
        None,
        key: Annotated[bool, typer.Option("--key", help="Issue an API key and print it.")] =
        False,
        config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Register a participant (and optionally issue its first API key)."""
    pem = _public_key(public_key)

    def step(p: Participants) -> str | None:
        p.add(participant_id, name, set(role), tenant, kind, pem, endpoint)
        return p.issue_key(participant_id, "first key").key if key else None

    issued = _run(config, database_url, step)
    err.print(f"registered participant {participant_id}")
    if issued:
        err.print("its API key (shown once, keep it safe):")
        typer.echo(issued)


@participants_app.command("list")
def list_participants(as_json: Annotated[bool, typer.Option("--json")] = False,
                      config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """List the participants."""
    found = _run(config, database_url, lambda p: p.all())
    if as_json:
        typer.echo(json.dumps([f.to_json() for f in found], indent=2))
        return
    table = Table("id", "name", "kind", "roles", "tenant", "status", "signed tokens")
    for f in found:
        table.add_row(f.id, f.name, f.kind, ",".join(sorted(f.roles)), f.tenant or "(default)",
                      f.status, "yes" if f.public_key else "no")
    out.print(table)


@participants_app.command("suspend")
def suspend(participant_id: IdArg, config: ConfigOpt = None,
            database_url: DbOpt = None) -> None:
    """Suspend a participant: its credentials stop working at once."""
    _run(config, database_url, lambda p: p.set_status(participant_id, "suspended"))
    err.print(f"suspended {participant_id}")


@participants_app.command("activate")
def activate(participant_id: IdArg, config: ConfigOpt = None,
             database_url: DbOpt = None) -> None:
    """Reactivate a suspended participant."""
    _run(config, database_url, lambda p: p.set_status(participant_id, "active"))
    err.print(f"activated {participant_id}")


@participants_app.command("remove")
def remove(participant_id: IdArg, config: ConfigOpt = None,
           database_url: DbOpt = None) -> None:
    """Remove a participant and all its API keys."""
    _run(config, database_url, lambda p: p.remove(participant_id))
    err.print(f"removed {participant_id}")


@participants_app.command("key")
def key(participant_id: IdArg,
        label: Annotated[str, typer.Option(help="What the key is for.")] = "",
        revoke: Annotated[str | None, typer.Option(help="Revoke this key id instead.")] = None,
        revoke_all: Annotated[bool, typer.Option("--revoke-all",
                                                 help="Revoke every key instead.")] = False,
        list_keys: Annotated[bool, typer.Option("--list", help="List the keys instead.")] =
        False,
        config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Issue a new API key (printed once), or list or revoke keys."""
    if list_keys:
        typer.echo(json.dumps(_run(config, database_url, lambda p: p.keys(participant_id)),
                              indent=2))
        return
    if revoke or revoke_all:
        gone = _run(config, database_url, lambda p: p.revoke_keys(participant_id, revoke))
        if revoke and not gone:
            fail(f"participant {participant_id} has no key {revoke}")
        err.print(f"revoked {gone} key(s) of {participant_id}")
        return
    issued = _run(config, database_url, lambda p: p.issue_key(participant_id, label))
    err.print(f"new API key {issued.key_id} for {participant_id} (shown once):")
    typer.echo(issued.key)


@participants_app.command("trust")
def trust(participant_id: IdArg,
          public_key: Annotated[Path, typer.Option(help="PEM file of its public key.")],
          endpoint: Annotated[str | None, typer.Option(
              help="Its Dataspace Protocol base URL (…/dsp).")] = None,
          config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Register the public key a participant signs its tokens with (and its endpoint)."""
    pem = _public_key(public_key)
    _run(config, database_url, lambda p: p.set_public_key(participant_id, pem, endpoint))
    err.print(f"{participant_id} may now sign its requests")
