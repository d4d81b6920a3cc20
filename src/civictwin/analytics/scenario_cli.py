"""`civictwin scenario ...`: run a scenario file on the twin, list and compare saved ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:  # the CLI imports this module on every command: keep it light
    from civictwin.analytics.scenario_runs import Trajectory
    from civictwin.twin import Twin

scenario_app = typer.Typer(help="What-if pathways of the building stock to 2030 / 2050.",
                           no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
TenantOpt = Annotated[str, typer.Option("--tenant", help="NGSI-LD tenant of the twin.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Draw the trajectories into "
                                              "this .png or .svg file.")]
FileArg = Annotated[Path, typer.Argument(help="Scenario TOML file.", exists=True,
                                         dir_okay=False, readable=True)]


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=False, highlight=False)
    raise typer.Exit(2)


@contextmanager
def _twin(config: Path | None, database_url: str | None) -> Iterator[Twin]:
    from civictwin.cli import _settings
    from civictwin.twin import open_twin

    try:
        twin = open_twin(_settings(config, database_url))
    except CivicTwinError as exc:
        _fail(exc.detail)
    try:
        yield twin
    except CivicTwinError as exc:
        _fail(exc.detail)
    finally:
        twin.store.close()


@scenario_app.command()
def run(file: FileArg, config: ConfigOpt = None, database_url: DbOpt = None,
        tenant: TenantOpt = "", plot: PlotOpt = None,
        building: Annotated[str | None, typer.Option(
            help="Print this building's pathway as well.")] = None) -> None:
    """Run a scenario file over the twin's buildings and save it with its results."""
    from civictwin.analytics.plots import plot_trajectories
    from civictwin.analytics.scenario import load_assumptions
    from civictwin.analytics.scenario_runs import building_pathway, run_on_twin, trajectory
    from civictwin.store.scenario import ScenarioStore

    with _twin(config, database_url) as twin:
        assume = load_assumptions(file)
        with Progress(transient=True, console=err) as progress:
            task = progress.add_task("running", total=4)

            def step(text: str) -> None:
                progress.update(task, description=text)
                progress.advance(task)

            record, _ = run_on_twin(twin.broker, tenant, assume, step)
        saved = trajectory(ScenarioStore(twin.store), tenant, record.id)
        out.print(f"saved scenario {record.id!r}: {record.buildings} buildings, "
                  f"{record.base_year}-{record.end_year}; solar weather: "
                  f"{record.weather_source}", highlight=False)
        out.print(_table([saved]))
        if building:
            one = building_pathway(twin.broker, tenant, assume, building)
            years = one.years.tolist()
            out.print(f"{building}: emissions tCO2e "
                      + ", ".join(f"{y} {one.series('emissions')[i]:.2f}"
                                  for i, y in enumerate(years) if i % 5 == 0 or y == years[-1]),
                      highlight=False)
        if plot:
            out.print(f"plot: {plot_trajectories([saved], plot)}")


@scenario_app.command()
def compare(first: Annotated[str, typer.Argument(help="Saved scenario id.")],
            second: Annotated[str, typer.Argument(help="Saved scenario id.")],
            config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "",
            plot: PlotOpt = None) -> None:
    """Compare two saved scenarios year by year."""
    from civictwin.analytics.plots import plot_trajectories
    from civictwin.analytics.scenario_runs import compare as compare_saved
    from civictwin.store.scenario import ScenarioStore

    with _twin(config, database_url) as twin, Progress(transient=True, console=err) as bar:
        task = bar.add_task("reading the scenarios", total=None)
        both = compare_saved(ScenarioStore(twin.store), tenant, first, second)
        bar.update(task, description="comparing")
        if plot:
            bar.update(task, description="drawing")
            plot_trajectories([both.first, both.second], plot)
    out.print(_table([both.first, both.second], both.years))
    a, b = both.cumulative("emissions")
    out.print(f"cumulative emissions {both.years[0]}-{both.years[-1]}: {first} {a:,.0f} t, "
              f"{second} {b:,.0f} t ({b - a:+,.0f} t)", highlight=False)
    if plot:
        out.print(f"plot: {plot}")


@scenario_app.command("list")
def list_saved(config: ConfigOpt = None, database_url: DbOpt = None,
               tenant: TenantOpt = "") -> None:
    """List the saved scenarios."""
    from civictwin.store.scenario import ScenarioStore

    with _twin(config, database_url) as twin:
        table = Table("id", "name", "years", "buildings", "solar weather", "saved")
        for record in ScenarioStore(twin.store).saved(tenant):
            table.add_row(record.id, record.name, f"{record.base_year}-{record.end_year}",
                          str(record.buildings), record.weather_source, record.created_at)
        out.print(table)


def _table(items: list[Trajectory], years: list[int] | None = None) -> Table:
    from civictwin.analytics.scenario import METRICS
    from civictwin.analytics.scenario_runs import HEADLINE

    shown = years or items[0].years
    picks = sorted({shown[0], *shown[5::5], shown[-1]}) if len(shown) > 1 else shown
    table = Table("metric", "scenario", *[str(y) for y in picks])
    for metric in HEADLINE:
        unit = METRICS[metric][0]
        scale, label = _SCALES.get(unit, (1.0, unit))
        for item in items:
            row = [item.totals[metric][y - item.years[0]] * scale for y in picks]
            table.add_row(f"{metric} ({label})", item.record.id, *[f"{v:,.0f}" for v in row])
    return table


_SCALES = {"kWh": (1e-3, "MWh"), "EUR": (1e-3, "kEUR")}
