"""`civictwin lake`, `civictwin indicators`, `civictwin ghg`: insight from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:  # the CLI imports this module on every command: keep it light
    from civictwin.analytics.engine import AnalyticsEngine
    from civictwin.analytics.lake import ExportReport, Lake
    from civictwin.config import Settings

lake_app = typer.Typer(help="Export history and entities to the Parquet lake.",
                       no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LakeOpt = Annotated[str | None, typer.Option("--lake", help="Lake folder or URL (lake_path).")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="NGSI-LD tenant (default: none).")]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="duckdb or spark.")]


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(2)


def _settings(config: Path | None, database_url: str | None, lake: str | None = None,
              engine: str | None = None) -> Settings:
    from civictwin.cli import _settings as load

    return load(config, database_url, lake_path=lake, analytics_engine=engine)


@lake_app.command("export")
def export(config: ConfigOpt = None, database_url: DbOpt = None, lake: LakeOpt = None,
           tenant: TenantOpt = "",
           settle: Annotated[float, typer.Option(
               min=0.0, help="Leave out what was recorded in the last N seconds.")] = 5.0
           ) -> None:
    """Export what is new since the last export (history and entity snapshots)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn

    from civictwin.analytics.lake import Lake, export_lake
    from civictwin.ngsild.broker import ContextBroker
    from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
    from civictwin.store import open_store
    from civictwin.store.lake import LakeSource

    settings = _settings(config, database_url, lake)
    try:
        store = open_store(settings.database_url)
        ctx = ContextBroker(store, settings).context(CIVICTWIN_CONTEXT_URL)
        engine = getattr(store, "engine", None)
        if engine is None:
            _fail("the lake export needs an SQL store")
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=err) as progress:
            tasks: dict[str, TaskID] = {}

            def advance(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(f"exporting {stage}", total=total)
                progress.update(tasks[stage], completed=done)

            report = export_lake(LakeSource(engine), Lake.at(settings.lake_path, tenant),
                                 ctx.compact, settle=settle, on_progress=advance)
        store.close()
    except CivicTwinError as exc:
        _fail(exc.detail)
    except OSError as exc:
        _fail(f"lake {settings.lake_path}: {exc}")
    _print_export(report)


def _print_export(report: ExportReport) -> None:
    table = Table("table", "rows", "files", "watermark before", "watermark after",
                  title=f"lake {report.lake}")
    for t in report.tables:
        table.add_row(t.kind, str(t.rows), str(t.files), t.watermark_before, t.watermark_after)
    out.print(table)
    if not report.rows:
        out.print("nothing new since the last export")


@lake_app.command("summary")
def summary(config: ConfigOpt = None, lake: LakeOpt = None, tenant: TenantOpt = "",
            engine: EngineOpt = None) -> None:
    """Show what the lake holds per entity type, attribute and dataset."""
    from civictwin.analytics.engine import JOBS

    settings = _settings(config, None, lake, engine)
    analytics, _ = _open_engine(settings, tenant)
    try:
        rows = analytics.run(JOBS["history_summary"])
    finally:
        analytics.close()
    table = Table("type", "attribute", "datasetId", "instances", "entities", "first day",
                  "last day", title=f"lake {settings.lake_path} ({analytics.name})")
    for r in rows:
        table.add_row(r["entity_type"], r["name"], r["dataset_id"], str(r["instances"]),
                      str(r["entities"]), r["first_day"], r["last_day"])
    out.print(table)


def _open_engine(settings: Settings, tenant: str) -> tuple[AnalyticsEngine, Lake]:
    from civictwin.analytics.engine import open_engine
    from civictwin.analytics.lake import Lake

    try:
        lake = Lake.at(settings.lake_path, tenant)
        return open_engine(settings.analytics_engine, lake, settings.spark_master), lake
    except CivicTwinError as exc:
        _fail(exc.detail)
    except (OSError, ImportError) as exc:
        _fail(f"{settings.analytics_engine} over {settings.lake_path}: {exc}")


FactorsOpt = Annotated[Path | None, typer.Option(
    "--factors", help="City emission factor TOML overriding the shipped table.",
    exists=True, dir_okay=False)]


def indicators(config: ConfigOpt = None, database_url: DbOpt = None, lake: LakeOpt = None,
               engine: EngineOpt = None, tenant: TenantOpt = "",
               period: Annotated[str | None, typer.Option(
                   help="YYYY or YYYY-MM (default: the last year with billed energy).")] = None,
               since: Annotated[str | None, typer.Option(
                   "--since", help="YYYY or YYYY-MM: start a series there and end with "
                   "--period (every year or month in between, per city and district).")] = None,
               by: Annotated[str, typer.Option(help="year or month.")] = "year",
               csv_file: Annotated[Path | None, typer.Option("--csv", help="Write CSV.")] = None,
               plot_file: Annotated[Path | None, typer.Option("--plot",
                                                              help="Write a PNG.")] = None,
               factors: FactorsOpt = None,
               publish: Annotated[bool, typer.Option(
                   help="Upsert KeyPerformanceIndicator entities into the twin.")] = True
               ) -> None:
    """Compute ISO 37120/37122/37123 indicators per city and district from the lake."""
    from civictwin.analytics import indicators as ind
    from civictwin.analytics.ghg import load_factors

    settings = _settings(config, database_url, lake, engine)
    analytics, _ = _open_engine(settings, tenant)
    try:
        table = load_factors(factors)
        billed = ind.data_range(analytics)
        start, end = ind.period_range(period, billed)
        if since is not None:
            start = ind.period_range(since, billed)[0]
        values = ind.compute(analytics, table, start, end, by)
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        analytics.close()
    if csv_file is not None:
        _write_csv(csv_file, ind.rows_for_csv(values))
    if plot_file is not None:
        ind.plot(values, plot_file)
    if publish:
        out.print(f"published {_publish(settings, tenant, values)} KeyPerformanceIndicator "
                  f"entities into {settings.database_url}")
    _print_indicators(values, f"{start} to {end} ({analytics.name})")


def _publish(settings: Settings, tenant: str, values: list[Any]) -> int:
    from civictwin.analytics.indicators import publish
    from civictwin.ngsild.attributes import now_iso
    from civictwin.twin import open_twin

    try:
        twin = open_twin(settings)
        try:
            return publish(twin.broker, tenant, values, tenant or "city", now_iso())
        finally:
            twin.store.close()
    except CivicTwinError as exc:
        _fail(exc.detail)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["indicator"])
        writer.writeheader()
        writer.writerows(rows)
    err.print(f"wrote {len(rows)} rows to {path}")


