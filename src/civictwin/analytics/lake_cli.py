"""`civictwin lake`, `civictwin indicators`, `civictwin ghg`: insight from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from civictwin.errors import CivicTwinError

if TYPE_CHECKING:  # the CLI imports this module on every command: keep it light
    from civictwin.analytics.engine import AnalyticsEngine
    from civictwin.analytics.lake import ExportReport, Lake
    from civictwin.config import Settings

lake_app = typer.Typer(help="Export history and entities to the Parquet lake.",
                       no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="Overrides the setting.")]
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
