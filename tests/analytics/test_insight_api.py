"""The /insight API over HTTP on both stores: indicators, GHG, scenarios, forecasts."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civictwin.analytics.engine import DuckDBEngine
from civictwin.analytics.forecast import ALGORITHM
from civictwin.analytics.forecast_runs import forecast_id, resolve, run_forecast
from civictwin.analytics.ghg import build_inventory, load_factors
from civictwin.analytics.indicators import CITY, compute, publish
from civictwin.analytics.lake import Lake
from civictwin.analytics.scenario import parse_assumptions
from civictwin.analytics.scenario_runs import run_on_twin
from civictwin.config import Settings
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.store import Store
from civictwin.twin import Twin, open_twin
from tests.analytics.conftest import SmallCity, district, load_generated

YEAR = ("2024-01-01", "2025-01-01")


@pytest.fixture(scope="module")
def computed(city_lake: Lake) -> list[Any]:
    """The tiny city's indicators for 2024, by year and by month."""
    engine = DuckDBEngine(city_lake)
    try:
        return [*compute(engine, load_factors(), *YEAR),
                *compute(engine, load_factors(), "2024-01-01", "2024-03-01", by="month")]
    finally:
        engine.close()


def _published(store: Store, tenant: str, values: list[Any]) -> None:
    twin = open_twin(Settings(database_url="sqlite://"), store)
    publish(twin.broker, tenant, values, "testville", "2026-01-01T00:00:00Z")


def _by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in body["indicators"]}


def test_indicators_are_the_published_kpis(client: TestClient, store: Store, tenant: str,
                                           computed: list[Any]) -> None:
    _published(store, tenant, computed)
    answer = client.get("/insight/indicators")
    assert answer.status_code == 200, answer.text
    found = _by_id(answer.json())
    energy = found["energy-per-capita"]
    assert energy["value"] == pytest.approx(78000 * 0.0036 / 1500)
    assert (energy["period"], energy["district"], energy["unit"]) == ("2024", None,
                                                                      "GJ per person")
    assert energy["series"] == [{"period": "2024", "value": energy["value"]}]
    assert energy["grade"] == {"coverage": 1.0, "timeliness": pytest.approx(0.1667),
                               "method": "measured", "overall": "C"}
    assert energy["datasets"] and energy["formula"]
    assert (energy["iso"], energy["isoConfirmed"]) == (None, False)
    renewable = found["renewable-share"]
    assert (renewable["iso"], renewable["isoConfirmed"]) == ("ISO 37120:2018 7.2", True)
    assert "kopavogur" in renewable["isoSource"]
    assert found["no2-annual-mean"]["value"] == pytest.approx(25.0)
    assert found["pm25-annual-mean"]["grade"]["overall"] in "ABCD"
    expected = {v.key for v in computed if v.area_id == CITY and v.period == "2024"}
    assert set(found) == expected


def test_indicators_per_district_and_month(client: TestClient, store: Store, tenant: str,
                                           computed: list[Any]) -> None:
    _published(store, tenant, computed)
    north = _by_id(client.get("/insight/indicators",
                              params={"district": district(1)}).json())
    assert north["electricity-per-capita"]["value"] == pytest.approx(16500 / 1000)
    assert north["electricity-per-capita"]["district"] == district(1)
    monthly = _by_id(client.get("/insight/indicators", params={"period": "2024-01"}).json())
    series = monthly["electricity-per-capita"]["series"]
    assert [p["period"] for p in series] == ["2024-01", "2024-02"]
    assert monthly["electricity-per-capita"]["value"] == pytest.approx(20300 / 1500)
    assert series[1]["value"] == pytest.approx(17700 / 1500)
    south = _by_id(client.get("/insight/indicators",
                              params={"district": district(2)}).json())
    not_computable = south["pm25-annual-mean"]
    assert not_computable["value"] is None and not_computable["grade"] is None
    assert "station" in not_computable["note"]


