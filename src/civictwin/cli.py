"""The `civictwin` command line; it calls the same functions as the HTTP API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from civictwin.analytics.forecast_cli import forecast_command
from civictwin.analytics.lake_cli import ghg, indicators, lake_app
from civictwin.analytics.scenario_cli import scenario_app
from civictwin.canvas.cli import canvas_app
from civictwin.catalog.cli import catalog_app
from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.config import Settings, load_settings
from civictwin.dataspace.consent_cli import consent_app
from civictwin.dataspace.dsp_cli import dsp_app
from civictwin.dataspace.participants_cli import participants_app
from civictwin.dataspace.policy_cli import audit_app, policy_app
from civictwin.errors import CivicTwinError
from civictwin.ingest.cli import ingest_app
from civictwin.network.cli import network_app
from civictwin.ops import cli as ops_cli
from civictwin.privacy.cli import privacy_app

app = typer.Typer(help="civictwin: a local digital twin and data space for cities.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(ingest_app, name="ingest")
app.add_typer(catalog_app, name="catalog")
app.add_typer(participants_app, name="participants")
app.add_typer(dsp_app, name="dsp")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(consent_app, name="consent")
app.add_typer(lake_app, name="lake")
app.command("indicators")(indicators)
app.command("ghg")(ghg)
app.add_typer(scenario_app, name="scenario")
app.add_typer(privacy_app, name="privacy")
app.command("forecast")(forecast_command)
app.command()(ops_cli.backup)
app.command()(ops_cli.restore)
app.add_typer(canvas_app, name="canvas")
app.add_typer(network_app, name="network")
err = Console(stderr=True, soft_wrap=True)


def _settings(config: Path | None, database_url: str | None = None, **extra: object) -> Settings:
    overrides = {k: v for k, v in {"database_url": database_url, **extra}.items() if v is not None}
    try:
        return load_settings(config, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        _fail(f"setting {where}: {first['msg']} (got {first.get('input')!r})")
    except (ValueError, OSError) as exc:
        _fail(f"settings: {exc}")


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


@app.command()
def serve(config: ConfigOpt = None, database_url: DbOpt = None,
          host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
          port: Annotated[int | None, typer.Option(help="Listen port.")] = None) -> None:
    """Run the twin's HTTP API."""
    _serve(_settings(config, database_url, host=host, port=port))


def _serve(settings: Settings) -> None:
    import uvicorn

    from civictwin.app import create_app
    from civictwin.ops.logs import configure_logging

    try:
        application = create_app(settings)
    except CivicTwinError as exc:
        _fail(exc.detail)
    configure_logging(settings.log_format)
    uvicorn.run(application, host=settings.host, port=settings.port, log_config=None,
                access_log=False)


@app.command()
def migrate(config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Bring the database schema to the newest version."""
    from civictwin.store import open_store

    settings = _settings(config, database_url)
    try:
        store = open_store(settings.database_url, migrate=False)
        version = store.migrate()
    except CivicTwinError as exc:
        _fail(exc.detail)
    store.close()
    typer.echo(f"schema at version {version}")


@app.command()
def demo(config: ConfigOpt = None, database_url: DbOpt = None,
         buildings: Annotated[int, typer.Option(min=10, max=200_000)] = 3000,
         seed: Annotated[int, typer.Option(help="Random seed of the sample city.")] = 7,
         history_meters: Annotated[int, typer.Option(
             min=0, help="Meters given a year of 15-minute history.")] = 20,
         load_only: Annotated[bool, typer.Option("--load-only",
                                                 help="Load the city, do not serve.")] = False,
         insight: Annotated[bool, typer.Option(help="Compute the lake, indicators, scenarios "
                                               "and a forecast on first load.")] = True,
         port: Annotated[int | None, typer.Option(help="Listen port.")] = None) -> None:
    """Load the sample city into the twin, then serve it."""
    from civictwin.demo import load_sample_city

    settings = _settings(config, database_url or "sqlite:///civictwin-demo.db", port=port)
    try:
        loaded = load_sample_city(settings, buildings=buildings, seed=seed,
                                  history_meters=history_meters, insight=insight)
    except CivicTwinError as exc:
        _fail(exc.detail)
    err.print(f"[green]loaded[/green] {loaded} entities into {settings.database_url}")
    _demo_key(settings)
    if not load_only:
        if not settings.anonymous_read:  # the sample city is open data: reads need no key
            settings = settings.model_copy(update={"anonymous_read": ("default",)})
            err.print("the sample city is open data here: anyone may read it; writes need "
                      "the key")
        _serve(settings)


def _demo_key(settings: Settings) -> None:
    """Give the demo's operator a fresh API key and print it for the README tour."""
    from civictwin.dataspace.participants import demo_operator_key
    from civictwin.store import open_store

    store = open_store(settings.database_url)
    try:
        key = demo_operator_key(store)
    finally:
        store.close()
    err.print("the demo operator's API key (every request needs it; earlier demo keys are "
              "revoked):")
    typer.echo(f"export KEY={key}")


@app.command("settings")
def show_settings(config: ConfigOpt = None) -> None:
    """Print the effective settings and what each one means."""
    settings = _settings(config)
    for name, field in Settings.model_fields.items():
        typer.echo(f"{name} = {getattr(settings, name)!r}    # {field.description}")


def main() -> None:
    """Run the CLI."""
    sys.exit(app())
