"""The generated city: determinism, counts, geometry, relationships and population."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from shapely import STRtree
from shapely.geometry import Point, Polygon, box, shape

from civictwin.samplecity import SampleCity, generate_city, iter_entities


def _relationships(entity: dict[str, Any]) -> list[str]:
    return [a["object"] for a in entity.values()
            if isinstance(a, dict) and a.get("type") == "Relationship"]


def test_same_seed_gives_the_same_city(city: SampleCity) -> None:
    again = generate_city()
    assert again == city
    assert list(iter_entities(again)) == list(iter_entities(city))


def test_another_seed_gives_another_city(city: SampleCity) -> None:
    other = generate_city(seed=8)
    assert other.buildings != city.buildings
    assert other.stations != city.stations


def test_counts(city: SampleCity) -> None:
    assert len(city.districts) == 8
    assert len(city.buildings) == 3000
    assert len(city.meters) == 3000
    types = [s["type"] for s in city.stations]
    assert types.count("AirQualityObserved") == 12
    assert types.count("WeatherObserved") == 4


@pytest.mark.parametrize("buildings", [1, 37, 500])
def test_building_count_is_a_parameter(buildings: int) -> None:
    small = generate_city(seed=3, buildings=buildings)
    assert len(small.buildings) == len(small.meters) == buildings
    homes = any("residential" in b["category"]["value"] for b in small.buildings)
    population = sum(d["population"]["value"] for d in small.districts)
    assert population == (40 * buildings if homes else 0)


def test_generation_is_deterministic() -> None:
    first, again = generate_city(seed=11), generate_city(seed=11)
    assert [e["id"] for e in iter_entities(first)] == [e["id"] for e in iter_entities(again)]
    assert first.buildings[17] == again.buildings[17]


def test_ids_are_unique_urns(city: SampleCity) -> None:
    ids = [e["id"] for e in iter_entities(city)]
    assert len(ids) == len(set(ids))
    for entity in iter_entities(city):
        number = entity["id"].rsplit(":", 1)[1]
        assert number.isdigit()
        assert entity["id"] == f"urn:ngsi-ld:{entity['type']}:lumen:{number}"
        assert "@context" not in entity


def test_relationship_targets_exist_and_come_first(city: SampleCity) -> None:
    seen: dict[str, str] = {}
    for entity in iter_entities(city):
        for target in _relationships(entity):
            assert target in seen, f"{entity['id']} points at {target} before it is loaded"
        seen[entity["id"]] = entity["type"]
    assert {seen[b["refCityDistrict"]["object"]] for b in city.buildings} == {"CityDistrict"}
    assert {seen[m["refBuilding"]["object"]] for m in city.meters} == {"Building"}
    assert {m["refBuilding"]["object"] for m in city.meters} == {b["id"] for b in city.buildings}


def test_districts_tile_the_city(city: SampleCity) -> None:
    polygons = [shape(d["location"]["value"]) for d in city.districts]
    assert all(p.is_valid for p in polygons)
    west, south, east, north = city.bbox
    city_box = box(west, south, east, north)
    assert sum(p.area for p in polygons) == pytest.approx(city_box.area, rel=1e-9)
    for a, b in itertools.combinations(polygons, 2):
        assert a.intersection(b).area == pytest.approx(0.0, abs=1e-12)
    assert city_box.contains(Point(city.centre))
    assert city.centre == (4.35, 50.85)


def test_footprints_are_valid_inside_their_district_and_apart(city: SampleCity) -> None:
    districts = {d["id"]: shape(d["location"]["value"]) for d in city.districts}
    footprints = [shape(b["location"]["value"]) for b in city.buildings]
    for building, footprint in zip(city.buildings, footprints, strict=True):
        assert isinstance(footprint, Polygon) and footprint.is_valid
        assert len(footprint.exterior.coords) in (5, 7)  # rectangle or L
        assert districts[building["refCityDistrict"]["object"]].contains(footprint)
    tree = STRtree(footprints)
    left, right = tree.query(footprints, predicate="intersects")
    assert [(i, j) for i, j in zip(left, right, strict=True) if i != j] == []


def test_building_attributes(city: SampleCity) -> None:
    categories = set()
    for b in city.buildings:
        categories.add(tuple(b["category"]["value"]))
        assert 1850 <= b["yearBuilt"]["value"] <= 2024
        assert 1 <= b["floorsAboveGround"]["value"] <= 20
        footprint = b["floorArea"]["value"] / b["floorsAboveGround"]["value"]
        assert 30 < footprint < 10_000
        assert b["roofArea"]["value"] >= footprint - 0.5
        assert 0 <= b["roofOrientation"]["value"] < 360
        assert b["heatingType"]["value"] in {"gasBoiler", "oilBoiler", "districtHeating",
                                             "heatPump", "electric", "biomass"}
        address = b["address"]["value"]
        assert address["addressLocality"] == "Lumen"
        assert address["streetAddress"].endswith(" " + address["streetNr"])
        assert len(address["postalCode"]) == 4
    assert categories == {("residential",), ("commercial",), ("office",), ("industrial",),
                          ("public",), ("residential", "commercial")}


def test_addresses_are_unique(city: SampleCity) -> None:
    streets = [b["address"]["value"]["streetAddress"] for b in city.buildings]
    assert len(streets) == len(set(streets))


def test_year_built_looks_european(city: SampleCity) -> None:
    years = [b["yearBuilt"]["value"] for b in city.buildings]
    share_before_1946 = sum(y < 1946 for y in years) / len(years)
    share_after_2010 = sum(y > 2010 for y in years) / len(years)
    assert 0.2 < share_before_1946 < 0.45
    assert 0.03 < share_after_2010 < 0.15


def test_population_follows_dwelling_floor_area(city: SampleCity) -> None:
    populations = {d["id"]: d["population"]["value"] for d in city.districts}
    assert sum(populations.values()) == 120_000
    dwellings = dict.fromkeys(populations, 0.0)
    for b in city.buildings:
        share = {("residential",): 1.0, ("residential", "commercial"): 0.5}.get(
            tuple(b["category"]["value"]), 0.0)
        dwellings[b["refCityDistrict"]["object"]] += share * b["floorArea"]["value"]
    per_m2 = [populations[d] / dwellings[d] for d in populations if dwellings[d] > 50_000]
    assert len(per_m2) >= 6
    assert max(per_m2) / min(per_m2) < 1.25  # mixed buildings count (floors-1)/floors


def test_entities_are_plain_json(city: SampleCity) -> None:
    entities = list(iter_entities(city))
    assert json.loads(json.dumps(entities, allow_nan=False)) == entities