def test_indicator_requests_are_checked_and_tenant_confined(
        client: TestClient, store: Store, tenant: str, computed: list[Any]) -> None:
    _published(store, tenant, computed)
    assert client.get("/insight/indicators", params={"period": "24"}).status_code == 400
    missing = client.get("/insight/indicators",
                         params={"district": "urn:ngsi-ld:CityDistrict:none"})
    assert missing.status_code == 404
    other = client.get("/insight/indicators", headers={"NGSILD-Tenant": tenant + "x"})
    assert other.status_code == 200 and other.json()["indicators"] == []
    anonymous = client.get("/insight/indicators", headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_ghg_is_compiled_from_the_lake(client: TestClient, city_lake: Lake) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"lake_path": city_lake.url})
    answer = client.get("/insight/ghg", headers={"NGSILD-Tenant": ""})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    engine = DuckDBEngine(city_lake)
    try:
        expected = build_inventory(engine, load_factors(), *YEAR).total("2024")
    finally:
        engine.close()
    assert body["year"] == "2024" and body["total_tco2e"] == pytest.approx(expected)
    assert body["per_capita_tco2e"] == pytest.approx(expected / 1500)
    estimated = [s for s in body["sectors"] if s["tco2e"] is not None]
    assert sum(s["tco2e"] for s in estimated) == pytest.approx(expected)
    assert {s["scope"] for s in estimated} == {"1", "2"}
    assert any(s["notation"] == "NE" and s["sector"] == "On-road transportation"
               for s in body["sectors"])
    gpc = {r["gpc_ref"]: r for r in body["gpc"]}
    assert gpc["I"]["basic"] == pytest.approx(expected) and gpc["I"]["scope3"] == "NE"
    assert gpc["II"]["basic"] == "NE" and gpc["V"]["basic"] == "not in BASIC"
    first = body["trajectory"][0]
    assert first == {"year": 2024, "actual": pytest.approx(expected),
                     "target": pytest.approx(expected)}
    assert body["trajectory"][-1]["target"] == 0.0
    assert body["factors"]["version"] == load_factors().version
    assert body["factors"]["carriers"]["NaturalGas"]["factor"] == pytest.approx(0.202)
    assert client.get("/insight/ghg", params={"year": "2023"},
                      headers={"NGSILD-Tenant": ""}).status_code == 404
    assert client.get("/insight/ghg").status_code == 404  # this tenant has no lake


@pytest.fixture
def scenarios(buildings_city: SmallCity) -> SmallCity:
    """Two saved scenarios on forty buildings (clear-sky weather)."""
    for name, rate in (("slow", 0.01), ("fast", 0.05)):
        assume = parse_assumptions({"name": name, "end_year": 2035,
                                    "heat_pumps": {"rate": rate},
                                    "solar": {"weather": "clear-sky", "rate": rate}})
        run_on_twin(buildings_city.twin.broker, buildings_city.tenant, assume)
    return buildings_city


def test_saved_scenarios_are_listed_read_and_compared(client: TestClient,
                                                      scenarios: SmallCity) -> None:
    listed = client.get("/insight/scenarios").json()["scenarios"]
    assert [s["id"] for s in listed] == ["fast", "slow"]
    assert listed[0]["assumptions"]["heat_pumps"]["rate"] == 0.05
    fast = client.get("/insight/scenarios/fast").json()
    assert [y["year"] for y in fast["years"]] == list(range(2025, 2036))
    first = fast["years"][0]
    assert first["energy_mwh"] > 0 and first["tco2e"] > 0 and first["cost_eur"] > 0
    assert fast["years"][-1]["tco2e"] < first["tco2e"]
    districts = {b["refCityDistrict"]["object"] for b in scenarios.city.buildings}
    parts = [client.get("/insight/scenarios/fast", params={"district": d}).json()
             for d in sorted(districts)]
    in_districts = sum(p["years"][5]["tco2e"] for p in parts)
    assert in_districts == pytest.approx(fast["years"][5]["tco2e"])
    both = client.get("/insight/scenarios/compare", params={"ids": "slow,fast"}).json()
    assert [s["id"] for s in both["scenarios"]] == ["slow", "fast"]
    slow_2035, fast_2035 = (s["years"][-1]["tco2e"] for s in both["scenarios"])
    assert both["difference"][-1]["tco2e"] == pytest.approx(fast_2035 - slow_2035)
    assert fast_2035 < slow_2035
    assert client.get("/insight/scenarios/none").status_code == 404
    assert client.get("/insight/scenarios/compare", params={"ids": "slow"}).status_code == 400
    other = client.get("/insight/scenarios", headers={"NGSILD-Tenant": "nobody"})
    assert other.json()["scenarios"] == []


