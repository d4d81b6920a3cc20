"""NGSI-LD geo-queries (ETSI GS CIM 009 clause 4.10): parsing and exact evaluation.

Geometries are GeoJSON (RFC 7946) in WGS84 longitude/latitude. Topological relations are
evaluated in the lon/lat plane, as GeoJSON's straight Cartesian edges and PostGIS `geometry`
define them: `within` holds when the entity's geometry is within the reference geometry,
`contains` when it contains the reference geometry (DE-9IM, GEOS semantics).

`near` distances are metres on the WGS84 ellipsoid. Point to point they are geodesic (Karney's
algorithm via pyproj.Geod, error below a micrometre). For lines and polygons both geometries are
densified along their lon/lat edges (DENSIFY_DEGREES) and projected to an azimuthal equidistant
plane centred on the reference; the closest pair found there is then measured geodesically, so
the projection's distortion only shifts which pair is chosen, a second-order error. Against
brute-force geodesics to lines 10 km to 1000 km long, for targets 10 m to 50 km away, the
relative error measured below 2e-6 (tests/ngsild/test_geo.py asserts 0.5%).

Geometries crossing the antimeridian are not supported. A prepared reference is cached per
GeoQuery object and is not meant to be shared between threads.
"""

from __future__ import annotations

import json
import math
import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from civictwin.errors import BadRequestData

GeoRel = Literal["near", "within", "contains", "intersects", "equals", "disjoint", "overlaps"]
LOCATION = "https://uri.etsi.org/ngsi-ld/location"

GEORELS: tuple[GeoRel, ...] = (
    "near", "within", "contains", "intersects", "equals", "disjoint", "overlaps",
)
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")

Box = tuple[float, float, float, float]
Coordinates = list[Any]
Points = npt.NDArray[np.float64]

_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WGS84 = Geod(ellps="WGS84")
# Shortest degree of latitude (at the equator) and a lower bound of a degree of longitude
# divided by cos(latitude) (a * pi / 180 = 111319.49 m): dividing by them over-estimates.
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_319.0
_BOX_MARGIN = 1.001
DENSIFY_DEGREES = 0.001
"""Edges are split to this length (about 110 m) before distances are measured, so that the
projected (or, in PostGIS, great-circle) edges follow GeoJSON's straight lon/lat edges."""
_MAX_POINT_PAIRS = 250_000


@dataclass(frozen=True)
class GeoQuery:
    """A parsed geo-query: relation, reference geometry (GeoJSON, WGS84) and target property."""

    georel: GeoRel
    geometry: dict[str, Any]
    geoproperty: str = LOCATION
    max_distance: float | None = None
    min_distance: float | None = None


def parse_geo_query(
    georel: str | None,
    geometry: str | None,
    coordinates: str | list[Any] | None,
    geoproperty: str | None,
    expand: Callable[[str], str],
) -> GeoQuery | None:
    """Parse the geo-query parameters of a request; return None when it has none."""
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    missing = [name for name, value in given.items() if value is None]
    if len(missing) == len(given):
        return None
    if missing:
        raise BadRequestData(
            "a geo-query needs georel, geometry and coordinates together; missing: "
            + ", ".join(missing)
        )
    relation, max_distance, min_distance = _parse_georel(georel)
    if not isinstance(geometry, str) or geometry not in GEOMETRY_TYPES:
        raise BadRequestData(
            f"geometry {_show(geometry)} is not supported; expected one of "
            + ", ".join(GEOMETRY_TYPES)
        )
    reference = _validate(
        {"type": geometry, "coordinates": _parse_coordinates(coordinates)}, "geo-query"
    )
    return GeoQuery(
        georel=relation,
        geometry=reference,
        geoproperty=_parse_geoproperty(geoproperty, expand),
        max_distance=max_distance,
        min_distance=min_distance,
    )


def validate_geojson_geometry(value: Any) -> dict[str, Any]:
    """Check a GeoProperty value and return it as {"type", "coordinates"} with float numbers."""
    return _validate(value, "GeoJSON geometry")


def bbox(geojson: dict[str, Any]) -> Box:
    """Return (min lon, min lat, max lon, max lat) of a GeoJSON geometry."""
    try:  # a well-formed geometry: flatten it by the nesting depth its type has
        xs, ys = _axes(_flat_positions(geojson["coordinates"], _DEPTHS[geojson["type"]]))
    except (TypeError, IndexError, KeyError):
        coordinates = geojson.get("coordinates") if isinstance(geojson, dict) else None
        xs, ys = _axes(list(_positions_in(coordinates)))
    if not xs:
        raise BadRequestData("a GeoJSON geometry without positions has no bounding box")
    return min(xs), min(ys), max(xs), max(ys)


