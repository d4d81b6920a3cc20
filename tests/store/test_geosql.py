"""The SQLite path (R-tree prefilter + geo.matches) and the PostGIS path agree on real databases.

PostgreSQL tests need CIVICTWIN_TEST_DATABASE_URL (postgresql+psycopg://..., PostGIS 3
available); each run works in a fresh schema that it drops afterwards.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from sqlalchemy import Engine, bindparam, create_engine, event, insert, select, text
from sqlalchemy.pool import NullPool

from civictwin.ngsild.geo import (
    GEORELS,
    LOCATION,
    GeoQuery,
    GeoRel,
    bbox,
    matches,
    near_distance,
    validate_geojson_geometry,
)
from civictwin.store.geosql import (
    POSTGIS_DDL,
    SQLITE_RTREE_DDL,
    geometries_rtree,
    postgis_filter,
    postgis_geom,
    postgis_geometries,
    sqlite_candidates,
    sqlite_prefilter,
)
from civictwin.store.schema import entities, geometries, metadata

WGS84 = Geod(ellps="WGS84")
CITY = (5.1214, 52.0907)  # Utrecht
TENANT = "city"
AREA = "https://example.org/area"
DB_URL_VAR = "CIVICTWIN_TEST_DATABASE_URL"
FAST = settings(max_examples=40, deadline=None)


def offset(origin: tuple[float, float], azimuth: float, metres: float) -> list[float]:
    """Return the position `metres` from `origin` along a geodesic at `azimuth` degrees."""
    lon, lat, _ = WGS84.fwd(origin[0], origin[1], azimuth, metres)
    return [float(lon), float(lat)]


def point(lon: float, lat: float) -> dict[str, Any]:
    """Return a GeoJSON Point."""
    return {"type": "Point", "coordinates": [lon, lat]}


def rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    """Return a GeoJSON Polygon with one axis-aligned ring."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass(frozen=True)
class Row:
    """One GeoProperty instance of an entity in the test city."""

    entity: str
    geojson: dict[str, Any]
    name: str = LOCATION
    tenant: str = TENANT
    dataset_id: str = ""


def city() -> list[Row]:
    """Return points, lines and polygons around the city, with hand-placed special cases."""
    lon0, lat0 = CITY
    rows = [
        Row(f"grid-{i}-{j}", point(round(lon0 + 0.006 * i, 6), round(lat0 + 0.004 * j, 6)))
        for i in range(-8, 9) for j in range(-8, 9)
    ]
    for k in range(12):
        w, s = lon0 - 0.05 + 0.009 * k, lat0 - 0.04 + 0.006 * (k % 7)
        east, north = w + 0.004 * (1 + k % 4), s + 0.003 * (1 + k % 3)
        rows.append(Row(f"block-{k}", rectangle(w, s, east, north)))
        rows.append(Row(f"street-{k}", {"type": "LineString", "coordinates": [
            [w, s], [w + 0.01, s + 0.002 * (k % 5)], [w + 0.015, s - 0.004]]}))
    for azimuth in (0, 45, 90, 135, 200, 300):
        rows.append(Row(f"at999-{azimuth}", point(*offset(CITY, azimuth, 999))))
        rows.append(Row(f"at1001-{azimuth}", point(*offset(CITY, azimuth, 1001))))
    hole = rectangle(lon0 - 0.003, lat0 - 0.002, lon0 + 0.003, lat0 + 0.002)["coordinates"][0]
    rows += [
        Row("district", rectangle(lon0 - 0.02, lat0 - 0.015, lon0 + 0.02, lat0 + 0.015)),
        Row("park-with-pond", {"type": "Polygon", "coordinates": [
            rectangle(lon0 - 0.01, lat0 - 0.008, lon0 + 0.01, lat0 + 0.008)["coordinates"][0],
            hole[::-1]]}),
        Row("canal", {"type": "MultiLineString", "coordinates": [
            [[lon0 - 0.03, lat0 + 0.001], [lon0 + 0.03, lat0 + 0.001]],
            [[lon0 - 0.03, lat0 - 0.03], [lon0 - 0.02, lat0 - 0.02]]]}),
        Row("kiosks", {"type": "MultiPoint", "coordinates": [
            [lon0 + 0.05, lat0 + 0.05], offset(CITY, 10, 500)]}),
        Row("campus", {"type": "MultiPolygon", "coordinates": [
            rectangle(lon0 + 0.03, lat0 + 0.02, lon0 + 0.04, lat0 + 0.03)["coordinates"],
            rectangle(lon0 - 0.045, lat0 + 0.02, lon0 - 0.035, lat0 + 0.025)["coordinates"]]}),
        Row("tower", {"type": "Point", "coordinates": [lon0 + 0.001, lat0 + 0.001, 120.0]}),
        Row("bus", point(lon0 + 0.2, lat0 + 0.2)),
        Row("bus", point(*offset(CITY, 270, 300)), dataset_id="urn:ngsi-ld:Dataset:last-stop"),
        Row("lake", rectangle(lon0 - 0.002, lat0 - 0.002, lon0 + 0.002, lat0 + 0.002), name=AREA),
        Row("elsewhere", point(*offset(CITY, 0, 10)), tenant="other"),
    ]
    return rows


