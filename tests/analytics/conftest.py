"""A small generated city in a test's tenant, with the history the insight models read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from civictwin.config import Settings
from civictwin.ngsild.attributes import now_iso
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import history_for, load_meter_history
from civictwin.samplecity import SampleCity, generate_city
from civictwin.store import Store
from civictwin.store.base import Entity
from civictwin.store.temporal import new_instance_id
from civictwin.twin import Twin, open_twin


@dataclass(frozen=True)
class SmallCity:
    """A twin holding a generated city, and the generator's own view of it."""

    twin: Twin
    tenant: str
    city: SampleCity


def load_city(twin: Twin, tenant: str, buildings: int, types: tuple[str, ...],
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
    city = load_city(twin, tenant, 40, ("CityDistrict", "Building"))
    return SmallCity(twin, tenant, city)
