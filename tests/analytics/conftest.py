"""Fixtures for insight tests: a tiny city with known figures, its lake, one Spark session;
and a generated sample city with the history the scenario and forecast models read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from civictwin.analytics.lake import Lake, export_lake
from civictwin.config import Settings
from civictwin.ngsild.attributes import now_iso
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import history_for, load_meter_history
from civictwin.samplecity import SampleCity, generate_city
from civictwin.store import Store, open_store
from civictwin.store.base import Entity
from civictwin.store.lake import LakeSource
from civictwin.store.temporal import new_instance_id
from civictwin.twin import Twin, open_twin

BILLING = "urn:ngsi-ld:Dataset:billing"
MONTHS = ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")
# building: (district, category, floor area, heating, heat meter, electricity kWh by month,
#            heat kWh by month)
BUILDINGS: dict[int, tuple[int, list[str], float, str, str | None, list[float], list[float]]] = {
    1: (1, ["residential"], 1000.0, "gasBoiler", "NaturalGas", [3000, 2500], [10000, 8000]),
    2: (1, ["office"], 2000.0, "districtHeating", "DistrictHeat", [6000, 5000], [4000, 3000]),
    3: (2, ["industrial"], 3000.0, "oilBoiler", "HeatingOil", [9000, 9000], [7000, 6000]),
    4: (2, ["residential", "commercial"], 500.0, "heatPump", None, [1500, 1200], []),
    5: (2, ["residential"], 400.0, "biomass", "Biomass", [800], [2000]),
}
POPULATION = {1: 1000, 2: 500}
DISTRICT_NAMES = {1: "North", 2: "South"}


def prop(value: Any, unit: str | None = None, **extra: Any) -> dict[str, Any]:
    """Return a normalized Property."""
    out: dict[str, Any] = {"type": "Property", "value": value, **extra}
    if unit:
        out["unitCode"] = unit
    return out


def district(n: int) -> str:
    """Return the id of test district n."""
    return f"urn:ngsi-ld:CityDistrict:t:{n}"


def district_area(n: int) -> dict[str, Any]:
    """Return a square GeoProperty for test district n, side by side from west to east."""
    west, south = 4.30 + 0.01 * n, 50.80
    ring = [[west, south], [west + 0.01, south], [west + 0.01, south + 0.01],
            [west, south + 0.01], [west, south]]
    return {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [ring]}}


def city_entities() -> list[dict[str, Any]]:
    """Return the tiny city's districts, buildings, meters and stations."""
    out: list[dict[str, Any]] = [
        {"id": district(n), "type": "CityDistrict", "name": prop(DISTRICT_NAMES[n]),
         "population": prop(people), "location": district_area(n)}
        for n, people in POPULATION.items()]
    for n, (d, category, area, heating, heat_meter, _, _) in BUILDINGS.items():
        out.append({"id": f"urn:ngsi-ld:Building:t:{n}", "type": "Building",
                    "category": prop(category), "floorArea": prop(area, "MTK"),
                    "address": prop({"addressLocality": "Testville"}),
                    "heatingType": prop(heating),
                    "refCityDistrict": {"type": "Relationship", "object": district(d)}})
        meter = {"id": f"urn:ngsi-ld:SmartMeteringObservation:t:{n}",
                 "type": "SmartMeteringObservation", "meterType": prop("Electricity"),
                 "refBuilding": {"type": "Relationship", "object": f"urn:ngsi-ld:Building:t:{n}"}}
        if heat_meter:
            meter["heatMeterType"] = prop(heat_meter)
        out.append(meter)
    station = {"dateObserved": prop("2024-01-01T00:00:00Z"),
               "location": {"type": "GeoProperty",
                            "value": {"type": "Point", "coordinates": [4.315, 50.805]}}}
    out.append({"id": "urn:ngsi-ld:AirQualityObserved:t:1", "type": "AirQualityObserved",
                "address": prop({"district": "North", "addressLocality": "Testville"}),
                **station})
    out.append({"id": "urn:ngsi-ld:WeatherObserved:t:1", "type": "WeatherObserved",
                "address": prop({"district": "South", "addressLocality": "Testville"}),
                **station})
    return out


def hourly(day: str, values: list[float], unit: str) -> list[dict[str, Any]]:
    """Return hourly instances of one day."""
    return [prop(v, unit, observedAt=f"{day}T{h:02d}:00:00Z") for h, v in enumerate(values)]