_DEPTHS = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
           "MultiPolygon": 3}


def _axes(positions: list[Any]) -> tuple[list[float], list[float]]:
    return [float(p[0]) for p in positions], [float(p[1]) for p in positions]


def _flat_positions(coordinates: Any, depth: int) -> list[Any]:
    """Return the positions of coordinates nested `depth` arrays deep."""
    if depth == 0:
        return [coordinates]
    if depth == 1:
        return list(coordinates)
    if depth == 2:
        return [position for line in coordinates for position in line]
    return [position for polygon in coordinates for ring in polygon for position in ring]


def search_box(query: GeoQuery) -> Box | None:
    """Return the lon/lat box every matching geometry's bounding box intersects, if any."""
    if query.georel == "disjoint":
        return None
    minx, miny, maxx, maxy = bbox(query.geometry)
    if query.georel != "near":
        return minx, miny, maxx, maxy
    if query.max_distance is None:
        return None
    reach = query.max_distance * _BOX_MARGIN + 1e-3
    dlat = reach / _M_PER_DEG_LAT + 1e-9
    south, north = miny - dlat, maxy + dlat
    if south <= -90.0 or north >= 90.0:
        return -180.0, max(south, -90.0), 180.0, min(north, 90.0)
    # A path of length `reach` stays in [south, north], where a degree of longitude is at
    # least _M_PER_DEG_LON * cos(the latitude farthest from the equator).
    cos_worst = math.cos(math.radians(max(abs(south), abs(north))))
    dlon = reach / (_M_PER_DEG_LON * cos_worst) + 1e-9
    west, east = minx - dlon, maxx + dlon
    if west < -180.0 or east > 180.0:
        return -180.0, south, 180.0, north
    return west, south, east, north


def matches(query: GeoQuery, target_geojson: dict[str, Any]) -> bool:
    """Return whether a GeoProperty value satisfies the geo-query."""
    reference = _reference(query)
    target = shape(target_geojson)
    if query.georel == "near":
        distance = reference.distance_to(target)
        if query.max_distance is not None and distance > query.max_distance:
            return False
        return query.min_distance is None or distance >= query.min_distance
    return _RELATIONS[query.georel](reference.geometry, target)


def near_distance(reference_geojson: dict[str, Any], target_geojson: dict[str, Any]) -> float:
    """Return the distance in metres between two GeoJSON geometries, as `near` measures it."""
    return _Reference(shape(reference_geojson)).distance_to(shape(target_geojson))


_RELATIONS: dict[str, Callable[[BaseGeometry, BaseGeometry], bool]] = {
    # The reference is the first operand so that its prepared form is used.
    "within": lambda ref, target: bool(ref.contains(target)),
    "contains": lambda ref, target: bool(ref.within(target)),
    "intersects": lambda ref, target: bool(ref.intersects(target)),
    "equals": lambda ref, target: bool(ref.equals(target)),
    "disjoint": lambda ref, target: bool(ref.disjoint(target)),
    "overlaps": lambda ref, target: bool(ref.overlaps(target)),
}


def _parse_georel(georel: Any) -> tuple[GeoRel, float | None, float | None]:
    """Split `georel` into the relation and its near distances."""
    if not isinstance(georel, str):
        raise BadRequestData(f"georel must be a string, got {_show(georel)}")
    name, *modifiers = georel.split(";")
    if name not in GEORELS:
        raise BadRequestData(
            f"georel {_show(georel)} is not supported; expected one of " + ", ".join(GEORELS)
        )
    relation: GeoRel = next(rel for rel in GEORELS if rel == name)
    if relation != "near":
        if modifiers:
            raise BadRequestData(f"georel {name!r} takes no modifiers, got {_show(georel)}")
        return relation, None, None
    distances: dict[str, float] = {}
    for modifier in modifiers:
        key, sep, number = modifier.partition("==")
        if not sep or key not in ("maxDistance", "minDistance"):
            raise BadRequestData(
                f"georel near: expected maxDistance==N or minDistance==N, got {_show(modifier)}"
            )
        if key in distances:
            raise BadRequestData(f"georel near: {key} is given twice")
        distances[key] = _parse_distance(key, number)
    if not distances:
        raise BadRequestData("georel near needs a distance: near;maxDistance==N or "
                             "near;minDistance==N (metres)")
    high, low = distances.get("maxDistance"), distances.get("minDistance")
    if high is not None and low is not None and low > high:
        raise BadRequestData(f"georel near: minDistance {low:g} exceeds maxDistance {high:g}")
    return relation, high, low


