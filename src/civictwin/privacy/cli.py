"""`civictwin privacy`: disclosure-controlled aggregates, the release ledger and offers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:  # the CLI imports this module on every command: keep it light
    from civictwin.analytics.engine import AnalyticsEngine
    from civictwin.config import Settings
    from civictwin.privacy.model import Release
    from civictwin.privacy.sources import ContributionSource
    from civictwin.store import Store

privacy_app = typer.Typer(help="Aggregates of private meter data under disclosure rules.",
                          no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
TenantOpt = Annotated[str, typer.Option("--tenant", help="NGSI-LD tenant (default: none).")]


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(2)


def _open(config: Path | None, database_url: str | None) -> tuple[Settings, Store]:
    from civictwin.cli import _settings
    from civictwin.store import open_store

    settings = _settings(config, database_url)
    try:
        return settings, open_store(settings.database_url)
    except CivicTwinError as exc:
        _fail(exc.detail)


@privacy_app.command("aggregate")
def aggregate_command(
    quantity: Annotated[str, typer.Argument(help="electricity, heat, gas or water.")],
    start: Annotated[str, typer.Option(help="ISO date or date-time (inclusive).")],
    end: Annotated[str, typer.Option(help="ISO date or date-time (exclusive).")],
    group_by: Annotated[str, typer.Option(
        help="Comma-separated: district|block|building, building_use, heating_type, "
             "construction_period; empty for the city.")] = "district",
    period: Annotated[str, typer.Option(help="hour, day, month or none.")] = "month",
    area: Annotated[str | None, typer.Option(help="Only this district, block or building.")]
    = None,
    agreement: Annotated[str | None, typer.Option(
        help="Release under this agreement (its consumer and rules).")] = None,
    consumer: Annotated[str | None, typer.Option(help="Who the release is for.")] = None,
    min_contributors: Annotated[int | None, typer.Option(help="Own rules: minimum.")] = None,
    on_fail: Annotated[str | None, typer.Option(help="Own rules: merge or suppress.")] = None,
    source: Annotated[str, typer.Option(help="store (history) or lake.")] = "store",
    publish: Annotated[bool, typer.Option(help="Publish as NGSI-LD entity and DCAT.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the release as JSON.")] = False,
    config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "",
) -> None:
    """Release disclosure-controlled aggregates and record them in the ledger."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from civictwin.dataspace.auth import local_operator
    from civictwin.privacy import service
    from civictwin.privacy.aggregation import STAGES, aggregate
    from civictwin.privacy.rules import DisclosureRules

    settings, store = _open(config, database_url)
    engine: AnalyticsEngine | None = None
    try:
        own = None
        if min_contributors is not None or on_fail is not None:
            own = DisclosureRules(min_contributors=min_contributors or 10,
                                  on_fail=on_fail or "merge")
        asker = service.asker_for(store, settings, local_operator(settings), tenant,
                                  agreement, consumer, own)
        request = service.parse_request({
            "quantity": quantity, "start": start, "end": end, "area": area,
            "groupBy": [g for g in group_by.split(",") if g],
            "period": None if period == "none" else period}, asker.tenant)
        found, engine = _source(settings, store, source, asker.tenant)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=err) as progress:
            task = progress.add_task("aggregating", total=len(STAGES))

            def step(stage: str) -> None:
                progress.update(task, description=stage, completed=STAGES.index(stage))

            release = aggregate(store, request, asker.rules, asker.consumer, asker.agreement,
                                source=found, on_stage=step)
            progress.update(task, description="done", completed=len(STAGES))
        if publish:
            from civictwin.privacy.publish import publish as publish_release

            where = publish_release(store, settings, asker.tenant, release)
            err.print(f"published as entity {where.entity} and dataset {where.dataset}")
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        if engine is not None:
            engine.close()
        store.close()
    _show(release, as_json)


