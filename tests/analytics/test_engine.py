"""Lake jobs: known results on DuckDB, and the same results on Spark over the same lake."""

from __future__ import annotations

import math
from typing import Any

import pytest

from civictwin.analytics.engine import JOBS, DuckDBEngine, SparkEngine, bind
from civictwin.analytics.lake import Lake
from civictwin.errors import BadRequestData
from tests.analytics.conftest import BILLING, district

YEAR = {"start": "2024-01-01", "end": "2025-01-01"}
PARAMS: dict[str, dict[str, Any]] = {
    "energy_use": {"period": "month", "dataset": BILLING, **YEAR},
    "building_stock": YEAR, "air_quality_daily": YEAR, "weather_daily": YEAR,
    "district_population": {}, "history_summary": {},
    "heat_pump_electricity": {"dataset": BILLING, **YEAR},
}


@pytest.fixture(scope="module")
def duck(city_lake: Lake) -> Any:
    engine = DuckDBEngine(city_lake)
    yield engine
    engine.close()


def _by(rows: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in rows}


def test_energy_use_per_month_district_use_and_carrier(duck: DuckDBEngine) -> None:
    rows = _by(duck.run(JOBS["energy_use"], PARAMS["energy_use"]),
               "period", "district_id", "use_class", "carrier")
    assert rows[("2024-01", district(1), "residential", "electricity")]["kwh"] == 3000
    assert rows[("2024-01", district(1), "residential", "NaturalGas")]["kwh"] == 10000
    assert rows[("2024-02", district(1), "commercial", "DistrictHeat")]["kwh"] == 3000
    assert rows[("2024-01", district(2), "industrial", "HeatingOil")]["kwh"] == 7000
    # the mixed-use building counts as residential; its heat pump is in its electricity
    south = rows[("2024-01", district(2), "residential", "electricity")]
    assert (south["kwh"], south["meters"]) == (1500 + 800, 2)
    assert ("2024-02", district(2), "residential", "Biomass") not in rows
    yearly = duck.run(JOBS["energy_use"], {**PARAMS["energy_use"], "period": "year"})
    assert sum(r["kwh"] for r in yearly) == 38000 + 40000
    interval = duck.run(JOBS["energy_use"], {**PARAMS["energy_use"], "dataset": ""})
    assert [(r["period"], r["kwh"], r["readings"]) for r in interval] == [("2024-01", 96.0, 192)]


def test_a_meter_without_a_bill_counts_its_interval_readings(tmp_path: Any) -> None:
    from civictwin.config import Settings
    from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
    from civictwin.store import open_store
    from civictwin.twin import open_twin
    from tests.analytics.conftest import export_all, load_city, prop

    store = open_store(f"sqlite:///{tmp_path / 'twin.db'}")
    twin = open_twin(Settings(database_url="sqlite://"), store)
    load_city(twin, "")
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    twin.temporal.append("", "urn:ngsi-ld:SmartMeteringObservation:t:1", {
        "electricityConsumption": [prop(1.0, "KWH", observedAt=f"2024-03-01T{h:02d}:00:00Z")
                                   for h in range(24)]}, ctx)
    lake = Lake.at(str(tmp_path / "lake"))
    export_all(twin, lake)
    engine = DuckDBEngine(lake)
    try:
        rows = _by(engine.run(JOBS["energy_use"], PARAMS["energy_use"]),
                   "period", "district_id", "use_class", "carrier")
    finally:
        engine.close()
        store.close()
    assert rows[("2024-01", district(1), "residential", "electricity")]["kwh"] == 3000  # bill
    assert rows[("2024-03", district(1), "residential", "electricity")]["kwh"] == 24.0


def test_building_stock_counts_smart_meters_by_resolution(duck: DuckDBEngine) -> None:
    rows = _by(duck.run(JOBS["building_stock"], YEAR), "district_id", "use_class")
    assert rows[(district(1), "residential")] == {
        "district_id": district(1), "use_class": "residential", "buildings": 1,
        "floor_area": 1000.0, "smart_metered": 1}
    assert rows[(district(2), "residential")]["floor_area"] == 900.0
    assert sum(r["smart_metered"] for r in rows.values()) == 1


