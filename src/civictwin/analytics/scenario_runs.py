"""Run scenarios on the twin's buildings, save them with their assumptions, compare two."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from civictwin.analytics import scenario as model
from civictwin.analytics.scenario import METRICS, Assumptions, BuildingStock, ScenarioResult
from civictwin.analytics.solar import SolarWeather, clear_sky_weather, specific_yield
from civictwin.analytics.stock import building_stock, station_weather
from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.temporal import history_for
from civictwin.samplecity.clock import FloatArray
from civictwin.store.scenario import ResultRow, ScenarioRecord, ScenarioStore

Step = Callable[[str], None]
HEADLINE = ("emissions", "electricity_demand", "heat_demand", "pv_generation", "energy_cost",
            "investment")


def scenario_id(name: str) -> str:
    """Return the id a scenario is saved under: its name as a lowercase slug."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise BadRequestData(f"scenario name {name!r} has no letters or digits to name it by")
    return slug[:100]


def solar_weather(broker: ContextBroker, tenant: str, assume: Assumptions,
                  stock: BuildingStock) -> SolarWeather:
    """Return a station's measured year when asked and present, else the clear-sky year."""
    if assume.solar.weather == "auto":
        measured = station_weather(broker, history_for(broker.store), tenant,
                                   stock.latitude, stock.longitude)
        if measured is not None:
            return measured
    return clear_sky_weather(stock.latitude, stock.longitude, assume.solar.clear_sky_factor,
                             assume.solar.air_temperature)


def pv_yields(stock: BuildingStock, weather: SolarWeather, assume: Assumptions) -> FloatArray:
    """Return each building's solar yield in kWh per kWp and year."""
    return specific_yield(weather, stock.roof_tilt, stock.roof_orientation,
                          losses=assume.solar.losses)


def run_on_twin(broker: ContextBroker, tenant: str, assume: Assumptions,
                step: Step = lambda _: None) -> tuple[ScenarioRecord, ScenarioResult]:
    """Run a scenario over the tenant's buildings and save it; return what was saved."""
    step("reading the buildings")
    stock = building_stock(broker, tenant)
    step("computing rooftop solar yields")
    weather = solar_weather(broker, tenant, assume, stock)
    yields = pv_yields(stock, weather, assume)
    step(f"projecting {len(stock)} buildings over {assume.years.size} years")
    result = model.run(stock, assume, yields, weather.source)
    step("saving the scenario")
    record = save(ScenarioStore(broker.store), tenant, result)
    return record, result


def building_pathway(broker: ContextBroker, tenant: str, assume: Assumptions,
                     building_id: str) -> ScenarioResult:
    """Run a scenario for one building of the twin (not saved)."""
    stock = building_stock(broker, tenant)
    if building_id not in stock.ids:
        raise ResourceNotFound(f"no Building {building_id} in the twin")
    weather = solar_weather(broker, tenant, assume, stock)
    one = stock.subset(np.asarray([stock.ids.index(building_id)]))
    return model.run(one, assume, pv_yields(one, weather, assume), weather.source)


def save(store: ScenarioStore, tenant: str, result: ScenarioResult) -> ScenarioRecord:
    """Save a result with its assumptions under the scenario's id."""
    assume = result.assumptions
    doc = assume.model_dump(mode="json")
    doc["levers"] = assume.levers()
    record = ScenarioRecord(
        tenant, scenario_id(assume.name), assume.name, assume.description, doc,
        assume.base_year, assume.end_year, result.buildings, result.weather_source,
        model.MODEL_VERSION, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    rows = [ResultRow(district, metric, int(year), METRICS[metric][1], float(number))
            for m, metric in enumerate(METRICS)
            for d, district in enumerate(result.district_ids)
            for year, number in zip(result.years.tolist(), result.values[m, d].tolist(),
                                    strict=True)]
    store.save(record, rows)
    return record


@dataclass(frozen=True)
class Trajectory:
    """A saved scenario's city totals (or one district's) by metric and year."""

    record: ScenarioRecord
    years: list[int]
    totals: dict[str, list[float]]


def trajectory(store: ScenarioStore, tenant: str, scenario: str,
               district: str | None = None) -> Trajectory:
    """Return a saved scenario's totals per year; ResourceNotFound if it is not saved."""
    record = store.get(tenant, scenario)
    if record is None:
        raise ResourceNotFound(f"no saved scenario {scenario!r}")
    years = list(range(record.base_year, record.end_year + 1))
    totals = {metric: [0.0] * len(years) for metric in METRICS}
    for row in store.results(tenant, scenario):
        if district is None or row.district == district:
            totals[row.metric][row.year - record.base_year] += row.value
    return Trajectory(record, years, totals)


@dataclass(frozen=True)
class Comparison:
    """Two scenarios side by side on the years they share."""

    first: Trajectory
    second: Trajectory
    years: list[int]

    def at(self, metric: str, year: int) -> tuple[float, float]:
        """Return both scenarios' value of a metric in a year."""
        return (self.first.totals[metric][year - self.first.years[0]],
                self.second.totals[metric][year - self.second.years[0]])

    def cumulative(self, metric: str) -> tuple[float, float]:
        """Return both scenarios' sum of a metric over the shared years."""
        pairs = [self.at(metric, y) for y in self.years]
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def compare(store: ScenarioStore, tenant: str, first: str, second: str) -> Comparison:
    """Compare two saved scenarios; BadRequestData if they share no year."""
    a, b = trajectory(store, tenant, first), trajectory(store, tenant, second)
    years = sorted(set(a.years) & set(b.years))
    if not years:
        raise BadRequestData(f"scenarios {first!r} and {second!r} share no year")
    return Comparison(a, b, years)
