"""Mapbox vector tiles of entity geometries, and the per-building figures the web map colours by.

One tile holds one layer: the entities of some types whose GeoProperty meets the tile, with a
few of their attribute values as feature properties. PostgreSQL builds the tile in SQL
(`ST_AsMVTGeom` + `ST_AsMVT`); SQLite narrows to the tile with its R-tree and encodes with
shapely and mapbox-vector-tile. Both simplify by zoom to the same tolerance, one tile unit
(1/4096 of the tile's width: an eighth of a pixel on a 512-pixel tile, so nothing visible is
lost), and keep a 64-unit buffer around the tile so that edges do not show seams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import mapbox_vector_tile  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    LargeBinary,
    Select,
    String,
    case,
    exists,
    func,
    literal,
    select,
)

from civictwin.errors import BadRequestData
from civictwin.store.base import Store
from civictwin.store.geosql import Geometry, geometries_rtree, postgis_geometries
from civictwin.store.schema import (
    attribute_instances,
    attribute_values,
    entities,
    entity_types,
    geometries,
    temporal_series,
)

EXTENT = 4096
"""Tile coordinate units per tile side."""
BUFFER = 64
"""Tile units kept outside each edge."""
MAX_ZOOM = 22
_EARTH = 6378137.0
_HALF_WORLD = math.pi * _EARTH


@dataclass(frozen=True)
class TileLayer:
    """What one tile layer holds: entity types, their GeoProperty and the properties to carry.

    `numbers` and `texts` map a feature property name to an attribute IRI whose numeric or
    text value (sub-attribute-less, default datasetId) becomes that property. `type_names`
    maps the type IRIs to the short names written in the feature's `type` property.
    """

    name: str
    type_names: Mapping[str, str]
    geoproperty: str
    numbers: Mapping[str, str] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    min_zoom: int = 0


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Return the tile's (minx, miny, maxx, maxy) in Web Mercator metres (EPSG:3857)."""
    if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise BadRequestData(f"no tile {z}/{x}/{y}: zoom 0..{MAX_ZOOM}, x and y 0..2^zoom-1")
    size = 2 * _HALF_WORLD / 2**z
    minx = -_HALF_WORLD + x * size
    maxy = _HALF_WORLD - y * size
    return minx, maxy - size, minx + size, maxy


def tolerance(z: int) -> float:
    """Return the simplification tolerance at zoom `z`, in metres."""
    return float(2 * _HALF_WORLD / 2**z / EXTENT)


def render_tile(store: Store, tenant: str, layer: TileLayer, z: int, x: int, y: int) -> bytes:
    """Return the MVT bytes of one layer's features in tile z/x/y of the tenant."""
    bounds = tile_bounds(z, x, y)
    if z < layer.min_zoom:
        return b""
    engine = _engine(store)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return _postgis_tile(conn, tenant, layer, (z, x, y))
        return _sqlite_tile(conn, tenant, layer, bounds, z)


def _engine(store: Store) -> Engine:
    engine = getattr(store, "engine", None)
    if not isinstance(engine, Engine):
        raise TypeError("tiles need a SQL store (SQLite or PostgreSQL)")
    return engine


