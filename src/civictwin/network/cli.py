"""`civictwin network ...`: peer cities, their catalogues, agreements, questions, benchmarks.

Negotiating (and asking a peer this twin has no agreement with yet) needs the twin serving
(`civictwin serve`) on the same database: the peers' protocol answers arrive at its /dsp
endpoints, and the commands wait for them in the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.progress import Progress

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.dataspace.participants_cli import err, fail, opened
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:
    from civictwin.config import Settings
    from civictwin.store import Store

network_app = typer.Typer(help="The city network: peers, catalogues, agreements, cross-city "
                          "questions and benchmarks.", no_args_is_help=True)
T = TypeVar("T")
PeerOpt = Annotated[str | None, typer.Option("--peer", help="Only this peer (participant id).")]


def _show(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@contextmanager
def _progress(what: str) -> Iterator[Callable[[str], None]]:
    with Progress(transient=True, console=err) as progress:
        task = progress.add_task(what, total=None)
        yield lambda text: progress.update(task, description=text)


def _run(config: Path | None, database_url: str | None, what: str,
         step: Callable[[Settings, Store, Callable[[str], None]], T]) -> T:
    with opened(config, database_url) as (settings, store), _progress(what) as tick:
        try:
            return step(settings, store, tick)
        except CivicTwinError as exc:
            fail(exc.detail)


@network_app.command("peers")
def list_peers(config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """List the configured peer cities as the participant registry knows them."""
    from civictwin.network.peers import peers

    _show(_run(config, database_url, "reading the peers",
               lambda s, st, _: [p.to_json() for p in peers(st, s)]))


@network_app.command("offer")
def offer(min_contributors: Annotated[int, typer.Option(
              min=1, help="Fewest contributors in any released cell.")] = 10,
          config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Offer this city's meter history to the network, for aggregates only."""
    from civictwin.network.offers import offer_energy

    found = _run(config, database_url, "offering the meter history",
                 lambda s, st, _: offer_energy(st, s, s.network_tenant, min_contributors))
    err.print(f"[green]offered[/green] {found.id} under {found.offers[-1]['@id']}")


@network_app.command("discover")
def discover(peer: PeerOpt = None, config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Ask each peer for its protocol version and DCAT catalogue; keep and print them."""
    from civictwin.network.discovery import discover as find
    from civictwin.network.peers import peers

    def step(settings: Settings, store: Store, tick: Callable[[str], None]) -> list[Any]:
        found = []
        for one in peers(store, settings):
            if peer in (None, one.id):
                tick(f"discovering {one.name}")
                found.append(find(store, settings, one).to_json())
        return found

    _show(_run(config, database_url, "discovering", step))


@network_app.command("negotiate")
def negotiate(peer: PeerOpt = None, wait: Annotated[float | None, typer.Option(
                  help="Seconds to wait for each peer (default: network_wait_seconds).")] = None,
              config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Reach an agreement with each peer on its meter-history offer (reusing one in force)."""
    from civictwin.network.agreements import negotiate as agree
    from civictwin.network.discovery import discover as find
    from civictwin.network.offers import OFFER_ID
    from civictwin.network.peers import peers

    def step(settings: Settings, store: Store, tick: Callable[[str], None]) -> list[Any]:
        found = []
        for one in peers(store, settings):
            if peer in (None, one.id):
                tick(f"negotiating with {one.name}")
                dataset = find(store, settings, one).dataset(OFFER_ID)
                done = agree(store, settings, one, dataset, wait=wait,
                             tick=_state_tick(tick, one.name))
                found.append({"peer": one.id, "dataset": dataset.id,
                              "agreement": done.agreement_id, "state": done.state})
        return found

    _show(_run(config, database_url, "negotiating", step))


def _state_tick(tick: Callable[[str], None], who: str) -> Callable[[str], None]:
    return lambda state: tick(f"{who}: negotiation {state}")


@network_app.command("ask")
def ask(start: Annotated[str, typer.Option(help="First day (ISO date).")],
        end: Annotated[str, typer.Option(help="Day after the last (ISO date).")],
        by: Annotated[str, typer.Option(help="construction_period, building_use or "
                                        "heating_type.")] = "construction_period",
        config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Ask every city for its energy per m² by band; print the combined answer."""
    from civictwin.network.question import ask as ask_all

    found = _run(config, database_url, "asking the network",
                 lambda s, st, tick: ask_all(st, s, by, start, end, tick))
    failed = [c["city"] for c in found["cities"] if c["error"]]
    err.print(f"answer {found['id']}: {len(found['cities'])} cities"
              + (f", no answer from {', '.join(failed)}" if failed else ""))
    _show(found)


@network_app.command("answers")
def list_answers(limit: Annotated[int, typer.Option(min=1)] = 10, config: ConfigOpt = None,
                 database_url: DbOpt = None) -> None:
    """List the saved network answers, newest first."""
    from civictwin.network.question import answers

    _show(_run(config, database_url, "reading answers", lambda s, st, _: answers(st, limit)))


@network_app.command("benchmark")
def benchmark(csv_file: Annotated[Path | None, typer.Option(
                  "--csv", help="Write the table as CSV here too.")] = None,
              config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Put every city's indicators side by side with their grades (JSON; CSV with --csv)."""
    from civictwin.network.benchmark import benchmark as table_of
    from civictwin.network.benchmark import to_csv
    from civictwin.twin import open_twin

    def step(settings: Settings, store: Store, tick: Callable[[str], None]) -> dict[str, Any]:
        twin = open_twin(settings, store)
        return table_of(store, settings, twin.broker, tick)

    table = _run(config, database_url, "benchmarking", step)
    if csv_file is not None:
        csv_file.write_text(to_csv(table), "utf-8")
        err.print(f"wrote {csv_file}")
    _show(table)
