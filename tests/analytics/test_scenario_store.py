"""Scenarios run on the twin, saved with their assumptions and compared, on both stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from typer.testing import CliRunner

from civictwin.analytics import scenario as model
from civictwin.analytics.scenario import Assumptions, parse_assumptions
from civictwin.analytics.scenario_runs import (
    building_pathway,
    compare,
    run_on_twin,
    scenario_id,
    trajectory,
)
from civictwin.analytics.stock import building_stock
from civictwin.cli import app
from civictwin.config import Settings
from civictwin.demo import load_sample_city
from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.store.scenario import ScenarioStore
from tests.analytics.conftest import SmallCity, load_generated, load_station_history


def test_a_scenario_runs_on_the_twins_buildings_and_is_saved(buildings_city: SmallCity) -> None:
    twin, tenant = buildings_city.twin, buildings_city.tenant
    assume = Assumptions(name="Net zero 2050", description="fast")
    steps: list[str] = []
    record, result = run_on_twin(twin.broker, tenant, assume, steps.append)
    assert record.id == "net-zero-2050" and record.buildings == 40
    assert len(steps) == 4
    assert record.weather_source.startswith("clear-sky")  # the twin has no weather history
    store = ScenarioStore(twin.store)
    saved = store.get(tenant, record.id)
    assert saved is not None and saved.assumptions["retrofit"]["rate"] == list(
        model.Retrofit().rate)
    assert {lever["lever"] for lever in saved.assumptions["levers"]} == set(model.LEVERS)
    assert parse_assumptions({k: v for k, v in saved.assumptions.items()
                              if k != "levers"}) == assume  # reproducible from what is kept
    rows = store.results(tenant, record.id)
    districts = {b["refCityDistrict"]["object"] for b in buildings_city.city.buildings}
    assert len(rows) == len(districts) * len(model.METRICS) * assume.years.size
    assert {r.dpsir for r in rows} == {"driver", "pressure", "state", "impact", "response"}
    assert all(r.dpsir == model.METRICS[r.metric][1] for r in rows)
    kept = trajectory(store, tenant, record.id)
    assert np.allclose(kept.totals["emissions"], result.series("emissions"))
    assert kept.totals["buildings"][0] == 40
    one = sorted(districts)[0]
    assert np.allclose(trajectory(store, tenant, record.id, one).totals["floor_area"],
                       result.series("floor_area", one))


def test_the_stock_reads_every_building_attribute(buildings_city: SmallCity) -> None:
    stock = building_stock(buildings_city.twin.broker, buildings_city.tenant)
    first = buildings_city.city.buildings[0]
    i = stock.ids.index(first["id"])
    assert stock.floor_area[i] == first["floorArea"]["value"]
    assert stock.year_built[i] == first["yearBuilt"]["value"]
    assert model.HEATING[stock.heating[i]] == first["heatingType"]["value"]
    assert stock.roof_tilt[i] == first["roofTilt"]["value"]
    assert stock.district_ids[stock.district[i]] == first["refCityDistrict"]["object"]
    assert abs(stock.latitude - 50.85) < 0.05 and abs(stock.longitude - 4.35) < 0.05
    assert set(stock.district_names.values()) <= {d["name"]["value"]
                                                  for d in buildings_city.city.districts}


def test_rerunning_replaces_and_two_scenarios_compare(buildings_city: SmallCity) -> None:
    twin, tenant = buildings_city.twin, buildings_city.tenant
    slow = Assumptions(name="slow", heat_pumps=model.HeatPumps(rate=0.01))
    run_on_twin(twin.broker, tenant, slow)
    run_on_twin(twin.broker, tenant, slow)
    fast = Assumptions(name="fast", heat_pumps=model.HeatPumps(rate=0.06), end_year=2040)
    run_on_twin(twin.broker, tenant, fast)
    store = ScenarioStore(twin.store)
    assert [r.id for r in store.saved(tenant)] == ["fast", "slow"]
    both = compare(store, tenant, "slow", "fast")
    assert both.years == list(range(2025, 2041))
    a, b = both.at("emissions", 2040)
    assert b < a  # more heat pumps, fewer emissions
    assert both.at("heat_pump_buildings", 2040)[1] > both.at("heat_pump_buildings", 2040)[0]
    assert both.cumulative("emissions")[1] < both.cumulative("emissions")[0]
    assert store.delete(tenant, "fast") and not store.delete(tenant, "fast")
    assert store.results(tenant, "fast") == []
    with pytest.raises(ResourceNotFound):
        compare(store, tenant, "slow", "fast")


def test_one_buildings_pathway(buildings_city: SmallCity) -> None:
    twin, tenant = buildings_city.twin, buildings_city.tenant
    building = buildings_city.city.buildings[3]["id"]
    one = building_pathway(twin.broker, tenant, Assumptions(name="x"), building)
    assert one.buildings == 1 and one.series("emissions")[0] > 0
    with pytest.raises(ResourceNotFound):
        building_pathway(twin.broker, tenant, Assumptions(name="x"), "urn:ngsi-ld:Building:no")


def test_a_twin_without_buildings_is_refused(twin: object, tenant: str) -> None:
    from civictwin.twin import Twin

    assert isinstance(twin, Twin)
    with pytest.raises(BadRequestData, match="no Building"):
        run_on_twin(twin.broker, tenant, Assumptions(name="x"))
    with pytest.raises(BadRequestData):
        scenario_id("***")


@pytest.mark.slow
def test_measured_weather_is_used_when_the_twin_has_a_year_of_it(
        buildings_city: SmallCity) -> None:
    twin, tenant, city = buildings_city.twin, buildings_city.tenant, buildings_city.city
    load_generated(twin, tenant, 40, ("WeatherObserved",))
    station = next(s["id"] for s in city.stations if s["type"] == "WeatherObserved")
    load_station_history(twin, city, tenant, station)
    record, result = run_on_twin(twin.broker, tenant, Assumptions(name="measured"))
    assert record.weather_source == f"measured: {station}"
    clear, _ = run_on_twin(twin.broker, tenant, Assumptions(
        name="clear", solar=model.Solar(weather="clear-sky")))
    assert clear.weather_source.startswith("clear-sky")
    measured_pv = result.series("pv_generation")[-1]
    clear_pv = trajectory(ScenarioStore(twin.store), tenant, "clear").totals["pv_generation"][-1]
    assert measured_pv > 0 and 0.6 < measured_pv / clear_pv < 1.6  # same order, not the same


def civictwin(*args: str) -> Result:
    """Run the civictwin CLI in this process (rich output 200 columns wide)."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.mark.slow
