"""The demo's monthly bills and station observations: complete, and without duplicates."""

from __future__ import annotations

import itertools

import pytest

from civictwin.samplecity import generate_city
from civictwin.samplecity.history import BILLING, billing_rows, station_rows


@pytest.mark.slow
def test_bills_sum_to_the_meters_year_and_stations_skip_the_current_hour() -> None:
    city = generate_city(seed=3, buildings=12)
    ids = itertools.count()
    bills = list(billing_rows(city, lambda t: f"x:{t}", lambda: f"i{next(ids)}", "now"))
    assert len(bills) == len(city.meters)
    first = city.meter_readings(city.meters[0]["id"])
    electricity = [r for r in bills[0] if r["attr"] == "x:electricityConsumption"]
    assert [r["observed_at"][:7] for r in electricity] == [f"2024-{m:02d}" for m in range(1, 13)]
    assert {r["dataset_id"] for r in electricity} == {BILLING}
    assert sum(r["num"] for r in electricity) == pytest.approx(first.electricity_kwh.sum(),
                                                               rel=1e-6)
    smart = frozenset({city.meters[0]["id"]})
    billed = list(billing_rows(city, lambda t: t, lambda: f"i{next(ids)}", "now", smart=smart))
    assert {r["attr"] for r in billed[0]} <= {"heatConsumption"}
    stations = list(station_rows(city, lambda t: t, lambda: f"i{next(ids)}", "now"))
    air = stations[0]
    assert {r["attr"] for r in air} == {"pm25", "no2"}
    assert len(air) == 2 * (8784 - 1)  # 2024 is a leap year; the last hour is the entity's
    assert max(r["observed_at"] for r in air) == "2024-12-31T22:00:00.000000Z"
    weather = [s for s in stations if s and s[0]["entity_id"].startswith(
        "urn:ngsi-ld:WeatherObserved")]
    assert weather and {r["attr"] for r in weather[0]} == {"temperature"}
