"""Meter readings: shape, determinism, consistency with the entities, plausible energy."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from civictwin.samplecity import SampleCity, generate_city, meter_readings

ELECTRIC_HEATING = {"heatPump", "electric"}


def _buildings(city: SampleCity) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in city.buildings}


@pytest.mark.parametrize(("year", "quarters", "days"), [(2024, 35136, 366), (2023, 35040, 365)])
def test_series_cover_the_year(city: SampleCity, year: int, quarters: int, days: int) -> None:
    series = meter_readings(city, city.meters[0]["id"], year)
    assert series.electricity_time.dtype == np.dtype("datetime64[s]")
    assert series.electricity_kwh.dtype == np.float64
    assert series.electricity_kwh.shape == series.electricity_time.shape == (quarters,)
    assert series.heat_kwh.shape == series.heat_time.shape == (days,)
    assert series.electricity_time[0] == np.datetime64(f"{year}-01-01T00:00:00")
    assert series.electricity_time[-1] == np.datetime64(f"{year}-12-31T23:45:00")
    assert np.all(np.diff(series.electricity_time) == np.timedelta64(900, "s"))
    assert np.all(series.electricity_kwh > 0)
    assert np.all(series.heat_kwh >= 0)


def test_series_are_deterministic(city: SampleCity) -> None:
    meter = city.meters[5]["id"]
    first = meter_readings(city, meter)
    again = meter_readings(generate_city(), meter)
    assert np.array_equal(first.electricity_kwh, again.electricity_kwh)
    assert np.array_equal(first.heat_kwh, again.heat_kwh)
    other = meter_readings(generate_city(seed=8), meter)
    assert not np.array_equal(first.electricity_kwh, other.electricity_kwh)


def test_readings_add_up_to_the_meter_state(city: SampleCity) -> None:
    for entity in city.meters[:200]:
        spec = city.meter_specs[entity["id"]]
        series = meter_readings(city, entity["id"])
        total = entity["totalConsumption"]["value"]
        assert total == pytest.approx(series.electricity_kwh.sum() * (1 + spec.installed_years),
                                      abs=0.1)
        assert entity["totalConsumption"]["observedAt"] == "2025-01-01T00:00:00Z"
        if "totalHeatConsumption" in entity:
            heat = series.heat_kwh.sum() * (1 + spec.installed_years)
            assert entity["totalHeatConsumption"]["value"] == pytest.approx(heat, abs=0.1)
        else:
            assert series.heat_kwh.sum() == 0.0


def test_electrically_heated_buildings_have_no_heat_meter(city: SampleCity) -> None:
    buildings = _buildings(city)
    for meter in city.meters:
        heating = buildings[meter["refBuilding"]["object"]]["heatingType"]
        assert ("heatMeterType" in meter) == (heating["value"] not in ELECTRIC_HEATING)


def test_every_meter_of_the_city_has_a_positive_year(city: SampleCity) -> None:
    totals = [meter_readings(city, m["id"]).electricity_kwh.sum() for m in city.meters]
    assert len(totals) == 3000
    assert min(totals) > 0


def test_annual_energy_is_plausible_per_use(city: SampleCity) -> None:
    buildings = _buildings(city)
    per_m2: dict[str, list[float]] = defaultdict(list)
    for meter in city.meters:
        building = buildings[meter["refBuilding"]["object"]]
        heating = building["heatingType"]["value"]
        area = building["floorArea"]["value"]
        use = "+".join(building["category"]["value"])
        series = meter_readings(city, meter["id"])
        electricity = float(series.electricity_kwh.sum())
        if heating not in ELECTRIC_HEATING:
            per_m2[use].append(electricity / area)
            heat = float(series.heat_kwh.sum()) / area
            assert 15.0 < heat < 450.0
        if use == "residential" and heating not in ELECTRIC_HEATING:
            dwellings = area / 75.0
            assert 1_000 <= electricity / dwellings <= 10_000
    medians = {use: float(np.median(v)) for use, v in per_m2.items()}
    assert 20 < medians["residential"] < 40
    assert medians["office"] > 2 * medians["residential"]
    assert medians["commercial"] > medians["office"]
    assert medians["industrial"] > medians["public"]


def _one_meter(city: SampleCity, category: list[str], heating: str) -> str:
    buildings = _buildings(city)
    for meter in city.meters:
        building = buildings[meter["refBuilding"]["object"]]
        if (building["category"]["value"] == category
                and building["heatingType"]["value"] == heating):
            return str(meter["id"])
    raise AssertionError(f"no {category} building heated by {heating}")


def test_daily_and_weekly_profiles(city: SampleCity) -> None:
    home = meter_readings(city, _one_meter(city, ["residential"], "gasBoiler"))
    by_quarter = home.electricity_kwh.reshape(-1, 96).mean(axis=0)
    evening, night = by_quarter[18 * 4:20 * 4].mean(), by_quarter[1 * 4:3 * 4].mean()  # UTC
    assert evening > 1.8 * night
    office = meter_readings(city, _one_meter(city, ["office"], "gasBoiler"))
    days = office.electricity_kwh.reshape(-1, 96).sum(axis=1)
    weekday = (office.heat_time.astype("datetime64[D]").astype(np.int64) + 3) % 7
    assert days[weekday < 5].mean() > 1.8 * days[weekday == 6].mean()


def test_heating_follows_the_seasons(city: SampleCity) -> None:
    gas = meter_readings(city, _one_meter(city, ["residential"], "gasBoiler"))
    winter = gas.heat_kwh[:59].sum() + gas.heat_kwh[-31:].sum()  # Jan, Feb, Dec
    summer = gas.heat_kwh[152:244].sum()  # Jun to Aug
    assert winter > 4 * summer
    pump = meter_readings(city, _one_meter(city, ["residential"], "heatPump"))
    quarters_per_day = pump.electricity_kwh.reshape(-1, 96).sum(axis=1)
    assert quarters_per_day[:59].mean() > 1.5 * quarters_per_day[152:244].mean()
