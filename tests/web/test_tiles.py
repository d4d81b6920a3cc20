"""Vector tiles from the store: decoded, they hold the right features on both stores."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import box, shape

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.store.tiles import BUFFER, EXTENT, tile_bounds
from tests.web.conftest import Lumen

TO_METRES = Transformer.from_crs(4326, 3857, always_xy=True)
MVT = "application/vnd.mapbox-vector-tile"
LINK = {"Link": '<https://civictwin.org/ns/civictwin-context.jsonld>; '
                'rel="http://www.w3.org/ns/json-ld#context"'}


@pytest.fixture
def web(lumen: Lumen) -> Iterator[TestClient]:
    """A client of the app over the loaded city, speaking for the city's tenant."""
    app = create_app(Settings(database_url="sqlite://", auth_required=False), store=lumen.store)
    with TestClient(app, headers={"NGSILD-Tenant": lumen.tenant}) as client:
        yield client


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Return the x, y of the tile at zoom z holding a position."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def of_type(lumen: Lumen, *types: str) -> dict[str, dict[str, Any]]:
    return {i: e for i, e in lumen.entities.items() if e["type"] in types}


def metres(entity: dict[str, Any]) -> Any:
    return shapely.transform(shape(entity["location"]["value"]),
                             lambda c: np.column_stack(TO_METRES.transform(c[:, 0], c[:, 1])))


def city_tiles(lumen: Lumen, z: int) -> list[tuple[int, int]]:
    shapes = [shape(e["location"]["value"]) for e in lumen.entities.values() if "location" in e]
    west, south, east, north = shapely.GeometryCollection(shapes).bounds
    x0, y0 = tile_of(west, north, z)
    x1, y1 = tile_of(east, south, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def decoded(client: TestClient, layer: str, z: int, x: int, y: int) -> list[dict[str, Any]]:
    response = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    if not response.content:
        return []
    layers = mapbox_vector_tile.decode(response.content)
    assert set(layers) == {layer}
    assert layers[layer]["extent"] == EXTENT
    features: list[dict[str, Any]] = layers[layer]["features"]
    return features


def tile_geometry(feature: dict[str, Any], z: int, x: int, y: int) -> Any:
    """Return a decoded feature's geometry in Web Mercator metres."""
    minx, miny, maxx, _maxy = tile_bounds(z, x, y)
    unit = (maxx - minx) / EXTENT
    return shapely.transform(shape(feature["geometry"]),
                             lambda c: c * unit + [minx, miny])


@pytest.mark.parametrize("layer,types", [
    ("buildings", ("Building",)),
    ("districts", ("CityDistrict",)),
    ("sensors", ("AirQualityObserved", "WeatherObserved")),
])
def test_tiles_hold_every_entity_of_the_layer_where_it_is(
        web: TestClient, lumen: Lumen, layer: str, types: tuple[str, ...]) -> None:
    z = 15
    expected = of_type(lumen, *types)
    seen: set[str] = set()
    for x, y in city_tiles(lumen, z):
        minx, miny, maxx, maxy = tile_bounds(z, x, y)
        pad = (maxx - minx) * BUFFER / EXTENT
        inner, outer = box(minx, miny, maxx, maxy), box(minx - pad, miny - pad, maxx + pad,
                                                        maxy + pad)
        features = decoded(web, layer, z, x, y)
        ids = {f["properties"]["id"] for f in features}
        assert len(ids) == len(features), "one feature per entity"
        for entity_id, entity in expected.items():
            where = metres(entity)
            if where.intersects(inner) and not where.touches(inner):
                assert entity_id in ids, f"{entity_id} missing from {layer} {z}/{x}/{y}"
            if not where.intersects(outer):
                assert entity_id not in ids
        for feature in features:
            entity = expected[feature["properties"]["id"]]
            assert feature["properties"]["type"] == entity["type"]
            real = metres(entity).intersection(outer)
            drawn = tile_geometry(feature, z, x, y)
            assert drawn.centroid.distance(real.centroid) < 3 * (maxx - minx) / EXTENT + 0.5
        seen |= ids
    assert seen == set(expected)


def test_building_features_carry_the_attributes_to_colour_by(
        web: TestClient, lumen: Lumen) -> None:
    z = 14
    found = {}
    for x, y in city_tiles(lumen, z):
        found.update({f["properties"]["id"]: f["properties"]
                      for f in decoded(web, "buildings", z, x, y)})
    buildings = of_type(lumen, "Building")
    assert set(found) == set(buildings)
    for building_id, props in found.items():
        entity = buildings[building_id]
        assert props["yearBuilt"] == entity["yearBuilt"]["value"]
        assert props["floorsAboveGround"] == entity["floorsAboveGround"]["value"]
        assert props["heatingType"] == entity["heatingType"]["value"]
        assert props["floorArea"] == pytest.approx(entity["floorArea"]["value"])


def test_sensor_features_carry_their_readings(web: TestClient, lumen: Lumen) -> None:
    z = 13
    found = {}
    for x, y in city_tiles(lumen, z):
        found.update({f["properties"]["id"]: f["properties"]
                      for f in decoded(web, "sensors", z, x, y)})
    air = of_type(lumen, "AirQualityObserved")
    assert air
    for sensor_id, entity in air.items():
        assert found[sensor_id]["pm25"] == pytest.approx(entity["pm25"]["value"])
        assert found[sensor_id]["name"] == entity["name"]["value"]


def test_geometries_are_simplified_by_zoom(web: TestClient, lumen: Lumen) -> None:
    corner = lumen.city.districts[0]["location"]["value"]["coordinates"][0][0]
    # Centred in a zoom-17 tile, so neither that tile nor the zoom-12 one clips it.
    minx, miny, maxx, maxy = tile_bounds(17, *tile_of(corner[0], corner[1], 17))
    lon, lat = TO_METRES.transform((minx + maxx) / 2, (miny + maxy) / 2, direction="INVERSE")
    ring = [[lon + 0.0006 * math.cos(a / 200 * 2 * math.pi),
             lat + 0.0004 * math.sin(a / 200 * 2 * math.pi)] for a in range(200)]
    round_building = {"id": "urn:ngsi-ld:Building:round", "type": "Building",
                      "category": {"type": "Property", "value": ["residential"]},
                      "address": {"type": "Property", "value": {"addressLocality": "Lumen"}},
                      "location": {"type": "GeoProperty",
                                   "value": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}}}
    assert web.post("/ngsi-ld/v1/entities", json=round_building, headers=LINK).status_code == 201

    def vertices(z: int) -> int:
        x, y = tile_of(lon, lat, z)
        feature = next(f for f in decoded(web, "buildings", z, x, y)
                       if f["properties"]["id"] == round_building["id"])
        return len(shape(feature["geometry"]).exterior.coords)

    # Douglas-Peucker at half a tile unit keeps about every third vertex at zoom 17 and about
    # one in twenty at zoom 12 (tolerance 2.4 m on a 43 m radius).
    fine, coarse = vertices(17), vertices(12)
    assert fine >= 50
    assert 4 <= coarse <= 20


