"""The scenario model against a three-building city computed by hand, and its file format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from civictwin.analytics import scenario as model
from civictwin.analytics.scenario import (
    METRICS,
    BuildingStock,
    load_assumptions,
    parse_assumptions,
    path_values,
)
from civictwin.analytics.solar import clear_sky_weather, specific_yield
from civictwin.errors import BadRequestData

# Every number below is chosen so the expected results can be worked out on paper.
HAND: dict[str, Any] = {
    "name": "hand", "base_year": 2025, "end_year": 2027,
    "baseline": {"space_heat": [200, 150, 100, 80, 50, 20], "hot_water": 10,
                 "electricity": {"residential": 30, "commercial": 0, "office": 80,
                                 "industrial": 0, "public": 0, "mixed": 0}},
    "retrofit": {"rate": [0.1, 0.1, 0.1, 0.1, 0, 0], "saving": [0.5, 0.5, 0.5, 0.5, 0, 0],
                 "cost_per_m2": 100},
    "heat_pumps": {"rate": 0.25, "cop": {2025: 2.0, 2027: 3.0}, "cost_per_kw": 1000,
                   "full_load_hours": 2000},
    "solar": {"rate": 0.1, "max_share": 0.15, "usable_roof": 0.5, "kwp_per_m2": 0.2,
              "cost_per_kwp": 1000},
    "mobility": {"start_share": 0.1, "rate": 0.2, "cars_per_dwelling": 1, "dwelling_m2": 100,
                 "km_per_car": 10000, "kwh_per_km": 0.2, "combustion_kg_per_km": 0.15},
    "grid": {"emission_factor": {2025: 0.2, 2027: 0.1}},
    "fuels": {"gas_efficiency": 0.8, "gas_factor": 0.2, "district_heat_factor": {2025: 0.1}},
    "prices": {"electricity": 0.3, "feed_in": 0.1, "gas": 0.1, "district_heat": 0.1},
}


def hand_stock() -> BuildingStock:
    """B1: 1900 gas-heated house; B2: 1960 office with a heat pump; B3: 2015 house, DH."""
    return BuildingStock(
        ["urn:b:1", "urn:b:2", "urn:b:3"], np.array([0, 0, 1]), ["urn:d:1", "urn:d:2"],
        np.array([1900, 1960, 2015]), np.array([0, 2, 0]),
        np.array([model.GAS, model.HEAT_PUMP, model.DISTRICT]),
        np.array([100.0, 200.0, 100.0]), np.array([50.0, 100.0, 0.0]),
        np.zeros(3), np.full(3, 180.0), 50.85, 4.35)


def hand_result() -> model.ScenarioResult:
    return model.run(hand_stock(), parse_assumptions(HAND), np.array([1000.0, 800.0, 0.0]),
                     "given")


def value(result: model.ScenarioResult, metric: str, district: str, year: int) -> float:
    return float(result.series(metric, district)[year - 2025])


def test_the_second_year_matches_the_hand_computation() -> None:
    result = hand_result()
    # B1 in 2026: 10 % retrofitted (heat 200*100*(1-0.05) + 10*100 = 20,000 kWh), 25 % heat
    # pump (gas 20,000*0.75/0.8 = 18,750; HP 20,000*0.25/2.5 = 2,000 kWh at COP 2.5), base 3,000,
    # one car 30 % electric (600 kWh); PV 5 kWp * 1000 * 10 % = 500 -> import 5,100 kWh.
    # B2: heat 100*200*0.95 + 2,000 = 21,000 -> HP 8,400 kWh; base 16,000; PV 800; import 23,600.
    assert value(result, "heat_demand", "urn:d:1", 2026) == pytest.approx(41_000)
    assert value(result, "gas", "urn:d:1", 2026) == pytest.approx(18_750)
    assert value(result, "electricity_demand", "urn:d:1", 2026) == pytest.approx(30_000)
    assert value(result, "pv_generation", "urn:d:1", 2026) == pytest.approx(1_300)
    assert value(result, "grid_import", "urn:d:1", 2026) == pytest.approx(28_700)
    # Emissions: gas 3.75 t, electricity 28,700 * 0.15 / 1000 = 4.305 t, car 0.7*10000*0.15/1000.
    assert value(result, "emissions_heating", "urn:d:1", 2026) == pytest.approx(3.75)
    assert value(result, "emissions_electricity", "urn:d:1", 2026) == pytest.approx(4.305)
    assert value(result, "emissions_transport", "urn:d:1", 2026) == pytest.approx(1.05)
    assert value(result, "emissions", "urn:d:1", 2026) == pytest.approx(9.105)
    # Cost: 28,700*0.3 + 18,750*0.1. Investment: retrofit 0.1*(100+200)*100 = 3,000, heat pump
    # 0.25 * (21,000/2000 kW) * 1000 = 2,625, PV 0.1 * (5+10) kWp * 1000 = 1,500.
    assert value(result, "energy_cost", "urn:d:1", 2026) == pytest.approx(8_610 + 1_875)
    assert value(result, "investment", "urn:d:1", 2026) == pytest.approx(7_125)
    assert value(result, "retrofitted_area", "urn:d:1", 2026) == pytest.approx(30)
    assert value(result, "heat_pump_buildings", "urn:d:1", 2026) == pytest.approx(1.25)
    # B3 (district 2): heat 2,000 + 1,000 on district heat at 0.1 kg; 3,600 kWh electricity.
    assert value(result, "district_heat", "urn:d:2", 2026) == pytest.approx(3_000)
    assert value(result, "emissions", "urn:d:2", 2026) == pytest.approx(0.3 + 0.54 + 1.05)
    assert value(result, "energy_cost", "urn:d:2", 2026) == pytest.approx(1_080 + 300)


def test_the_base_year_has_no_lever_but_the_starting_shares() -> None:
    result = hand_result()
    assert value(result, "investment", "urn:d:1", 2025) == 0
    assert value(result, "pv_generation", "urn:d:1", 2025) == 0
    assert value(result, "heat_pump_buildings", "urn:d:1", 2025) == 1  # B2's own
    assert value(result, "electric_cars", "urn:d:2", 2025) == pytest.approx(0.1)
    # B1 2025: heat 21,000 -> gas 26,250 kWh -> 5.25 t; electricity 3,000 + 200 (EV) at 0.2 kg.
    assert value(result, "gas", "urn:d:1", 2025) == pytest.approx(26_250)
    assert value(result, "emissions_heating", "urn:d:1", 2025) == pytest.approx(5.25)


def test_shares_are_capped_and_paths_interpolated() -> None:
    result = hand_result()
    # 2027: PV share would be 20 % but the ceiling is 15 %: B1 750 + B2 1,200 kWh.
    assert value(result, "pv_generation", "urn:d:1", 2027) == pytest.approx(1_950)
    assert value(result, "investment", "urn:d:1", 2027) == pytest.approx(
        3_000 + 0.25 * 10.5 * 1000 + 0.05 * 15 * 1000)
    assert path_values({2025: 2.0, 2027: 3.0}, np.array([2020, 2026, 2030])).tolist() == [
        2.0, 2.5, 3.0]


def test_districts_add_up_to_the_city_and_one_building_runs_alone() -> None:
    result = hand_result()
    for metric in METRICS:
        city = result.series(metric)
        assert np.allclose(city, result.series(metric, "urn:d:1")
                           + result.series(metric, "urn:d:2"))
    stock = hand_stock()
    alone = model.run(stock.subset(np.array([2])), parse_assumptions(HAND), np.zeros(1), "x")
    assert np.allclose(alone.series("emissions"), result.series("emissions", "urn:d:2"))


def test_solar_surplus_is_exported_and_credited() -> None:
    stock = hand_stock().subset(np.array([2]))
    big_roof = BuildingStock(stock.ids, stock.district, stock.district_ids, stock.year_built,
                             stock.use, stock.heating, stock.floor_area, np.array([400.0]),
                             stock.roof_tilt, stock.roof_orientation, 50.85, 4.35)
    result = model.run(big_roof, parse_assumptions(HAND), np.array([1000.0]), "x")
    # 2026: 40 kWp * 1000 * 10 % = 4,000 kWh against 3,600 kWh used: 400 kWh exported.
    assert result.series("grid_export")[1] == pytest.approx(400)
    assert result.series("grid_import")[1] == 0
    assert result.series("energy_cost")[1] == pytest.approx(-400 * 0.1 + 300)


def test_solar_yield_follows_orientation_and_tilt() -> None:
    weather = clear_sky_weather(50.85, 4.35, 0.65, 11.0)
    flat, south, north, east = specific_yield(
        weather, np.array([0.0, 35.0, 35.0, 35.0]), np.array([0.0, 180.0, 0.0, 90.0]))
    assert 700 < flat < 1100  # kWh/kWp in north-western Europe
    assert south > flat > east > north
    assert "clear-sky" in weather.source


def test_a_scenario_file_is_read_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "fast-heat-pumps.toml"
    path.write_text("[heat_pumps]\nrate = 0.08\ncop = { 2025 = 3.1, 2050 = 4.0 }\n")
    assume = load_assumptions(path)
    assert assume.name == "fast-heat-pumps"
    assert assume.heat_pumps.rate == 0.08 and assume.heat_pumps.cop == {2025: 3.1, 2050: 4.0}
    assert assume.retrofit.rate == model.Retrofit().rate
    assert {lever["lever"]: lever["dpsir"] for lever in assume.levers()}["solar"] == "response"
    assert all(tag in model.DPSIR for _, tag, _ in METRICS.values())


@pytest.mark.parametrize(("text", "detail"), [
    ("[retrofit]\nrate = [0.1, 0.1]\n", "retrofit.rate"),
    ("[heat_pumps]\nrate = 1.5\n", "heat_pumps.rate"),
    ("base_year = 2030\nend_year = 2030\n", "end_year"),
    ("[solar]\ncolour = 'blue'\n", "solar.colour"),
    ("[grid\n", "scenario file"),
])
def test_a_bad_scenario_file_is_refused_with_what_is_wrong(
        tmp_path: Path, text: str, detail: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadRequestData, match=detail.replace(".", r"\.")):
        load_assumptions(path)
