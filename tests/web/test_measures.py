"""Map measures: what the page can colour by, and energy per m² from meter readings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.ngsild.jsonld import Context
from civictwin.ngsild.qlang import parse_type_selection
from civictwin.store import Store
from civictwin.store.base import EntityQuery
from civictwin.web.layers import MEASURES, Measure, register_measure
from tests.web.conftest import Lumen

LINK = {"Link": '<https://civictwin.org/ns/civictwin-context.jsonld>; '
                'rel="http://www.w3.org/ns/json-ld#context"'}


@pytest.fixture
def web(lumen: Lumen) -> Iterator[TestClient]:
    """A client of the app over the loaded city, speaking for the city's tenant."""
    app = create_app(Settings(database_url="sqlite://", auth_required=False), store=lumen.store)
    with TestClient(app, headers={"NGSILD-Tenant": lumen.tenant}) as client:
        yield client


def test_the_map_lists_its_measures_layers_and_the_city_extent(
        web: TestClient, lumen: Lumen) -> None:
    info = web.get("/web/map").json()
    names = [m["name"] for m in info["measures"]]
    assert names[:4] == ["yearBuilt", "heatingType", "energyPerArea", "floorsAboveGround"]
    heating = info["measures"][1]
    assert heating["kind"] == "category" and "heatPump" in heating["categories"]
    assert info["measures"][2]["valuesUrl"] == "measures/energyPerArea/values"
    assert info["layers"] == ["buildings", "districts", "sensors"]
    west, south, east, north = info["extent"]
    for building in lumen.city.buildings:
        for lon, lat in building["location"]["value"]["coordinates"][0]:
            assert west <= lon <= east and south <= lat <= north
    assert web.get("/web/map", headers={"NGSILD-Tenant": "empty"}).json()["extent"] is None


def readings(values: list[tuple[str, float]]) -> dict[str, object]:
    return {"electricityConsumption": [
        {"type": "Property", "value": v, "unitCode": "KWH", "observedAt": t}
        for t, v in values]}


def test_energy_per_area_sums_the_last_year_of_readings_per_floor_area(
        web: TestClient, lumen: Lumen) -> None:
    meters = lumen.city.meters[:2]
    year = [(f"2024-{m:02d}-15T00:00:00Z", 100.0 + m) for m in range(1, 13)]
    old = [("2023-06-01T00:00:00Z", 5000.0)]  # more than a year before the newest reading
    for meter, series in zip(meters, [year + old, year[6:]], strict=True):
        response = web.post(f"/ngsi-ld/v1/temporal/entities/{meter['id']}/attrs",
                            json=readings(series), headers=LINK)
        assert response.status_code == 204, response.text
    values = web.get("/web/measures/energyPerArea/values").json()["values"]
    expected = {}
    for meter, series in zip(meters, [year, year[6:]], strict=True):
        building = lumen.entities[meter["refBuilding"]["object"]]
        expected[building["id"]] = round(sum(v for _, v in series)
                                         / building["floorArea"]["value"], 1)
    assert values == expected
    other = web.get("/web/measures/energyPerArea/values", headers={"NGSILD-Tenant": "x"})
    assert other.json()["values"] == {}


def test_only_computed_measures_have_values(web: TestClient) -> None:
    assert web.get("/web/measures/yearBuilt/values").status_code == 400
    missing = web.get("/web/measures/nothing/values")
    assert missing.status_code == 404 and "known:" in missing.json()["detail"]


def test_a_registered_measure_is_offered_and_computed(web: TestClient, lumen: Lumen) -> None:
    def roof_share(store: Store, tenant: str, ctx: Context) -> dict[str, float]:
        found = store.query_entities(tenant, EntityQuery(
            types=parse_type_selection("Building", ctx.expand), limit=1000)).entities
        roof, area = ctx.expand("roofArea"), ctx.expand("floorArea")
        return {e.id: round(e.attrs[roof][0]["value"] / e.attrs[area][0]["value"], 3)
                for e in found}

    register_measure(Measure("roofShare", "Roof per floor area", "number", domain=(0, 1),
                             values=roof_share, source="roofArea / floorArea"))
    try:
        listed = {m["name"]: m for m in web.get("/web/map").json()["measures"]}
        assert listed["roofShare"]["valuesUrl"] == "measures/roofShare/values"
        values = web.get("/web/measures/roofShare/values").json()["values"]
        assert len(values) == len(lumen.city.buildings)
        first = lumen.city.buildings[0]
        assert values[first["id"]] == round(first["roofArea"]["value"]
                                            / first["floorArea"]["value"], 3)
    finally:
        MEASURES.pop("roofShare")
