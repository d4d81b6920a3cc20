"""The fast GeoJSON check accepts exactly what the position-by-position check accepts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civictwin.errors import BadRequestData
from civictwin.ngsild.geo import (
    GEOMETRY_TYPES,
    _validate_coordinates,
    validate_geojson_geometry,
)

# Numbers that are valid, out of range, not finite, huge, or not numbers at all.
numbers = st.one_of(
    st.floats(-10, 10), st.integers(-10, 10), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([180, -180.0, 90, -90.0, 180.5, 10**400, True, False, None, "1.5"]))
# Positions on a small grid, so that random lines and rings are often valid geometries.
good = st.lists(st.sampled_from([0, 1, 2, 3, 0.5, 2.5]), min_size=2, max_size=2)
positions = st.one_of(
    good, good.map(lambda p: [*p, 7.0]),
    st.lists(numbers, min_size=0, max_size=4),
    st.sampled_from([1.0, "x", {"a": 1}, (1.0, 2.0)]))
lines = st.one_of(st.lists(good, min_size=2, max_size=6), st.lists(positions, max_size=6))
square = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]]
boxes = st.builds(lambda x, y, w, h: [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]],
                  st.integers(0, 6), st.integers(0, 6), st.integers(0, 3), st.integers(0, 3))
rings = st.one_of(boxes, st.lists(good, min_size=3, max_size=6).map(lambda ring: [*ring, ring[0]]),
                  lines.map(lambda ring: [*ring, ring[0]] if ring else ring), lines,
                  st.just(square), st.just([[1.0, 1.0, 0.0], [1.5, 1.0, 0.0], [1.5, 1.5, 0.0],
                                            [1.0, 1.0, 0.0]]))
polygons = st.one_of(st.lists(rings, min_size=0, max_size=3), st.lists(boxes, max_size=3),
                     st.tuples(st.just(square), rings).map(list))
COORDINATES = {
    "Point": positions,
    "MultiPoint": lines,
    "LineString": lines,
    "MultiLineString": st.lists(lines, max_size=3),
    "Polygon": polygons,
    "MultiPolygon": st.one_of(st.lists(polygons, max_size=3),
                              st.lists(boxes.map(lambda box: [box]), max_size=3)),
}


def outcome(check: Any, *args: Any) -> tuple[str, Any]:
    """Return ("ok", result) or ("error", detail)."""
    try:
        return "ok", check(*args)
    except BadRequestData as exc:
        return "error", exc.detail


@pytest.mark.parametrize("kind", GEOMETRY_TYPES)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_check_agrees_with_the_exact_check(kind: str, data: st.DataObject) -> None:
    coordinates = data.draw(COORDINATES[kind])
    fast = outcome(validate_geojson_geometry, {"type": kind, "coordinates": coordinates})
    exact = outcome(_validate_coordinates, kind, coordinates, "GeoJSON geometry")
    assert fast == exact


@pytest.mark.parametrize(("geometry", "fault"), [
    ({"type": "Point", "coordinates": [True, 50.0]}, "finite numbers"),
    ({"type": "Point", "coordinates": [4.0, "50"]}, "finite numbers"),
    ({"type": "Point", "coordinates": [181.0, 50.0]}, "longitude 181"),
    ({"type": "LineString", "coordinates": [[0, 0], [1, 1, 1]]}, "mixes 2D and 3D"),
    ({"type": "LineString", "coordinates": [[0, 0], [0, 0]]}, "invalid LineString"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]},
     "Self-intersection"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 0.5]]]},
     "end at its first position"),
    ({"type": "MultiPolygon", "coordinates": [[square], [[[1, 1], [3, 1], [3, 3], [1, 1]]]]},
     "invalid MultiPolygon"),
])
def test_bad_geometries_are_refused_with_the_fault(geometry: dict[str, Any], fault: str) -> None:
    with pytest.raises(BadRequestData, match=fault):
        validate_geojson_geometry(geometry)


def test_numbers_come_back_as_floats() -> None:
    geometry = validate_geojson_geometry({"type": "Polygon", "coordinates": [
        [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]], [[1, 1], [1.5, 1], [1.5, 1.5], [1, 1]]]})
    assert geometry["coordinates"][1][1] == [1.5, 1.0]
    assert all(type(n) is float for ring in geometry["coordinates"] for p in ring for n in p)
