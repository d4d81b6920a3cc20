"""Geo-queries (ETSI GS CIM 009 clause 4.10): parsing, GeoJSON validation, exact evaluation."""

from __future__ import annotations

import gc
import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from civictwin.errors import BadRequestData
from civictwin.ngsild import geo
from civictwin.ngsild.geo import (
    GEOMETRY_TYPES,
    GEORELS,
    LOCATION,
    GeoQuery,
    bbox,
    matches,
    near_distance,
    parse_geo_query,
    search_box,
    validate_geojson_geometry,
)

WGS84 = Geod(ellps="WGS84")
CITY = (5.1214, 52.0907)
FAST = settings(max_examples=60, deadline=None)


def expand(term: str) -> str:
    """Expand a term the way a user @context would."""
    return "https://example.org/" + term


def parse(georel: Any = "near;maxDistance==1000", geometry: Any = "Point",
          coordinates: Any = "[5.1214,52.0907]", geoproperty: Any = None) -> GeoQuery | None:
    """Parse with defaults for the parameters a test does not care about."""
    return parse_geo_query(georel, geometry, coordinates, geoproperty, expand)


def refused(**params: Any) -> str:
    """Return the one-line message of the BadRequestData that parsing raises."""
    with pytest.raises(BadRequestData) as info:
        parse(**params)
    assert "\n" not in info.value.detail
    return info.value.detail


def offset(origin: tuple[float, float] | list[float], azimuth: float, metres: float) -> list[float]:
    """Return the position `metres` from `origin` along a geodesic at `azimuth` degrees."""
    lon, lat, _ = WGS84.fwd(origin[0], origin[1], azimuth, metres)
    return [float(lon), float(lat)]


def point(position: list[float] | tuple[float, float]) -> dict[str, Any]:
    """Return a GeoJSON Point."""
    return {"type": "Point", "coordinates": list(position)}


def rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    """Return a GeoJSON Polygon with one axis-aligned ring."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


# Parsing


def test_no_geo_parameters_is_no_geo_query() -> None:
    assert parse(None, None, None) is None
    assert parse(None, None, None, geoproperty="position") is None


@pytest.mark.parametrize(("given_params", "missing"), [
    ({"georel": "within"}, "geometry, coordinates"),
    ({"geometry": "Point"}, "georel, coordinates"),
    ({"coordinates": "[1,2]"}, "georel, geometry"),
    ({"georel": "within", "geometry": "Point"}, "coordinates"),
    ({"georel": "within", "coordinates": "[1,2]"}, "geometry"),
])
def test_partial_geo_query_names_what_is_missing(
    given_params: dict[str, str], missing: str
) -> None:
    params = {"georel": None, "geometry": None, "coordinates": None, **given_params}
    assert refused(**params) == (
        "a geo-query needs georel, geometry and coordinates together; missing: " + missing
    )


@pytest.mark.parametrize("georel", [g for g in GEORELS if g != "near"])
def test_parses_each_topological_georel(georel: str) -> None:
    query = parse(georel, "Polygon", "[[[5,52],[6,52],[6,53],[5,52]]]")
    assert query == GeoQuery(
        georel,  # type: ignore[arg-type]
        {"type": "Polygon", "coordinates": [[[5.0, 52.0], [6.0, 52.0], [6.0, 53.0], [5.0, 52.0]]]},
    )


@pytest.mark.parametrize(("georel", "high", "low"), [
    ("near;maxDistance==1000", 1000.0, None),
    ("near;minDistance==2.5", None, 2.5),
    ("near;maxDistance==0", 0.0, None),
    ("near;maxDistance==1e3", 1000.0, None),
    ("near;minDistance==10;maxDistance==20", 20.0, 10.0),
])
def test_parses_near_distances(georel: str, high: float | None, low: float | None) -> None:
    query = parse(georel)
    assert query is not None
    assert (query.georel, query.max_distance, query.min_distance) == ("near", high, low)


def test_geoproperty_defaults_to_location_and_is_expanded() -> None:
    default = parse()
    named = parse(geoproperty="position")
    assert default is not None and default.geoproperty == LOCATION
    assert named is not None and named.geoproperty == "https://example.org/position"


def test_coordinates_may_come_parsed_as_in_a_query_body() -> None:
    assert parse(coordinates=[5.1214, 52.0907]) == parse()


@pytest.mark.parametrize(("georel", "message"), [
    ("nearby", "georel 'nearby' is not supported; expected one of near, within, contains, "
               "intersects, equals, disjoint, overlaps"),
    ("Within", "georel 'Within' is not supported"),
    ("near", "georel near needs a distance: near;maxDistance==N or near;minDistance==N (metres)"),
    ("near;maxDistance=1000", "georel near: expected maxDistance==N or minDistance==N, "
                              "got 'maxDistance=1000'"),
    ("near;distance==5", "expected maxDistance==N or minDistance==N, got 'distance==5'"),
    ("near;maxDistance==-5", "maxDistance must be a non-negative number of metres, got '-5'"),
    ("near;minDistance==abc", "minDistance must be a non-negative number of metres, got 'abc'"),
    ("near;maxDistance==", "maxDistance must be a non-negative number of metres, got ''"),
    ("near;maxDistance==1e999", "got '1e999'"),
    ("near;maxDistance==nan", "got 'nan'"),
    ("near;maxDistance== 5", "got ' 5'"),
    ("near;maxDistance==1;maxDistance==2", "georel near: maxDistance is given twice"),
    ("near;minDistance==20;maxDistance==10", "minDistance 20 exceeds maxDistance 10"),
    ("within;maxDistance==10", "georel 'within' takes no modifiers, got 'within;maxDistance==10'"),
    ("", "georel '' is not supported"),
    (7, "georel must be a string, got 7"),
])
def test_refuses_bad_georel(georel: Any, message: str) -> None:
    assert message in refused(georel=georel)


@pytest.mark.parametrize("geometry", ["point", "Box", "GeometryCollection", "", 3])
def test_refuses_unknown_geometry(geometry: Any) -> None:
    assert refused(geometry=geometry) == (
        f"geometry {geometry!r} is not supported; expected one of " + ", ".join(GEOMETRY_TYPES)
    )


@pytest.mark.parametrize(("geometry", "coordinates", "message"), [
    ("Point", "[5.1,", "coordinates is not valid JSON: Expecting value"),
    ("Point", "[NaN, 1]", "coordinates is not valid JSON: NaN is not a JSON number"),
    ("Point", "[" * 100_000, "coordinates is not valid JSON"),
    ("Point", '{"lon": 1}', "coordinates must be a JSON array, got {'lon': 1}"),
    ("Point", "5", "coordinates must be a JSON array, got 5"),
    ("Point", "[181, 10]", "geo-query: coordinates: longitude 181 is outside [-180, 180]"),
    ("Point", "[10, -90.5]", "coordinates: latitude -90.5 is outside [-90, 90]"),
    ("Point", "[1]", "coordinates must be a position [longitude, latitude(, altitude)], got [1]"),
    ("Point", "[1, 2, 3, 4]", "coordinates must be a position"),
    ("Point", '[1, "2"]', "coordinates must hold finite numbers, got '2'"),
    ("Point", "[true, 2]", "coordinates must hold finite numbers, got True"),
    ("Point", "[1" + "0" * 400 + ", 2]", "coordinates must hold finite numbers"),
    ("Point", "[1e999, 2]", "coordinates must hold finite numbers, got inf"),
    ("MultiPoint", "[]", "coordinates must have at least 1 position, got 0"),
    ("MultiPoint", "[[1, 2], [3]]", "coordinates[1] must be a position"),
    ("LineString", "[[1, 2]]", "coordinates must have at least 2 positions, got 1"),
    ("LineString", "[1, 2]", "coordinates must be an array of positions, got [1, 2]"),
    ("LineString", "[[1, 2], [1, 2]]", "invalid LineString: Too few points in geometry component"),
    ("LineString", "[[1, 2], [3, 4, 5]]", "geo-query: a LineString mixes 2D and 3D positions"),
    ("MultiLineString", "[[[1, 2], [3, 4]], [[5, 6]]]",
     "coordinates[1] must have at least 2 positions, got 1"),
    ("Polygon", "[]", "coordinates must have at least 1 linear ring, got 0"),
    ("Polygon", "[[0, 0], [1, 0], [1, 1], [0, 0]]",
     "coordinates[0] must be an array of positions, got [0, 0]"),
    ("Polygon", "[[[0, 0], [1, 0], [0, 0]]]",
     "coordinates[0] must have at least 4 positions, got 3"),
    ("Polygon", "[[[0, 0], [1, 0], [1, 1], [0, 1]]]",
     "coordinates[0]: a linear ring must end at its first position"),
    ("Polygon", "[[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]",
     "geo-query: invalid Polygon: Self-intersection[0.5 0.5]"),
    ("Polygon", "[[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]], [[5, 5], [6, 5], [6, 6], [5, 5]]]",
     "invalid Polygon: Hole lies outside shell[5 5]"),
    ("MultiPolygon", "[[[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]], "
                     "[[[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]]]",
     "invalid MultiPolygon: Self-intersection"),
    ("MultiPolygon", "[[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]",
     "coordinates[0][0] must be an array of positions"),
])
def test_refuses_bad_coordinates(geometry: str, coordinates: str, message: str) -> None:
    assert message in refused(georel="intersects", geometry=geometry, coordinates=coordinates)


def test_refuses_bad_geoproperty() -> None:
    assert refused(geoproperty="") == "geoproperty must be an attribute name, got ''"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=40,
)
NUMBERS = st.integers(-200, 200) | st.floats(-200, 200) | st.floats()
POSITION = st.lists(NUMBERS, min_size=1, max_size=4)
RINGS = st.lists(st.lists(POSITION, max_size=6), max_size=3)
SHAPED = st.one_of(POSITION, st.lists(POSITION, max_size=6), RINGS, st.lists(RINGS, max_size=3))


@FAST
@given(
    georel=st.text(max_size=30) | st.sampled_from([*GEORELS, "near;maxDistance==5"]),
    geometry=st.text(max_size=12) | st.sampled_from(GEOMETRY_TYPES),
    coordinates=st.text(max_size=40) | JSON.map(json.dumps) | SHAPED | JSON,
)
def test_parsing_raises_only_bad_request_data(georel: str, geometry: str, coordinates: Any) -> None:
    try:
        parse(georel, geometry, coordinates)
    except BadRequestData as exc:
        assert exc.detail and "\n" not in exc.detail


# GeoJSON values


@pytest.mark.parametrize("value", [
    {"type": "Point", "coordinates": [5, 52]},
    {"type": "Point", "coordinates": [5.1, 52.2, 13.5]},
    {"type": "MultiPoint", "coordinates": [[5, 52], [5, 52]]},
    {"type": "LineString", "coordinates": [[5, 52], [6, 53]]},
    {"type": "MultiLineString", "coordinates": [[[5, 52], [6, 53]], [[7, 52], [6, 53]]]},
    rectangle(5, 52, 6, 53),
    {"type": "MultiPolygon", "coordinates": [rectangle(5, 52, 6, 53)["coordinates"],
                                             rectangle(7, 52, 8, 53)["coordinates"]]},
    {"type": "Point", "coordinates": [-180, -90]},
])
def test_accepts_each_geometry_and_normalizes_numbers(value: dict[str, Any]) -> None:
    normalized = validate_geojson_geometry({**value, "bbox": [0, 0, 1, 1]})
    assert normalized == value
    assert list(normalized) == ["type", "coordinates"]
    numbers = json.dumps(normalized["coordinates"]).replace("[", "").replace("]", "")
    assert all("." in number for number in numbers.split(","))


@pytest.mark.parametrize(("value", "message"), [
    ([5, 52], "GeoJSON geometry: expected a GeoJSON geometry object, got [5, 52]"),
    ({"coordinates": [5, 52]}, "GeoJSON geometry: type None is not one of Point, MultiPoint"),
    ({"type": "point", "coordinates": [5, 52]}, "type 'point' is not one of"),
    ({"type": "Point"}, "GeoJSON geometry: a Point needs a coordinates member"),
    ({"type": "GeometryCollection", "geometries": []},
     "GeoJSON geometry: GeometryCollection is not supported; NGSI-LD geometries are Point, "
     "MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon"),
    ({"type": "Point", "coordinates": [200, 52]}, "coordinates: longitude 200 is outside"),
])
def test_refuses_bad_geojson(value: Any, message: str) -> None:
    with pytest.raises(BadRequestData) as info:
        validate_geojson_geometry(value)
    assert message in info.value.detail


def test_bbox_spans_all_positions() -> None:
    assert bbox({"type": "Point", "coordinates": [5.0, 52.0, 10.0]}) == (5.0, 52.0, 5.0, 52.0)
    assert bbox({"type": "MultiPolygon", "coordinates": [
        rectangle(5, 52, 6, 53)["coordinates"], rectangle(-7, 50, -6, 51)["coordinates"]],
    }) == (-7.0, 50.0, 6.0, 53.0)


# Evaluation


def near(reference: dict[str, Any], high: float | None = None,
         low: float | None = None) -> GeoQuery:
    """Return a near query around a reference geometry."""
    return GeoQuery("near", validate_geojson_geometry(reference), LOCATION, high, low)


@pytest.mark.parametrize("origin", [CITY, (0.0, 0.0), (-70.6, -33.4), (25.0, 70.0), (10.0, 88.0)])
@pytest.mark.parametrize("azimuth", [0, 60, 90, 135, 270])
def test_near_point_keeps_999_m_and_drops_1001_m(
    origin: tuple[float, float], azimuth: float
) -> None:
    within = near(point(origin), high=1000)
    beyond = near(point(origin), low=1000)
    assert matches(within, point(offset(origin, azimuth, 999)))
    assert not matches(within, point(offset(origin, azimuth, 1001)))
    assert matches(beyond, point(offset(origin, azimuth, 1001)))
    assert not matches(beyond, point(offset(origin, azimuth, 999)))


def test_near_measures_to_lines_and_polygons() -> None:
    # A point 800 m due south of a lon/lat-straight east-west edge is 800 m from it.
    edge_point = offset(CITY, 0, 800)
    street = {"type": "LineString", "coordinates": [
        [CITY[0] - 0.02, edge_point[1]], [CITY[0] + 0.03, edge_point[1]]]}
    block = rectangle(CITY[0] - 0.01, edge_point[1], CITY[0] + 0.01, edge_point[1] + 0.01)
    for target in (street, block):
        assert near_distance(point(CITY), target) == pytest.approx(800, abs=1e-3)
        assert matches(near(point(CITY), high=801), target)
        assert not matches(near(point(CITY), high=799), target)
    # Seen from the street, the city point is as far as the other way round.
    assert near_distance(street, point(CITY)) == pytest.approx(800, abs=1e-3)


def test_near_is_zero_inside_a_polygon() -> None:
    district = rectangle(CITY[0] - 0.02, CITY[1] - 0.02, CITY[0] + 0.02, CITY[1] + 0.02)
    assert near_distance(district, point(CITY)) == 0.0
    assert matches(near(district, high=0), point(CITY))
    assert not matches(near(district, low=1), point(CITY))
    assert matches(near(district, low=0), point(CITY))


def brute_force(line: list[list[float]], target: list[float]) -> float:
    """Return the geodesic distance from a position to a lon/lat polyline, by refined sampling."""
    best = math.inf
    for a, b in itertools.pairwise(line):
        low, high = 0.0, 1.0
        for _ in range(4):  # sample, then zoom in around the closest sample
            t = np.linspace(low, high, 1001)
            lons, lats = a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
            _, _, dist = WGS84.inv(np.full(t.size, target[0]), np.full(t.size, target[1]),
                                   lons, lats)
            i = int(dist.argmin())
            low, high = t[max(i - 1, 0)], t[min(i + 1, t.size - 1)]
        best = min(best, float(dist.min()))
    return best


@FAST
@given(
    lat=st.floats(-75, 75),
    vertices=st.lists(st.tuples(st.floats(-0.05, 0.05), st.floats(-0.05, 0.05)),
                      min_size=2, max_size=4, unique=True),
    azimuth=st.floats(0, 360),
    metres=st.floats(50, 50_000),
)
def test_near_distance_to_a_line_is_within_half_a_percent(
    lat: float, vertices: list[tuple[float, float]], azimuth: float, metres: float
) -> None:
    line = [[10.0 + dx, lat + dy] for dx, dy in vertices]
    try:
        validate_geojson_geometry({"type": "LineString", "coordinates": line})
    except BadRequestData:
        assume(False)
    target = offset(line[0], azimuth, metres)
    expected = brute_force(line, target)
    measured = near_distance({"type": "LineString", "coordinates": line}, point(target))
    assert measured == pytest.approx(expected, rel=5e-3, abs=0.05)


@pytest.mark.parametrize(("georel", "reference", "target", "expected"), [
    ("within", rectangle(0, 0, 2, 2), point([1, 1]), True),
    ("within", rectangle(0, 0, 2, 2), point([2, 1]), False),  # on the boundary
    ("within", rectangle(0, 0, 2, 2), rectangle(1, 1, 3, 3), False),
    ("within", rectangle(0, 0, 2, 2), rectangle(0, 0, 1, 1), True),
    ("contains", point([1, 1]), rectangle(0, 0, 2, 2), True),
    ("contains", rectangle(0, 0, 2, 2), point([1, 1]), False),
    ("contains", rectangle(0, 0, 1, 1), rectangle(0, 0, 2, 2), True),
    ("intersects", rectangle(0, 0, 2, 2), point([2, 1]), True),
    ("intersects", rectangle(0, 0, 2, 2), point([3, 1]), False),
    ("disjoint", rectangle(0, 0, 2, 2), point([3, 1]), True),
    ("disjoint", rectangle(0, 0, 2, 2), point([2, 1]), False),
    ("equals", rectangle(0, 0, 2, 2),
     {"type": "Polygon", "coordinates": [[[2, 2], [0, 2], [0, 0], [2, 0], [2, 2]]]}, True),
    ("equals", rectangle(0, 0, 2, 2), rectangle(0, 0, 2, 3), False),
    ("overlaps", rectangle(0, 0, 2, 2), rectangle(1, 1, 3, 3), True),
    ("overlaps", rectangle(0, 0, 2, 2), rectangle(0, 0, 1, 1), False),
    ("overlaps", rectangle(0, 0, 2, 2), point([1, 1]), False),
])
def test_topological_relations_put_the_entity_first(
    georel: Any, reference: dict[str, Any], target: dict[str, Any], expected: bool
) -> None:
    query = GeoQuery(georel, validate_geojson_geometry(reference))
    assert matches(query, validate_geojson_geometry(target)) is expected


def test_prepared_reference_is_cached_per_query_and_released_with_it() -> None:
    query = GeoQuery("within", rectangle(0, 0, 2, 2))
    assert matches(query, point([1, 1]))
    first = geo._reference(query)
    assert geo._reference(query) is first
    key = id(query)
    del query, first
    gc.collect()
    assert key not in geo._references


# Search boxes


def test_search_box_is_the_reference_box_for_topological_relations() -> None:
    reference = rectangle(5, 52, 6, 53)
    for georel in ("within", "contains", "intersects", "equals", "overlaps"):
        assert search_box(GeoQuery(georel, reference)) == (5, 52, 6, 53)
    assert search_box(GeoQuery("disjoint", reference)) is None
    assert search_box(near(point(CITY), low=100)) is None


def test_search_box_covers_the_whole_globe_in_longitude_near_poles_and_the_antimeridian() -> None:
    assert search_box(near(point([0, 89.99]), high=5000))[0::2] == (-180, 180)  # type: ignore[index]
    assert search_box(near(point([179.99, 0]), high=5000))[0::2] == (-180, 180)  # type: ignore[index]


@FAST
@given(
    lon=st.floats(-170, 170),
    lat=st.floats(-89, 89),
    distance=st.floats(0, 100_000),
    azimuth=st.floats(0, 360),
    fraction=st.floats(0, 1),
)
def test_search_box_holds_every_point_within_max_distance(
    lon: float, lat: float, distance: float, azimuth: float, fraction: float
) -> None:
    box = search_box(near(point([lon, lat]), high=distance))
    assert box is not None
    target = offset((lon, lat), azimuth, distance * fraction)
    if abs(target[0] - lon) > 180:  # went round the antimeridian: the box is global then
        assert box[0::2] == (-180, 180)
        return
    assert box[0] <= target[0] <= box[2]
    assert box[1] <= target[1] <= box[3]