def _parse_distance(key: str, text: str) -> float:
    """Return a near distance in metres: a non-negative decimal number."""
    if _NUMBER.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
    raise BadRequestData(
        f"georel near: {key} must be a non-negative number of metres, got {_show(text)}"
    )


def _parse_coordinates(coordinates: Any) -> Any:
    """Return the coordinates array, decoding the JSON text of a URL parameter."""
    if isinstance(coordinates, str):
        try:
            coordinates = json.loads(coordinates, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadRequestData(f"coordinates is not valid JSON: {reason}") from None
    if not isinstance(coordinates, list):
        raise BadRequestData(f"coordinates must be a JSON array, got {_show(coordinates)}")
    return coordinates


def _reject_constant(name: str) -> Any:
    """Refuse NaN and Infinity, which JSON does not have."""
    raise ValueError(f"{name} is not a JSON number")


def _parse_geoproperty(geoproperty: Any, expand: Callable[[str], str]) -> str:
    """Return the expanded name of the GeoProperty to test (default `location`)."""
    if geoproperty is None:
        return LOCATION
    if not isinstance(geoproperty, str) or not geoproperty:
        raise BadRequestData(f"geoproperty must be an attribute name, got {_show(geoproperty)}")
    return expand(geoproperty)


def _validate(value: Any, what: str) -> dict[str, Any]:
    """Check a GeoJSON geometry object and return its normalized form."""
    if not isinstance(value, dict):
        raise BadRequestData(f"{what}: expected a GeoJSON geometry object, got {_show(value)}")
    kind = value.get("type")
    if kind == "GeometryCollection":
        raise BadRequestData(f"{what}: GeometryCollection is not supported; NGSI-LD geometries "
                             "are " + ", ".join(GEOMETRY_TYPES))
    if not isinstance(kind, str) or kind not in GEOMETRY_TYPES:
        raise BadRequestData(
            f"{what}: type {_show(kind)} is not one of " + ", ".join(GEOMETRY_TYPES)
        )
    if "coordinates" not in value:
        raise BadRequestData(f"{what}: a {kind} needs a coordinates member")
    fast = _FAST_CHECKS[kind](value["coordinates"])
    if fast is not None:
        return {"type": kind, "coordinates": fast}
    return _validate_coordinates(kind, value["coordinates"], what)


def _validate_coordinates(kind: str, value: Any, what: str) -> dict[str, Any]:
    """Check coordinates position by position, naming the first fault found."""
    try:
        coordinates = _CHECKS[kind](value, "coordinates")
    except BadRequestData as exc:
        raise BadRequestData(f"{what}: {exc.detail}") from None
    if len({len(position) for position in _positions_in(coordinates)}) > 1:
        raise BadRequestData(f"{what}: a {kind} mixes 2D and 3D positions")
    geometry = shape({"type": kind, "coordinates": coordinates})
    if not geometry.is_valid:
        raise BadRequestData(f"{what}: invalid {kind}: {explain_validity(geometry)}")
    return {"type": kind, "coordinates": coordinates}


def _position(value: Any, path: str) -> list[float]:
    """Check one [lon, lat] or [lon, lat, alt] position."""
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        raise BadRequestData(f"{path} must be a position [longitude, latitude(, altitude)], "
                             f"got {_show(value)}")
    numbers: list[float] = []
    for item in value:
        number = _finite(item)
        if number is None:
            raise BadRequestData(f"{path} must hold finite numbers, got {_show(item)}")
        numbers.append(number)
    if not -180.0 <= numbers[0] <= 180.0:
        raise BadRequestData(f"{path}: longitude {numbers[0]:g} is outside [-180, 180]")
    if not -90.0 <= numbers[1] <= 90.0:
        raise BadRequestData(f"{path}: latitude {numbers[1]:g} is outside [-90, 90]")
    return numbers


def _finite(item: Any) -> float | None:
    """Return a JSON number as a finite float, or None."""
    if isinstance(item, bool) or not isinstance(item, int | float):
        return None
    try:
        number = float(item)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _array(value: Any, path: str, minimum: int, of: str) -> list[Any]:
    """Check that a value is an array of at least `minimum` members (`of` names one)."""
    # Every member is an array: positions, rings, lines and polygons all are.
    if not isinstance(value, list) or not all(isinstance(item, list) for item in value):
        raise BadRequestData(f"{path} must be an array of {of}s, got {_show(value)}")
    if len(value) < minimum:
        plural = "" if minimum == 1 else "s"
        raise BadRequestData(
            f"{path} must have at least {minimum} {of}{plural}, got {len(value)}"
        )
    return value


def _line(value: Any, path: str, minimum: int = 2) -> list[list[float]]:
    """Check the positions of a LineString (or, with minimum 4, of a linear ring)."""
    members = _array(value, path, minimum, "position")
    return [_position(member, f"{path}[{i}]") for i, member in enumerate(members)]


def _polygon(value: Any, path: str) -> list[list[list[float]]]:
    """Check the closed linear rings of a Polygon."""
    rings = []
    for i, ring in enumerate(_array(value, path, 1, "linear ring")):
        positions = _line(ring, f"{path}[{i}]", minimum=4)
        if positions[0] != positions[-1]:
            raise BadRequestData(f"{path}[{i}]: a linear ring must end at its first position")
        rings.append(positions)
    return rings


def _multi(member: Callable[[Any, str], Any], of: str) -> Callable[[Any, str], list[Any]]:
    """Return a check for a non-empty array of `member`s."""
    def check(value: Any, path: str) -> list[Any]:
        members = _array(value, path, 1, of)
        return [member(item, f"{path}[{i}]") for i, item in enumerate(members)]
    return check


_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "Point": _position,
    "MultiPoint": _multi(_position, "position"),
    "LineString": _line,
    "MultiLineString": _multi(_line, "line string"),
    "Polygon": _polygon,
    "MultiPolygon": _multi(_polygon, "polygon"),
}