def test_heat_pump_buildings_bills_per_month(duck: DuckDBEngine) -> None:
    rows = duck.run(JOBS["heat_pump_electricity"], PARAMS["heat_pump_electricity"])
    assert [(r["month"], r["building_id"], r["kwh"]) for r in rows] == [
        ("2024-01", "urn:ngsi-ld:Building:t:4", 1500.0),
        ("2024-02", "urn:ngsi-ld:Building:t:4", 1200.0)]
    assert {(r["use_class"], r["floor_area"]) for r in rows} == {("residential", 500.0)}


def test_daily_air_quality_and_temperature(duck: DuckDBEngine) -> None:
    air = _by(duck.run(JOBS["air_quality_daily"], YEAR), "pollutant", "day")
    assert air[("pm25", "2024-01-01")]["mean"] == 20.0
    assert air[("pm25", "2024-01-01")]["district_id"] == district(1)
    assert (air[("pm25", "2024-01-03")]["hours"], air[("no2", "2024-01-02")]["mean"]) == (6, 20.0)
    weather = _by(duck.run(JOBS["weather_daily"], YEAR), "day")
    assert weather[("2024-01-01",)]["highest"] == 31.5
    assert weather[("2024-01-02",)]["lowest"] == 15.0
    assert weather[("2024-01-01",)]["district_id"] == district(2)


def test_parameters_are_checked_and_bound(duck: DuckDBEngine) -> None:
    with pytest.raises(BadRequestData, match="missing parameters"):
        bind(JOBS["energy_use"], {"period": "year"})
    with pytest.raises(BadRequestData, match="unknown"):
        bind(JOBS["district_population"], {"x": 1})
    hostile = {**PARAMS["energy_use"], "dataset": "' OR 1=1 --"}
    # bound as a value: no bill matches it, so only the default-dataset readings count
    assert duck.run(JOBS["energy_use"], hostile) == duck.run(
        JOBS["energy_use"], {**PARAMS["energy_use"], "dataset": ""})


def test_an_empty_lake_gives_empty_results(tmp_path: Any) -> None:
    engine = DuckDBEngine(Lake.at(str(tmp_path / "nothing")))
    try:
        assert engine.run(JOBS["energy_use"], PARAMS["energy_use"]) == []
        assert engine.run(JOBS["district_population"]) == []
    finally:
        engine.close()


def _same(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert math.isclose(value, b[key], rel_tol=1e-9), (key, a, b)
            else:
                assert value == b[key], (key, a, b)


class Recorder:
    """Runs jobs on a real engine and keeps every (job, parameters) -> rows it returned."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.name, self.seen = engine, engine.name, {}

    def run(self, job: Any, params: Any = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.engine.run(job, params)
        self.seen[(job.name, tuple(sorted((params or {}).items())))] = (job, params, rows)
        return rows

    def close(self) -> None:
        self.engine.close()


@pytest.mark.slow
def test_spark_gives_duckdbs_jobs_and_indicators(city_lake: Lake, duck: DuckDBEngine,
                                                 spark: Any, tmp_path: Any) -> None:
    from civictwin.analytics.ghg import load_factors
    from civictwin.analytics.indicators import compute

    spark_engine = Recorder(SparkEngine(city_lake, session=spark))
    empty = SparkEngine(Lake.at(str(tmp_path / "nothing")), session=spark)
    try:
        # every Spark job runs once: first those the indicators need, then the rest
        on_spark = compute(spark_engine, load_factors(), *YEAR.values())
        for name, job in JOBS.items():
            key = (name, tuple(sorted(PARAMS[name].items())))
            if key not in spark_engine.seen:
                spark_engine.run(job, PARAMS[name])
        assert {name for name, _ in spark_engine.seen} == set(JOBS)
        for job, params, rows in spark_engine.seen.values():
            expected = duck.run(job, params)
            assert expected, job.name
            _same(expected, rows)
        assert empty.run(JOBS["energy_use"], PARAMS["energy_use"]) == []
    finally:
        spark_engine.close()
        empty.close()
    on_duck = compute(duck, load_factors(), *YEAR.values())
    assert len(on_spark) == len(on_duck) == 12 * 3  # indicators x (city + 2 districts)
    for a, b in zip(on_spark, on_duck, strict=True):
        assert (a.key, a.area_id, a.period, a.grade, a.note) == (
            b.key, b.area_id, b.period, b.grade, b.note)
        assert (a.value is None and b.value is None) or math.isclose(
            a.value or 0.0, b.value or 0.0, rel_tol=1e-9), (a, b)