@pytest.mark.slow
def test_a_forecast_is_served_with_what_was_measured(client: TestClient, twin: Twin,
                                                     tenant: str) -> None:
    city = load_generated(twin, tenant, 30, ("CityDistrict", "Building",
                                             "SmartMeteringObservation"), meters_with_history=1)
    meter = city.meters[0]["id"]
    building = city.meters[0]["refBuilding"]["object"]
    run = run_forecast(twin.broker, tenant, resolve(twin.broker, tenant, entity=building),
                       backtest_days=3)
    listed = client.get("/insight/forecasts").json()["forecasts"]
    assert [(f["entity"], f["kind"]) for f in listed] == [(building, "building")]
    body = client.get("/insight/forecasts", params={"entity": building}).json()
    assert body["entity"] == building and body["model"].startswith(ALGORITHM.id)
    assert [p["forecast"] for p in body["points"]] == pytest.approx(
        run.forecast.values.tolist(), abs=1e-4)
    assert all(p["actual"] is None for p in body["points"]) and body["actualMape"] is None
    assert run.forecast.scores is not None
    assert body["mape"] == pytest.approx(run.forecast.scores.mape, abs=1e-4)
    first = body["points"][0]["time"]
    hour = first[:14]
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    twin.temporal.append(tenant, meter, {"electricityConsumption": [
        {"type": "Property", "value": 0.25, "unitCode": "KWH",
         "observedAt": f"{hour}{m:02d}:00Z"} for m in (0, 15, 30, 45)]}, ctx)
    again = client.get("/insight/forecasts", params={"entity": forecast_id(building)}).json()
    assert again["points"][0]["actual"] == pytest.approx(1.0)
    assert all(p["actual"] is None for p in again["points"][1:])
    forecast = again["points"][0]["forecast"]
    assert again["actualMape"] == pytest.approx(100 * abs(forecast - 1.0))
    assert client.get("/insight/forecasts",
                      params={"entity": "urn:ngsi-ld:Building:none"}).status_code == 404
    elsewhere = {"NGSILD-Tenant": tenant + "x"}  # another tenant sees none of it
    assert client.get("/insight/forecasts", headers=elsewhere).json()["forecasts"] == []
    assert client.get("/insight/forecasts", params={"entity": building},
                      headers=elsewhere).status_code == 404


def test_indicators_as_csv_per_city_and_district_over_time(
        client: TestClient, store: Store, tenant: str, computed: list[Any]) -> None:
    _published(store, tenant, computed)
    answer = client.get("/insight/indicators", params={"format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == len(computed)
    power = {(r["area"], r["period"]): r for r in rows
             if r["indicator"] == "electricity-per-capita"}
    assert set(power) == {(a, p) for a in ("city", district(1), district(2))
                          for p in ("2024", "2024-01", "2024-02")}
    assert float(power[("city", "2024-02")]["value"]) == pytest.approx(17700 / 1500)
    assert power[("city", "2024")]["grade"] == "C"
    assert client.get("/insight/indicators", params={"format": "xml"}).status_code == 400
