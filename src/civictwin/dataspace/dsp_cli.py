"""`civictwin dsp ...`: identity, and negotiations and transfers as consumer or provider.

The twin must be serving (`civictwin serve`) on the same database while a negotiation or
transfer runs: the other side's answers arrive at its /dsp callback endpoints, and the
commands here wait for them in the database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import quote

import typer
from rich.progress import Progress

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.dataspace.participants_cli import err, fail, opened
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:
    from civictwin.config import Settings
    from civictwin.store import Store

dsp_app = typer.Typer(help="Dataspace Protocol: identity, catalogues, contracts, transfers.",
                      no_args_is_help=True)
agreement_app = typer.Typer(help="Suspend, resume or revoke an agreement you provide.",
                            no_args_is_help=True)
dsp_app.add_typer(agreement_app, name="agreement")
T = TypeVar("T")
PidArg = Annotated[str, typer.Argument(help="This twin's process id (urn:uuid:…).")]
WaitOpt = Annotated[float, typer.Option(help="Seconds to wait for the other side.")]
Reason = Annotated[str | None, typer.Option(help="Why, for the other side and the audit log.")]


def _run(config: Path | None, database_url: str | None,
         step: Callable[[Settings, Store], T]) -> T:
    with opened(config, database_url) as (settings, store):
        try:
            return step(settings, store)
        except CivicTwinError as exc:
            fail(exc.detail)


def _show(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _wait(what: str, seconds: float, read: Callable[[], str], done: set[str]) -> str:
    deadline = time.monotonic() + seconds
    with Progress(transient=True, console=err) as progress:
        progress.add_task(f"waiting for the {what}", total=None)
        state = read()
        while state not in done and time.monotonic() < deadline:
            time.sleep(0.2)
            state = read()
    return state


@dsp_app.command("identity")
def identity(config: ConfigOpt = None) -> None:
    """Create this twin's signing key if needed; print its participant id and public key."""
    from civictwin.cli import _settings
    from civictwin.dataspace.auth import ensure_identity

    settings = _settings(config)
    try:
        pem = ensure_identity(settings)
    except CivicTwinError as exc:
        fail(exc.detail)
    err.print(f"participant {settings.participant_id}, key {settings.signing_key_file}; "
              "give other participants this public key:")
    typer.echo(pem, nl=False)