# The fast path: well-formed geometries are checked with a few C-level passes (types and
# finiteness by `map`, ranges by min/max, validity by GEOS) instead of position by position.
# Whatever it does not accept goes to the checks above, which name the fault; so it only ever
# accepts what they accept, and returns the same coordinates (as floats).
_NUMBERS = frozenset((float, int))  # exact types: bool, a subclass of int, is no number here


def _fast_positions(value: Any, minimum: int) -> list[list[float]] | None:
    """Return at least `minimum` well-formed positions, all 2D or all 3D, as floats, or None."""
    if type(value) is not list or len(value) < minimum or set(map(type, value)) != {list}:
        return None
    numbers = list(chain.from_iterable(value))
    dimensions = set(map(len, value))
    if not set(map(type, numbers)) <= _NUMBERS or dimensions not in ({2}, {3}):
        return None
    try:
        if not all(map(math.isfinite, numbers)):
            return None
    except OverflowError:  # an int beyond float
        return None
    xs, ys = [p[0] for p in value], [p[1] for p in value]
    if not (min(xs) >= -180.0 and max(xs) <= 180.0 and min(ys) >= -90.0 and max(ys) <= 90.0):
        return None
    return [[float(n) for n in p] for p in value]


def _fast_rings(value: Any) -> list[list[list[float]]] | None:
    """Return the closed rings of a polygon, all of one dimension, or None."""
    if type(value) is not list or not value:
        return None
    rings = []
    for ring in value:
        points = _fast_positions(ring, 4)
        if points is None or ring[0] != ring[-1]:
            return None
        rings.append(points)
    return rings


def _fast_parts(value: Any, part: Callable[[Any], Any]) -> list[Any] | None:
    """Return the parts of a multi-geometry, each checked by `part`, or None."""
    if type(value) is not list or not value:
        return None
    parts = [part(item) for item in value]
    return None if any(item is None for item in parts) else parts


def _dimensions(lines: list[list[list[float]]]) -> int:
    return len({len(line[0]) for line in lines})


def _polygon_shape(rings: list[list[list[float]]]) -> Any:
    if len(rings) == 1:
        return shapely.polygons(rings[0])
    holes: list[Any] = [shapely.linearrings(ring) for ring in rings[1:]]
    return shapely.polygons(rings[0], holes)


def _fast_point(value: Any) -> list[Any] | None:
    points = _fast_positions([value], 1)
    return None if points is None else points[0]


def _fast_multi_point(value: Any) -> list[Any] | None:
    return _fast_positions(value, 1)


def _fast_line(value: Any) -> list[Any] | None:
    points = _fast_positions(value, 2)
    line: Any = None if points is None else shapely.linestrings(points)
    return None if points is None or not line.is_valid else points


def _fast_multi_line(value: Any) -> list[Any] | None:
    lines = _fast_parts(value, lambda line: _fast_positions(line, 2))
    if lines is None or _dimensions(lines) != 1 or not shapely.multilinestrings(
            [shapely.linestrings(line) for line in lines]).is_valid:
        return None
    return lines