def _source(settings: Settings, store: Store, kind: str, tenant: str
            ) -> tuple[ContributionSource, AnalyticsEngine | None]:
    from civictwin.privacy.sources import LakeSource, StoreSource

    if kind == "store":
        return StoreSource(store), None
    if kind != "lake":
        _fail(f"source {kind!r}: use store or lake")
    from civictwin.analytics.engine import open_engine
    from civictwin.analytics.lake import Lake

    engine = open_engine(settings.analytics_engine, Lake.at(settings.lake_path, tenant),
                         settings.spark_master)
    return LakeSource(engine), engine


def _show(release: Release, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(release.to_json()))
        return
    table = Table("keys", "level", "value", "contributors", "status", "reason",
                  title=f"{release.id} for {release.consumer}")
    for c in release.cells:
        table.add_row(", ".join(f"{k}={v.rsplit(':', 1)[-1]}" for k, v in c.keys.items()),
                      c.level, "" if c.value is None else f"{c.value:,.1f}",
                      str(c.contributors), c.status, c.reason)
    out.print(table)
    out.print(release.method.get("description", ""))
    if release.epsilon_spent:
        out.print(f"epsilon spent {release.epsilon_spent:g}; budget left {release.budget_left}")


@privacy_app.command("releases")
def releases_command(consumer: Annotated[str | None, typer.Option()] = None,
                     as_json: Annotated[bool, typer.Option("--json")] = False,
                     config: ConfigOpt = None, database_url: DbOpt = None,
                     tenant: TenantOpt = "") -> None:
    """List the release ledger, newest first."""
    from civictwin.privacy import service

    _, store = _open(config, database_url)
    try:
        found = service.releases(store, tenant, consumer)
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps([r.to_json() for r in found]))
        return
    table = Table("release", "consumer", "agreement", "quantity", "cells", "suppressed",
                  "epsilon", "created")
    for r in found:
        table.add_row(r.id, r.consumer, r.agreement or "", str(r.request.get("quantity")),
                      str(len(r.cells)),
                      str(sum(1 for c in r.cells if c.status == "suppressed")),
                      f"{r.epsilon_spent:g}", r.created_at)
    out.print(table)


@privacy_app.command("show")
def show_command(release_id: str, as_json: Annotated[bool, typer.Option("--json")] = False,
                 config: ConfigOpt = None, database_url: DbOpt = None,
                 tenant: TenantOpt = "") -> None:
    """Show one release with its cells and method."""
    from civictwin.privacy import service

    _, store = _open(config, database_url)
    try:
        found = service.release(store, tenant, release_id, None)
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        store.close()
    _show(found, as_json)


@privacy_app.command("offer")
def offer_command(
    publisher: Annotated[str, typer.Option(help="The data holder, e.g. the utility's id.")],
    min_contributors: Annotated[int, typer.Option()] = 10,
    dominance_n: Annotated[int, typer.Option()] = 1,
    dominance_k: Annotated[float, typer.Option()] = 0.85,
    on_fail: Annotated[str, typer.Option(help="merge or suppress.")] = "merge",
    epsilon: Annotated[float | None, typer.Option(help="Laplace noise per release.")] = None,
    budget: Annotated[float | None, typer.Option(help="Epsilon in all.")] = None,
    bound: Annotated[float | None, typer.Option(help="kWh per contributor and cell.")] = None,
    config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "",
) -> None:
    """Offer the tenant's meter data for aggregates only, with these disclosure rules."""
    from civictwin.privacy.offer import offer_meter_data
    from civictwin.privacy.rules import DisclosureRules

    settings, store = _open(config, database_url)
    try:
        rules = DisclosureRules(min_contributors=min_contributors, dominance_n=dominance_n,
                                dominance_k=dominance_k, on_fail=on_fail, dp_epsilon=epsilon,
                                dp_budget=budget, dp_bound=bound)
        dataset = offer_meter_data(store, settings, tenant, publisher, rules)
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        store.close()
    out.print(f"offered {dataset.id}: {rules.describe()}")
