"""`civictwin ingest ...`: the MQTT bridge, file ingestion and the dead-letter list."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:  # the CLI imports this module on every command: keep it light
    from civictwin.config import Settings
    from civictwin.ingest.files import FileKind, IngestReport
    from civictwin.ingest.mapping import Mapping
    from civictwin.store import Store

ingest_app = typer.Typer(help="Ingest MQTT messages and CSV / Excel / GeoJSON files.",
                         no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

MappingOpt = Annotated[Path, typer.Option("--mapping", "-m", help="Mapping TOML file.")]
RuleOpt = Annotated[str | None, typer.Option("--rule", help="Rule of the mapping to use.")]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write a JSON report here.")]
FileArg = Annotated[Path, typer.Argument(help="The file to ingest.", exists=True,
                                         dir_okay=False, readable=True)]


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(2)


def _open(config: Path | None, database_url: str | None,
          mapping_file: Path | None) -> tuple[Settings, Store, Mapping | None]:
    from civictwin.cli import _settings
    from civictwin.ingest.mapping import MappingError, load_mapping
    from civictwin.store import open_store

    mapping = None
    if mapping_file is not None:
        try:
            mapping = load_mapping(mapping_file)
        except MappingError as exc:
            _fail(str(exc))
    settings = _settings(config, database_url)
    try:
        store = open_store(settings.database_url)
    except CivicTwinError as exc:
        _fail(exc.detail)
    return settings, store, mapping


@ingest_app.command()
def mqtt(mapping_file: MappingOpt, config: ConfigOpt = None, database_url: DbOpt = None,
         url: Annotated[str | None, typer.Option(help="mqtt://host:port (overrides the "
                                                 "mapping's).")] = None,
         client_id: Annotated[str | None, typer.Option(help="MQTT client id (the durable "
                                                       "session's name).")] = None,
         max_messages: Annotated[int | None, typer.Option(
             help="Stop after this many messages (default: run until stopped).")] = None,
         ) -> None:
    """Subscribe to the mapping's topics and write every message to the twin."""
    from civictwin.ingest.deadletter import DeadLetterBox
    from civictwin.ingest.mqtt import MqttBridge, run_bridge
    from civictwin.twin import open_twin

    settings, store, mapping = _open(config, database_url, mapping_file)
    assert mapping is not None
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        bridge = MqttBridge(open_twin(settings, store).broker, mapping, DeadLetterBox(store),
                            url=url, client_id=client_id)
        err.print(f"listening on {bridge.url} for "
                  f"{', '.join(r.topic_filter() for r in mapping.rules if r.topic)}",
                  markup=False, highlight=False)
        stats = run_bridge(bridge, stop, max_messages)
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        store.close()
    err.print(f"received {stats.received}, written {stats.written}, dead-lettered "
              f"{stats.dead_lettered}, in {stats.batches} batches", highlight=False)


def _ingest(kind: FileKind, path: Path, mapping_file: Path, rule: str | None,
            report_file: Path | None, config: Path | None, database_url: str | None,
            sheet: str | None = None, delimiter: str = ",") -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from civictwin.ingest.deadletter import DeadLetterBox
    from civictwin.ingest.files import FileSource, ingest_file
    from civictwin.twin import open_twin

    settings, store, mapping = _open(config, database_url, mapping_file)
    assert mapping is not None
    source = FileSource(path, kind, sheet=sheet, delimiter=delimiter)
    try:
        chosen = mapping.rule(rule)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task(f"ingesting {path.name}", total=source.total())
            report = ingest_file(open_twin(settings, store).broker, mapping, chosen, source,
                                 DeadLetterBox(store),
                                 progress=lambda n: bar.advance(task, n))
    except CivicTwinError as exc:
        _fail(exc.detail)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{path}: {exc}")
    finally:
        store.close()
    _print_report(report)
    if report_file is not None:
        report_file.write_text(json.dumps(report.to_json(), indent=2) + "\n")


def _print_report(report: IngestReport) -> None:
    if report.rejected:
        table = Table(title=f"rejected rows of {report.source}")
        table.add_column("row", justify="right")
        table.add_column("reason")
        for rejection in report.rejected[:100]:
            table.add_row(str(rejection.row), rejection.reason)
        out.print(table)
        if len(report.rejected) > 100:
            out.print(f"... and {len(report.rejected) - 100} more (see --report)")
    out.print(f"{report.rows} rows: {report.accepted} accepted, {len(report.rejected)} "
              f"rejected; {len(report.entities)} entities written", highlight=False)


@ingest_app.command()
def csv(path: FileArg, mapping_file: MappingOpt, rule: RuleOpt = None,
        delimiter: Annotated[str, typer.Option(help="Cell delimiter.")] = ",",
        report: ReportOpt = None, config: ConfigOpt = None,
        database_url: DbOpt = None) -> None:
    """Ingest a CSV extract (first row names the columns)."""
    _ingest("csv", path, mapping_file, rule, report, config, database_url, delimiter=delimiter)


@ingest_app.command()
def excel(path: FileArg, mapping_file: MappingOpt, rule: RuleOpt = None,
          sheet: Annotated[str | None, typer.Option(help="Sheet (default: the first).")] = None,
          report: ReportOpt = None, config: ConfigOpt = None,
          database_url: DbOpt = None) -> None:
    """Ingest an Excel sheet (first row names the columns)."""
    _ingest("excel", path, mapping_file, rule, report, config, database_url, sheet=sheet)


@ingest_app.command()
def geojson(path: FileArg, mapping_file: MappingOpt, rule: RuleOpt = None,
            report: ReportOpt = None, config: ConfigOpt = None,
            database_url: DbOpt = None) -> None:
    """Ingest the features of a GeoJSON file (footprints and the like)."""
    _ingest("geojson", path, mapping_file, rule, report, config, database_url)


@ingest_app.command("dead-letters")
def dead_letters(config: ConfigOpt = None, database_url: DbOpt = None,
                 source: Annotated[str | None, typer.Option(help="Only this topic or "
                                                            "file.")] = None,
                 limit: Annotated[int, typer.Option(min=1)] = 50,
                 as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
                 ) -> None:
    """List the newest messages and rows that could not be ingested, with the reason."""
    from civictwin.ingest.deadletter import DeadLetterBox

    _, store, _ = _open(config, database_url, None)
    try:
        box = DeadLetterBox(store)
        letters, total = box.list(source, limit), box.count(source)
    finally:
        store.close()
    if as_json:
        for d in letters:
            typer.echo(json.dumps({"source": d.source, "position": d.position,
                                   "payload": d.payload, "reason": d.reason,
                                   "tenant": d.tenant, "receivedAt": d.received_at}))
        return
    table = Table(title=f"dead letters ({len(letters)} newest of {total})")
    for column in ("received", "source", "position", "reason", "payload"):
        table.add_column(column, overflow="fold")
    for d in letters:
        table.add_row(d.received_at, d.source, d.position, d.reason, d.payload[:80])
    out.print(table)