def _fast_polygon(value: Any) -> list[Any] | None:
    rings = _fast_rings(value)
    if rings is None or _dimensions(rings) != 1 or not _polygon_shape(rings).is_valid:
        return None
    return rings


def _fast_multi_polygon(value: Any) -> list[Any] | None:
    polygons = _fast_parts(value, _fast_rings)
    if polygons is None or _dimensions([ring for rings in polygons for ring in rings]) != 1 \
            or not shapely.multipolygons([_polygon_shape(rings) for rings in polygons]).is_valid:
        return None
    return polygons


_FAST_CHECKS: dict[str, Callable[[Any], list[Any] | None]] = {
    "Point": _fast_point,
    "MultiPoint": _fast_multi_point,
    "LineString": _fast_line,
    "MultiLineString": _fast_multi_line,
    "Polygon": _fast_polygon,
    "MultiPolygon": _fast_multi_polygon,
}


def _positions_in(coordinates: Any) -> Iterator[list[Any]]:
    """Yield the positions of a (validated) coordinates array."""
    if isinstance(coordinates, list) and coordinates:
        if not isinstance(coordinates[0], list):
            yield coordinates
        else:
            for item in coordinates:
                yield from _positions_in(item)


def _show(value: Any) -> str:
    """Return a short one-line rendering of a value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Reference:
    """A query's reference geometry, prepared, with the plane `near` measures in."""

    def __init__(self, geometry: BaseGeometry) -> None:
        shapely.prepare(geometry)
        self.geometry = geometry
        self.points = _point_array(geometry)
        self._plane: _Plane | None = None

    def distance_to(self, target: BaseGeometry) -> float:
        """Return the `near` distance in metres from the reference to a target geometry."""
        target_points = _point_array(target)
        if self.points is not None and target_points is not None and (
            len(self.points) * len(target_points) <= _MAX_POINT_PAIRS
        ):
            return _closest_point_pair(self.points, target_points)
        if self.geometry.intersects(target):
            return 0.0
        if self._plane is None:
            self._plane = _Plane(self.geometry)
        return self._plane.distance_to(target)


class _Plane:
    """An azimuthal equidistant plane centred on a reference geometry."""

    def __init__(self, geometry: BaseGeometry) -> None:
        centre = geometry.centroid
        # A bare pipeline: building it costs microseconds where from_crs() costs milliseconds.
        self.transformer = Transformer.from_pipeline(
            "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
            f"+step +proj=aeqd +lat_0={centre.y!r} +lon_0={centre.x!r} +ellps=WGS84"
        )
        self.reference = self.project(geometry)
        shapely.prepare(self.reference)

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        """Return a lon/lat geometry, densified along its edges, in plane metres."""
        dense = shapely.segmentize(geometry, DENSIFY_DEGREES)
        return shapely.transform(dense, self._forward_xy)

    def distance_to(self, target: BaseGeometry) -> float:
        """Return the geodesic length of the closest pair found in the plane."""
        line = shapely.shortest_line(self.reference, self.project(target))
        (x1, y1), (x2, y2) = line.coords
        lons, lats = self.transformer.transform([x1, x2], [y1, y2], direction="INVERSE")
        return float(_WGS84.inv(lons[0], lats[0], lons[1], lats[1])[2])

    def _forward_xy(self, xy: Points) -> Points:
        """Project an (n, 2) array of lon/lat to plane metres."""
        x, y = self.transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])


def _point_array(geometry: BaseGeometry) -> Points | None:
    """Return the lon/lat of a Point or MultiPoint as an (n, 2) array, else None."""
    if geometry.geom_type not in ("Point", "MultiPoint"):
        return None
    return np.asarray(shapely.get_coordinates(geometry), dtype=np.float64)


def _closest_point_pair(a: Points, b: Points) -> float:
    """Return the shortest geodesic distance between two sets of positions."""
    lon1, lon2 = np.meshgrid(a[:, 0], b[:, 0])
    lat1, lat2 = np.meshgrid(a[:, 1], b[:, 1])
    _, _, dist = _WGS84.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return float(np.min(dist))


_references: dict[int, tuple[weakref.ref[GeoQuery], _Reference]] = {}


def _reference(query: GeoQuery) -> _Reference:
    """Return the prepared reference of a query, built once per GeoQuery object."""
    cached = _references.get(id(query))
    if cached is not None and cached[0]() is query:
        return cached[1]
    reference = _Reference(shape(query.geometry))
    _references[id(query)] = (weakref.ref(query), reference)
    weakref.finalize(query, _references.pop, id(query), None)
    return reference