def load_city(twin: Twin, tenant: str) -> None:
    """Write the tiny city through the broker and its history through the temporal API."""
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    result = twin.broker.batch_upsert(tenant, city_entities(), ctx)
    assert not result.errors
    for n, (_, _, _, _, _, electricity, heat) in BUILDINGS.items():
        body: dict[str, list[dict[str, Any]]] = {
            "electricityConsumption": [prop(v, "KWH", observedAt=m, datasetId=BILLING)
                                       for m, v in zip(MONTHS, electricity, strict=False)]}
        if heat:
            body["heatConsumption"] = [prop(v, "KWH", observedAt=m, datasetId=BILLING)
                                       for m, v in zip(MONTHS, heat, strict=False)]
        if n == 1:  # two days of quarter-hour readings: a smart meter
            body["electricityConsumption"] += [
                prop(0.5, "KWH", observedAt=f"2024-01-0{d}T{q // 4:02d}:{q % 4 * 15:02d}:00Z")
                for d in (1, 2) for q in range(96)]
        twin.temporal.append(tenant, f"urn:ngsi-ld:SmartMeteringObservation:t:{n}", body, ctx)
    air = {"pm25": hourly("2024-01-01", [20.0] * 24, "GQ") + hourly("2024-01-02", [10.0] * 24,
                                                                     "GQ")
           + hourly("2024-01-03", [90.0] * 6, "GQ"),
           "no2": hourly("2024-01-01", [30.0] * 24, "GQ") + hourly("2024-01-02", [20.0] * 24,
                                                                    "GQ")}
    twin.temporal.append(tenant, "urn:ngsi-ld:AirQualityObserved:t:1", air, ctx)
    day1 = [20.0 + h / 2 for h in range(24)]  # 20 .. 31.5 °C
    day2 = [15.0 + h / 3 for h in range(24)]  # 15 .. 22.67 °C
    weather = {"temperature": hourly("2024-01-01", day1, "CEL")
               + hourly("2024-01-02", day2, "CEL")}
    twin.temporal.append(tenant, "urn:ngsi-ld:WeatherObserved:t:1", weather, ctx)


@pytest.fixture
def city_twin(store: Store, tenant: str) -> Twin:
    """The tiny city in a store of each kind."""
    twin = open_twin(Settings(database_url="sqlite://"), store)
    load_city(twin, tenant)
    return twin


def export_all(twin: Twin, lake: Lake) -> None:
    """Export everything recorded so far."""
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    engine = getattr(twin.store, "engine")  # noqa: B009 (SQL stores only)
    export_lake(LakeSource(engine), lake, ctx.compact, settle=0)


@pytest.fixture(scope="module")
def city_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """The tiny city exported once to a local lake (SQLite twin), shared by a module."""
    folder: Path = tmp_path_factory.mktemp("lake")
    store = open_store(f"sqlite:///{folder / 'twin.db'}")
    twin = open_twin(Settings(database_url="sqlite://"), store)
    load_city(twin, "")
    lake = Lake.at(str(folder / "lake"))
    export_all(twin, lake)
    yield lake
    store.close()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole test run."""
    from civictwin.analytics.engine import spark_session

    session = spark_session("local[1]", "civictwin-tests")
    yield session
    session.stop()


# -- a generated sample city (scenarios and forecasts) ------------------------------------
@dataclass(frozen=True)
class SmallCity:
    """A twin holding a generated city, and the generator's own view of it."""

    twin: Twin
    tenant: str
    city: SampleCity


def load_generated(twin: Twin, tenant: str, buildings: int, types: tuple[str, ...],
              meters_with_history: int = 0) -> SampleCity:
    """Upsert the city's entities of `types` into the tenant; give meters a year of readings."""
    city = generate_city(seed=7, buildings=buildings)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    wanted = [e for group in (city.districts, city.buildings, city.meters, city.stations)
              for e in group if e["type"] in types]
    result = twin.broker.batch_upsert(tenant, wanted, ctx)
    assert not result.errors, result.errors
    if meters_with_history:
        load_meter_history(twin.broker, city, ctx, tenant=tenant, meters=meters_with_history)
    return city


def load_station_history(twin: Twin, city: SampleCity, tenant: str, station_id: str,
                         attrs: tuple[str, ...] = ("solarRadiation", "temperature")) -> None:
    """Bulk-load a weather station's hourly year of `attrs` into the temporal history."""
    history = history_for(twin.store)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    series = city.station_readings(station_id)
    stamps = np.datetime_as_string(series.time, unit="us").tolist()
    seconds = series.time.astype("int64").tolist()
    now = now_iso()
    entity = Entity(station_id, [ctx.expand("WeatherObserved")])
    for attr in attrs:
        rows = [{"tenant": tenant, "entity_id": station_id, "attr": ctx.expand(attr),
                 "dataset_id": "", "instance_id": new_instance_id(), "observed_at": f"{t}Z",
                 "observed_s": s, "observed": True, "created_at": now, "modified_at": now,
                 "kind": "Property", "num": v, "value": f'{{"type":"Property","value":{v!r}}}'}
                for t, s, v in zip(stamps, seconds, np.round(series.values[attr], 3).tolist(),
                                   strict=True)]
        with history.engine.connect().execution_options(write=True) as conn, conn.begin():
            history.insert(conn, rows, [entity], tenant)


@pytest.fixture
def twin(store: Store) -> Twin:
    """The twin over this test's store (both kinds)."""
    return open_twin(Settings(database_url="sqlite://"), store)


@pytest.fixture
def buildings_city(twin: Twin, tenant: str) -> SmallCity:
    """Forty buildings in their districts, no meters."""
    city = load_generated(twin, tenant, 40, ("CityDistrict", "Building"))
    return SmallCity(twin, tenant, city)
