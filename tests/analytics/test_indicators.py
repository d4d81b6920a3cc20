"""Indicators from the tiny city's lake: hand-computed values, grades, KPI entities, Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from civictwin.analytics.engine import DuckDBEngine
from civictwin.analytics.ghg import load_factors
from civictwin.analytics.indicators import (
    CITY,
    ambient_heat,
    compute,
    data_range,
    grade,
    kpi_entity,
    period_range,
    plot,
    publish,
    rows_for_csv,
)
from civictwin.analytics.lake import Lake
from civictwin.config import Settings
from civictwin.errors import BadRequestData
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.store import Store
from civictwin.twin import open_twin
from tests.analytics.conftest import district

YEAR = ("2024-01-01", "2025-01-01")
GRID = load_factors().carriers["electricity"].factor  # t CO2 per MWh
SHARE = load_factors().grid_renewable_share or 0.0
# building 4 (heat pump, residential, 500 m²): bills less 28 kWh/m²·a of appliances, x (SPF - 1)
AMBIENT = sum(max(kwh - 500 * 28 / 12, 0) for kwh in (1500, 1200)) * (3.0 - 1)


@pytest.fixture(scope="module")
def duck(city_lake: Lake) -> Any:
    engine = DuckDBEngine(city_lake)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def yearly(duck: DuckDBEngine) -> dict[tuple[str, str], Any]:
    values = compute(duck, load_factors(), *YEAR)
    return {(v.key, v.area_id): v for v in values}


def _value(values: dict[tuple[str, str], Any], key: str, area: str = CITY) -> float:
    found = values[(key, area)].value
    assert found is not None, values[(key, area)].note
    return float(found)


def test_energy_indicators_per_city_and_district(yearly: dict[tuple[str, str], Any]) -> None:
    assert _value(yearly, "energy-per-capita") == pytest.approx(78000 * 0.0036 / 1500)
    assert _value(yearly, "electricity-per-capita") == pytest.approx(38000 / 1500)
    assert _value(yearly, "electricity-per-capita", district(1)) == pytest.approx(16500 / 1000)
    assert _value(yearly, "residential-energy-per-m2") == pytest.approx(29000 / 1900)
    # two months of bills in a year: full coverage, poor timeliness, measured -> C
    quality = yearly[("energy-per-capita", CITY)].grade
    assert (quality.letter, quality.coverage, round(quality.timeliness, 3)) == ("C", 1.0, 0.167)


def test_renewable_share_counts_every_renewable_source_the_twin_knows(
        yearly: dict[tuple[str, str], Any]) -> None:
    share = yearly[("renewable-share", CITY)]
    renewable = 2000 + 38000 * SHARE + 7000 * 0.0 + AMBIENT  # biomass, grid, heat, heat pump
    assert share.value == pytest.approx(100 * renewable / (78000 + AMBIENT))
    assert share.grade.method == "partial"
    assert "Biomass 2.0 MWh" in share.note and "ambient heat 0.7 MWh" in share.note
    assert "no rooftop PV" in share.note and "default" in share.note
    north = yearly[("renewable-share", district(1))]  # gas, district heat and grid only
    assert north.value == pytest.approx(100 * 16500 * SHARE / 41500)


def test_renewable_share_without_a_grid_share_or_renewables_is_not_computable(
        duck: DuckDBEngine, tmp_path: Path) -> None:
    path = tmp_path / "city.toml"
    path.write_text("[grid]\nrenewable_share = 0\n[heat_pumps]\nspf = 1\n")
    values = {(v.key, v.area_id): v for v in compute(duck, load_factors(path), *YEAR)}
    assert values[("renewable-share", CITY)].value == pytest.approx(100 * 2000 / 78000)
    assert values[("renewable-share", district(1))].value == 0.0
    assert ambient_heat([], load_factors(path), "2024", CITY) == 0.0


def test_greenhouse_gas_per_capita_uses_the_factor_table(
        yearly: dict[tuple[str, str], Any]) -> None:
    total = 18 * 0.202 + 7 * 0.224 + 13 * 0.267 + 38 * GRID
    assert _value(yearly, "ghg-per-capita") == pytest.approx(total / 1500)
    north = 16.5 * GRID + 18 * 0.202 + 7 * 0.224
    assert _value(yearly, "ghg-per-capita", district(1)) == pytest.approx(north / 1000)


def test_air_quality_against_who_guidelines(yearly: dict[tuple[str, str], Any]) -> None:
    assert _value(yearly, "pm25-annual-mean") == pytest.approx(15.0)  # day 3 has only 6 h
    assert _value(yearly, "pm25-days-above-who") == 1
    assert _value(yearly, "no2-annual-mean") == pytest.approx(25.0)
    assert _value(yearly, "no2-days-above-who") == 1
    south = yearly[("pm25-annual-mean", district(2))]
    assert south.value is None and south.note == "no air-quality station in the area"


def test_heat_exposure_and_smart_meters(yearly: dict[tuple[str, str], Any]) -> None:
    assert (_value(yearly, "hot-days"), _value(yearly, "tropical-nights")) == (1, 1)
    assert _value(yearly, "hot-days", district(2)) == 1
    assert yearly[("hot-days", district(1))].value is None
    assert _value(yearly, "smart-meter-share") == pytest.approx(20.0)
    assert _value(yearly, "smart-meter-share", district(1)) == pytest.approx(50.0)


def test_monthly_values_and_grades(duck: DuckDBEngine) -> None:
    values = {(v.key, v.area_id, v.period): v
              for v in compute(duck, load_factors(), "2024-01-01", "2024-03-01", "month")}
    january = values[("energy-per-capita", CITY, "2024-01")]
    assert january.value == pytest.approx(43300 * 0.0036 / 1500)
    assert january.grade.letter == "A"
    february = values[("energy-per-capita", CITY, "2024-02")]
    assert (february.grade.coverage, february.grade.letter) == (0.8, "B")  # 4 of 5 meters
    assert ("ghg-per-capita", CITY, "2024-01") not in values  # inventories are annual


def test_grades_and_period_parsing() -> None:
    assert grade(1.0, 1.0, "measured").letter == "A"
    assert grade(0.6, 1.0, "measured").letter == "B"
    assert grade(0.2, 0.2, "partial").letter == "D"
    assert period_range("2024", None) == YEAR
    assert period_range("2024-12", None) == ("2024-12-01", "2025-01-01")
    assert period_range(None, ("2023-01-01", "2024-12-01")) == YEAR
    for bad in ("24", "2024-13", "x"):
        with pytest.raises(BadRequestData):
            period_range(bad, None)
    with pytest.raises(BadRequestData, match="no billed energy"):
        period_range(None, None)


def test_values_become_kpi_entities_in_the_twin(yearly: dict[tuple[str, str], Any],
                                                store: Store, tenant: str) -> None:
    twin = open_twin(Settings(database_url="sqlite://"), store)
    values = list(yearly.values())
    assert publish(twin.broker, tenant, values, "testville", "2026-01-01T00:00:00Z") == len(
        values)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    entity_id = ("urn:ngsi-ld:KeyPerformanceIndicator:testville:electricity-per-capita:"
                 "CityDistrict-t-1:2024")
    stored = store.get_entity(tenant, entity_id)
    assert stored is not None
    assert stored.types == [ctx.expand("KeyPerformanceIndicator")]
    kpi = stored.attrs[ctx.expand("kpiValue")][0]
    assert kpi["value"] == pytest.approx(16.5) and kpi["unitCode"] == "KWH"
    period = stored.attrs[ctx.expand("calculationPeriod")][0]["value"]
    assert period == {"from": "2024-01-01", "to": "2025-01-01"}
    ref = stored.attrs[ctx.expand("refCityDistrict")][0]
    assert ref["object"] == district(1)
    missing = kpi_entity(yearly[("pm25-annual-mean", district(2))], "testville", "x")
    assert "kpiValue" not in missing
    assert missing["dataQuality"]["value"]["grade"] == "none"


def test_csv_rows_and_plot(yearly: dict[tuple[str, str], Any], tmp_path: Path) -> None:
    rows = rows_for_csv(yearly.values())
    energy = next(r for r in rows if r["indicator"] == "energy-per-capita"
                  and r["area_id"] == "city")
    assert energy["clause"] == "not confirmed" and energy["grade"] == "C"
    assert "CityDistrict.population" in energy["datasets"]
    path = plot(list(yearly.values()), tmp_path / "ind.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_range_is_the_billed_days(duck: DuckDBEngine) -> None:
    assert data_range(duck) == ("2024-01-01", "2024-02-01")