def _typed(layer: TileLayer, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    et = entity_types.alias()
    return exists(select(literal(1)).where(
        et.c.entity_pk == entity_pk, et.c.type.in_(list(layer.type_names))))


def _type_name(layer: TileLayer, entity_pk: ColumnElement[Any]) -> ColumnElement[Any]:
    et = entity_types.alias()
    first = (select(et.c.type).where(et.c.entity_pk == entity_pk,
                                     et.c.type.in_(list(layer.type_names)))
             .order_by(et.c.type).limit(1).scalar_subquery())
    return case(*((first == iri, literal(short, String)) for iri, short in
                  layer.type_names.items()), else_=literal("", String))


def _value(entity_pk: ColumnElement[Any], iri: str, column: str) -> ColumnElement[Any]:
    av = attribute_values.alias()
    return (select(av.c[column]).where(av.c.entity_pk == entity_pk, av.c.name == iri,
                                       av.c.sub == "", av.c.dataset_id == "")
            .limit(1).scalar_subquery())


def _property_columns(layer: TileLayer, entity_pk: ColumnElement[Any]) -> list[Any]:
    columns: list[Any] = [_type_name(layer, entity_pk).label("type")]
    columns += [_value(entity_pk, iri, "num").label(n) for n, iri in layer.numbers.items()]
    columns += [_value(entity_pk, iri, "text").label(n) for n, iri in layer.texts.items()]
    return columns


def _postgis_tile(conn: Connection, tenant: str, layer: TileLayer,
                  zxy: tuple[int, int, int]) -> bytes:
    """Build the tile in PostGIS: ST_AsMVTGeom per feature, ST_AsMVT over the rows."""
    z, x, y = zxy
    g = postgis_geometries.alias("g")
    envelope = func.ST_TileEnvelope(z, x, y, type_=Geometry())
    search = func.ST_Transform(func.ST_Expand(envelope, _buffer_m(z)), 4326, type_=Geometry())
    shape = func.ST_SimplifyPreserveTopology(
        func.ST_Transform(func.ST_Force2D(g.c.geom, type_=Geometry()), 3857,
                          type_=Geometry()), tolerance(z), type_=Geometry())
    mvt_geom = func.ST_AsMVTGeom(shape, envelope, EXTENT, BUFFER, True, type_=Geometry())
    features = (
        select(entities.c.id.label("id"), mvt_geom.label("geom"),
               *_property_columns(layer, g.c.entity_pk))
        .select_from(g.join(entities, entities.c.pk == g.c.entity_pk))
        .where(g.c.tenant == tenant, g.c.name == layer.geoproperty,
               g.c.geom.bool_op("&&")(search),
               _typed(layer, g.c.entity_pk))
        .subquery("features")
    )
    stmt = (select(func.ST_AsMVT(features.table_valued(), layer.name, EXTENT, "geom",
                                 type_=LargeBinary()))
            .where(features.c.geom.is_not(None)))
    data = conn.execute(stmt).scalar()
    return bytes(data) if data is not None else b""


def _buffer_m(z: int) -> float:
    return float(2 * _HALF_WORLD / 2**z * BUFFER / EXTENT)


def _sqlite_tile(conn: Connection, tenant: str, layer: TileLayer,
                 bounds: tuple[float, float, float, float], z: int) -> bytes:
    """Build the tile in Python: R-tree candidates, then shapely clip, simplify and encode."""
    pad = _buffer_m(z)
    minx, miny, maxx, maxy = bounds
    padded = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    west, south = _lonlat(padded[0], padded[1])
    east, north = _lonlat(padded[2], padded[3])
    rows = conn.execute(_sqlite_candidates(tenant, layer, (west, south, east, north))).all()
    if not rows:
        return b""
    shapes = shapely.force_2d(shapely.transform(
        shapely.from_geojson([r.geojson for r in rows]), _mercator))
    points = shapely.get_type_id(shapes) == 0
    inside = shapely.intersects(shapes, shapely.box(*padded))
    clipped = np.where(points, shapes, shapely.clip_by_rect(shapes, *padded))
    simple = shapely.simplify(clipped, tolerance(z), preserve_topology=True)
    # To whole tile units (y up; the encoder flips it), snapped so the result stays valid;
    # exteriors counter-clockwise here are clockwise once flipped, as MVT wants.
    unit = (maxx - minx) / EXTENT
    snapped = shapely.orient_polygons(shapely.set_precision(
        shapely.transform(simple, lambda c: (c - [minx, miny]) / unit), 1.0))
    keep = inside & ~shapely.is_empty(snapped)
    names = (*layer.numbers, *layer.texts)
    features = []
    for index in np.flatnonzero(keep):
        row, geom = rows[int(index)]._mapping, snapped[index]
        props = {"id": row["id"], "type": row["type"]}
        props.update({n: v for n in names if (v := row[n]) is not None})
        features.append({"geometry": geom, "properties": props})
    if not features:
        return b""
    encoded: bytes = mapbox_vector_tile.encode(
        [{"name": layer.name, "features": features}],
        default_options={"extents": EXTENT, "on_invalid_geometry": _ignore,
                         "check_winding_order": False})
    return encoded


def _ignore(_shape: Any) -> None:
    return None


def _sqlite_candidates(tenant: str, layer: TileLayer,
                       box: tuple[float, float, float, float]) -> Select[Any]:
    g, rtree = geometries.alias("g"), geometries_rtree.alias("r")
    west, south, east, north = box
    return (
        select(entities.c.id, g.c.geojson, *_property_columns(layer, g.c.entity_pk))
        .select_from(g.join(rtree, rtree.c.gk == g.c.gk)
                     .join(entities, entities.c.pk == g.c.entity_pk))
        .where(g.c.tenant == tenant, g.c.name == layer.geoproperty,
               rtree.c.maxx >= west, rtree.c.minx <= east,
               rtree.c.maxy >= south, rtree.c.miny <= north,
               _typed(layer, g.c.entity_pk))
        .order_by(entities.c.id)
    )


def _mercator(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lon, lat = coords[:, 0], np.clip(coords[:, 1], -85.05112878, 85.05112878)
    x = np.radians(lon) * _EARTH
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _EARTH
    return np.column_stack([x, y])


def _lonlat(x: float, y: float) -> tuple[float, float]:
    lon = math.degrees(x / _EARTH)
    lat = math.degrees(2 * math.atan(math.exp(y / _EARTH)) - math.pi / 2)
    return lon, lat


# -- figures the map colours by -----------------------------------------------------------

@dataclass(frozen=True)
class MeterLink:
    """How meters point at buildings and which of their readings count as energy use."""

    relationship: str
    readings: Sequence[str]
    floor_area: str


def energy_per_area(store: Store, tenant: str, link: MeterLink) -> dict[str, float]:
    """Return kWh per m² over the last year of readings, by building id, where readings exist.

    For each meter series the year is the 365 days up to its newest reading; a building's
    figure is the sum over the meters that point at it, divided by its floor area.
    """
    engine = _engine(store)
    with engine.connect() as conn:
        totals = _last_year_totals(conn, tenant, link.readings)
        if not totals:
            return {}
        buildings = _meter_targets(conn, tenant, link.relationship, list(totals))
        areas = _numbers(conn, tenant, link.floor_area, sorted(set(buildings.values())))
    energy: dict[str, float] = {}
    for meter, kwh in totals.items():
        building = buildings.get(meter)
        if building is not None and areas.get(building):
            energy[building] = energy.get(building, 0.0) + kwh
    return {b: round(kwh / areas[b], 1) for b, kwh in energy.items()}


@dataclass(frozen=True)
class CarrierLink:
    """How meters point at buildings, and which energy carrier each of their readings counts."""

    relationship: str
    carriers: Mapping[str, str]  # reading IRI -> carrier; "" takes the meter's own carrier
    meter_carrier: str  # the meter property naming its carrier (a heat meter's fuel)


def energy_by_carrier(store: Store, tenant: str,
                      link: CarrierLink) -> dict[str, dict[str, float]]:
    """Return kWh over the last year of readings by building id and carrier.

    The year is the same as `energy_per_area`'s: per meter series the 365 days up to its
    newest reading. A reading mapped to "" counts under the meter's `meter_carrier` value,
    or "unknown" when the meter names none.
    """
    with _engine(store).connect() as conn:
        totals = _last_year_series(conn, tenant, list(link.carriers))
        meters = sorted({meter for meter, _ in totals})
        buildings = _meter_targets(conn, tenant, link.relationship, meters)
        own = _meter_targets(conn, tenant, link.meter_carrier, meters)
    energy: dict[str, dict[str, float]] = {}
    for (meter, attr), kwh in totals.items():
        building = buildings.get(meter)
        if building is None:
            continue
        carrier = link.carriers[attr] or own.get(meter, "unknown")
        by_carrier = energy.setdefault(building, {})
        by_carrier[carrier] = by_carrier.get(carrier, 0.0) + kwh
    return energy


def entity_numbers(store: Store, tenant: str, type_iri: str,
                   iris: Sequence[str]) -> dict[str, dict[str, float]]:
    """Return the numeric values of some properties of a tenant's entities of one type."""
    av, et = attribute_values, entity_types
    stmt = (select(entities.c.id, av.c.name, av.c.num)
            .join(av, av.c.entity_pk == entities.c.pk)
            .join(et, et.c.entity_pk == entities.c.pk)
            .where(entities.c.tenant == tenant, et.c.type == type_iri,
                   av.c.name.in_(list(iris)), av.c.sub == "", av.c.num.is_not(None)))
    found: dict[str, dict[str, float]] = {}
    with _engine(store).connect() as conn:
        for entity_id, name, num in conn.execute(stmt):
            found.setdefault(entity_id, {}).setdefault(name, float(num))
    return found


def _last_year_totals(conn: Connection, tenant: str, readings: Sequence[str]) -> dict[str, float]:
    """Sum each reading series over the 365 days up to its newest instance, by entity."""
    totals: dict[str, float] = {}
    for (entity_id, _attr), total in _last_year_series(conn, tenant, readings).items():
        totals[entity_id] = totals.get(entity_id, 0.0) + total
    return totals


def _last_year_series(conn: Connection, tenant: str,
                      readings: Sequence[str]) -> dict[tuple[str, str], float]:
    """Sum each reading series over the 365 days up to its newest instance, by entity and attr."""
    ai, ts = attribute_instances, temporal_series
    series = conn.execute(select(ts.c.entity_id, ts.c.attr, ts.c.dataset_id).where(
        ts.c.tenant == tenant, ts.c.attr.in_(list(readings)))).all()
    totals: dict[tuple[str, str], float] = {}
    for entity_id, attr, dataset_id in series:
        same = (ai.c.tenant == tenant, ai.c.entity_id == entity_id, ai.c.attr == attr,
                ai.c.dataset_id == dataset_id)
        newest = conn.execute(select(func.max(ai.c.observed_at)).where(*same)).scalar()
        if newest is None:
            continue
        since = _year_before(newest)
        total = conn.execute(select(func.sum(ai.c.num)).where(
            *same, ai.c.observed_at > since)).scalar()
        if total is not None:
            key = (entity_id, attr)
            totals[key] = totals.get(key, 0.0) + float(total)
    return totals


def _year_before(sortable: str) -> str:
    """Return the sortable date-time 365 days before another one."""
    moment = datetime.strptime(sortable[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return (moment - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%S") + sortable[19:]


def _meter_targets(conn: Connection, tenant: str, relationship: str,
                   meters: list[str]) -> dict[str, str]:
    av = attribute_values
    found: dict[str, str] = {}
    for start in range(0, len(meters), 500):
        stmt = (select(entities.c.id, av.c.text)
                .join(av, av.c.entity_pk == entities.c.pk)
                .where(entities.c.tenant == tenant,
                       entities.c.id.in_(meters[start:start + 500]),
                       av.c.name == relationship, av.c.sub == ""))
        found.update({r[0]: r[1] for r in conn.execute(stmt) if r[1]})
    return found


def _numbers(conn: Connection, tenant: str, iri: str, ids: list[str]) -> dict[str, float]:
    av = attribute_values
    found: dict[str, float] = {}
    for start in range(0, len(ids), 500):
        stmt = (select(entities.c.id, av.c.num)
                .join(av, av.c.entity_pk == entities.c.pk)
                .where(entities.c.tenant == tenant, entities.c.id.in_(ids[start:start + 500]),
                       av.c.name == iri, av.c.sub == "", av.c.num.is_not(None)))
        found.update({r[0]: float(r[1]) for r in conn.execute(stmt)})
    return found


def extent(store: Store, tenant: str, geoproperty: str) -> tuple[float, ...] | None:
    """Return (west, south, east, north) of the tenant's geometries, or None if it has none."""
    g = geometries
    stmt = select(func.min(g.c.minx), func.min(g.c.miny), func.max(g.c.maxx),
                  func.max(g.c.maxy)).where(g.c.tenant == tenant, g.c.name == geoproperty)
    with _engine(store).connect() as conn:
        row = conn.execute(stmt).one()
    return None if row[0] is None else tuple(float(v) for v in row)


__all__ = ["BUFFER", "EXTENT", "CarrierLink", "MeterLink", "TileLayer", "energy_by_carrier",
           "energy_per_area", "entity_numbers", "extent", "render_tile",
           "tile_bounds", "tolerance"]
