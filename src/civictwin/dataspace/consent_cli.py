"""`civictwin consent ...`: give, show, renew and withdraw consents from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:
    from civictwin.dataspace.consent import ConsentRegistry

consent_app = typer.Typer(help="Consent records: give, show, renew, withdraw; receipts.",
                          no_args_is_help=True)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

TenantOpt = Annotated[str, typer.Option("--tenant", help="NGSI-LD tenant ('' by default).")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who acts (recorded in the audit).")]
IdArg = Annotated[str, typer.Argument(help="The consent (receipt) id.")]


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True)
    raise typer.Exit(code)


@contextmanager
def _registry(config: Path | None, database_url: str | None) -> Iterator[ConsentRegistry]:
    from civictwin.cli import _settings
    from civictwin.dataspace.consent import ConsentRegistry
    from civictwin.store import open_store

    settings = _settings(config, database_url)
    try:
        store = open_store(settings.database_url)
    except CivicTwinError as exc:
        _fail(exc.detail)
    try:
        yield ConsentRegistry(store)
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        store.close()


def _run(config: Path | None, database_url: str | None,
         work: Callable[[ConsentRegistry], Any]) -> None:
    with _registry(config, database_url) as registry:
        result = work(registry)
    out.print(json.dumps(result, indent=2, ensure_ascii=False))


@consent_app.command("give")
def give(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                              help="The consent as JSON (as POST /consent).")],
         config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "",
         actor: ActorOpt = "cli") -> None:
    """Record a consent from a JSON file; print the record and the subject's receipt."""
    from civictwin.dataspace.consent import parse_consent

    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{file}: not a JSON file ({exc})")

    def work(registry: ConsentRegistry) -> Any:
        record = registry.give(tenant, actor, parse_consent(body, datetime.now(UTC)))
        return {"record": record.to_json(), "receipt": record.receipt()}

    _run(config, database_url, work)


@consent_app.command("withdraw")
def withdraw(consent_id: IdArg, config: ConfigOpt = None, database_url: DbOpt = None,
             tenant: TenantOpt = "", actor: ActorOpt = "cli") -> None:
    """Withdraw a consent by its receipt id; its data is withheld from now on."""
    _run(config, database_url,
         lambda r: r.withdraw(tenant, actor, consent_id).to_json())


@consent_app.command("renew")
def renew(consent_id: IdArg,
          until: Annotated[str | None, typer.Option(help="New expiry (ISO 8601).")] = None,
          config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "",
          actor: ActorOpt = "cli") -> None:
    """Renew a given or expired consent (until withdrawn, or until --until)."""
    _run(config, database_url,
         lambda r: r.renew(tenant, actor, consent_id, until).to_json())


@consent_app.command("show")
def show(consent_id: IdArg, config: ConfigOpt = None, database_url: DbOpt = None,
         tenant: TenantOpt = "") -> None:
    """Print a consent record with its events."""
    _run(config, database_url, lambda r: r.get(tenant, consent_id).to_json())


@consent_app.command("receipt")
def receipt(consent_id: IdArg, config: ConfigOpt = None, database_url: DbOpt = None,
            tenant: TenantOpt = "") -> None:
    """Print a consent's Kantara Consent Receipt v1.1."""
    _run(config, database_url, lambda r: r.get(tenant, consent_id).receipt())


@consent_app.command("list")
def list_consents(subject: Annotated[str | None, typer.Option(help="Data subject.")] = None,
                  status: Annotated[str | None, typer.Option(help="given, withdrawn or "
                                                             "expired.")] = None,
                  config: ConfigOpt = None, database_url: DbOpt = None,
                  tenant: TenantOpt = "") -> None:
    """List consents, newest first."""
    def work(registry: ConsentRegistry) -> Any:
        records, total = registry.list(tenant, subject, status, limit=1000)
        return {"total": total, "consents": [
            {"id": r.id, "subject": r.terms.subject, "status": r.status,
             "purposes": list(r.terms.purposes), "givenAt": r.given_at,
             "expiresAt": r.terms.expires_at} for r in records]}

    _run(config, database_url, work)
