"""A small metered city written into a real store: districts, buildings, meters and readings.

Each meter's readings are given exactly, so tests know every cell's true contributors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from civictwin.config import Settings
from civictwin.ngsild.attributes import now_iso
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import history_for
from civictwin.privacy.sources import ATTRIBUTES
from civictwin.store import Store
from civictwin.store.base import Entity
from civictwin.store.temporal import new_instance_id
from civictwin.twin import open_twin

METER = "https://smartdatamodels.org/dataModel.Device/SmartMeteringObservation"
SQUARE = {"type": "Polygon", "coordinates": [[[4.3, 50.8], [4.4, 50.8], [4.4, 50.9],
                                              [4.3, 50.9], [4.3, 50.8]]]}


@dataclass(frozen=True)
class Meter:
    """One meter, its building, and its readings as (ISO time, kWh)."""

    number: int
    district: str
    street: str = "Main Street"
    use: str = "residential"
    heating: str = "gasBoiler"
    year: int = 1980
    carrier: str = "NaturalGas"
    readings: Sequence[tuple[str, float]] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        """Return the meter's entity id."""
        return f"urn:ngsi-ld:SmartMeteringObservation:{self.number}"

    @property
    def building(self) -> str:
        """Return the meter's building id."""
        return f"urn:ngsi-ld:Building:{self.number}"


def district_id(name: str) -> str:
    """Return the entity id of a district by name."""
    return f"urn:ngsi-ld:CityDistrict:{name}"


def monthly(year: int, values: Sequence[float]) -> list[tuple[str, float]]:
    """Return readings stamped at the start of each month of a year."""
    return [(f"{year}-{m:02d}-01T00:00:00Z", v) for m, v in enumerate(values, start=1)]


def build(store: Store, tenant: str, meters: Sequence[Meter],
          quantity: str = "electricity") -> None:
    """Write the districts, buildings, meters and readings into `tenant`."""
    twin = open_twin(Settings(database_url="sqlite://"), store)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    bodies: list[dict[str, object]] = []
    for name in sorted({m.district for m in meters}):
        bodies.append({"id": district_id(name), "type": "CityDistrict",
                       "name": {"type": "Property", "value": name},
                       "location": {"type": "GeoProperty", "value": SQUARE}})
    for m in meters:
        category = ["residential", "commercial"] if m.use == "mixed" else [m.use]
        bodies.append({
            "id": m.building, "type": "Building",
            "category": {"type": "Property", "value": category},
            "address": {"type": "Property", "value": {
                "streetAddress": f"{m.street} {m.number}", "addressLocality": "Lumen"}},
            "heatingType": {"type": "Property", "value": m.heating},
            "yearBuilt": {"type": "Property", "value": m.year},
            "refCityDistrict": {"type": "Relationship", "object": district_id(m.district)}})
        bodies.append({
            "id": m.id, "type": "SmartMeteringObservation",
            "meterType": {"type": "Property", "value": "Electricity"},
            "heatMeterType": {"type": "Property", "value": m.carrier},
            "refBuilding": {"type": "Relationship", "object": m.building}})
    result = twin.broker.batch_upsert(tenant, bodies, ctx)
    assert not result.errors, result.errors
    write_readings(store, tenant, meters, quantity)


def write_readings(store: Store, tenant: str, meters: Sequence[Meter],
                   quantity: str = "electricity") -> None:
    """Append the meters' readings to the history of `tenant`."""
    attr = ATTRIBUTES[quantity][0]
    history = history_for(store)
    now = now_iso()
    rows = []
    for m in meters:
        for when, kwh in m.readings:
            moment = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(UTC)
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            inst = {"type": "Property", "value": kwh, "unitCode": "KWH"}
            rows.append({"tenant": tenant, "entity_id": m.id, "attr": attr, "dataset_id": "",
                         "instance_id": new_instance_id(), "observed_at": stamp,
                         "observed_s": int(moment.timestamp()), "observed": True,
                         "created_at": now, "modified_at": now, "kind": "Property",
                         "num": kwh, "value": json.dumps(inst, sort_keys=True)})
    entities = [Entity(m.id, [METER]) for m in meters]
    with history.engine.connect().execution_options(write=True) as conn, conn.begin():
        history.insert(conn, rows, entities, tenant)