@dsp_app.command("catalog")
def catalog(provider: Annotated[str, typer.Option(help="The provider's participant id.")],
            dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
            config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Ask a provider for its catalogue (or one dataset) with the offers in it."""
    _show(_run(config, database_url, lambda s, st: _catalog(s, st, provider, dataset)))


def _catalog(settings: Settings, store: Store, provider: str,
             dataset: str | None) -> dict[str, Any]:
    from civictwin.dataspace import dsp_client
    from civictwin.dataspace.dsp_messages import message
    from civictwin.dataspace.participants import Participants

    endpoint = Participants(store).get(provider).endpoint
    if not endpoint:
        raise CivicTwinError(f"participant {provider} has no endpoint registered")
    if dataset is not None:
        return dsp_client.get(settings, provider,
                              f"{endpoint}/catalog/datasets/{quote(dataset, safe='')}")
    return dsp_client.post(settings, provider, f"{endpoint}/catalog/request",
                           message("CatalogRequestMessage", filter=[]))


@dsp_app.command("negotiate")
def negotiate(provider: Annotated[str, typer.Option(help="The provider's participant id.")],
              dataset: Annotated[str, typer.Option(help="The dataset's id (IRI).")],
              offer: Annotated[str | None, typer.Option(
                  help="The offer's @id (default: the dataset's first offer).")] = None,
              wait: WaitOpt = 30.0, config: ConfigOpt = None,
              database_url: DbOpt = None) -> None:
    """Negotiate a contract for a provider's dataset; print the agreement once FINALIZED."""
    from civictwin.dataspace.negotiation import FINALIZED, TERMINATED, Negotiations

    def step(settings: Settings, store: Store) -> dict[str, Any]:
        found = _catalog(settings, store, provider, dataset)
        offers = found.get("hasPolicy", [])
        chosen = next((o for o in offers if offer in (None, o.get("@id"))), None)
        if chosen is None:
            raise CivicTwinError(f"dataset {dataset} has no offer {offer or ''}".strip())
        negotiations = Negotiations(store, settings)
        started = negotiations.request(provider, dataset, chosen)
        state = _wait("agreement", wait, lambda: negotiations.get(started.pid).state,
                      {FINALIZED, TERMINATED})
        final = negotiations.get(started.pid)
        if state != FINALIZED:
            raise CivicTwinError(f"negotiation {started.pid} is {state}, not FINALIZED")
        return final.to_json()

    result = _run(config, database_url, step)
    err.print(f"agreement {result['agreement']['@id']} FINALIZED")
    _show(result)


@dsp_app.command("transfer")
def transfer(agreement: Annotated[str, typer.Option(help="The agreement's @id.")],
             wait: WaitOpt = 30.0, config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Ask for a transfer under an agreement; print the data address once STARTED."""
    from civictwin.dataspace.transfer import STARTED, TERMINATED, Transfers

    def step(settings: Settings, store: Store) -> dict[str, Any]:
        transfers = Transfers(store, settings)
        started = transfers.request(agreement)
        state = _wait("data address", wait, lambda: transfers.get(started.pid).state,
                      {STARTED, TERMINATED})
        if state != STARTED:
            raise CivicTwinError(f"transfer {started.pid} is {state}, not STARTED")
        return transfers.get(started.pid).to_json()

    result = _run(config, database_url, step)
    err.print(f"transfer {result['pid']} STARTED; read the data at the endpoint with the token")
    _show(result)


@dsp_app.command("negotiations")
def negotiations(role: Annotated[str | None, typer.Option(help="provider or consumer")] = None,
                 config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """List contract negotiations (and their agreements)."""
    from civictwin.dataspace.negotiation import Negotiations

    _show(_run(config, database_url, lambda s, st: [n.to_json() for n in
                                                     Negotiations(st, s).all(role)]))


@dsp_app.command("transfers")
def transfers(agreement: Annotated[str | None, typer.Option(help="Only this agreement.")] = None,
              config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """List transfer processes."""
    from civictwin.dataspace.transfer import Transfers

    _show(_run(config, database_url, lambda s, st: [t.to_json() for t in
                                                     Transfers(st, s).all(agreement)]))


def _negotiation_step(name: str) -> Callable[..., None]:
    def command(pid: PidArg, reason: Reason = None, config: ConfigOpt = None,
                database_url: DbOpt = None) -> None:
        from civictwin.dataspace.negotiation import Negotiations

        def step(settings: Settings, store: Store) -> dict[str, Any]:
            n = Negotiations(store, settings)
            done = n.terminate(pid, reason) if name == "terminate" else getattr(n, name)(pid)
            return dict(done.to_json())

        _show(_run(config, database_url, step))

    command.__doc__ = {"agree": "As provider, agree to the offer on the table.",
                       "accept": "As consumer, accept the provider's offer.",
                       "terminate": "Terminate a negotiation that is not final."}[name]
    return command


def _transfer_step(name: str) -> Callable[..., None]:
    def command(pid: PidArg, reason: Reason = None, config: ConfigOpt = None,
                database_url: DbOpt = None) -> None:
        from civictwin.dataspace.transfer import Transfers

        def step(settings: Settings, store: Store) -> dict[str, Any]:
            t = Transfers(store, settings)
            if name in ("suspend", "terminate"):
                return dict(getattr(t, name)(pid, reason).to_json())
            return dict(getattr(t, name)(pid).to_json())

        _show(_run(config, database_url, step))

    command.__doc__ = {"start": "Start (provider) or resume (consumer) a transfer.",
                       "suspend": "Suspend a started transfer; data stops at once.",
                       "complete": "Complete a started transfer.",
                       "terminate": "Terminate a transfer; data stops at once."}[name]
    return command


for _name in ("agree", "accept", "terminate"):
    dsp_app.command(_name)(_negotiation_step(_name))
for _name in ("start", "suspend", "complete"):
    dsp_app.command(_name)(_transfer_step(_name))
dsp_app.command("stop")(_transfer_step("terminate"))


def _agreement_step(status: str) -> Callable[..., None]:
    def command(agreement_id: Annotated[str, typer.Argument(help="The agreement's @id.")],
                reason: Reason = None, config: ConfigOpt = None,
                database_url: DbOpt = None) -> None:
        from civictwin.dataspace.transfer import Transfers

        _show(_run(config, database_url, lambda s, st: Transfers(st, s).set_agreement_status(
            agreement_id, status, reason).to_json()))

    command.__doc__ = {"active": "Put a suspended agreement back in force.",
                       "suspended": "Suspend an agreement: its transfers read nothing.",
                       "revoked": "Revoke an agreement for good; its transfers end."}[status]
    return command


agreement_app.command("resume")(_agreement_step("active"))
agreement_app.command("suspend")(_agreement_step("suspended"))
agreement_app.command("revoke")(_agreement_step("revoked"))
