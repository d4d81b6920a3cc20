"""The `civictwin` command line; it calls the same functions as the HTTP API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from civictwin.config import Settings, load_settings
from civictwin.errors import CivicTwinError
from civictwin.ingest.cli import ingest_app
from civictwin.ops import cli as ops_cli

app = typer.Typer(help="civictwin: a local digital twin and data space for cities.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(ingest_app, name="ingest")
app.command()(ops_cli.backup)
app.command()(ops_cli.restore)
err = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="Overrides the setting.")]


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
    import uvicorn

    from civictwin.app import create_app
    from civictwin.ops.logs import configure_logging

    settings = _settings(config, database_url, host=host, port=port)
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
         port: Annotated[int | None, typer.Option(help="Listen port.")] = None) -> None:
    """Load the sample city into the twin, then serve it."""
    from civictwin.demo import load_sample_city

    settings = _settings(config, database_url or "sqlite:///civictwin-demo.db", port=port)
    try:
        loaded = load_sample_city(settings, buildings=buildings, seed=seed,
                                  history_meters=history_meters)
    except CivicTwinError as exc:
        _fail(exc.detail)
    err.print(f"[green]loaded[/green] {loaded} entities into {settings.database_url}")
    if not load_only:
        serve(config, settings.database_url, settings.host, settings.port)


@app.command("settings")
def show_settings(config: ConfigOpt = None) -> None:
    """Print the effective settings and what each one means."""
    settings = _settings(config)
    for name, field in Settings.model_fields.items():
        typer.echo(f"{name} = {getattr(settings, name)!r}    # {field.description}")


def main() -> None:
    """Run the CLI."""
    sys.exit(app())
