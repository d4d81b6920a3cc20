"""Geo-query filters over the `geometries` table, one per dialect.

SQLite has no geometry engine: its R-tree narrows the candidates to the query's search box and
civictwin.ngsild.geo.matches() decides exactly in Python. PostGIS decides exactly in SQL, with
the same search box in front so that its GiST index is used. Topological relations use GEOS on
both sides. `near` is geodesic on both; since PostGIS `geography` edges are great-circle arcs and
GeoJSON's are straight in lon/lat, edges are first split to DENSIFY_DEGREES, after which the two
agree to a few parts per million. An entity matches when any instance of the GeoProperty does.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Exists,
    Float,
    FromClause,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    and_,
    column,
    func,
    literal,
    not_,
    select,
    table,
    true,
)
from sqlalchemy.types import UserDefinedType

from civictwin.ngsild.geo import DENSIFY_DEGREES, Box, GeoQuery, search_box
from civictwin.store.schema import geometries

SQLITE_RTREE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS geometries_rtree "
    "USING rtree(gk, minx, maxx, miny, maxy)"
)
"""The R-tree of geometry bounding boxes; the store keeps one row per `geometries` row."""

POSTGIS_DDL: tuple[str, ...] = (
    "CREATE EXTENSION IF NOT EXISTS postgis",
    # Not geometry(Geometry, 4326): that typmod refuses positions with an altitude.
    "ALTER TABLE geometries ADD COLUMN IF NOT EXISTS geom geometry "
    "CONSTRAINT geometries_geom_srid CHECK (ST_SRID(geom) = 4326)",
    "CREATE INDEX IF NOT EXISTS ix_geometries_geom ON geometries USING GIST (geom)",
)
"""PostGIS migration: the extension, the `geom` column and its GiST index, in this order."""

# For querying only: the R-tree is created by SQLITE_RTREE_DDL, never by metadata.create_all.
geometries_rtree = Table(
    "geometries_rtree",
    MetaData(),
    Column("gk", Integer, primary_key=True),
    Column("minx", Float, nullable=False),
    Column("maxx", Float, nullable=False),
    Column("miny", Float, nullable=False),
    Column("maxy", Float, nullable=False),
)


class Geometry(UserDefinedType[Any]):
    """The PostGIS `geometry` type (2D or 3D; SRID 4326 by a CHECK in POSTGIS_DDL)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        """Return the type as written in DDL."""
        return "geometry"


# `geometries` as PostgreSQL has it after POSTGIS_DDL, for statements that touch `geom`.
postgis_geometries = table(
    "geometries",
    column("gk", Integer),
    column("entity_pk", Integer),
    column("tenant", String),
    column("name", String),
    column("dataset_id", String),
    column("geojson", Text),
    column("minx", Float),
    column("miny", Float),
    column("maxx", Float),
    column("maxy", Float),
    column("geom", Geometry()),
)


def postgis_geom(geojson: str | ColumnElement[Any]) -> ColumnElement[Any]:
    """Return ST_SetSRID(ST_GeomFromGeoJSON(geojson), 4326) for a text value or column."""
    value = literal(geojson, Text) if isinstance(geojson, str) else geojson
    return func.ST_SetSRID(func.ST_GeomFromGeoJSON(value), 4326, type_=Geometry())


def sqlite_prefilter(query: GeoQuery, entity_pk: ColumnElement[Any]) -> ColumnElement[bool] | None:
    """Return EXISTS(a geometry of the entity in the search box), or None without a box."""
    box = search_box(query)
    if box is None:
        return None
    geo = geometries.alias()
    stmt = _in_box(select(literal(1)), query, geo, box).where(geo.c.entity_pk == entity_pk)
    return stmt.exists()


def sqlite_candidates(query: GeoQuery, tenant: str) -> Select[Any, Any]:
    """Return (entity_pk, geojson) of the tenant's geometries that may match the query."""
    geo = geometries.alias()
    stmt = select(geo.c.entity_pk, geo.c.geojson).where(
        geo.c.tenant == tenant, geo.c.name == query.geoproperty
    )
    box = search_box(query)
    return stmt if box is None else _in_box(stmt, query, geo, box)


def _in_box(stmt: Select[Any], query: GeoQuery, geo: FromClause, box: Box) -> Select[Any]:
    """Restrict a select to geometries of the property whose R-tree box meets `box`."""
    rtree = geometries_rtree.alias()
    minx, miny, maxx, maxy = box
    # R-tree boxes are float32 rounded outwards: fine for overlap, too coarse for containment,
    # which is therefore checked on the exact columns of `geometries`.
    stmt = stmt.select_from(geo.join(rtree, rtree.c.gk == geo.c.gk)).where(
        geo.c.name == query.geoproperty,
        rtree.c.maxx >= minx, rtree.c.minx <= maxx,
        rtree.c.maxy >= miny, rtree.c.miny <= maxy,
    )
    if query.georel in ("within", "equals"):
        stmt = stmt.where(geo.c.minx >= minx, geo.c.maxx <= maxx,
                          geo.c.miny >= miny, geo.c.maxy <= maxy)
    if query.georel in ("contains", "equals"):
        stmt = stmt.where(geo.c.minx <= minx, geo.c.maxx >= maxx,
                          geo.c.miny <= miny, geo.c.maxy >= maxy)
    return stmt


def postgis_filter(query: GeoQuery, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return EXISTS(a geometry of the entity's GeoProperty satisfying the query) for PostGIS."""
    geo = postgis_geometries.alias()
    stmt: Exists = (
        select(literal(1))
        .select_from(geo)
        .where(
            geo.c.entity_pk == entity_pk,
            geo.c.name == query.geoproperty,
            _postgis_relation(query, geo.c.geom),
        )
        .exists()
    )
    return stmt


def _postgis_relation(query: GeoQuery, geom: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return the PostGIS condition of the query's georel on a `geom` column."""
    ref = postgis_geom(json.dumps(query.geometry))
    if query.georel == "near":
        return _postgis_near(query, geom, ref)
    if query.georel == "disjoint":
        return func.ST_Disjoint(geom, ref, type_=Boolean())
    function = {
        "within": func.ST_Within,
        "contains": func.ST_Contains,
        "intersects": func.ST_Intersects,
        "equals": func.ST_Equals,
        "overlaps": func.ST_Overlaps,
    }[query.georel]
    # The explicit && lets the planner use the GiST index whatever the function's support.
    return and_(geom.bool_op("&&")(ref), function(geom, ref, type_=Boolean()))


def _postgis_near(
    query: GeoQuery, geom: ColumnElement[Any], ref: ColumnElement[Any]
) -> ColumnElement[bool]:
    """Return the geodesic distance condition of a near query."""
    conditions: list[ColumnElement[bool]] = []
    box = search_box(query)
    if box is not None:
        envelope = func.ST_MakeEnvelope(*box, 4326, type_=Geometry())
        conditions.append(geom.bool_op("&&")(envelope))
    # Densified first: geography edges are great-circle arcs, GeoJSON's are lon/lat lines.
    target = func.geography(func.ST_Segmentize(geom, DENSIFY_DEGREES, type_=Geometry()))
    reference = func.geography(func.ST_Segmentize(ref, DENSIFY_DEGREES, type_=Geometry()))
    if query.max_distance is not None:
        conditions.append(func.ST_DWithin(target, reference, query.max_distance, type_=Boolean()))
    if query.min_distance:
        # Every geometry is at least 0 m away, so minDistance==0 needs no condition.
        conditions.append(
            not_(func.ST_DWithin(target, reference, query.min_distance, type_=Boolean()))
        )
    return and_(true(), *conditions)