def test_tiles_are_per_tenant_and_revalidate_by_etag(web: TestClient, lumen: Lumen) -> None:
    z = 13
    x, y = city_tiles(lumen, z)[0]
    first = web.get(f"/tiles/buildings/{z}/{x}/{y}.mvt")
    assert first.status_code == 200 and first.content
    etag = first.headers["etag"]
    again = web.get(f"/tiles/buildings/{z}/{x}/{y}.mvt", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = web.get(f"/tiles/buildings/{z}/{x}/{y}.mvt", headers={"NGSILD-Tenant": "nobody"})
    assert other.status_code == 200 and other.content == b""
    assert other.headers["etag"] != etag


def test_below_the_buildings_zoom_the_tile_is_empty(web: TestClient, lumen: Lumen) -> None:
    x, y = city_tiles(lumen, 10)[0]
    assert web.get(f"/tiles/buildings/10/{x}/{y}.mvt").content == b""
    assert decoded(web, "districts", 10, x, y)


@pytest.mark.parametrize("path,status", [
    ("/tiles/roads/14/1/1.mvt", 404),
    ("/tiles/buildings/14/99999/1.mvt", 400),
    ("/tiles/buildings/40/1/1.mvt", 400),
    ("/tiles/buildings/14/x/1.mvt", 400),
])
def test_bad_tile_addresses_are_refused(web: TestClient, path: str, status: int) -> None:
    response = web.get(path)
    assert response.status_code == status
    assert response.json()["detail"]


def test_a_changed_entity_shows_in_its_tiles_at_once(web: TestClient, lumen: Lumen) -> None:
    building = lumen.city.buildings[0]
    lon, lat = shape(building["location"]["value"]).representative_point().coords[0]
    x, y = tile_of(lon, lat, 16)

    def year_in_tile() -> tuple[float, str]:
        response = web.get(f"/tiles/buildings/16/{x}/{y}.mvt")
        features = mapbox_vector_tile.decode(response.content)["buildings"]["features"]
        found = next(f for f in features if f["properties"]["id"] == building["id"])
        return found["properties"]["yearBuilt"], response.headers["etag"]

    before, etag = year_in_tile()
    assert before == building["yearBuilt"]["value"]
    assert year_in_tile() == (before, etag)  # served again, unchanged
    patched = web.patch(f"/ngsi-ld/v1/entities/{building['id']}/attrs",
                        json={"yearBuilt": {"type": "Property", "value": 2031}}, headers=LINK)
    assert patched.status_code == 204, patched.text
    after, new_etag = year_in_tile()
    assert after == 2031 and new_etag != etag