ROWS = city()


def geometry_rows(pks: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """Return `geometries` rows for the city, with the entity keys from `pks`."""
    out = []
    for row in ROWS:
        geojson = validate_geojson_geometry(row.geojson)
        minx, miny, maxx, maxy = bbox(geojson)
        out.append({
            "entity_pk": pks[(row.tenant, row.entity)], "tenant": row.tenant, "name": row.name,
            "dataset_id": row.dataset_id, "geojson": json.dumps(geojson),
            "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy,
        })
    return out


def insert_entities(engine: Engine) -> dict[int, str]:
    """Insert one entity per distinct (tenant, name); return entity ids by primary key."""
    keys = sorted({(row.tenant, row.entity) for row in ROWS})
    with engine.begin() as conn:
        conn.execute(insert(entities), [
            {"tenant": tenant, "id": f"urn:ngsi-ld:Thing:{name}", "doc": "{}",
             "created_at": "2026-01-01T00:00:00Z", "modified_at": "2026-01-01T00:00:00Z"}
            for tenant, name in keys
        ])
        found = conn.execute(select(entities.c.pk, entities.c.tenant, entities.c.id)).all()
    return {pk: entity_id for pk, _, entity_id in found}


def primary_keys(ids: dict[int, str]) -> dict[tuple[str, str], int]:
    """Map (tenant, short name) to entity primary key."""
    return {(row.tenant, row.entity): pk for row in ROWS
            for pk, entity_id in ids.items() if entity_id.endswith(":" + row.entity)}


@dataclass
class Database:
    """A loaded test database and how to ask it a geo-query."""

    engine: Engine
    ids: dict[int, str]
    run: Callable[[Engine, GeoQuery], set[str]]

    def query(self, query: GeoQuery) -> set[str]:
        """Return the short names of the city tenant's entities matching the query."""
        return {entity.rsplit(":", 1)[1] for entity in self.run(self.engine, query)}


def run_sqlite(engine: Engine, query: GeoQuery) -> set[str]:
    """Answer a geo-query the way the SQLite store does: R-tree candidates, then matches()."""
    with engine.connect() as conn:
        hits = {pk for pk, geojson in conn.execute(sqlite_candidates(query, TENANT))
                if matches(query, json.loads(geojson))}
        found = conn.execute(select(entities.c.id).where(entities.c.pk.in_(hits))).scalars()
        return set(found)


def run_postgis(engine: Engine, query: GeoQuery) -> set[str]:
    """Answer a geo-query in SQL with postgis_filter."""
    stmt = select(entities.c.id).where(
        entities.c.tenant == TENANT, postgis_filter(query, entities.c.pk)
    )
    with engine.connect() as conn:
        return set(conn.execute(stmt).scalars())


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """Yield the city in a SQLite file with the R-tree filled as the SQLite store fills it."""
    path: Path = tmp_path_factory.mktemp("geosql") / "city.db"
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(SQLITE_RTREE_DDL)
    ids = insert_entities(engine)
    with engine.begin() as conn:
        for row in geometry_rows(primary_keys(ids)):
            gk = conn.execute(insert(geometries).returning(geometries.c.gk), row).scalar_one()
            conn.execute(insert(geometries_rtree), {"gk": gk, **{
                k: row[k] for k in ("minx", "maxx", "miny", "maxy")}})
    yield Database(engine, ids, run_sqlite)
    engine.dispose()


@pytest.fixture(scope="module")
def postgis_db() -> Iterator[Database]:
    """Yield the city in a fresh PostgreSQL schema with POSTGIS_DDL applied."""
    url = os.environ.get(DB_URL_VAR)
    if not url:
        pytest.skip(f"{DB_URL_VAR} is not set: no PostgreSQL+PostGIS server to test against")
    schema = f"ct_geosql_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, poolclass=NullPool)
    with admin.begin() as conn:
        # In the shared schema first, so that dropping ours never drops the extension.
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def use_schema(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f'SET search_path TO "{schema}", public')
        dbapi_connection.commit()

    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for statement in POSTGIS_DDL:
                conn.exec_driver_sql(statement)
        ids = insert_entities(engine)
        rows = [{**row, "geojson_src": row["geojson"]}
                for row in geometry_rows(primary_keys(ids))]
        stmt = insert(postgis_geometries).values(geom=postgis_geom(bindparam("geojson_src")))
        with engine.begin() as conn:
            conn.execute(stmt, rows)
        yield Database(engine, ids, run_postgis)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """Yield each backend in turn."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


def near(reference: dict[str, Any], max_distance: float | None = None,
         min_distance: float | None = None) -> GeoQuery:
    """Return a near query."""
    return GeoQuery("near", validate_geojson_geometry(reference), LOCATION,
                    max_distance, min_distance)


def relation(georel: GeoRel, reference: dict[str, Any], name: str = LOCATION) -> GeoQuery:
    """Return a query with a topological relation."""
    return GeoQuery(georel, validate_geojson_geometry(reference), name)


ALL_AZIMUTHS = {0, 45, 90, 135, 200, 300}


def test_near_max_distance_keeps_999_m_and_drops_1001_m(db: Database) -> None:
    found = db.query(near(point(*CITY), max_distance=1000))
    assert {f"at999-{a}" for a in ALL_AZIMUTHS} <= found
    assert not {f"at1001-{a}" for a in ALL_AZIMUTHS} & found


def test_near_min_distance_keeps_1001_m_and_drops_999_m(db: Database) -> None:
    found = db.query(near(point(*CITY), min_distance=1000))
    assert {f"at1001-{a}" for a in ALL_AZIMUTHS} <= found
    assert not {f"at999-{a}" for a in ALL_AZIMUTHS} & found
    assert "district" not in found  # it contains the reference: 0 m away


def test_near_with_both_distances_is_a_ring(db: Database) -> None:
    found = db.query(near(point(*CITY), max_distance=1000, min_distance=998))
    assert {name for name in found if name.startswith("at")} == {
        f"at999-{a}" for a in ALL_AZIMUTHS}


def test_near_min_distance_zero_matches_every_located_entity(db: Database) -> None:
    assert db.query(near(point(*CITY), min_distance=0)) == {
        row.entity for row in ROWS if row.tenant == TENANT and row.name == LOCATION}


def test_near_measures_to_the_nearest_edge_of_a_line(db: Database) -> None:
    # The canal runs east-west at CITY's latitude + 0.001 degree, about 111 m north.
    south_of_canal = point(*offset((CITY[0] + 0.01, CITY[1] + 0.001), 180, 50))
    found_close = db.query(near(south_of_canal, max_distance=50.5))
    found_far = db.query(near(south_of_canal, max_distance=49.5))
    assert "canal" in found_close
    assert "canal" not in found_far


def test_an_entity_matches_when_any_instance_does(db: Database) -> None:
    assert "bus" in db.query(near(point(*CITY), max_distance=301))
    assert "bus" not in db.query(near(point(*CITY), max_distance=299))


def test_within_excludes_the_boundary_and_contains_needs_the_whole_reference(
    db: Database,
) -> None:
    lon0, lat0 = CITY
    # Grid column i=1 lies exactly on the square's east edge: on the boundary, not within.
    square = rectangle(lon0 - 0.0061, lat0 - 0.0041, round(lon0 + 0.006, 6), lat0 + 0.0041)
    found = db.query(relation("within", square))
    assert {"grid-0-0", "grid--1-1", "grid-0--1", "tower"} <= found
    assert "grid-1-0" not in found
    assert "grid-1-0" in db.query(relation("intersects", square))
    assert not {"district", "park-with-pond", "canal"} & found
    assert db.query(relation("contains", point(lon0 + 0.0005, lat0 + 0.0005))) >= {"district"}
    # The pond is a hole: the park does not contain a point in it, the district does.
    in_pond = db.query(relation("contains", point(lon0 + 0.001, lat0 + 0.0015)))
    assert "district" in in_pond
    assert "park-with-pond" not in in_pond


def test_equals_is_topological_and_overlaps_needs_same_dimension(db: Database) -> None:
    lon0, lat0 = CITY
    district = rectangle(lon0 - 0.02, lat0 - 0.015, lon0 + 0.02, lat0 + 0.015)
    ring = district["coordinates"][0]
    rotated = {"type": "Polygon", "coordinates": [ring[2:-1] + ring[:3]]}
    assert db.query(relation("equals", rotated)) == {"district"}
    half = rectangle(lon0, lat0 - 0.01, lon0 + 0.05, lat0 + 0.01)
    overlapping = db.query(relation("overlaps", half))
    assert "district" in overlapping
    assert not any(name.startswith(("grid", "at")) for name in overlapping)


def test_disjoint_is_the_complement_of_intersects(db: Database) -> None:
    located = {row.entity for row in ROWS if row.tenant == TENANT and row.name == LOCATION}
    box = rectangle(CITY[0] - 0.01, CITY[1] - 0.01, CITY[0] + 0.012, CITY[1] + 0.007)
    disjoint = db.query(relation("disjoint", box))
    intersects = db.query(relation("intersects", box))
    assert disjoint | intersects == located
    # The bus has one location far away and one in the box: some instance is disjoint.
    assert disjoint & intersects == {"bus"}


def test_geoproperty_selects_the_attribute(db: Database) -> None:
    lake = rectangle(CITY[0] - 0.01, CITY[1] - 0.01, CITY[0] + 0.01, CITY[1] + 0.01)
    assert db.query(relation("within", lake, name=AREA)) == {"lake"}
    assert "lake" not in db.query(relation("within", lake))


def test_sqlite_prefilter_keeps_every_candidate(sqlite_db: Database) -> None:
    query = near(point(*CITY), max_distance=1000)
    condition = sqlite_prefilter(query, entities.c.pk)
    assert condition is not None
    with sqlite_db.engine.connect() as conn:
        prefiltered = set(conn.execute(select(entities.c.pk).where(
            entities.c.tenant == TENANT, condition)).scalars())
        candidates = {pk for pk, _ in conn.execute(sqlite_candidates(query, TENANT))}
    assert prefiltered == candidates
    assert len(candidates) < len(ROWS) / 4
    assert sqlite_prefilter(GeoQuery("disjoint", point(*CITY)), entities.c.pk) is None
    assert sqlite_prefilter(near(point(*CITY), min_distance=5), entities.c.pk) is None


LON = st.floats(CITY[0] - 0.07, CITY[0] + 0.07)
LAT = st.floats(CITY[1] - 0.05, CITY[1] + 0.05)


@st.composite
def references(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a reference geometry: a point, a box, a line, or one of the city's geometries."""
    kind = draw(st.sampled_from(["Point", "box", "LineString", "city"]))
    if kind == "Point":
        return point(draw(LON), draw(LAT))
    if kind == "LineString":
        positions = draw(st.lists(st.tuples(LON, LAT), min_size=2, max_size=4, unique=True))
        return {"type": "LineString", "coordinates": [list(p) for p in positions]}
    if kind == "city":
        return draw(st.sampled_from([row.geojson for row in ROWS]))
    xs, ys = sorted([draw(LON), draw(LON)]), sorted([draw(LAT), draw(LAT)])
    return rectangle(xs[0], ys[0], xs[1] + 1e-4, ys[1] + 1e-4)


@st.composite
def queries(draw: st.DrawFn) -> GeoQuery:
    """Draw a geo-query of any georel over `location`."""
    georel = draw(st.sampled_from(GEORELS))
    geometry = validate_geojson_geometry(draw(references()))
    if georel != "near":
        return GeoQuery(georel, geometry)
    distance = st.floats(0, 6000)
    high = draw(st.none() | distance)
    low = draw(distance if high is None else st.none() | st.floats(0, high))
    return GeoQuery("near", geometry, LOCATION, high, low)


def ambiguous(query: GeoQuery) -> set[str]:
    """Return entities within a hair (1e-5 relative + 1 cm) of a near query's thresholds.

    There the two paths may differ: PostGIS measures great-circle edges of about 110 m, geo.py
    measures lon/lat edges, and the two agree to a few parts per million. Touching (0 m away
    from a 0 m threshold) is exact on both sides and stays in.
    """
    limits = [d for d in (query.max_distance, query.min_distance) if d is not None]
    if query.georel != "near":
        return set()
    unsure = set()
    for row in ROWS:
        distance = near_distance(query.geometry, row.geojson)
        if any(abs(distance - d) <= 1e-5 * d + 0.01 and not distance == d == 0 for d in limits):
            unsure.add(row.entity)
    return unsure


def brute_force(query: GeoQuery) -> set[str]:
    """Return the entities matching a query by evaluating matches() on every geometry."""
    return {row.entity for row in ROWS if row.tenant == TENANT and row.name == query.geoproperty
            and matches(query, validate_geojson_geometry(row.geojson))}


@FAST
@given(query=queries())
def test_sqlite_index_never_drops_a_match(sqlite_db: Database, query: GeoQuery) -> None:
    assert sqlite_db.query(query) == brute_force(query)


@pytest.mark.postgres
@FAST
@given(query=queries())
def test_sqlite_and_postgis_agree(
    sqlite_db: Database, postgis_db: Database, query: GeoQuery
) -> None:
    unsure = ambiguous(query)
    assert sqlite_db.query(query) - unsure == postgis_db.query(query) - unsure