def test_the_cli_runs_compares_and_plots(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    load_sample_city(Settings(database_url=url), buildings=30, history_meters=0,
                     insight=False)
    examples = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
    for name in ("baseline", "net-zero-2050"):
        run = civictwin("scenario", "run", str(examples / f"{name}.toml"), "--database-url", url)
        assert run.exit_code == 0, run.stderr
        assert f"saved scenario '{name}': 30 buildings" in run.stdout
    png, svg = tmp_path / "cmp.png", tmp_path / "cmp.svg"
    both = civictwin("scenario", "compare", "baseline", "net-zero-2050", "--database-url", url,
                     "--plot", str(png))
    assert both.exit_code == 0, both.stderr
    assert "cumulative emissions 2025-2050" in both.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = civictwin("scenario", "compare", "baseline", "net-zero-2050", "--database-url", url,
                    "--plot", str(svg))
    assert one.exit_code == 0 and svg.read_text().lstrip().startswith("<?xml")
    listed = civictwin("scenario", "list", "--database-url", url)
    assert "net-zero-2050" in listed.stdout
    missing = civictwin("scenario", "compare", "baseline", "nope", "--database-url", url)
    assert missing.exit_code == 2 and missing.stderr.strip().count("\n") == 0
    assert "no saved scenario 'nope'" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[heat_pumps]\nrate = 2\n")
    refused = civictwin("scenario", "run", str(bad), "--database-url", url)
    assert refused.exit_code == 2 and "heat_pumps.rate" in refused.stderr
