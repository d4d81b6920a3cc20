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


def test_building_stock_counts_smart_meters_by_resolution(duck: DuckDBEngine) -> None:
    rows = _by(duck.run(JOBS["building_stock"], YEAR), "district_id", "use_class")
    assert rows[(district(1), "residential")] == {
        "district_id": district(1), "use_class": "residential", "buildings": 1,
        "floor_area": 1000.0, "smart_metered": 1}
    assert rows[(district(2), "residential")]["floor_area"] == 900.0
    assert sum(r["smart_metered"] for r in rows.values()) == 1


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
    assert duck.run(JOBS["energy_use"], hostile) == []


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


@pytest.mark.slow
def test_spark_runs_every_job_with_duckdbs_results(city_lake: Lake, duck: DuckDBEngine,
                                                   spark: Any, tmp_path: Any) -> None:
    engine = SparkEngine(city_lake, session=spark)
    empty = SparkEngine(Lake.at(str(tmp_path / "nothing")), session=spark)
    try:
        for name, job in JOBS.items():
            expected = duck.run(job, PARAMS[name])
            assert expected, name
            _same(expected, engine.run(job, PARAMS[name]))
        assert empty.run(JOBS["energy_use"], PARAMS["energy_use"]) == []
    finally:
        engine.close()
        empty.close()
