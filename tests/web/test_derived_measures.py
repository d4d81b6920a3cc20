"""Map measures derived elsewhere in civictwin: emissions per m² and rooftop solar potential."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pvlib
import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from tests.web.conftest import Lumen

LINK = {"Link": '<https://civictwin.org/ns/civictwin-context.jsonld>; '
                'rel="http://www.w3.org/ns/json-ld#context"'}
YEAR = [f"2024-{m:02d}-01T00:00:00Z" for m in range(1, 13)]


def client_of(lumen: Lumen) -> TestClient:
    """Return a client of a new app over the loaded city, speaking for the city's tenant."""
    app = create_app(Settings(database_url="sqlite://", auth_required=False), store=lumen.store)
    return TestClient(app, headers={"NGSILD-Tenant": lumen.tenant})


@pytest.fixture
def web(lumen: Lumen) -> Iterator[TestClient]:
    """A client of the app over the loaded city."""
    with client_of(lumen) as client:
        yield client


def shipped_factors() -> dict[str, float]:
    """Read the t CO2e/MWh of every carrier straight from the shipped TOML."""
    text = resources.files("civictwin.analytics").joinpath("emission_factors.toml").read_text()
    return {c: float(v["factor"]) for c, v in tomllib.loads(text)["carriers"].items()}


def bills(name: str, kwh: list[float], old: float | None = None) -> dict[str, Any]:
    series = [("2023-06-01T00:00:00Z", old)] if old is not None else []
    return {name: [{"type": "Property", "value": v, "unitCode": "KWH", "observedAt": t}
                   for t, v in [*series, *zip(YEAR, kwh, strict=True)]]}


def test_emissions_are_last_years_energy_by_carrier_times_its_factor_per_m2(
        web: TestClient, lumen: Lumen) -> None:
    heated = [m for m in lumen.city.meters if "heatMeterType" in m]
    plain = [m for m in lumen.city.meters if "heatMeterType" not in m]
    carriers = {m["heatMeterType"]["value"]: m for m in heated}
    meters = [*carriers.values(), plain[0]]
    assert len(carriers) >= 2  # the sample city heats with at least two fuels
    factors = shipped_factors()
    expected: dict[str, float] = {}
    for n, meter in enumerate(meters):
        electricity = [2000.0 + 10 * n + m for m in range(12)]
        heat = [30000.0 - 1000 * m + n for m in range(12)]
        attrs = bills("electricityConsumption", electricity, old=9000.0)  # older than a year
        if "heatMeterType" in meter:
            attrs |= bills("heatConsumption", heat)
        response = web.post(f"/ngsi-ld/v1/temporal/entities/{meter['id']}/attrs",
                            json=attrs, headers=LINK)
        assert response.status_code == 204, response.text
        building = lumen.entities[meter["refBuilding"]["object"]]
        kg = sum(electricity) * factors["electricity"]  # kWh x t/MWh = kg
        if "heatMeterType" in meter:
            kg += sum(heat) * factors[meter["heatMeterType"]["value"]]
        expected[building["id"]] = expected.get(building["id"], 0.0) + kg
    areas = {b: lumen.entities[b]["floorArea"]["value"] for b in expected}
    values = web.get("/web/measures/emissions/values").json()["values"]
    assert values == pytest.approx({b: round(kg / areas[b], 1) for b, kg in expected.items()},
                                   abs=0.051)
    described = {m["name"]: m for m in web.get("/web/map").json()["measures"]}["emissions"]
    assert described["unit"] == "kg CO2e/m²" and "heatMeterType" in described["source"]

    unknown = meters[0]
    patched = web.post(f"/ngsi-ld/v1/entities/{unknown['id']}/attrs", headers=LINK,
                       json={"heatMeterType": {"type": "Property", "value": "Peat"}})
    assert patched.status_code == 204, patched.text
    with client_of(lumen) as fresh:  # a new app: no minute-long cache of the values
        again = fresh.get("/web/measures/emissions/values").json()["values"]
    assert unknown["refBuilding"]["object"] not in again  # no factor: no understated figure
    assert len(again) == len(values) - 1
    assert web.get("/web/measures/emissions/values",
                   headers={"NGSILD-Tenant": "x"}).json()["values"] == {}


def clear_sky_yield(lat: float, lon: float, tilt: float, azimuth: float) -> float:
    """kWh/kWp of one roof under a cloud-scaled Ineichen year, computed here with pvlib."""
    start = pd.Timestamp("2023-01-01", tz="UTC")
    times = pd.date_range(start, periods=8760, freq="1h") + pd.Timedelta(minutes=30)
    sun = pvlib.solarposition.get_solarposition(times, lat, lon)
    sky = pvlib.location.Location(lat, lon, tz="UTC").get_clearsky(
        times, model="ineichen", solar_position=sun)
    clear = (0.65 - 0.3) / 0.7
    ghi, dni, dhi = (sky[k].to_numpy() for k in ("ghi", "dni", "dhi"))
    overcast = (1 - clear) * 0.3 * ghi
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, sun["apparent_zenith"].to_numpy(), sun["azimuth"].to_numpy(),
        clear * dni, clear * ghi + overcast, clear * dhi + overcast, albedo=0.2,
        model="isotropic")["poa_global"]
    poa = np.nan_to_num(np.clip(np.asarray(poa, dtype=float), 0, None))
    cell = pvlib.temperature.faiman(poa, 11.0, 1.0)
    return float((poa / 1000 * (1 - 0.004 * (cell - 25))).sum() * (1 - 0.14))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_solar_potential_is_usable_roof_times_kwp_times_the_roofs_yield(
        web: TestClient, lumen: Lumen) -> None:
    values = web.get("/web/measures/solarPotential/values").json()["values"]
    buildings = lumen.city.buildings
    assert set(values) == {b["id"] for b in buildings}
    west, south, east, north = web.get("/web/map").json()["extent"]
    lat, lon = round((south + north) / 2, 2), round((west + east) / 2, 2)
    cache: dict[tuple[float, float], float] = {}
    for b in buildings:
        tilt = round(b["roofTilt"]["value"] / 5) * 5.0
        azimuth = (round(b["roofOrientation"]["value"] / 10) * 10.0) % 360 if tilt else 180.0
        if (tilt, azimuth) not in cache:
            cache[(tilt, azimuth)] = clear_sky_yield(lat, lon, tilt, azimuth)
        kwh = b["roofArea"]["value"] * 0.6 * 0.2 * cache[(tilt, azimuth)]
        assert values[b["id"]] == pytest.approx(kwh, rel=1e-3, abs=1.0)
    south_facing = [y for (t, a), y in cache.items() if t >= 25 and a == 180.0]
    flat = cache.get((0.0, 180.0))
    assert flat is not None and 600 < flat < 1200  # kWh/kWp, a plausible European figure
    assert south_facing and all(y > flat for y in south_facing)
    assert web.get("/web/measures/solarPotential/values",
                   headers={"NGSILD-Tenant": "x"}).json()["values"] == {}