def _print_indicators(values: list[Any], title: str) -> None:
    table = Table("indicator", "standard", "period", "city value", "unit", "grade",
                  "districts", "note", title=f"indicators, {title}")
    for v in values:
        if v.area_id:
            continue
        districts = [d for d in values if d.key == v.key and d.period == v.period and d.area_id]
        done = sum(d.value is not None for d in districts)
        table.add_row(v.indicator.name, v.indicator.standard, v.period,
                      "not computable" if v.value is None else f"{v.value:,.2f}",
                      v.indicator.unit, v.grade.letter if v.grade else "-",
                      f"{done}/{len(districts)}", v.note[:60])
    out.print(table)


def ghg(config: ConfigOpt = None, lake: LakeOpt = None, engine: EngineOpt = None,
        tenant: TenantOpt = "", factors: FactorsOpt = None,
        report: Annotated[Path | None, typer.Option(
            "--report", help="Folder for the GPC report CSVs and the trajectory PNG.",
            file_okay=False)] = None) -> None:
    """Compile the GPC BASIC inventory from the lake and compare it with the targets."""
    from civictwin.analytics.engine import JOBS
    from civictwin.analytics.ghg import build_inventory, load_factors, trajectory, write_report
    from civictwin.analytics.indicators import data_range

    settings = _settings(config, None, lake, engine)
    analytics, _ = _open_engine(settings, tenant)
    try:
        table = load_factors(factors)
        billed = data_range(analytics)
        if billed is None:
            _fail("the lake holds no billed energy: run `civictwin lake export` first")
        end = f"{int(billed[1][:4]) + 1}-01-01"
        inventory = build_inventory(analytics, table, f"{billed[0][:4]}-01-01", end)
        points = trajectory(inventory)
        people = sum(r["population"] for r in analytics.run(JOBS["district_population"]))
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        analytics.close()
    summary = Table("year", "scope 1 t", "scope 2 t", "total t CO2e", "t per person",
                    "not estimated (NE)", title=f"GPC BASIC inventory, factors {table.version}")
    for year in inventory.years:
        lines = [x for x in inventory.lines if x.year == year]
        by_scope = {s: sum(x.emissions_t or 0 for x in lines if x.scope == s) for s in "12"}
        total = inventory.total(year)
        summary.add_row(year, f"{by_scope['1']:,.0f}", f"{by_scope['2']:,.0f}",
                        f"{total:,.0f}", f"{total / people:.2f}" if people else "n/a",
                        str(sum(x.notation == "NE" for x in lines)))
    out.print(summary)
    if report is not None:
        for path in write_report(inventory, points, report, people or None):
            err.print(f"wrote {path}")
