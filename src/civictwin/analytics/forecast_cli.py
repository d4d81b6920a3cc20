"""`civictwin forecast`: the next day's electricity demand of a building, meter or district."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress

from civictwin.errors import CivicTwinError

if TYPE_CHECKING:  # the CLI imports this module on every command: keep it light
    from civictwin.analytics.forecast_runs import ForecastRun

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=False, highlight=False)
    raise typer.Exit(2)


def forecast_command(
    entity: Annotated[str | None, typer.Option(
        "--entity", help="A Building or SmartMeteringObservation id.")] = None,
    district: Annotated[str | None, typer.Option("--district",
                                                 help="A CityDistrict id.")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Draw the last week and the forecast into this .png or .svg.")] = None,
    resolution: Annotated[str, typer.Option(help="PT1H or PT15M.")] = "PT1H",
    train_days: Annotated[int, typer.Option(min=14, help="Days the model learns from.")] = 56,
    backtest_days: Annotated[int, typer.Option(min=0, help="Days of rolling-origin backtest "
                                               "(0: none).")] = 14,
    write: Annotated[bool, typer.Option(help="Write the forecast back as an EnergyForecast "
                                        "entity.")] = True,
    tenant: Annotated[str, typer.Option(help="NGSI-LD tenant of the twin.")] = "",
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url",
                                                     help="Overrides the setting.")] = None,
) -> None:
    """Forecast the next day's electricity demand from the twin's history and backtest it."""
    import pandas as pd

    from civictwin.analytics.forecast_runs import resolve, run_forecast
    from civictwin.analytics.plots import plot_forecast
    from civictwin.cli import _settings
    from civictwin.twin import open_twin

    settings = _settings(config, database_url)
    try:
        twin = open_twin(settings)
    except CivicTwinError as exc:
        _fail(exc.detail)
    try:
        with Progress(transient=True, console=err) as progress:
            task = progress.add_task("finding the meters", total=3)
            target = resolve(twin.broker, tenant, entity, district)
            progress.update(task, advance=1, description=f"forecasting {len(target.meters)} "
                            "meter(s) and backtesting")
            run = run_forecast(twin.broker, tenant, target, resolution=resolution,
                               timezone=settings.timezone, train_days=train_days,
                               backtest_days=backtest_days, write=write)
            progress.update(task, advance=1, description="drawing")
            if plot:
                week = run.history.iloc[-7 * 86_400 // run.forecast.step:]
                forecast = run.forecast
                plot_forecast(week, pd.Series(forecast.values, index=forecast.times),
                              f"{target.kind} {target.id}: day-ahead electricity", "kWh per step",
                              plot)
            progress.advance(task)
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        twin.store.close()
    _report(run, plot)


def _report(run: ForecastRun, plot: Path | None) -> None:
    f = run.forecast
    out.print(f"{run.target.kind} {run.target.id}: {run.meters_with_history} of "
              f"{len(run.target.meters)} meter(s) with history, {run.history.index[0]:%Y-%m-%d} "
              f"to {run.history.index[-1]:%Y-%m-%d %H:%M} UTC", highlight=False)
    out.print(f"forecast {f.times[0]:%Y-%m-%d %H:%M} +24 h: total {f.values.sum():,.1f} kWh, "
              f"peak {f.values.max():,.2f} kWh per step at {f.times[int(f.values.argmax())]:%H:%M}"
              f" UTC; temperature: {run.temperature_source}", highlight=False)
    if f.scores is not None:
        s = f.scores
        out.print(f"backtest over {s.origins} days: MAPE {s.mape:.1f} % vs seasonal-naive "
                  f"{s.naive_mape:.1f} % (ratio {s.mape_ratio:.2f}); RMSE {s.rmse:.3f} vs "
                  f"{s.naive_rmse:.3f} kWh (ratio {s.rmse_ratio:.2f})", highlight=False)
    if run.entity_id:
        out.print(f"written: {run.entity_id}", highlight=False)
    if plot:
        out.print(f"plot: {plot}", highlight=False)
